-- The salesflow schema. Money is bigint minor units; times are timestamptz
-- at microsecond precision. Every invariant the schema can hold on one row
-- is a named constraint: storage/postgres maps some of these names to
-- domain errors (see errors.go), so rename them only together.

-- +goose Up
CREATE TABLE books (
    id         uuid        PRIMARY KEY,
    title      text        NOT NULL,
    author     text        NOT NULL,
    price      bigint      NOT NULL CONSTRAINT books_price_check CHECK (price >= 0),
    available  boolean     NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
-- Books are listed by title in byte order, as Go's strings.Compare sorts.
CREATE INDEX books_title_idx ON books (title COLLATE "C", id);

CREATE TABLE stock_levels (
    book_id   uuid   PRIMARY KEY REFERENCES books (id),
    on_hand   bigint NOT NULL CONSTRAINT stock_levels_on_hand_check CHECK (on_hand >= 0),
    reserved  bigint NOT NULL CONSTRAINT stock_levels_reserved_check CHECK (reserved >= 0),
    min_stock bigint NOT NULL CONSTRAINT stock_levels_min_stock_check CHECK (min_stock >= 0),
    CONSTRAINT stock_levels_reserved_on_hand_check CHECK (reserved <= on_hand)
);

CREATE TABLE sales (
    id                uuid        PRIMARY KEY,
    status            text        NOT NULL
        CONSTRAINT sales_status_check CHECK (status IN ('PENDING', 'COMPLETED', 'CANCELLED')),
    version           bigint      NOT NULL CONSTRAINT sales_version_check CHECK (version >= 1),
    seller_id         text        NOT NULL,
    customer_name     text,
    customer_email    text,
    notes             text,
    subtotal          bigint      NOT NULL CONSTRAINT sales_subtotal_check CHECK (subtotal >= 0),
    discount          bigint      NOT NULL,
    tax               bigint      NOT NULL CONSTRAINT sales_tax_check CHECK (tax >= 0),
    total             bigint      NOT NULL,
    currency          char(3)     NOT NULL CONSTRAINT sales_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    payment_method    text
        CONSTRAINT sales_payment_method_check
        CHECK (payment_method IN ('CASH', 'CREDIT_CARD', 'DEBIT_CARD', 'TRANSFER', 'OTHER')),
    payment_reference text,
    paid_at           timestamptz,
    cancelled_at      timestamptz,
    cancel_reason     text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    CONSTRAINT sales_discount_check CHECK (discount >= 0 AND discount <= subtotal),
    CONSTRAINT sales_total_check CHECK (total = subtotal - discount + tax),
    CONSTRAINT sales_completed_paid_check
        CHECK (status <> 'COMPLETED' OR (payment_method IS NOT NULL AND paid_at IS NOT NULL)),
    CONSTRAINT sales_cancelled_at_check CHECK (status <> 'CANCELLED' OR cancelled_at IS NOT NULL)
);
CREATE INDEX sales_created_idx ON sales (created_at DESC, id DESC);
CREATE INDEX sales_status_created_idx ON sales (status, created_at DESC, id DESC);
CREATE INDEX sales_seller_created_idx ON sales (seller_id, created_at DESC, id DESC);
CREATE INDEX sales_completed_paid_idx ON sales (paid_at) WHERE status = 'COMPLETED';

CREATE TABLE sale_items (
    sale_id    uuid    NOT NULL REFERENCES sales (id) ON DELETE CASCADE,
    line_no    integer NOT NULL CONSTRAINT sale_items_line_no_check CHECK (line_no >= 0),
    book_id    uuid    NOT NULL CONSTRAINT sale_items_book_id_fkey REFERENCES books (id),
    quantity   bigint  NOT NULL CONSTRAINT sale_items_quantity_check CHECK (quantity > 0),
    unit_price bigint  NOT NULL CONSTRAINT sale_items_unit_price_check CHECK (unit_price >= 0),
    discount   bigint  NOT NULL CONSTRAINT sale_items_discount_check CHECK (discount >= 0),
    subtotal   bigint  NOT NULL,
    -- The line's net revenue: subtotal less its share of the sale discount
    -- (sales.Sale.LineNets), kept so per-book revenue is a plain sum.
    net        bigint  NOT NULL,
    PRIMARY KEY (sale_id, line_no),
    CONSTRAINT sale_items_subtotal_check CHECK (subtotal = unit_price * quantity - discount AND subtotal >= 0),
    CONSTRAINT sale_items_net_check CHECK (net >= 0 AND net <= subtotal)
);
CREATE INDEX sale_items_book_idx ON sale_items (book_id);

CREATE TABLE stock_movements (
    -- seq orders the ledger; id is the movement's public identity.
    seq          bigserial   NOT NULL CONSTRAINT stock_movements_seq_key UNIQUE,
    id           uuid        PRIMARY KEY,
    book_id      uuid        NOT NULL CONSTRAINT stock_movements_book_id_fkey REFERENCES books (id),
    type         text        NOT NULL
        CONSTRAINT stock_movements_type_check
        CHECK (type IN ('PURCHASE', 'SALE', 'RETURN', 'ADJUSTMENT', 'DAMAGE', 'LOSS')),
    quantity     bigint      NOT NULL CONSTRAINT stock_movements_quantity_check CHECK (quantity <> 0),
    stock_before bigint      NOT NULL CONSTRAINT stock_movements_stock_before_check CHECK (stock_before >= 0),
    stock_after  bigint      NOT NULL CONSTRAINT stock_movements_stock_after_check CHECK (stock_after >= 0),
    sale_id      uuid        CONSTRAINT stock_movements_sale_id_fkey REFERENCES sales (id),
    reason       text,
    created_at   timestamptz NOT NULL,
    CONSTRAINT stock_movements_balance_check CHECK (stock_after = stock_before + quantity),
    CONSTRAINT stock_movements_sign_check CHECK (
        CASE type
            WHEN 'PURCHASE' THEN quantity > 0
            WHEN 'RETURN' THEN quantity > 0
            WHEN 'SALE' THEN quantity < 0
            WHEN 'DAMAGE' THEN quantity < 0
            WHEN 'LOSS' THEN quantity < 0
            ELSE true
        END),
    CONSTRAINT stock_movements_sale_id_check CHECK ((sale_id IS NOT NULL) = (type IN ('SALE', 'RETURN')))
);
-- Stock leaves once and comes back once per sale and book.
CREATE UNIQUE INDEX stock_movements_sale_once ON stock_movements (sale_id, book_id) WHERE type = 'SALE';
CREATE UNIQUE INDEX stock_movements_return_once ON stock_movements (sale_id, book_id) WHERE type = 'RETURN';
CREATE INDEX stock_movements_book_idx ON stock_movements (book_id, seq);
CREATE INDEX stock_movements_type_idx ON stock_movements (type, seq);
CREATE INDEX stock_movements_sale_idx ON stock_movements (sale_id);

CREATE TABLE outbox (
    seq          bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL CONSTRAINT outbox_event_id_key UNIQUE,
    topic        text        NOT NULL,
    key          text        NOT NULL,
    headers      jsonb       NOT NULL,
    value        bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE published_at IS NULL;

CREATE TABLE processed_events (
    consumer_group text        NOT NULL,
    event_id       uuid        NOT NULL,
    processed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);

CREATE TABLE book_stats (
    book_id       uuid        PRIMARY KEY REFERENCES books (id),
    units_sold    bigint      NOT NULL DEFAULT 0 CONSTRAINT book_stats_units_sold_check CHECK (units_sold >= 0),
    net_revenue   bigint      NOT NULL DEFAULT 0 CONSTRAINT book_stats_net_revenue_check CHECK (net_revenue >= 0),
    sales_count   bigint      NOT NULL DEFAULT 0 CONSTRAINT book_stats_sales_count_check CHECK (sales_count >= 0),
    first_sale_at timestamptz,
    last_sale_at  timestamptz
);

-- +goose Down
DROP TABLE book_stats;
DROP TABLE processed_events;
DROP TABLE outbox;
DROP TABLE stock_movements;
DROP TABLE sale_items;
DROP TABLE sales;
DROP TABLE stock_levels;
DROP TABLE books;
