-- MarkProcessed records that a consumer group processed an event; it
-- affects no row when the group processed it before. A concurrent insert
-- of the same pair waits for the other transaction: it affects no row if
-- that one commits, and one row if it rolls back.
-- name: MarkProcessed :execrows
INSERT INTO processed_events (consumer_group, event_id)
VALUES (@consumer_group, @event_id)
ON CONFLICT (consumer_group, event_id) DO NOTHING;

-- MarkFirst records that a consumer group processed an event, which must
-- be the first time: when the group processed it before (or a concurrent
-- transaction that recorded it commits), salesflow_expect fails the
-- statement, so that it can be sent ahead of its answer (see pipe.go).
-- name: MarkFirst :exec
WITH recorded AS (
    INSERT INTO processed_events (consumer_group, event_id)
    VALUES (@consumer_group, @event_id)
    ON CONFLICT (consumer_group, event_id) DO NOTHING
    RETURNING 1
)
SELECT salesflow_expect(EXISTS (SELECT 1 FROM recorded));

-- MarkProcessedAll records several events at once, in the order given,
-- and returns the ids recorded for the first time.
-- name: MarkProcessedAll :many
INSERT INTO processed_events (consumer_group, event_id)
SELECT @consumer_group, e.id
FROM unnest(@event_ids::uuid[]) WITH ORDINALITY AS e(id, n)
ORDER BY e.n
ON CONFLICT (consumer_group, event_id) DO NOTHING
RETURNING event_id;

-- PruneProcessed deletes up to row_limit records of events processed
-- before cutoff.
-- name: PruneProcessed :execrows
DELETE FROM processed_events WHERE (consumer_group, event_id) IN (
    SELECT p.consumer_group, p.event_id FROM processed_events p WHERE p.processed_at < @cutoff::timestamptz
    ORDER BY p.processed_at LIMIT sqlc.arg(row_limit)::bigint
);
