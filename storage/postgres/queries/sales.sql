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

-- name: InsertSaleItems :copyfrom
INSERT INTO sale_items (sale_id, line_no, book_id, quantity, unit_price, discount, subtotal, net)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: Sale :one
SELECT * FROM sales WHERE id = $1;

-- name: LockSale :one
SELECT * FROM sales WHERE id = $1 FOR UPDATE;

-- name: SaleItems :many
SELECT * FROM sale_items
WHERE sale_id = ANY (sqlc.arg(sale_ids)::uuid[])
ORDER BY sale_id, line_no;

-- name: UpdateSale :execrows
UPDATE sales SET
    status = @status,
    version = @version,
    payment_method = @payment_method,
    payment_reference = @payment_reference,
    paid_at = @paid_at,
    cancelled_at = @cancelled_at,
    cancel_reason = @cancel_reason,
    updated_at = @updated_at
WHERE id = @id;

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

-- name: BookRefs :many
SELECT id, price, available FROM books WHERE id = ANY (sqlc.arg(ids)::uuid[]);

-- Reserve is a single guarded statement: of two concurrent buyers of the
-- last unit, the second waits for the first's row lock, re-evaluates the
-- guard and matches no row.
-- name: Reserve :execrows
UPDATE stock_levels SET reserved = reserved + sqlc.arg(qty)::bigint
WHERE book_id = @book_id AND sqlc.arg(qty) > 0 AND on_hand - reserved >= sqlc.arg(qty);

-- name: Release :execrows
UPDATE stock_levels SET reserved = reserved - sqlc.arg(qty)::bigint
WHERE book_id = @book_id AND sqlc.arg(qty) > 0 AND reserved >= sqlc.arg(qty);
