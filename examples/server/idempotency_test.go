package main

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/salesflow/salesflow/sales"
)

// runIdempotency checks Stripe's semantics through HTTP only.
func runIdempotency(t *testing.T, tg *target) {
	book := tg.createBook(t, "12.50", 10)
	key := func(name string) string { return fmt.Sprintf("%s-%d", name, time.Now().UnixNano()) }
	body := fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":2}]}`, book)

	// The same key and body: the first answer again, and one sale.
	k := key("create")
	first := tg.req(t, "POST", "/sales", tg.user, body, "Idempotency-Key", k)
	want(t, first, http.StatusCreated, "first create")
	again := tg.req(t, "POST", "/sales", tg.user, body, "Idempotency-Key", k)
	want(t, again, http.StatusCreated, "retried create")
	if !bytes.Equal(first.body, again.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay differs:\n%s\n%s (Idempotent-Replayed %q)", first.body, again.body, again.header.Get("Idempotent-Replayed"))
	}
	if again.header.Get("Content-Type") != "application/json" {
		t.Fatalf("replay content type %q", again.header.Get("Content-Type"))
	}
	if _, res, _ := tg.stock(t, book); res != 2 {
		t.Fatalf("reserved %d after a retried create, want 2", res)
	}

	// The same key with another body: 422, nothing sold.
	r := tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":3}]}`, book), "Idempotency-Key", k)
	want(t, r, http.StatusUnprocessableEntity, "key reused with another body")
	if p := r.obj(t); p["code"] != codeKeyReused {
		t.Fatalf("problem code %v", p["code"])
	}
	// ... and on another path.
	want(t, tg.req(t, "PATCH", "/sales/"+first.obj(t)["id"].(string)+"/status", tg.admin, body, "Idempotency-Key", k),
		http.StatusUnprocessableEntity, "key of another user reused by the admin on another route")
	if _, res, _ := tg.stock(t, book); res != 2 {
		t.Fatalf("reserved %d after a reused key, want 2", res)
	}

	// Keys are per caller: another user's same key is a new request.
	want(t, tg.req(t, "POST", "/sales", tg.user2, body, "Idempotency-Key", k), http.StatusCreated, "same key, another user")

	// A rejected request is answered the same way on retry, even when it
	// would now succeed.
	big := fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":7}]}`, book)
	k2 := key("too-many")
	r = tg.req(t, "POST", "/sales", tg.user, big, "Idempotency-Key", k2)
	want(t, r, http.StatusConflict, "oversell with a key")
	want(t, tg.req(t, "POST", "/inventory/"+book+"/movements", tg.admin, `{"type":"PURCHASE","quantity":10}`), http.StatusCreated, "restock")
	r2 := tg.req(t, "POST", "/sales", tg.user, big, "Idempotency-Key", k2)
	want(t, r2, http.StatusConflict, "retried oversell after a restock")
	if !bytes.Equal(r.body, r2.body) || r2.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("replayed problem differs:\n%s\n%s", r.body, r2.body)
	}
	want(t, tg.req(t, "POST", "/sales", tg.user, big, "Idempotency-Key", key("fresh")), http.StatusCreated, "new key")

	// A request whose input fails validation stores nothing (as with
	// Stripe): the corrected request may use the same key.
	k4 := key("fix")
	want(t, tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":0}]}`, book), "Idempotency-Key", k4),
		http.StatusUnprocessableEntity, "invalid quantity with a key")
	want(t, tg.req(t, "POST", "/sales", tg.user, `{"items":[`, "Idempotency-Key", k4), http.StatusBadRequest, "malformed body with the key")
	want(t, tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1,"discount":"99.00"}]}`, book), "Idempotency-Key", k4),
		http.StatusUnprocessableEntity, "a line discount above its base, which the domain refuses")
	fixed := tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, book), "Idempotency-Key", k4)
	want(t, fixed, http.StatusCreated, "the corrected request with the same key")
	if fixed.header.Get("Idempotent-Replayed") != "" {
		t.Fatal("the corrected request was a replay")
	}

	// Status changes replay too; without a key a repeat is 409.
	saleURL := "/sales/" + first.obj(t)["id"].(string) + "/status"
	k3 := key("complete")
	done := tg.req(t, "PATCH", saleURL, tg.admin, `{"status":"COMPLETED","paymentMethod":"CASH"}`, "Idempotency-Key", k3)
	want(t, done, http.StatusOK, "complete with a key")
	replay := tg.req(t, "PATCH", saleURL, tg.admin, `{"status":"COMPLETED","paymentMethod":"CASH"}`, "Idempotency-Key", k3)
	want(t, replay, http.StatusOK, "retried complete")
	if !bytes.Equal(done.body, replay.body) {
		t.Fatalf("replayed completion differs")
	}
	want(t, tg.req(t, "PATCH", saleURL, tg.admin, `{"status":"COMPLETED","paymentMethod":"CASH"}`), http.StatusConflict, "complete again without a key")

	// A malformed key is invalid input.
	long := bytes.Repeat([]byte("k"), sales.MaxKeyLen+1)
	want(t, tg.req(t, "POST", "/sales", tg.user, body, "Idempotency-Key", string(long)), http.StatusUnprocessableEntity, "overlong key")
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	runIdempotency(t, newTarget(t, nil, nil))
}

func TestIdempotencyPostgres(t *testing.T) {
	t.Parallel()
	url := testkitURL(t)
	runIdempotency(t, newTarget(t, func(o *Options) { o.DatabaseURL = url }, nil))
}

// TestIdempotencyInFlight claims the key as a first request would, then
// sends the retry while that one "runs".
func TestIdempotencyInFlight(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	book := tg.createBook(t, "1.00", 5)
	body := fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, book)
	k := sales.IdempotencyKey{Scope: tg.userSub, Key: "in-flight", Hash: fingerprint("POST", "/sales", []byte(body))}
	if stored, err := tg.app.sales.ClaimKey(t.Context(), k); err != nil || stored != nil {
		t.Fatalf("claim: %v %v", stored, err)
	}
	r := tg.req(t, "POST", "/sales", tg.user, body, "Idempotency-Key", "in-flight")
	want(t, r, http.StatusConflict, "key in flight")
	if r.obj(t)["code"] != codeKeyInFlight || r.header.Get("Retry-After") == "" {
		t.Fatalf("in flight: %s, Retry-After %q", r, r.header.Get("Retry-After"))
	}
	if _, res, _ := tg.stock(t, book); res != 0 {
		t.Fatalf("reserved %d while the key was in flight", res)
	}
	// The first request fails with a server error: the key is free again.
	if err := tg.app.sales.ReleaseKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	want(t, tg.req(t, "POST", "/sales", tg.user, body, "Idempotency-Key", "in-flight"), http.StatusCreated, "after release")
}
