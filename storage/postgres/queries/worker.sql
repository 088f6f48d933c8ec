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
-- back, so a row whose stored version is higher is not updated (the
-- caller counts the rows).
-- name: SaveProgress :exec
WITH saved AS (
    UPDATE sale_progress p
    SET version = u.version, sold = u.sold, returned = u.returned
    FROM (SELECT unnest(@sale_ids::uuid[]) AS sale_id, unnest(@versions::bigint[]) AS version,
                 unnest(@sold::boolean[]) AS sold, unnest(@returned::boolean[]) AS returned) AS u
    WHERE p.sale_id = u.sale_id AND p.version <= u.version
    RETURNING 1
)
SELECT salesflow_expect(count(*) = cardinality(@sale_ids::uuid[])) FROM saved;

-- AddBookStats adds a delta to a book's statistics, creating them, in one
-- statement; a sale's time widens the first and last sale. The row an
-- insert proposes is clamped at zero because the check constraints judge
-- it before the conflict turns it into an update (a return's delta is
-- negative, and its book always has statistics by then). It runs as a
-- batch: the books of a sale in one round trip.
-- name: AddBookStats :batchexec
INSERT INTO book_stats AS b (book_id, units_sold, net_revenue, sales_count, first_sale_at, last_sale_at)
VALUES (@book_id, GREATEST(@units::bigint, 0), GREATEST(@net_revenue::bigint, 0), GREATEST(@sales::bigint, 0),
        sqlc.narg(at)::timestamptz, sqlc.narg(at)::timestamptz)
ON CONFLICT (book_id) DO UPDATE SET
    units_sold    = b.units_sold + @units::bigint,
    net_revenue   = b.net_revenue + @net_revenue::bigint,
    sales_count   = b.sales_count + @sales::bigint,
    first_sale_at = LEAST(b.first_sale_at, sqlc.narg(at)::timestamptz),
    last_sale_at  = GREATEST(b.last_sale_at, sqlc.narg(at)::timestamptz);

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
