package sales

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Idempotency keys follow Stripe: the first response to a request carrying
// a key is stored for KeyTTL and replayed for a retry with the same key and
// the same request; the same key with another request is ErrKeyReused; a
// key whose first request is still running is ErrKeyInFlight. A change
// made with Idempotent claims its key and stores its response in the
// transaction of the change, so a retried request can never sell twice,
// and a new key costs no transaction of its own.
var (
	// ErrKeyInFlight means the key's first request has not finished.
	ErrKeyInFlight = errors.New("idempotency key in flight")
	// ErrKeyReused means the key was used before for another request.
	ErrKeyReused = errors.New("idempotency key reused with another request")
	// ErrKeyExists means a key claimed as new was used before, or is
	// being claimed by another transaction: KeyTx.ClaimKey tells which.
	ErrKeyExists = errors.New("idempotency key exists")
)

// Replay is the error of a change made with Idempotent whose key has a
// stored response: nothing was changed, and Response is the answer to give
// again.
type Replay struct{ Response Response }

func (r *Replay) Error() string {
	return fmt.Sprintf("idempotency key answered before with status %d", r.Response.Status)
}

// Key lifetimes.
const (
	// KeyTTL is how long a stored response is replayed.
	KeyTTL = 24 * time.Hour
	// KeyStaleAfter is how long a claimed key may wait for its response
	// before a retry may take it over (its first request died).
	KeyStaleAfter = time.Minute
	// MaxKeyLen bounds an idempotency key.
	MaxKeyLen = 255
)

// IdempotencyKey identifies a client's retryable request.
type IdempotencyKey struct {
	Scope string // whose key, such as the caller's user id: keys of two callers never collide
	Key   string // the client's Idempotency-Key header
	Hash  string // a fingerprint of the request (method, path and body)
	// Claim names this request, such as its request id. A request whose
	// claim went stale and was taken over by a retry can then neither
	// store its response nor release the retry's claim: SaveResponse
	// fails with ErrKeyInFlight and ReleaseKey does nothing. Requests
	// that leave it empty cannot be told apart.
	Claim string
}

// Response is a stored response, replayed for a retried request.
type Response struct {
	Status int
	Body   []byte
}

// KeyTx is the part of Tx that keeps idempotency keys.
type KeyTx interface {
	// ClaimNewKey claims k, which no request used before, at now. When k
	// exists, or another transaction is claiming it, it fails with an
	// error wrapping ErrKeyExists; like the other writes of a Tx, it may
	// report that with the transaction's next read or its commit, after
	// which the transaction is lost. A store may write the key only with
	// its response (SaveResponse) or at the commit, so the error may come
	// from those too.
	ClaimNewKey(ctx context.Context, k IdempotencyKey, now time.Time) error
	// ClaimKey claims k for a new request at now. It returns (nil, nil) when
	// the caller now owns the key: it was unknown, its stored response
	// expired (older than KeyTTL), or its claim is stale (older than
	// KeyStaleAfter with no response). It returns the stored response to
	// replay, or an error wrapping ErrKeyReused (another Hash) or
	// ErrKeyInFlight.
	ClaimKey(ctx context.Context, k IdempotencyKey, now time.Time) (*Response, error)
	// SaveResponse stores the response of the request that claimed k. It
	// fails with an error wrapping ErrKeyInFlight when that request no
	// longer holds the claim (a retry took it over, see KeyStaleAfter) or
	// a response was stored already: in the transaction of a change, the
	// change then rolls back.
	SaveResponse(ctx context.Context, k IdempotencyKey, r Response, now time.Time) error
	// ReleaseKey forgets k's claim, so a retry can run, if the request
	// still holds it and it has no response; otherwise it does nothing.
	ReleaseKey(ctx context.Context, k IdempotencyKey) error
	// SweepKeys deletes keys claimed before cutoff and returns how many.
	SweepKeys(ctx context.Context, cutoff time.Time) (int64, error)
}

// CallOption adds to one Create, Complete or Cancel call.
type CallOption func(*call)

type call struct {
	key    *IdempotencyKey
	claim  bool // claim key in the change's transaction
	encode func(*Sale) (Response, error)
}

// Remember stores the response encode makes of the changed sale under k,
// in the transaction of the change. The caller has claimed k (ClaimKey).
func Remember(k IdempotencyKey, encode func(*Sale) (Response, error)) CallOption {
	return func(c *call) { c.key, c.claim, c.encode = &k, false, encode }
}

