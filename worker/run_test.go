package worker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salesflow/salesflow/eventbus"
	membus "github.com/salesflow/salesflow/eventbus/memory"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/memory"
	"github.com/salesflow/salesflow/worker"
)

// soldBook returns a store with a book of 100 units, of which n were sold
// in n sales, each created and completed: their 2n events wait in the
// outbox.
func soldBook(t *testing.T, n int) (*memory.Store, *inventory.Service, *inventory.Book) {
	t.Helper()
	ctx := t.Context()
	store := memory.New()
	inv, _ := inventory.NewService(store.Inventory())
	svc, _ := sales.NewService(store.Sales())
	book, err := inv.CreateBook(ctx, inventory.NewBook{Title: "Dune", Author: "Herbert", Price: sales.MustDecimal("10"), Stock: 100})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		s, err := svc.Create(ctx, "seller", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 1}}})
		if err == nil {
			_, err = svc.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return store, inv, book
}

// Run consumes in batches from a BatchSubscriber (a backlog of events that
// were published before it started) and applies every sale once; batches
// of 1 apply the same.
func TestRun(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{worker.DefaultBatch, 1} {
		ctx := t.Context()
		store, inv, book := soldBook(t, 30)
		bus, err := membus.New()
		if err != nil {
			t.Fatal(err)
		}
		relay, err := eventbus.NewRelay(store.Outbox(), bus.Publisher())
		if err != nil {
			t.Fatal(err)
		}
		if n, err := relay.Flush(ctx); err != nil || n != 60 {
			t.Fatalf("relay flush = %d, %v; want 60 events", n, err)
		}
		ms, err := bus.Subscriber(worker.DefaultGroup, worker.Topics(""))
		if err != nil {
			t.Fatal(err)
		}
		sub := &spySubscriber{Subscriber: ms}
		w, err := worker.New(store.InTx, worker.WithBatch(batch))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(runCtx, sub) }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			l, _ := inv.Level(ctx, book.ID)
			if l.OnHand == 70 && l.Reserved == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("batch %d: level %+v; want 70 on hand, 0 reserved", batch, l)
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
		if want := batch > 1; sub.batchMax > 0 != want || want && sub.batchMax != batch {
			t.Errorf("batch %d: RunBatch called with %d (0: not called)", batch, sub.batchMax)
		}
		if batch > 1 && sub.batched.Load() == 0 {
			t.Errorf("batch %d: no batch of several events was applied (a failed batch falls back to one at a time)", batch)
		}
		vs, err := worker.Check(ctx, worker.Sources{Sales: store.Sales(), Inventory: store.Inventory(), Analytics: store.Analytics(), Progress: store.Progress})
		if err != nil || len(vs) != 0 {
			t.Errorf("batch %d: worker.Check = %v, %v", batch, vs, err)
		}
	}
	if _, err := worker.New(memory.New().InTx, worker.WithBatch(0)); err == nil {
		t.Error("WithBatch(0) accepted")
	}
}

// spySubscriber records how Run used the subscriber.
type spySubscriber struct {
	*membus.Subscriber
	batchMax int
	batched  atomic.Int64 // batches of several deliveries that succeeded
}

func (s *spySubscriber) RunBatch(ctx context.Context, b eventbus.BatchHandler, max int, h eventbus.Handler) error {
	s.batchMax = max
	return s.Subscriber.RunBatch(ctx, func(ctx context.Context, ds []eventbus.Delivery) error {
		err := b(ctx, ds)
		if err == nil && len(ds) > 1 {
			s.batched.Add(1)
		}
		return err
	}, max, h)
}

