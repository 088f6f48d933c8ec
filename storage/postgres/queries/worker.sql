-- EnsureProgress creates a sale's progress row at version 0 if missing.
-- name: EnsureProgress :exec
INSERT INTO sale_progress (sale_id, version, sold, returned)
VALUES (@sale_id, 0, false, false)
ON CONFLICT (sale_id) DO NOTHING;

-- LockProgress reads a sale's progress and locks it until the transaction ends.
-- name: LockProgress :one
SELECT sale_id, version, sold, returned FROM sale_progress WHERE sale_id = @sale_id FOR UPDATE;

-- ReadProgress reads a sale's progress without locking.
-- name: ReadProgress :one
SELECT sale_id, version, sold, returned FROM sale_progress WHERE sale_id = @sale_id;

-- SaveProgress stores a sale's progress; versions never go back.
-- name: SaveProgress :execrows
UPDATE sale_progress
SET version = @version, sold = @sold, returned = @returned
WHERE sale_id = @sale_id AND version <= @version;

-- EnsureBookStats creates a book's statistics at zero if missing.
-- name: EnsureBookStats :exec
INSERT INTO book_stats (book_id) VALUES (@book_id) ON CONFLICT (book_id) DO NOTHING;

-- AddBookStats adds a delta to a book's statistics; a sale's time widens
-- the first and last sale.
-- name: AddBookStats :execrows
UPDATE book_stats SET
    units_sold    = units_sold + @units,
    net_revenue   = net_revenue + @net_revenue,
    sales_count   = sales_count + @sales,
    first_sale_at = LEAST(first_sale_at, sqlc.narg(at)),
    last_sale_at  = GREATEST(last_sale_at, sqlc.narg(at))
WHERE book_id = @book_id;

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
