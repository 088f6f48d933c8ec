package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres/internal/db"
)

// ClaimNewKey claims a key no request used, in two queued statements (see
// tx.later): LockNewKey takes the key's advisory lock, which the
// transaction holds until it ends, so that a concurrent claim of the same
// key finds it in flight at once rather than waiting for this transaction;
// KeyAbsent then checks that the key does not exist. See sales.KeyTx. The
// key is written once, when the transaction stores its response
// (SaveResponse), or at its commit without one (see tx.claimsLeft).
func (t *tx) ClaimNewKey(ctx context.Context, k sales.IdempotencyKey, now time.Time) error {
	if t.claimOf(k) != nil {
		return fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyExists)
	}
	err := t.later(func() error {
		p := db.LockNewKeyParams{Scope: k.Scope, Key: k.Key}
		if err := t.q.LockNewKey(ctx, p); err != nil {
			return err
		}
		return t.q.KeyAbsent(ctx, db.KeyAbsentParams(p))
	}, claimCheck(k))
	if err == nil {
		t.claims = append(t.claims, newClaim{key: k, at: now})
	}
	return err
}

// claimCheck is the check of a queued statement that claims k as new: a
// guard that matched nothing (salesflow_expect) means the key exists.
func claimCheck(k sales.IdempotencyKey) func(error) error {
	return func(err error) error {
		if unmet(err) {
			return fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyExists)
		}
		return fmt.Errorf("claim key %q: %w", k.Key, err)
	}
}

// newClaim is a key this transaction claimed as new (LockNewKey,
// KeyAbsent): written by SaveResponse with its response, or at the commit
// as a claim in flight.
type newClaim struct {
	key      sales.IdempotencyKey
	at       time.Time
	answered bool // SaveResponse queued its write
}

// claimOf returns this transaction's new claim of k's key (scope and
// key), answered or not, or nil. ClaimNewKey refuses a second claim of a
// key, so there is at most one.
func (t *tx) claimOf(k sales.IdempotencyKey) *newClaim {
	for i := range t.claims {
		if c := &t.claims[i]; c.key.Scope == k.Scope && c.key.Key == k.Key {
			return c
		}
	}
	return nil
}

// unwritten returns this transaction's new claim of k's key that has no
// response queued, or nil.
func (t *tx) unwritten(k sales.IdempotencyKey) *newClaim {
	if c := t.claimOf(k); c != nil && !c.answered {
		return c
	}
	return nil
}

// claimsLeft queues the keys this transaction claimed as new and stored
// no response for, as claims in flight (InsertKeyClaim: the lock is this
// transaction's already); the commit sends them.
func (t *tx) claimsLeft(ctx context.Context) error {
	for _, c := range t.claims {
		if c.answered {
			continue
		}
		err := t.later(func() error {
			return t.q.InsertKeyClaim(ctx, db.InsertKeyClaimParams(insertKey(c.key, c.at)))
		}, claimCheck(c.key))
		if err != nil {
			return err
		}
	}
	t.claims = nil
	return nil
}

// ClaimKey claims an idempotency key for a new request; see sales.KeyTx.
// A concurrent claim of the same key finds it in flight (InsertKey takes
// its advisory lock, as ClaimNewKey does).
func (t *tx) ClaimKey(ctx context.Context, k sales.IdempotencyKey, now time.Time) (*sales.Response, error) {
	if c := t.unwritten(k); c != nil {
		// Claimed as new by this transaction, with no response yet.
		if c.key.Hash != k.Hash {
			return nil, fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyReused)
		}
		return nil, fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyInFlight)
	}
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
// (see tx.later); see sales.KeyTx. A key this transaction claimed as new
// is inserted with its response, in one write.
func (t *tx) SaveResponse(ctx context.Context, k sales.IdempotencyKey, r sales.Response, now time.Time) error {
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	if c := t.unwritten(k); c != nil && c.key == k {
		c.answered = true
		return t.later(func() error {
			return t.q.InsertKeyResponse(ctx, db.InsertKeyResponseParams{
				Scope: k.Scope, Key: k.Key, RequestHash: k.Hash, ClaimedAt: c.at, Claim: k.Claim,
				ResponseStatus: ptr(int32(r.Status)), ResponseBody: body, RespondedAt: &now,
			})
		}, func(err error) error {
			if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == uniqueViolation && pe.ConstraintName == "idempotency_keys_pkey" {
				// Written by another transaction since this one's check,
				// without the key's lock.
				return fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyExists)
			}
			return fmt.Errorf("save response for key %q: %w", k.Key, err)
		})
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
	if c := t.unwritten(k); c != nil && c.key == k {
		// Claimed as new by this transaction and not written: forgotten.
		t.claims = slices.DeleteFunc(t.claims, func(o newClaim) bool { return o.key == k })
		return nil
	}
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
	// The keys this transaction claimed as new and will write only at its
	// commit (those with a response were written before the DELETE ran).
	before := len(t.claims)
	t.claims = slices.DeleteFunc(t.claims, func(c newClaim) bool { return !c.answered && c.at.Before(cutoff) })
	return n + int64(before-len(t.claims)), nil
}

func ptr[T any](v T) *T { return &v }

// insertKey is the claim of k at now.
func insertKey(k sales.IdempotencyKey, now time.Time) db.InsertKeyParams {
	return db.InsertKeyParams{Scope: k.Scope, Key: k.Key, RequestHash: k.Hash, ClaimedAt: now, Claim: k.Claim}
}
