-- InsertKey claims an unknown key; it affects no row when the key exists
-- (after waiting for a concurrent claim of the same key to end).
-- name: InsertKey :execrows
INSERT INTO idempotency_keys (scope, key, request_hash, claimed_at, claim)
VALUES (@scope, @key, @request_hash, @claimed_at, @claim)
ON CONFLICT (scope, key) DO NOTHING;

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
