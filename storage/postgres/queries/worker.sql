-- AddProgress creates the progress of each sale at version 0 if missing;
-- an existing record is left as it is, without writing a row version.
-- name: AddProgress :exec
INSERT INTO sale_progress (sale_id, version, sold, returned)
SELECT id, 0, false, false FROM unnest(@sale_ids::uuid[]) AS id ORDER BY id
ON CONFLICT (sale_id) DO NOTHING;

-- LockProgress locks the progress of the sales, in sale-id order, until
-- the transaction ends, and returns it.
-- name: LockProgress :many
SELECT sale_id, version, sold, returned FROM sale_progress
WHERE sale_id = ANY (@sale_ids::uuid[])
ORDER BY sale_id
FOR UPDATE;

-- ReadProgress reads a sale's progress without locking.
-- name: ReadProgress :one
SELECT sale_id, version, sold, returned FROM sale_progress WHERE sale_id = @sale_id;

-- SaveProgress stores the progress of several sales; versions never go
-- back, so a row whose stored version is higher is not updated, and
-- unless records rows were, it fails with SF001. The sale ids are
-- distinct, but for the last, which the caller may repeat (with its
-- values) to keep the generic plan (see pad in tx.go).
--
-- It finds the rows by sale_id = ANY and reads each row's values at its
-- sale's place in the arrays, rather than joining an unnest of them: the
-- generic plan PostgreSQL caches for a join, costed for ten array elements
-- against a table it has no statistics of yet (a new deployment's, before
-- autovacuum's first analyze, or forever where autovacuum is off), hashes
-- them and scans every progress record at each call (2.6 ms a call at 5,000
-- sales, growing with the history); this one stays an index scan.
-- name: SaveProgress :exec
WITH saved AS (
    UPDATE sale_progress p
    SET version = (@versions::bigint[])[array_position(@sale_ids::uuid[], p.sale_id)],
        sold = (@sold::boolean[])[array_position(@sale_ids::uuid[], p.sale_id)],
        returned = (@returned::boolean[])[array_position(@sale_ids::uuid[], p.sale_id)]
    WHERE p.sale_id = ANY (@sale_ids::uuid[])
      AND p.version <= (@versions::bigint[])[array_position(@sale_ids::uuid[], p.sale_id)]
    RETURNING 1
)
SELECT salesflow_expect(count(*) = @records::bigint) FROM saved;

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
