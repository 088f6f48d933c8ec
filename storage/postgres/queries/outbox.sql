-- Enqueue inserts the record. It does not notify: a NOTIFY in the
-- transaction would serialize its commit with every other notifying one
-- (see storage/postgres/notify.go).
-- name: Enqueue :exec
INSERT INTO outbox (event_id, topic, key, headers, value, created_at)
VALUES (@event_id, @topic, @key, @headers, @value, coalesce(sqlc.narg(created_at)::timestamptz, now()));

-- name: PendingOutbox :many
SELECT seq, event_id, topic, key, headers, value, created_at FROM outbox
WHERE published_at IS NULL
ORDER BY seq
LIMIT sqlc.arg(row_limit)::bigint;

-- name: MarkPublished :exec
UPDATE outbox SET published_at = now()
WHERE seq = ANY (sqlc.arg(seqs)::bigint[]) AND published_at IS NULL;

-- oldest is only meaningful when waiting > 0: min() of no rows is NULL,
-- which the coalesce turns into a placeholder that scans into time.Time.
-- name: OutboxBacklog :one
SELECT count(*) AS waiting, coalesce(min(created_at), 'epoch')::timestamptz AS oldest FROM outbox
WHERE published_at IS NULL;

-- PrunePublished deletes up to row_limit records published before cutoff.
-- name: PrunePublished :execrows
DELETE FROM outbox WHERE seq IN (
    SELECT o.seq FROM outbox o WHERE o.published_at < @cutoff::timestamptz
    ORDER BY o.published_at LIMIT sqlc.arg(row_limit)::bigint
);
