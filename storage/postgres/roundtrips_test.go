package postgres_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
	"github.com/salesflow/salesflow/worker"
)

// roundTrips counts what a connection sends and waits for: a statement
// sent alone, or a batch of queued ones.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// The round trips of a sale's changes and of the worker's events, as the
// package documentation and the README count them: writes travel with the
// next read or the COMMIT. Each is counted on a warm connection (pgx
// prepares a statement on its first use there, a round trip of its own).
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rt := &roundTrips{}
	d, err := postgres.Open(ctx, testkit.PostgresURL(t), postgres.WithMaxConns(1), postgres.WithTracer(rt))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// A relay's wake-ups, as the server runs them: commits that enqueue
	// signal them directly, with no NOTIFY through the pool.
	if _, err := d.Waker().Wake(ctx); err != nil {
		t.Fatal(err)
	}
	ss, err := sales.NewService(d.Sales())
	if err != nil {
		t.Fatal(err)
	}
	is, err := inventory.NewService(d.Inventory())
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(d.InTx)
	if err != nil {
		t.Fatal(err)
	}
	apply := w.Handler()
	var books []sales.NewLine
	for range 3 {
		b, err := is.CreateBook(ctx, inventory.NewBook{Title: "T", Author: "A", Price: sales.MustDecimal("5.00"), Stock: 1000})
		if err != nil {
			t.Fatal(err)
		}
		books = append(books, sales.NewLine{BookID: b.ID, Quantity: 1})
	}
	encode := func(s *sales.Sale) (sales.Response, error) {
		body, err := json.Marshal(s)
		return sales.Response{Status: 201, Body: body}, err
	}
	// events hands the worker the events enqueued since the last call.
	events := func() []eventbus.Delivery {
		recs, err := d.Outbox().Pending(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		ds := make([]eventbus.Delivery, len(recs))
		seqs := make([]int64, len(recs))
		for i, r := range recs {
			ds[i], seqs[i] = eventbus.Delivery{Message: r.Message, Attempt: 1}, r.Seq
		}
		if err := d.Outbox().MarkPublished(ctx, seqs); err != nil {
			t.Fatal(err)
		}
		return ds
	}
	type step struct {
		name  string
		want  int64
		run   func() error
		after func() // not counted
	}
	var s *sales.Sale
	var evs []eventbus.Delivery // sale.created and sale.completed
	var pending []int64         // the cancellation's event
	lifecycle := []step{
		{"create", 2, func() (err error) {
			s, err = ss.Create(ctx, "seller", sales.NewSale{Items: books})
			return err
		}, nil},
		{"get", 1, func() error { _, err := ss.Get(ctx, s.ID); return err }, nil},
		{"complete", 2, func() error {
			_, err := ss.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash})
			return err
		}, func() { evs = events() }},
		{"worker: sale.created", 2, func() error { return apply(ctx, evs[0]) }, nil},
		{"worker: sale.completed", 3, func() error { return apply(ctx, evs[1]) }, nil},
		{"worker: a redelivery", 2, func() error { return apply(ctx, evs[1]) }, nil},
		{"create with a key", 2, func() (err error) {
			k := sales.IdempotencyKey{Scope: "seller", Key: uuid.NewString(), Hash: "h", Claim: "c"}
			s, err = ss.Create(ctx, "seller", sales.NewSale{Items: books}, sales.Idempotent(k, encode))
			return err
		}, nil},
		{"cancel", 2, func() error {
			_, err := ss.Cancel(ctx, s.ID, "changed mind")
			return err
		}, func() {
			recs, err := d.Outbox().Pending(ctx, 100)
			if err != nil || len(recs) == 0 {
				t.Fatalf("the cancellation's event: %v, %v", recs, err)
			}
			pending = pending[:0]
			for _, r := range recs {
				pending = append(pending, r.Seq)
			}
		}},
		{"relay: mark published", 1, func() error { return d.Outbox().MarkPublished(ctx, pending) }, func() {
			if recs, err := d.Outbox().Pending(ctx, 100); err != nil || len(recs) != 0 {
				t.Fatalf("pending after the mark: %d, %v", len(recs), err)
			}
		}},
	}
	for round := range 2 { // the first warms the connection up
		for _, st := range lifecycle {
			before := rt.n.Load()
			if err := st.run(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if got := rt.n.Load() - before; round == 1 && got != st.want {
				t.Errorf("%s: %d round trips; want %d", st.name, got, st.want)
			}
			if st.after != nil {
				st.after()
			}
		}
	}
}
