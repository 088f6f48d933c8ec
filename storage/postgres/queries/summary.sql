-- name: SummaryTotals :one
WITH paid AS (
    SELECT id, subtotal, discount, tax, total FROM sales
    WHERE status = 'COMPLETED' AND paid_at >= sqlc.arg(paid_from)::timestamptz AND paid_at < sqlc.arg(paid_to)::timestamptz
), lines AS (
    SELECT coalesce(sum(i.quantity), 0)::bigint AS items,
           coalesce(sum(i.discount), 0)::bigint AS line_discount
    FROM sale_items i JOIN paid p ON p.id = i.sale_id
)
SELECT count(*) AS sales_count,
       coalesce(sum(total), 0)::bigint AS revenue,
       coalesce(sum(subtotal - discount), 0)::bigint AS net_revenue,
       coalesce(sum(tax), 0)::bigint AS tax,
       coalesce(sum(discount), 0)::bigint AS sale_discount,
       (SELECT line_discount FROM lines) AS line_discount,
       (SELECT items FROM lines) AS items
FROM paid;

-- SalesByDay buckets by calendar day: day_starts holds each day's first
-- instant in the caller's time zone, ascending, so the result day is the
-- 1-based index of the day a sale was paid in. Computing the boundaries in
-- Go keeps any *time.Location usable, not only zone names PostgreSQL knows.
-- name: SalesByDay :many
SELECT width_bucket(paid_at, sqlc.arg(day_starts)::timestamptz[])::integer AS day,
       count(*) AS sales_count,
       sum(total)::bigint AS revenue,
       sum(subtotal - discount)::bigint AS net_revenue
FROM sales
WHERE status = 'COMPLETED' AND paid_at >= sqlc.arg(paid_from)::timestamptz AND paid_at < sqlc.arg(paid_to)::timestamptz
GROUP BY day
ORDER BY day;

-- name: TopBooks :many
SELECT i.book_id,
       sum(i.quantity)::bigint AS units_sold,
       sum(i.net)::bigint AS net_revenue
FROM sale_items i JOIN sales s ON s.id = i.sale_id
WHERE s.status = 'COMPLETED' AND s.paid_at >= sqlc.arg(paid_from)::timestamptz AND s.paid_at < sqlc.arg(paid_to)::timestamptz
GROUP BY i.book_id
ORDER BY units_sold DESC, net_revenue DESC, i.book_id
LIMIT sqlc.arg(top_n)::bigint;
