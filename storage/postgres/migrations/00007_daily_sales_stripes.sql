-- A day's totals are added to up to 32 stripes instead of one row. Every
-- worker transaction adds to the current day, so with one row per day the
-- transactions of all partitions queued on that row's lock until each
-- other's commit, while holding the stock rows the API reserves from. Each
-- transaction now adds to the stripe of its connection (its backend pid
-- modulo 32) in daily_sales_stripes, and readers sum the stripes and the
-- rows daily_sales kept (the days before this migration, and those a
-- worker of the previous release adds to during a rolling upgrade).

-- +goose Up
CREATE TABLE daily_sales_stripes (
    zone        text     NOT NULL,
    day         date     NOT NULL,
    stripe      smallint NOT NULL,
    sales       bigint   NOT NULL DEFAULT 0,
    revenue     bigint   NOT NULL DEFAULT 0,
    net_revenue bigint   NOT NULL DEFAULT 0,
    tax         bigint   NOT NULL DEFAULT 0,
    discount    bigint   NOT NULL DEFAULT 0,
    items       bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (zone, day, stripe)
);

-- +goose Down
INSERT INTO daily_sales AS d (zone, day, sales, revenue, net_revenue, tax, discount, items)
SELECT zone, day, sum(sales), sum(revenue), sum(net_revenue), sum(tax), sum(discount), sum(items)
FROM daily_sales_stripes GROUP BY zone, day
ON CONFLICT (zone, day) DO UPDATE SET
    sales       = d.sales + EXCLUDED.sales,
    revenue     = d.revenue + EXCLUDED.revenue,
    net_revenue = d.net_revenue + EXCLUDED.net_revenue,
    tax         = d.tax + EXCLUDED.tax,
    discount    = d.discount + EXCLUDED.discount,
    items       = d.items + EXCLUDED.items;
DROP TABLE daily_sales_stripes;
