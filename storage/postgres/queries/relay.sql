-- TryAdvisoryLock takes a session advisory lock if it is free; the relay
-- leader (relay.go) runs it on a connection of its own.
-- name: TryAdvisoryLock :one
SELECT pg_try_advisory_lock(sqlc.arg(lock_id)::bigint)::boolean AS locked;

-- name: AdvisoryUnlock :one
SELECT pg_advisory_unlock(sqlc.arg(lock_id)::bigint)::boolean AS unlocked;

-- HoldsAdvisoryLock reports whether this session holds the lock: pg_locks
-- shows a bigint advisory key as its high and low 32 bits, objsubid 1.
-- name: HoldsAdvisoryLock :one
SELECT EXISTS (
    SELECT FROM pg_catalog.pg_locks
    WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
      AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
      AND classid = (sqlc.arg(lock_id)::bigint >> 32)::oid
      AND objid = (sqlc.arg(lock_id)::bigint & 4294967295)::oid
      AND objsubid = 1
)::boolean AS held;
