-- Published outbox records and processed-event records are pruned after a
-- retention period ((*DB).PruneEvents); these indexes find the old ones.
-- They are built CONCURRENTLY, outside a transaction, so that sales and the
-- worker keep writing to the two tables, at their largest before the first
-- pruning, while the indexes build.

-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS processed_events_processed_at_idx ON processed_events (processed_at);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS processed_events_processed_at_idx;
DROP INDEX CONCURRENTLY IF EXISTS outbox_published_at_idx;
