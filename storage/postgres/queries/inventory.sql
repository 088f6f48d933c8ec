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

-- LockLevels locks the levels of the books in the order of the array, which
-- the caller sends distinct and in ascending book-id order, the order
-- every transaction takes stock locks in. Each id finds its level by the
-- primary key (see BookRefs): a book_id = ANY, sorted, scanned a thousand
-- levels whole in its generic plan.
-- name: LockLevels :many
SELECT l.book_id, l.on_hand, l.reserved, l.min_stock
FROM unnest(@book_ids::uuid[]) WITH ORDINALITY AS u(id, n)
CROSS JOIN LATERAL (SELECT * FROM stock_levels s WHERE s.book_id = u.id FOR UPDATE) AS l
ORDER BY u.n;

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

-- AddMovementList is AddMovements for several movements, in one statement:
-- n is each movement's place, and a book's movements follow each other
-- (each one's stock_before is the previous one's stock_after). A book's
-- movements are written only when its level's on hand equals the first
-- one's stock_before, and its level moves once, to the last one's
-- stock_after and by the sum of reserved_delta, only when all of them
-- were written. The caller has locked the levels (LockLevels), so the
-- order the update takes their rows in does not matter. A movement without a
-- sale has the nil uuid, one without a reason the empty text. Unless every
-- movement was applied, salesflow_movements_applied (migration 00010)
-- fails the statement for the first one that was not, with its n.
--
-- Its plan does not depend on the arrays' lengths, so PostgreSQL keeps a
-- generic one rather than plan it at each call (0.85 ms, as long as it
-- ran): the movements come from one unnest WITH ORDINALITY, not from a
-- generate_series that a generic plan costs at 1,000 rows. Each book's
-- level is found by the primary key (found, see BookRefs; the update,
-- from each book): a join or a book_id = ANY, costed for ten books,
-- scanned a thousand levels.
-- name: AddMovementList :exec
WITH m AS (
    SELECT x.id, (@book_ids::uuid[])[x.n] AS book_id, (@types::text[])[x.n] AS type,
           (@quantities::bigint[])[x.n] AS quantity, (@stock_befores::bigint[])[x.n] AS stock_before,
           (@stock_afters::bigint[])[x.n] AS stock_after, (@sale_ids::uuid[])[x.n] AS sale_id,
           (@reasons::text[])[x.n] AS reason, (@created_ats::timestamptz[])[x.n] AS created_at,
           (@reserved_deltas::bigint[])[x.n] AS reserved_delta, x.n
    FROM unnest(@ids::uuid[]) WITH ORDINALITY AS x(id, n)
), b AS (
    SELECT book_id, (array_agg(stock_before ORDER BY n))[1] AS first_before,
           (array_agg(stock_after ORDER BY n DESC))[1] AS last_after,
           sum(reserved_delta)::bigint AS reserved_delta, count(*) AS movements
    FROM m GROUP BY book_id
), found AS (
    SELECT b.book_id, l.on_hand = b.first_before AS matches
    FROM b CROSS JOIN LATERAL (SELECT on_hand FROM stock_levels s WHERE s.book_id = b.book_id OFFSET 0) AS l
), ok AS (
    SELECT book_id FROM found WHERE matches
), inserted AS (
    INSERT INTO stock_movements (id, book_id, type, quantity, stock_before, stock_after, sale_id, reason, created_at)
    SELECT id, book_id, type, quantity, stock_before, stock_after,
           NULLIF(sale_id, '00000000-0000-0000-0000-000000000000'), NULLIF(reason, ''), created_at
    FROM m WHERE book_id IN (SELECT book_id FROM ok) ORDER BY n
    ON CONFLICT DO NOTHING
    RETURNING id, book_id
), level AS (
    UPDATE stock_levels l
    SET on_hand = u.last_after, reserved = l.reserved + u.reserved_delta
    FROM b AS u
    WHERE l.book_id = u.book_id AND l.on_hand = u.first_before
      AND u.movements = (SELECT count(*) FROM inserted i WHERE i.book_id = u.book_id)
    RETURNING l.book_id
)
SELECT salesflow_movements_applied(
    m.n::integer,
    EXISTS (SELECT 1 FROM found WHERE found.book_id = m.book_id),
    EXISTS (SELECT 1 FROM ok WHERE ok.book_id = m.book_id),
    EXISTS (SELECT 1 FROM inserted i WHERE i.id = m.id),
    EXISTS (SELECT 1 FROM level WHERE level.book_id = m.book_id),
    m.sale_id <> '00000000-0000-0000-0000-000000000000')
FROM m
ORDER BY EXISTS (SELECT 1 FROM inserted i WHERE i.id = m.id), m.n;

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

-- SaleMovements returns every movement of a sale (at most a SALE and a
-- RETURN per book of its lines), in ledger order; the caller filters and
-- pages them. ListMovements and CountMovements, whose every filter may be
-- absent, are planned anew at each call (0.15 ms each, more than they run),
-- and so would a query whose type filter lets a custom plan use a partial
-- index of SALE or RETURN movements; this one, with the sale alone,
-- PostgreSQL plans once, on the sale's index.
-- name: SaleMovements :many
SELECT * FROM stock_movements WHERE sale_id = @sale_id ORDER BY seq;
