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

// Idempotency keys follow Stripe (DESIGN §7). A change claims the
// request's key in its own transaction and stores its response there
// (sales.Idempotent), so a retry can never sell twice and a new key costs
// no transaction of its own. The middleware holds the operation's answer
// until the operation ends: when the key was answered before (the change
// returned a *sales.Replay), the stored answer replaces it; a 4xx answer of
// a change that began is stored afterwards (ClaimKey, SaveResponse) for
// retries to get it too: an unknown book, short stock, an illegal move. As
// with Stripe, a request whose input failed validation (Huma's schema, or
// the domain's rules: sales.ErrInvalid) stores nothing, and neither does a
// 5xx: the key stays free for a corrected request or a retry.

type keyCtx struct{}

// keyState is what the middleware and the operation share of a request
// with an Idempotency-Key.
type keyState struct {
	key     sales.IdempotencyKey
	replay  *sales.Response // the stored answer, when the change found one
	keyErr  bool            // the answer is about the key (in flight, reused): not to be stored
	began   bool            // the handler began the change: its 4xx answer is stored...
	invalid bool            // ...unless the input broke a rule, which is validation too
}

// keyStateOf returns the state of this request's key, or nil.
func keyStateOf(ctx context.Context) *keyState {
	st, _ := ctx.Value(keyCtx{}).(*keyState)
	return st
}

// remember returns the call option that claims the request's idempotency
// key, if it has one, and stores the response to the change under it. The
// stored body is what Huma sends: the same JSON encoder, trailing newline
// included.
func remember(ctx context.Context, status int) []sales.CallOption {
	st := keyStateOf(ctx)
	if st == nil {
		return nil
	}
	st.began = true
	return []sales.CallOption{sales.Idempotent(st.key, func(s *sales.Sale) (sales.Response, error) {
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
	if err := sales.ValidateKey(k); err != nil {
		s.writeError(hctx, err)
		return
	}
	st := &keyState{key: k}
	rec := &recorder{humaContext: hctx, header: http.Header{}}
	next(huma.WithValue(rec, keyCtx{}, st)) // a panic writes nothing here: the recoverer answers
	if st.replay != nil {
		writeStored(hctx, *st.replay)
		return
	}
	if status := rec.Status(); status >= 400 && status < 500 && st.began && !st.keyErr && !st.invalid {
		if stored := s.storeAnswer(ctx, k, sales.Response{Status: status, Body: rec.body.Bytes()}); stored != nil {
			writeStored(hctx, *stored)
			return
		}
	}
	rec.send()
}

// writeStored answers with a stored response.
func writeStored(hctx huma.Context, r sales.Response) {
	ct := "application/json"
	if r.Status >= 400 {
		ct = "application/problem+json"
	}
	hctx.SetHeader("Content-Type", ct)
	hctx.SetHeader("Idempotent-Replayed", "true")
	hctx.SetStatus(r.Status)
	_, _ = hctx.BodyWriter().Write(r.Body)
}

// storeAnswer stores a 4xx answer for retries of its key to get, when the
// key is still free. When a request with the key was answered meanwhile,
// it returns that answer, to give instead; when one is running, it stores
// nothing.
func (s *server) storeAnswer(ctx context.Context, k sales.IdempotencyKey, r sales.Response) *sales.Response {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	stored, err := s.sales.ClaimKey(ctx, k)
	if stored != nil || errors.Is(err, sales.ErrKeyInFlight) || errors.Is(err, sales.ErrKeyReused) {
		return stored
	}
	if err == nil {
		if err = s.sales.SaveResponse(ctx, k, r); err != nil {
			// Free the key again rather than leave it in flight.
			err = errors.Join(err, s.sales.ReleaseKey(ctx, k))
		}
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "idempotency key: answer not stored", slog.String("request_id", requestID(ctx)),
			slog.Int("status", r.Status), slog.Any("err", err))
	}
	return nil
}

// recorder holds what a Huma operation answers (status, headers, body)
// until send writes it.
type recorder struct {
	humaContext
	status int
	header http.Header
	body   bytes.Buffer
}

// humaContext names the embedded huma.Context, whose own method is Context.
type humaContext = huma.Context

func (r *recorder) Unwrap() huma.Context { return r.humaContext }

func (r *recorder) SetStatus(code int) { r.status = code }

func (r *recorder) Status() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

func (r *recorder) SetHeader(name, value string)    { r.header.Set(name, value) }
func (r *recorder) AppendHeader(name, value string) { r.header.Add(name, value) }
func (r *recorder) BodyWriter() io.Writer           { return &r.body }

// send writes the recorded answer.
func (r *recorder) send() {
	for name, values := range r.header {
		for _, v := range values {
			r.humaContext.AppendHeader(name, v)
		}
	}
	if r.status != 0 {
		r.humaContext.SetStatus(r.status)
	}
	_, _ = r.humaContext.BodyWriter().Write(r.body.Bytes())
}
