-- Published outbox records and processed-event records are pruned after a
-- retention period ((*DB).PruneEvents); these indexes find the old ones.

-- +goose Up
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX processed_events_processed_at_idx ON processed_events (processed_at);

-- +goose Down
DROP INDEX processed_events_processed_at_idx;
DROP INDEX outbox_published_at_idx;
