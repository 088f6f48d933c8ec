-- name: InsertSale :exec
INSERT INTO sales (
    id, status, version, seller_id, customer_name, customer_email, notes,
    subtotal, discount, tax, total, currency,
    payment_method, payment_reference, paid_at, cancelled_at, cancel_reason,
    created_at, updated_at
) VALUES (
    @id, @status, @version, @seller_id, @customer_name, @customer_email, @notes,
    @subtotal, @discount, @tax, @total, @currency,
    @payment_method, @payment_reference, @paid_at, @cancelled_at, @cancel_reason,
    @created_at, @updated_at
);

-- InsertSaleItems inserts a sale's lines in one statement: line i (from 0)
-- is element i+1 of each array.
-- name: InsertSaleItems :exec
INSERT INTO sale_items (sale_id, line_no, book_id, quantity, unit_price, discount, subtotal, net)
SELECT @sale_id::uuid, i - 1, (@book_ids::uuid[])[i], (@quantities::bigint[])[i],
       (@unit_prices::bigint[])[i], (@discounts::bigint[])[i], (@subtotals::bigint[])[i], (@nets::bigint[])[i]
FROM generate_subscripts(@book_ids::uuid[], 1) AS i;

-- name: Sale :one
SELECT * FROM sales WHERE id = $1;

-- name: LockSaleRow :one
SELECT * FROM sales WHERE id = $1 FOR NO KEY UPDATE;

-- SaleWithItems returns a sale with its lines, a row per line in line
-- order; no row for a sale without lines (Sale tells).
-- name: SaleWithItems :many
SELECT sqlc.embed(sales), sqlc.embed(sale_items)
FROM sales JOIN sale_items ON sale_items.sale_id = sales.id
WHERE sales.id = $1
ORDER BY sale_items.line_no;

-- LockSale is SaleWithItems, locking the sale's row until the transaction
-- ends: FOR NO KEY UPDATE, which the foreign-key checks of the rows that
-- reference the sale do not wait for.
-- name: LockSale :many
SELECT sqlc.embed(sales), sqlc.embed(sale_items)
FROM sales JOIN sale_items ON sale_items.sale_id = sales.id
WHERE sales.id = $1
ORDER BY sale_items.line_no
FOR NO KEY UPDATE OF sales;

-- name: SaleItems :many
SELECT * FROM sale_items
WHERE sale_id = ANY (sqlc.arg(sale_ids)::uuid[])
ORDER BY sale_id, line_no;

-- UpdateSale fails with SF001 (salesflow_expect) when the sale is unknown.
-- name: UpdateSale :exec
WITH updated AS (
    UPDATE sales SET
        status = @status,
        version = @version,
        payment_method = @payment_method,
        payment_reference = @payment_reference,
        paid_at = @paid_at,
        cancelled_at = @cancelled_at,
        cancel_reason = @cancel_reason,
        updated_at = @updated_at
    WHERE id = @id
    RETURNING 1
)
SELECT salesflow_expect(count(*) = 1) FROM updated;

-- name: ListSales :many
SELECT * FROM sales
WHERE (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(seller_id)::text IS NULL OR seller_id = sqlc.narg(seller_id))
  AND (sqlc.narg(created_from)::timestamptz IS NULL OR created_at >= sqlc.narg(created_from))
  AND (sqlc.narg(created_to)::timestamptz IS NULL OR created_at < sqlc.narg(created_to))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(row_limit)::bigint OFFSET sqlc.arg(row_offset)::bigint;

-- name: CountSales :one
SELECT count(*) FROM sales
WHERE (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(seller_id)::text IS NULL OR seller_id = sqlc.narg(seller_id))
  AND (sqlc.narg(created_from)::timestamptz IS NULL OR created_at >= sqlc.narg(created_from))
  AND (sqlc.narg(created_to)::timestamptz IS NULL OR created_at < sqlc.narg(created_to));

-- BookRefs reads the price and availability of books, a row for each id
-- that names one, repeated ids included. The caller sends at least ten ids
-- (see tx.Books). Each id finds its book by the primary key: the subquery,
-- which OFFSET 0 keeps from being merged into a join, runs once per id. A
-- plain id = ANY would read the books by their index or scan them whole as
-- their number makes seem cheaper, and the generic plan, costed for ten
-- ids, scans a catalog of a thousand books (0.17 ms, against 0.02 ms).
-- name: BookRefs :many
SELECT b.id, b.price, b.available
FROM unnest(sqlc.arg(ids)::uuid[]) AS u(id)
CROSS JOIN LATERAL (SELECT id, price, available FROM books WHERE books.id = u.id OFFSET 0) AS b;

-- AddReserved reserves (sign 1) or releases (sign -1) qty units of each
-- book, all or none, in one statement: the books distinct and in ascending
-- id order. Short stock, or a release of more than is reserved, fails it
-- with SF001 and the place of the first such book (salesflow_add_reserved,
-- migration 00011).
-- name: AddReserved :exec
SELECT salesflow_add_reserved(@book_ids::uuid[], @qtys::bigint[], @sign::integer);