// Concurrent handler calls beyond WithTransactions share transactions:
// every event is applied once, and a malformed one fails only its own
// call.
func TestHandlerSharesTransactions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, inv, book := soldBook(t, 40)
	recs, err := store.Outbox().Pending(ctx, 100)
	if err != nil || len(recs) != 80 {
		t.Fatalf("outbox: %d records, %v; want 80", len(recs), err)
	}
	ds := make([]eventbus.Delivery, 0, len(recs)+1)
	for i, r := range recs {
		ds = append(ds, eventbus.Delivery{Message: r.Message, Partition: int32(i % 3), Offset: int64(i)})
	}
	// A malformed event that failed before: it runs alone, and fails only
	// its own call.
	ds = append(ds, eventbus.Delivery{Message: eventbus.Message{Topic: sales.EventCreated, Value: []byte("{")}, Offset: 80, Attempt: 2})

	var calls, txs atomic.Int64
	inTx := func(ctx context.Context, fn func(*memory.Tx) error) error {
		if txs.Add(1) == 1 { // hold the first until every call has come
			for calls.Load() < int64(len(ds)) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return store.InTx(ctx, fn)
	}
	w, err := worker.New(inTx, worker.WithTransactions(1))
	if err != nil {
		t.Fatal(err)
	}
	h := w.Handler()
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() {
			calls.Add(1)
			errs[i] = h(ctx, d)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if bad := i == len(ds)-1; bad != errors.Is(err, eventbus.ErrMalformed) || !bad && err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if n := txs.Load(); n > 20 {
		t.Errorf("%d transactions for %d calls; want them shared", n, len(ds))
	}
	if w.Applied()+w.Stale() != 80 {
		t.Errorf("applied %d, stale %d; want 80 in all", w.Applied(), w.Stale())
	}
	if l, _ := inv.Level(ctx, book.ID); l.OnHand != 60 || l.Reserved != 0 {
		t.Errorf("level %+v; want 60 on hand, 0 reserved", l)
	}
	vs, err := worker.Check(ctx, worker.Sources{Sales: store.Sales(), Inventory: store.Inventory(), Analytics: store.Analytics(), Progress: store.Progress})
	if err != nil || len(vs) != 0 {
		t.Errorf("worker.Check = %v, %v", vs, err)
	}
	for _, d := range ds[:80] { // all processed: a second round changes nothing
		if err := h(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if l, _ := inv.Level(ctx, book.ID); l.OnHand != 60 || w.Applied()+w.Stale() != 80 {
		t.Errorf("after redelivery: level %+v, applied %d, stale %d", l, w.Applied(), w.Stale())
	}
	if _, err := worker.New(inTx, worker.WithTransactions(-1)); err == nil {
		t.Error("WithTransactions(-1) accepted")
	}
}

// A sale's creation waits, with WithCreatedWait, for a transaction it can
// share and applies nothing meanwhile; its completion, which moves stock,
// never waits; with no wait the creation runs at once.
func TestCreatedWait(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, inv, book := soldBook(t, 1)
	recs, err := store.Outbox().Pending(ctx, 10)
	if err != nil || len(recs) != 2 {
		t.Fatalf("outbox: %d records, %v; want 2", len(recs), err)
	}
	created, completed := eventbus.Delivery{Message: recs[0].Message}, eventbus.Delivery{Message: recs[1].Message, Offset: 1}
	if got := created.Message.Headers.Get(eventbus.HeaderType); got != sales.EventCreated {
		t.Fatalf("first record is %q; want %q", got, sales.EventCreated)
	}
	w, err := worker.New(store.InTx, worker.WithTransactions(1), worker.WithCreatedWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond) // a tenth of the wait
	defer cancel()
	if err := w.Handler()(waitCtx, created); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("creation alone = %v; want it waiting until its context ends", err)
	}
	ev, err := eventbus.Decode(created.Message)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sales.SaleFromEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := store.Progress(ctx, s.ID); p.Version != 0 || w.Applied() != 0 {
		t.Fatalf("progress %+v, applied %d after a creation that waited; want nothing applied", p, w.Applied())
	}
	// Half the wait: a completion that waited like a creation fails here.
	noWait, cancel2 := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel2()
	if err := w.Handler()(noWait, completed); err != nil {
		t.Fatalf("completion = %v; want it applied at once", err)
	}
	if l, _ := inv.Level(ctx, book.ID); l.OnHand != 99 || w.Applied() != 1 {
		t.Errorf("after the completion: level %+v, applied %d; want 99 on hand, 1 applied", l, w.Applied())
	}
	now, err := worker.New(store.InTx, worker.WithTransactions(1), worker.WithCreatedWait(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := now.Handler()(ctx, created); err != nil || now.Stale() != 1 {
		t.Errorf("creation with no wait = %v, stale %d; want it applied at once, stale behind its completion", err, now.Stale())
	}
	for _, d := range []time.Duration{-time.Second, 2 * time.Second} {
		if _, err := worker.New(store.InTx, worker.WithCreatedWait(d)); err == nil {
			t.Errorf("WithCreatedWait(%v) accepted", d)
		}
	}
}
