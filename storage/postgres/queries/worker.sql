-- AddProgress creates the progress of each sale at version 0 if missing;
-- an existing record is left as it is, without writing a row version.
-- name: AddProgress :exec
INSERT INTO sale_progress (sale_id, version, sold, returned)
SELECT id, 0, false, false FROM unnest(@sale_ids::uuid[]) AS id ORDER BY id
ON CONFLICT (sale_id) DO NOTHING;

-- LockProgress locks the progress of the sales, in the order of the
-- array, which the caller sends distinct and in sale-id order (padded, see
-- pad in tx.go), until the transaction ends, and returns it. Each id finds its record by the primary key (see
-- BookRefs): a sale_id = ANY, its generic plan costed for ten sales,
-- scanned the records whole while they were about a thousand.
-- name: LockProgress :many
SELECT p.sale_id, p.version, p.sold, p.returned
FROM unnest(@sale_ids::uuid[]) WITH ORDINALITY AS u(id, n)
CROSS JOIN LATERAL (SELECT * FROM sale_progress s WHERE s.sale_id = u.id FOR UPDATE) AS p
ORDER BY u.n;

-- ReadProgress reads a sale's progress without locking.
-- name: ReadProgress :one
SELECT sale_id, version, sold, returned FROM sale_progress WHERE sale_id = @sale_id;

-- SaveProgress stores the progress of several sales, distinct; a version
-- below the stored one, or a missing record, fails it with SF001 and the
-- place of the first such sale (salesflow_save_progress, migration 00012).
-- name: SaveProgress :exec
SELECT salesflow_save_progress(@sale_ids::uuid[], @versions::bigint[], @sold::boolean[], @returned::boolean[]);

-- AddBookStats adds deltas to their books' statistics, creating them, in
-- one statement: the deltas of a book summed, the books in id order (the
-- order their rows are locked in). A sale's time widens the first and last
-- sale. The row an insert proposes is clamped at zero because the check
-- constraints judge it before the conflict turns it into an update (a
-- return's delta is negative, and its book always has statistics by then);
-- the update adds the sums themselves. A zero time (Go's, sent for a
-- return) is no sale time.
-- name: AddBookStats :exec
WITH d AS (
    SELECT book_id, sum(units)::bigint AS units, sum(net_revenue)::bigint AS net_revenue,
           sum(sales)::bigint AS sales,
           min(NULLIF(at, '0001-01-01 00:00:00Z')) AS first_at, max(NULLIF(at, '0001-01-01 00:00:00Z')) AS last_at
    FROM (SELECT unnest(@book_ids::uuid[]) AS book_id, unnest(@units::bigint[]) AS units,
                 unnest(@net_revenues::bigint[]) AS net_revenue, unnest(@sales::bigint[]) AS sales,
                 unnest(@ats::timestamptz[]) AS at) AS u
    GROUP BY book_id
)
INSERT INTO book_stats AS b (book_id, units_sold, net_revenue, sales_count, first_sale_at, last_sale_at)
SELECT book_id, GREATEST(units, 0), GREATEST(net_revenue, 0), GREATEST(sales, 0), first_at, last_at
FROM d ORDER BY book_id
ON CONFLICT (book_id) DO UPDATE SET
    (units_sold, net_revenue, sales_count) = (
        SELECT b.units_sold + d.units, b.net_revenue + d.net_revenue, b.sales_count + d.sales
        FROM d WHERE d.book_id = EXCLUDED.book_id),
    first_sale_at = LEAST(b.first_sale_at, EXCLUDED.first_sale_at),
    last_sale_at  = GREATEST(b.last_sale_at, EXCLUDED.last_sale_at);

-- BookStats reads one book's statistics.
-- name: BookStats :one
SELECT book_id, units_sold, net_revenue, sales_count, first_sale_at, last_sale_at
FROM book_stats WHERE book_id = @book_id;

-- AllBookStats reads one page of statistics ordered by book id.
-- name: AllBookStats :many
SELECT book_id, units_sold, net_revenue, sales_count, first_sale_at, last_sale_at
FROM book_stats ORDER BY book_id LIMIT @lim OFFSET @off;

-- CountBookStats counts the books with statistics.
-- name: CountBookStats :one
SELECT count(*) FROM book_stats;
