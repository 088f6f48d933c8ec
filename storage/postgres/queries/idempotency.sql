-- InsertKey claims an unknown key. A transaction that claims a key holds
-- the key's advisory lock until it ends, so a concurrent claim of the same
-- key does not wait for it: it finds the lock taken (free is false) and the
-- key in flight. claimed is false when the key exists.
-- name: InsertKey :one
WITH lock AS (
    SELECT pg_try_advisory_xact_lock(hashtext(@scope::text), hashtext(@key::text)) AS free
), claimed AS (
    INSERT INTO idempotency_keys (scope, key, request_hash, claimed_at, claim)
    SELECT @scope::text, @key::text, @request_hash::text, @claimed_at::timestamptz, @claim::text
    FROM lock WHERE lock.free
    ON CONFLICT (scope, key) DO NOTHING
    RETURNING 1
)
SELECT lock.free, EXISTS (SELECT 1 FROM claimed) AS claimed FROM lock;

-- InsertKeyClaim claims an unknown key as InsertKey does, and fails with
-- SF001 (salesflow_expect) unless it did: the key exists, or another
-- transaction is claiming it. A transaction whose claim of a new key
-- (LockNewKey, KeyAbsent) ends without a response writes it so.
-- name: InsertKeyClaim :exec
WITH lock AS (
    SELECT pg_try_advisory_xact_lock(hashtext(@scope::text), hashtext(@key::text)) AS free
), claimed AS (
    INSERT INTO idempotency_keys (scope, key, request_hash, claimed_at, claim)
    SELECT @scope::text, @key::text, @request_hash::text, @claimed_at::timestamptz, @claim::text
    FROM lock WHERE lock.free
    ON CONFLICT (scope, key) DO NOTHING
    RETURNING 1
)
SELECT salesflow_expect(EXISTS (SELECT 1 FROM claimed)) FROM lock;

-- LockNewKey and KeyAbsent begin the claim of an unknown key by a
-- transaction that will store it with its response (InsertKeyResponse),
-- so that the key is written once rather than inserted and then updated.
-- LockNewKey takes the key's advisory lock, as InsertKeyClaim does, and
-- fails with SF001 (salesflow_expect) when another transaction holds it;
-- KeyAbsent fails with SF001 when the key exists. They are two statements
-- (sent in one batch): in READ COMMITTED a statement reads a snapshot
-- taken before it runs, and a request with the key that committed, and
-- let go of the lock, between that snapshot and the lock would be missed.
-- KeyAbsent's snapshot comes after the lock, whose holder's commit it sees.
-- name: LockNewKey :exec
SELECT salesflow_expect(pg_try_advisory_xact_lock(hashtext(@scope::text), hashtext(@key::text)));

-- name: KeyAbsent :exec
SELECT salesflow_expect(NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE scope = @scope::text AND key = @key::text));

-- InsertKeyResponse stores a key that LockNewKey and KeyAbsent claimed,
-- with its response.
-- name: InsertKeyResponse :exec
INSERT INTO idempotency_keys (scope, key, request_hash, claimed_at, claim, response_status, response_body, responded_at)
VALUES (@scope, @key, @request_hash, @claimed_at, @claim, @response_status, @response_body, @responded_at);

-- ReadKey reads a key without locking it.
-- name: ReadKey :one
SELECT request_hash, claimed_at, response_status, response_body
FROM idempotency_keys
WHERE scope = @scope AND key = @key;

-- LockKey reads a key and locks it until the transaction ends.
-- name: LockKey :one
SELECT request_hash, claimed_at, response_status, response_body
FROM idempotency_keys
WHERE scope = @scope AND key = @key
FOR UPDATE;

-- ReclaimKey gives an expired or abandoned key to a new request.
-- name: ReclaimKey :exec
UPDATE idempotency_keys
SET request_hash = @request_hash, claimed_at = @claimed_at, claim = @claim,
    response_status = NULL, response_body = NULL, responded_at = NULL
WHERE scope = @scope AND key = @key;

-- SaveKeyResponse stores the response of the request that holds the claim,
-- and fails with SF001 (salesflow_expect) when it does not.
-- name: SaveKeyResponse :exec
WITH saved AS (
    UPDATE idempotency_keys
    SET response_status = @response_status, response_body = @response_body, responded_at = @responded_at
    WHERE scope = @scope AND key = @key AND request_hash = @request_hash AND claim = @claim
      AND response_status IS NULL
    RETURNING 1
)
SELECT salesflow_expect(count(*) = 1) FROM saved;

-- ReleaseKey forgets a claim that has no response, if the request still
-- holds it.
-- name: ReleaseKey :exec
DELETE FROM idempotency_keys
WHERE scope = @scope AND key = @key AND request_hash = @request_hash AND claim = @claim
  AND response_status IS NULL;

-- SweepKeys deletes keys claimed before the cutoff.
-- name: SweepKeys :execrows
DELETE FROM idempotency_keys WHERE claimed_at < @cutoff;
