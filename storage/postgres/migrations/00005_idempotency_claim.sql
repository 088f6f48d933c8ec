-- A claim of an idempotency key names the request that holds it, so that a
-- request whose claim was taken over by a retry (after sales.KeyStaleAfter)
-- can neither store its response nor release the retry's claim.

-- +goose Up
ALTER TABLE idempotency_keys ADD COLUMN claim text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN claim;
