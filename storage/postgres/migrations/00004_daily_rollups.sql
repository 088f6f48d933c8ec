-- Daily rollups of completed sales, kept by the worker in the transaction
-- that applies each sale or return, so that a summary over a long range
-- reads one row per day (and per book and day) instead of every sale.
-- Days are calendar days in the named time zone.

-- +goose Up
CREATE TABLE daily_sales (
    zone        text   NOT NULL,
    day         date   NOT NULL,
    sales       bigint NOT NULL DEFAULT 0,
    revenue     bigint NOT NULL DEFAULT 0,
    net_revenue bigint NOT NULL DEFAULT 0,
    tax         bigint NOT NULL DEFAULT 0,
    discount    bigint NOT NULL DEFAULT 0,
    items       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (zone, day)
);

CREATE TABLE daily_book_sales (
    zone        text   NOT NULL,
    day         date   NOT NULL,
    book_id     uuid   NOT NULL REFERENCES books (id),
    units       bigint NOT NULL DEFAULT 0,
    net_revenue bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (zone, day, book_id)
);

-- +goose Down
DROP TABLE daily_book_sales;
DROP TABLE daily_sales;
