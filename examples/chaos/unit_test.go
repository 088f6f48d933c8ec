package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

func TestRetryReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a    answer
		err  error
		want string
	}{
		{"created", answer{status: 201}, nil, ""},
		{"insufficient stock", answer{status: 409, code: "insufficient_stock"}, nil, ""},
		{"illegal transition", answer{status: 409, code: "illegal_transition"}, nil, ""},
		{"key in flight", answer{status: 409, code: "idempotency_key_in_flight"}, nil, "409 key in flight"},
		{"server error", answer{status: 500, code: "internal"}, nil, "500 internal"},
		{"unavailable", answer{status: 503, code: "unavailable"}, nil, "503 unavailable"},
		{"request timeout", answer{status: 408}, nil, "408 "},
		{"invalid", answer{status: 422, code: "invalid"}, nil, ""},
		{"refused", answer{}, errors.New("connect: connection refused"), "connection"},
		{"timeout", answer{}, timeoutErr{}, "timeout"},
	} {
		if got := retryReason(tc.a, tc.err); got != tc.want {
			t.Errorf("%s: retryReason = %q, want %q", tc.name, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestFaultDeck: each kind comes once per round, in an order fixed by the seed.
func TestFaultDeck(t *testing.T) {
	t.Parallel()
	kinds := []string{"a", "b", "c", "d"}
	draw := func(seed uint64) []string {
		f := &faulter{rng: newRand(seed, 1<<32), kinds: kinds}
		var out []string
		for range 3 * len(kinds) {
			out = append(out, f.next())
		}
		return out
	}
	got := draw(7)
	for round := range 3 {
		r := slices.Sorted(slices.Values(got[round*len(kinds) : (round+1)*len(kinds)]))
		if !slices.Equal(r, kinds) {
			t.Errorf("round %d: %v, want each of %v once", round, r, kinds)
		}
	}
	if again := draw(7); !slices.Equal(got, again) {
		t.Errorf("seed 7 drew %v, then %v", got, again)
	}
}

func TestScrape(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `# HELP salesflow_events_handled_total Deliveries.
# TYPE salesflow_events_handled_total counter
salesflow_events_handled_total{topic="a.sale.created"} 7
salesflow_events_handled_total{topic="a.sale.completed"} 3
salesflow_events_applied_total 9
salesflow_outbox_backlog 0
salesflow_kafka_subscriber_dead_letters_total{group="g",topic="x"} 1
`)
	}))
	defer srv.Close()
	m, err := newScraper().scrape(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"salesflow_events_handled_total": 10, "salesflow_events_applied_total": 9,
		"salesflow_kafka_subscriber_dead_letters_total": 1,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestWantTopic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    dbSale
		v    int64
		want string
	}{
		{dbSale{status: "PENDING", version: 1}, 1, "sale.created"},
		{dbSale{status: "COMPLETED", version: 2, paid: true}, 2, "sale.completed"},
		{dbSale{status: "CANCELLED", version: 2}, 2, "sale.cancelled"},
		{dbSale{status: "CANCELLED", version: 3, paid: true}, 2, "sale.completed"},
		{dbSale{status: "CANCELLED", version: 3, paid: true}, 3, "sale.cancelled"},
	} {
		if got := wantTopic(&tc.s, tc.v); got != tc.want {
			t.Errorf("%+v version %d: %s, want %s", tc.s, tc.v, got, tc.want)
		}
	}
}

// TestTrickleCutoff checks the probe's measure against a server whose
// header timeout is known.
func TestTrickleCutoff(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ReadHeaderTimeout = 500 * time.Millisecond
	srv.Start()
	defer srv.Close()
	c := trickle(t.Context(), srv.Listener.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n",
		func(int) []byte { return []byte("a") }, 100*time.Millisecond, 10*time.Second)
	if c.err != nil || c.after < 400*time.Millisecond || c.after > 3*time.Second {
		t.Fatalf("cut off %v, want about 500ms", c)
	}
}
