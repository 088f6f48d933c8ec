-- AddDay adds a day's change (the sales and returns of a batch) to its
-- rollups in one statement: the totals to the day's stripe of this
-- connection (migration 00007: concurrent transactions add to different
-- rows), and each book's part, summed per book, to the book's day, in book
-- id order. Every writer of these rows runs this statement, so they are
-- always locked in the same order.
-- name: AddDay :exec
WITH totals AS (
    INSERT INTO daily_sales_stripes AS d (zone, day, stripe, sales, revenue, net_revenue, tax, discount, items)
    VALUES (@zone, @day, pg_backend_pid() % 32, @sales, @revenue, @net_revenue, @tax, @discount, @items)
    ON CONFLICT (zone, day, stripe) DO UPDATE SET
        sales       = d.sales + EXCLUDED.sales,
        revenue     = d.revenue + EXCLUDED.revenue,
        net_revenue = d.net_revenue + EXCLUDED.net_revenue,
        tax         = d.tax + EXCLUDED.tax,
        discount    = d.discount + EXCLUDED.discount,
        items       = d.items + EXCLUDED.items
)
INSERT INTO daily_book_sales AS d (zone, day, book_id, units, net_revenue)
SELECT @zone, @day, book_id, sum(units)::bigint, sum(net_revenue)::bigint
FROM (SELECT unnest(@book_ids::uuid[]) AS book_id, unnest(@book_units::bigint[]) AS units,
             unnest(@book_net_revenues::bigint[]) AS net_revenue) AS b
GROUP BY book_id ORDER BY book_id
ON CONFLICT (zone, day, book_id) DO UPDATE SET
    units       = d.units + EXCLUDED.units,
    net_revenue = d.net_revenue + EXCLUDED.net_revenue;

-- RollupTotals sums the days in [from_day, to_day): the stripes and the
-- rows of daily_sales (see migration 00007).
-- name: RollupTotals :one
SELECT coalesce(sum(sales), 0)::bigint       AS sales,
       coalesce(sum(revenue), 0)::bigint     AS revenue,
       coalesce(sum(net_revenue), 0)::bigint AS net_revenue,
       coalesce(sum(tax), 0)::bigint         AS tax,
       coalesce(sum(discount), 0)::bigint    AS discount,
       coalesce(sum(items), 0)::bigint       AS items
FROM (
    SELECT sales, revenue, net_revenue, tax, discount, items FROM daily_sales o
    WHERE o.zone = @zone AND o.day >= @from_day AND o.day < @to_day
    UNION ALL
    SELECT sales, revenue, net_revenue, tax, discount, items FROM daily_sales_stripes st
    WHERE st.zone = @zone AND st.day >= @from_day AND st.day < @to_day
) AS d;

-- RollupDays lists the days in [from_day, to_day) that kept a sale.
-- name: RollupDays :many
SELECT day, sum(sales)::bigint AS sales, sum(revenue)::bigint AS revenue, sum(net_revenue)::bigint AS net_revenue
FROM (
    SELECT day, sales, revenue, net_revenue FROM daily_sales o
    WHERE o.zone = @zone AND o.day >= @from_day AND o.day < @to_day
    UNION ALL
    SELECT day, sales, revenue, net_revenue FROM daily_sales_stripes st
    WHERE st.zone = @zone AND st.day >= @from_day AND st.day < @to_day
) AS d
GROUP BY day
HAVING sum(sales) <> 0
ORDER BY day;

-- RollupTopBooks ranks the books sold in [from_day, to_day).
-- name: RollupTopBooks :many
SELECT book_id, sum(units)::bigint AS units, sum(net_revenue)::bigint AS net_revenue
FROM daily_book_sales
WHERE zone = @zone AND day >= @from_day AND day < @to_day
GROUP BY book_id
HAVING sum(units) <> 0
ORDER BY 2 DESC, 3 DESC, book_id
LIMIT @top_n;
