-- name: InsertBook :exec
WITH book AS (
    INSERT INTO books (id, title, author, price, available, created_at, updated_at)
    VALUES (@id, @title, @author, @price, @available, @created_at, @updated_at)
    RETURNING id
)
INSERT INTO stock_levels (book_id, on_hand, reserved, min_stock)
SELECT id, 0, 0, sqlc.arg(min_stock)::bigint FROM book;

-- name: Book :one
SELECT * FROM books WHERE id = $1;

-- name: LockBook :one
SELECT * FROM books WHERE id = $1 FOR NO KEY UPDATE;

-- name: UpdateBook :execrows
UPDATE books SET title = @title, author = @author, price = @price, available = @available,
    updated_at = @updated_at
WHERE id = @id;

-- name: SetMinStock :execrows
UPDATE stock_levels SET min_stock = @min_stock WHERE book_id = @book_id;

-- name: ListBooks :many
SELECT * FROM books
ORDER BY title COLLATE "C", id
LIMIT sqlc.arg(row_limit)::bigint OFFSET sqlc.arg(row_offset)::bigint;

-- name: CountBooks :one
SELECT count(*) FROM books;

-- name: Level :one
SELECT * FROM stock_levels WHERE book_id = $1;

-- LockLevels locks the levels of the books in ascending book-id order (the
-- rows are locked as the sort returns them), the order every transaction
-- takes stock locks in.
-- name: LockLevels :many
SELECT * FROM stock_levels WHERE book_id = ANY(@book_ids::uuid[]) ORDER BY book_id FOR UPDATE;

-- name: ListLevels :many
SELECT * FROM stock_levels
ORDER BY book_id
LIMIT sqlc.arg(row_limit)::bigint OFFSET sqlc.arg(row_offset)::bigint;

-- name: CountLevels :one
SELECT count(*) FROM stock_levels;

-- AddMovements appends a movement and moves the level in one statement, so
-- that it writes both or neither. The movement is written only when the
-- level's on hand equals stock_before; a second SALE or RETURN movement for
-- the same sale and book is skipped by ON CONFLICT. All sub-statements see
-- one snapshot, taken before the writes, so inserted without applied means
-- the level changed concurrently. Unless the movement was applied,
-- salesflow_movement_applied fails the statement with the reason's SQLSTATE
-- (migration 00009), so that it can be sent ahead of its answer. It runs
-- queued, the movements of a sale with the next statement or the COMMIT.
-- name: AddMovements :exec
WITH inserted AS (
    INSERT INTO stock_movements (id, book_id, type, quantity, stock_before, stock_after, sale_id, reason, created_at)
    SELECT @id::uuid, @book_id::uuid, @type::text, @quantity::bigint, @stock_before::bigint,
           @stock_after::bigint, sqlc.narg(sale_id)::uuid, sqlc.narg(reason)::text, @created_at::timestamptz
    WHERE EXISTS (SELECT 1 FROM stock_levels WHERE book_id = @book_id AND on_hand = @stock_before)
    ON CONFLICT DO NOTHING
    RETURNING book_id
), level AS (
    UPDATE stock_levels l
    SET on_hand = @stock_after, reserved = l.reserved + sqlc.arg(reserved_delta)::bigint
    FROM inserted
    WHERE l.book_id = inserted.book_id AND l.on_hand = @stock_before
    RETURNING l.book_id
)
SELECT salesflow_movement_applied(
    EXISTS (SELECT 1 FROM stock_levels s WHERE s.book_id = @book_id),
    EXISTS (SELECT 1 FROM stock_levels s WHERE s.book_id = @book_id AND s.on_hand = @stock_before),
    EXISTS (SELECT 1 FROM inserted),
    EXISTS (SELECT 1 FROM level),
    sqlc.narg(sale_id)::uuid IS NOT NULL);

-- name: ListMovements :many
SELECT * FROM stock_movements
WHERE (sqlc.narg(book_id)::uuid IS NULL OR book_id = sqlc.narg(book_id))
  AND (sqlc.narg(type)::text IS NULL OR type = sqlc.narg(type))
  AND (sqlc.narg(sale_id)::uuid IS NULL OR sale_id = sqlc.narg(sale_id))
ORDER BY seq
LIMIT sqlc.arg(row_limit)::bigint OFFSET sqlc.arg(row_offset)::bigint;

-- name: CountMovements :one
SELECT count(*) FROM stock_movements
WHERE (sqlc.narg(book_id)::uuid IS NULL OR book_id = sqlc.narg(book_id))
  AND (sqlc.narg(type)::text IS NULL OR type = sqlc.narg(type))
  AND (sqlc.narg(sale_id)::uuid IS NULL OR sale_id = sqlc.narg(sale_id));
