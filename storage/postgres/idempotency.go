package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres/internal/db"
)

// ClaimNewKey claims a key no request used, in one queued statement (see
// tx.later); see sales.KeyTx. The transaction holds the key's advisory
// lock until it ends, so a concurrent claim of the same key finds it in
// flight at once rather than waiting for this transaction.
func (t *tx) ClaimNewKey(ctx context.Context, k sales.IdempotencyKey, now time.Time) error {
	return t.later(func() error {
		return t.q.ClaimNewKey(ctx, db.ClaimNewKeyParams(insertKey(k, now)))
	}, func(err error) error {
		if unmet(err) {
			return fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyExists)
		}
		return fmt.Errorf("claim key %q: %w", k.Key, err)
	})
}

// ClaimKey claims an idempotency key for a new request; see sales.KeyTx.
// A concurrent claim of the same key finds it in flight (ClaimNewKey).
func (t *tx) ClaimKey(ctx context.Context, k sales.IdempotencyKey, now time.Time) (*sales.Response, error) {
	ins, err := t.q.InsertKey(ctx, insertKey(k, now))
	if err != nil {
		return nil, fmt.Errorf("claim key %q: %w", k.Key, err)
	}
	switch {
	case !ins.Free:
		// Another transaction holds the key: a request claiming it, or a
		// retry replaying its answer, which this one may replay too.
		row, err := t.q.ReadKey(ctx, db.ReadKeyParams{Scope: k.Scope, Key: k.Key})
		switch {
		case err == nil && row.RequestHash != k.Hash:
			return nil, fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyReused)
		case err == nil && row.ResponseStatus != nil && row.ClaimedAt.After(now.Add(-sales.KeyTTL)):
			return &sales.Response{Status: int(*row.ResponseStatus), Body: row.ResponseBody}, nil
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("claim key %q: %w", k.Key, err)
		}
		return nil, fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyInFlight)
	case ins.Claimed:
		return nil, nil
	}
	row, err := t.q.LockKey(ctx, db.LockKeyParams{Scope: k.Scope, Key: k.Key})
	if err != nil {
		return nil, fmt.Errorf("claim key %q: %w", k.Key, err)
	}
	responded := row.ResponseStatus != nil
	switch {
	case responded && !row.ClaimedAt.After(now.Add(-sales.KeyTTL)),
		!responded && !row.ClaimedAt.After(now.Add(-sales.KeyStaleAfter)) && row.RequestHash == k.Hash:
		err := t.q.ReclaimKey(ctx, db.ReclaimKeyParams{Scope: k.Scope, Key: k.Key, RequestHash: k.Hash, ClaimedAt: now, Claim: k.Claim})
		if err != nil {
			return nil, fmt.Errorf("reclaim key %q: %w", k.Key, err)
		}
		return nil, nil
	case row.RequestHash != k.Hash:
		return nil, fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyReused)
	case !responded:
		return nil, fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyInFlight)
	}
	return &sales.Response{Status: int(*row.ResponseStatus), Body: row.ResponseBody}, nil
}

// SaveResponse stores the response of the request that claimed k, queued
// (see tx.later); see sales.KeyTx.
func (t *tx) SaveResponse(ctx context.Context, k sales.IdempotencyKey, r sales.Response, now time.Time) error {
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	return t.later(func() error {
		return t.q.SaveKeyResponse(ctx, db.SaveKeyResponseParams{
			Scope: k.Scope, Key: k.Key, RequestHash: k.Hash, Claim: k.Claim,
			ResponseStatus: ptr(int32(r.Status)), ResponseBody: body, RespondedAt: &now,
		})
	}, func(err error) error {
		if unmet(err) {
			return fmt.Errorf("save response for key %q: this request no longer holds the claim, or a response was stored: %w", k.Key, sales.ErrKeyInFlight)
		}
		return fmt.Errorf("save response for key %q: %w", k.Key, err)
	})
}

// ReleaseKey forgets k's claim if the request still holds it and it has no
// response.
func (t *tx) ReleaseKey(ctx context.Context, k sales.IdempotencyKey) error {
	if err := t.q.ReleaseKey(ctx, db.ReleaseKeyParams{Scope: k.Scope, Key: k.Key, RequestHash: k.Hash, Claim: k.Claim}); err != nil {
		return fmt.Errorf("release key %q: %w", k.Key, err)
	}
	return nil
}

// SweepKeys deletes keys claimed before cutoff.
func (t *tx) SweepKeys(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := t.q.SweepKeys(ctx, cutoff)
	if err != nil {
		return 0, fmt.Errorf("sweep keys: %w", err)
	}
	return n, nil
}

func ptr[T any](v T) *T { return &v }

// insertKey is the claim of k at now.
func insertKey(k sales.IdempotencyKey, now time.Time) db.InsertKeyParams {
	return db.InsertKeyParams{Scope: k.Scope, Key: k.Key, RequestHash: k.Hash, ClaimedAt: now, Claim: k.Claim}
}
