package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/salesflow/salesflow/sales"
)

// Idempotency keys follow Stripe (DESIGN §7). The middleware claims the key
// before the operation runs, in a transaction of its own; the operation's
// successful response is stored in the transaction of its change
// (sales.Remember), so a retry can never sell twice; a 4xx answer is stored
// afterwards (SaveResponse), and a 5xx releases the key so that a retry runs
// again.

type keyCtx struct{}

// idempotencyKey returns the key the middleware claimed for this request.
func idempotencyKey(ctx context.Context) (sales.IdempotencyKey, bool) {
	k, ok := ctx.Value(keyCtx{}).(sales.IdempotencyKey)
	return k, ok
}

// remember returns the call option that stores the response to a change
// under the request's idempotency key, if it has one. The stored body is
// what Huma sends: the same JSON encoder, trailing newline included.
func remember(ctx context.Context, status int) []sales.CallOption {
	k, ok := idempotencyKey(ctx)
	if !ok {
		return nil
	}
	return []sales.CallOption{sales.Remember(k, func(s *sales.Sale) (sales.Response, error) {
		var buf bytes.Buffer
		if err := huma.DefaultJSONFormat.Marshal(&buf, newSale(s)); err != nil {
			return sales.Response{}, err
		}
		return sales.Response{Status: status, Body: buf.Bytes()}, nil
	})}
}

// fingerprint identifies a request for its key: method, path and body.
func fingerprint(method, path string, body []byte) string {
	h := sha256.New()
	io.WriteString(h, method)
	h.Write([]byte{0})
	io.WriteString(h, path)
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// idempotent is the middleware of POST /sales and PATCH /sales/{id}/status.
// It runs after authorize: keys are scoped to the token's subject.
func (s *server) idempotent(hctx huma.Context, next func(huma.Context)) {
	key := hctx.Header("Idempotency-Key")
	if key == "" {
		next(hctx)
		return
	}
	ctx := hctx.Context()
	var body []byte
	if ri := infoOf(ctx); ri != nil {
		body = ri.body
	}
	u := hctx.URL()
	k := sales.IdempotencyKey{
		Scope: principal(ctx).Subject, Key: key, Hash: fingerprint(hctx.Method(), u.Path, body),
		// A claim of this request alone (a client may repeat its request
		// id): once a retry takes it over, this one can no longer store a
		// response or release the key.
		Claim: rand.Text(),
	}
	stored, err := s.sales.ClaimKey(ctx, k)
	if err != nil {
		if errors.Is(err, sales.ErrKeyInFlight) {
			hctx.SetHeader("Retry-After", "1")
		}
		s.writeError(hctx, err)
		return
	}
	if stored != nil {
		ct := "application/json"
		if stored.Status >= 400 {
			ct = "application/problem+json"
		}
		hctx.SetHeader("Content-Type", ct)
		hctx.SetHeader("Idempotent-Replayed", "true")
		hctx.SetStatus(stored.Status)
		_, _ = hctx.BodyWriter().Write(stored.Body)
		return
	}

	rec := &recorder{humaContext: hctx}
	finished := false
	defer func() {
		// A panic (or anything else that skips the end) leaves no answer
		// to replay: free the key for a retry.
		if !finished {
			s.settleKey(ctx, k, http.StatusInternalServerError, nil)
		}
	}()
	next(huma.WithValue(rec, keyCtx{}, k))
	finished = true
	s.settleKey(ctx, k, rec.Status(), rec.body.Bytes())
}

// settleKey stores a 4xx answer for replay or releases the key after a 5xx;
// a 2xx answer was stored with the change.
func (s *server) settleKey(ctx context.Context, k sales.IdempotencyKey, status int, body []byte) {
	if status >= 200 && status < 400 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	if status >= 400 && status < 500 {
		err = s.sales.SaveResponse(ctx, k, sales.Response{Status: status, Body: body})
	} else {
		err = s.sales.ReleaseKey(ctx, k)
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "idempotency key not settled", slog.String("request_id", requestID(ctx)),
			slog.Int("status", status), slog.Any("err", err))
	}
}

// recorder keeps a copy of the status and body a Huma operation writes.
type recorder struct {
	humaContext
	status int
	body   bytes.Buffer
}

// humaContext names the embedded huma.Context, whose own method is Context.
type humaContext = huma.Context

func (r *recorder) Unwrap() huma.Context { return r.humaContext }

func (r *recorder) SetStatus(code int) {
	r.status = code
	r.humaContext.SetStatus(code)
}

func (r *recorder) Status() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

func (r *recorder) BodyWriter() io.Writer { return io.MultiWriter(r.humaContext.BodyWriter(), &r.body) }
