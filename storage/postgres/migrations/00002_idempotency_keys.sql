-- Idempotency keys (Stripe's semantics, see sales.KeyTx): a request claims
-- its key in a short transaction of its own, and its response is stored in
-- the transaction of the change it made, so a retried request can never
-- sell twice.

-- +goose Up
CREATE TABLE idempotency_keys (
    scope           text        NOT NULL,
    key             text        NOT NULL,
    request_hash    text        NOT NULL,
    claimed_at      timestamptz NOT NULL,
    response_status integer,
    response_body   bytea,
    responded_at    timestamptz,
    PRIMARY KEY (scope, key),
    CONSTRAINT idempotency_keys_response_whole CHECK (
        (response_status IS NULL) = (response_body IS NULL)
        AND (response_status IS NULL) = (responded_at IS NULL)),
    CONSTRAINT idempotency_keys_key_length CHECK (length(key) BETWEEN 1 AND 255)
);

-- The sweep deletes by age.
CREATE INDEX idempotency_keys_claimed_at_idx ON idempotency_keys (claimed_at);

-- +goose Down
DROP TABLE idempotency_keys;