// Idempotent makes the change once for k: it claims k in the transaction
// of the change and stores there the response encode makes of the changed
// sale. When k has a response, the call changes nothing and returns a
// *Replay holding it; other errors wrap ErrKeyReused, ErrKeyInFlight or
// ErrInvalid (a malformed key), or are the change's own. A change that
// fails leaves k unclaimed: store its answer with ClaimKey and
// SaveResponse if retries should get it too.
func Idempotent(k IdempotencyKey, encode func(*Sale) (Response, error)) CallOption {
	return func(c *call) { c.key, c.claim, c.encode = &k, true, encode }
}

// change runs fn, a change of one sale, in a transaction with the call's
// idempotency key (opts): claimed first with Idempotent, and the response
// stored last. A new key is claimed as new (KeyTx.ClaimNewKey), in the
// round trip of the change's first read; a known one costs a second
// transaction, which reads the key before it changes anything.
func (svc *Service) change(ctx context.Context, opts []CallOption, fn func(Tx) (*Sale, error)) (*Sale, error) {
	var c call
	for _, o := range opts {
		o(&c)
	}
	if c.key != nil && c.claim {
		if err := ValidateKey(*c.key); err != nil {
			return nil, err
		}
	}
	run := func(claim func(Tx, time.Time) error) (*Sale, error) {
		var out *Sale
		err := svc.store.InTx(ctx, func(tx Tx) error {
			now := eventTime(svc.now())
			if claim != nil {
				if err := claim(tx, now); err != nil {
					return err
				}
			}
			s, err := fn(tx)
			if err != nil {
				return err
			}
			out = s
			if c.key == nil {
				return nil
			}
			r, err := c.encode(s)
			if err != nil {
				return fmt.Errorf("encode response: %w", err)
			}
			return tx.SaveResponse(ctx, *c.key, r, now)
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	if c.key == nil || !c.claim {
		return run(nil)
	}
	s, err := run(func(tx Tx, now time.Time) error { return tx.ClaimNewKey(ctx, *c.key, now) })
	if !errors.Is(err, ErrKeyExists) {
		return s, err
	}
	return run(func(tx Tx, now time.Time) error {
		r, err := tx.ClaimKey(ctx, *c.key, now)
		if err != nil {
			return err
		}
		if r != nil {
			return &Replay{Response: *r}
		}
		return nil
	})
}

// ValidateKey checks that k is well formed: a key of 1 to MaxKeyLen
// printable ASCII characters, with a scope and a hash. Its error wraps
// ErrInvalid.
func ValidateKey(k IdempotencyKey) error {
	if k.Key == "" || len(k.Key) > MaxKeyLen {
		return invalid("Idempotency-Key", fmt.Sprintf("must be 1 to %d characters", MaxKeyLen))
	}
	for i := 0; i < len(k.Key); i++ {
		if c := k.Key[i]; c < 0x21 || c > 0x7e {
			return invalid("Idempotency-Key", "must be printable ASCII without spaces")
		}
	}
	if k.Scope == "" || k.Hash == "" {
		return errors.New("sales: idempotency key needs a scope and a hash")
	}
	return nil
}

// ClaimKey claims k for a request about to run, in its own transaction; see
// KeyTx.ClaimKey. A malformed key wraps ErrInvalid.
func (svc *Service) ClaimKey(ctx context.Context, k IdempotencyKey) (*Response, error) {
	if err := ValidateKey(k); err != nil {
		return nil, err
	}
	var out *Response
	err := svc.store.InTx(ctx, func(tx Tx) error {
		r, err := tx.ClaimKey(ctx, k, eventTime(svc.now()))
		out = r
		return err
	})
	return out, err
}

// SaveResponse stores the response to a claimed key's request that changed
// nothing (a rejected request), so retries replay it.
func (svc *Service) SaveResponse(ctx context.Context, k IdempotencyKey, r Response) error {
	return svc.store.InTx(ctx, func(tx Tx) error { return tx.SaveResponse(ctx, k, r, eventTime(svc.now())) })
}

// ReleaseKey forgets the claim of a request that failed without an answer
// worth replaying (a server error), so that a retry runs again.
func (svc *Service) ReleaseKey(ctx context.Context, k IdempotencyKey) error {
	return svc.store.InTx(ctx, func(tx Tx) error { return tx.ReleaseKey(ctx, k) })
}

// SweepKeys deletes keys older than KeyTTL and returns how many.
func (svc *Service) SweepKeys(ctx context.Context) (int64, error) {
	var n int64
	err := svc.store.InTx(ctx, func(tx Tx) error {
		var err error
		n, err = tx.SweepKeys(ctx, eventTime(svc.now()).Add(-KeyTTL))
		return err
	})
	return n, err
}
