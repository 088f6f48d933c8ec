package testkit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/worker"
)

// Applier is a worker as the flow suite drives it; *worker.Worker is one.
type Applier interface {
	Handler() eventbus.Handler
	Applied() int64
	Stale() int64
}

// BatchApplier is an Applier that can also apply several events in one
// transaction (worker.Worker is one). The scenarios that consume through a
// subscriber use its batch handler when the bus is an
// eventbus.BatchSubscriber.
type BatchApplier interface {
	Applier
	BatchHandler() eventbus.BatchHandler
}

// Deployment is one empty store and one bus, wired as a deployment is.
type Deployment struct {
	Sales     sales.Store
	Inventory inventory.Store
	Analytics analytics.Store
	Outbox    eventbus.Outbox
	// Progress reads how far the worker brought a sale.
	Progress func(ctx context.Context, saleID uuid.UUID) (worker.Progress, error)
	// TopicPrefix goes before each topic name, so that deployments can
	// share a real broker.
	TopicPrefix string
	// Publisher publishes to the bus.
	Publisher eventbus.Publisher
	// Subscriber returns a new member of group consuming topics, retrying
	// failed handlers with retry. The suite closes it.
	Subscriber func(t *testing.T, group string, topics []string, retry eventbus.RetryPolicy) eventbus.Subscriber
	// NewWorker returns a new worker over the store recording events as
	// processed for group.
	NewWorker func(t *testing.T, group string) Applier
	// Rollups, when set, answers summaries from the worker's daily rollups
	// (in UTC days); after every scenario they must equal the summary
	// aggregated from the sales.
	Rollups sales.Summarizer
	// Outage, when set, makes the broker unavailable until the returned
	// function is called; the BrokerOutage scenario is skipped without it.
	Outage func(t *testing.T) (restore func())
}

// FlowHarness returns a new, empty deployment for one scenario.
type FlowHarness func(t *testing.T) Deployment

// RunFlowTests runs the event-flow scenarios on deployments from h: sales
// are made through the services, their events relayed through the outbox
// to the bus, and workers apply them. After every scenario the flow is
// drained and every invariant of DESIGN.md §6 is checked (worker.Check),
// which also compares the projections with a recomputation from the sales.
func RunFlowTests(t *testing.T, h FlowHarness) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(*testing.T, *flow)
	}{
		{"CreateCompleteProjections", flowCreateComplete},
		{"CancelPending", flowCancelPending},
		{"CancelCompleted", flowCancelCompleted},
		{"EachEventOneToThreeTimes", flowRedelivered},
		{"ShuffledAcrossTopics", flowShuffled},
		{"WorkerStoppedBeforeCommit", flowWorkerStopped},
		{"RelayStoppedBeforeMark", flowRelayStopped},
		{"BrokerOutage", flowBrokerOutage},
		{"RebalanceTwoThenThreeWorkers", flowRebalance},
		{"RandomWorkload", flowRandom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFlow(t, h(t))
			c.fn(t, f)
			f.settle(t)
		})
	}
}

// flow is one scenario's deployment with services and counters.
type flow struct {
	Deployment
	sales    *sales.Service
	inv      *inventory.Service
	group    string
	prefix   string
	mu       sync.Mutex
	workers  []Applier
	delivers atomic.Int64
	batches  atomic.Int64    // batches acknowledged
	events   map[string]bool // event ids seen delivered
	stops    []func()        // of the consumers started
}

func newFlow(t *testing.T, d Deployment) *flow {
	t.Helper()
	rate, _ := sales.ParseRate("0.19")
	ss, err := sales.NewService(d.Sales, sales.WithTaxRate(rate), sales.WithTopicPrefix(d.TopicPrefix))
	if err != nil {
		t.Fatal(err)
	}
	is, err := inventory.NewService(d.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	return &flow{Deployment: d, sales: ss, inv: is, group: "flow-" + uuid.NewString()[:8], prefix: d.TopicPrefix, events: map[string]bool{}}
}

func (f *flow) topics() []string { return worker.Topics(f.prefix) }

func (f *flow) book(t *testing.T, stock int64) *inventory.Book {
	t.Helper()
	b, err := f.inv.CreateBook(t.Context(), inventory.NewBook{Title: "Flow", Author: "Kit", Price: sales.MustDecimal("12.34"), Stock: stock})
	if err != nil {
		t.Fatalf("create book: %v", err)
	}
	return b
}

func (f *flow) sell(t *testing.T, b *inventory.Book, qty int64) *sales.Sale {
	t.Helper()
	s, err := f.sales.Create(t.Context(), "seller", sales.NewSale{
		Items:    []sales.NewLine{{BookID: b.ID, Quantity: qty, Discount: sales.MustDecimal("0.10")}},
		Discount: sales.MustDecimal("1.00"),
	})
	if err != nil {
		t.Fatalf("create sale: %v", err)
	}
	return s
}

func (f *flow) complete(t *testing.T, s *sales.Sale) {
	t.Helper()
	if _, err := f.sales.Complete(t.Context(), s.ID, sales.Payment{Method: sales.PaymentCreditCard}); err != nil {
		t.Fatalf("complete: %v", err)
	}
}

func (f *flow) cancel(t *testing.T, s *sales.Sale) {
	t.Helper()
	if _, err := f.sales.Cancel(t.Context(), s.ID, "flow"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
}

// worker returns a new worker's handler that counts deliveries.
func (f *flow) worker(t *testing.T) eventbus.Handler {
	h, _ := f.workerHandlers(t)
	return h
}

// workerHandlers returns a new worker's handler and batch handler (nil
// when it has none), both counting deliveries.
func (f *flow) workerHandlers(t *testing.T) (eventbus.Handler, eventbus.BatchHandler) {
	w := f.NewWorker(t, f.group)
	f.mu.Lock()
	f.workers = append(f.workers, w)
	f.mu.Unlock()
	return f.handlers(w)
}

// handlers returns w's handler and, for a BatchApplier, its batch handler
// (else nil), both counting what they acknowledge.
func (f *flow) handlers(w Applier) (eventbus.Handler, eventbus.BatchHandler) {
	acked := func(ds ...eventbus.Delivery) {
		f.delivers.Add(int64(len(ds)))
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, d := range ds {
			f.events[d.Headers.Get(eventbus.HeaderID)] = true
		}
	}
	h := w.Handler()
	single := func(ctx context.Context, d eventbus.Delivery) error {
		err := h(ctx, d)
		if err == nil {
			acked(d)
		}
		return err
	}
	ba, ok := w.(BatchApplier)
	if !ok {
		return single, nil
	}
	bh := ba.BatchHandler()
	return single, func(ctx context.Context, ds []eventbus.Delivery) error {
		err := bh(ctx, ds)
		if err == nil {
			f.batches.Add(1)
			acked(ds...)
		}
		return err
	}
}

// relay publishes everything in the outbox.
func (f *flow) relay(t *testing.T) {
	t.Helper()
	r, err := eventbus.NewRelay(f.Outbox, f.Publisher)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Flush(t.Context()); err != nil {
		t.Fatalf("relay: %v", err)
	}
}

var flowRetry = eventbus.RetryPolicy{MaxAttempts: 20, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// consume starts a subscriber with a new worker; stop closes it.
func (f *flow) consume(t *testing.T) (stop func()) {
	t.Helper()
	sub := f.Subscriber(t, f.group, f.topics(), flowRetry)
	h, bh := f.workerHandlers(t)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- eventbus.Consume(ctx, sub, h, bh, worker.DefaultBatch) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			_ = sub.Close()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, eventbus.ErrClosed) {
				t.Errorf("subscriber: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	f.mu.Lock()
	f.stops = append(f.stops, stop)
	f.mu.Unlock()
	return stop
}

// waitApplied waits until the worker applied every sale's latest version.
func (f *flow) waitApplied(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for {
		lag, err := f.lag(ctx)
		if err == nil && lag == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("worker did not catch up: %d sales behind, %v", lag, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// lag returns how many sales the worker has not brought to their version.
func (f *flow) lag(ctx context.Context) (int, error) {
	behind := 0
	for p := 1; ; p++ {
		page, err := f.sales.List(ctx, sales.Filter{Page: p, Limit: sales.MaxLimit})
		if err != nil {
			return 0, err
		}
		for _, s := range page.Sales {
			pr, err := f.Progress(ctx, s.ID)
			if err != nil {
				return 0, err
			}
			if pr.Version != s.Version {
				behind++
			}
		}
		if int64(p) >= page.TotalPages {
			return behind, nil
		}
	}
}

// settle relays what is left, drains it through a worker and checks every
// invariant.
func (f *flow) settle(t *testing.T) {
	t.Helper()
	if t.Failed() {
		return
	}
	f.relay(t)
	f.waitApplied(t)
	vs, err := worker.Check(t.Context(), worker.Sources{Sales: f.Sales, Inventory: f.Inventory, Analytics: f.Analytics, Progress: f.Progress})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	for _, v := range vs {
		t.Errorf("%v", v)
	}
	if f.Rollups != nil {
		f.compareRollups(t)
	}
	if n, _, err := f.Outbox.Backlog(t.Context()); err != nil || n != 0 {
		t.Errorf("outbox backlog %d, %v; want 0", n, err)
	}
	// Counters move when a transaction commits, acknowledgements when the
	// handler returns, a little later (later still for a call that shared
	// a transaction another call led): stop the consumers first.
	f.mu.Lock()
	stops := slices.Clone(f.stops)
	f.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	var applied, stale int64
	f.mu.Lock()
	for _, w := range f.workers {
		applied += w.Applied()
		stale += w.Stale()
	}
	unique := int64(len(f.events))
	f.mu.Unlock()
	t.Logf("%d deliveries of %d events (%d batches): %d duplicates skipped, %d applied, %d stale", f.delivers.Load(), unique, f.batches.Load(), f.delivers.Load()-unique, applied, stale)
	// A handler whose commit was cut off by a stop may have applied its
	// event without knowing it, so the counters can miss an application;
	// they must never count one twice. That each event took effect once
	// is what the invariants above check.
	if applied+stale > unique {
		t.Errorf("%d applied + %d stale for %d distinct events; want each at most once", applied, stale, unique)
	}
}

func wantLevel(t *testing.T, f *flow, id uuid.UUID, onHand, reserved int64) {
	t.Helper()
	l, err := f.inv.Level(t.Context(), id)
	if err != nil || l.OnHand != onHand || l.Reserved != reserved {
		t.Errorf("book %s: on hand %d reserved %d (%v); want %d and %d", id, l.OnHand, l.Reserved, err, onHand, reserved)
	}
}

func flowCreateComplete(t *testing.T, f *flow) {
	b := f.book(t, 10)
	s := f.sell(t, b, 3)
	f.complete(t, s)
	f.consume(t)
	f.relay(t)
	f.waitApplied(t)
	wantLevel(t, f, b.ID, 7, 0)
	st, err := f.Analytics.BookStats(t.Context(), b.ID)
	want := s.Subtotal - s.Discount
	if err != nil || st.UnitsSold != 3 || st.NetRevenue != want || st.SalesCount != 1 || st.FirstSaleAt.IsZero() {
		t.Errorf("statistics = %+v, %v; want 3 units, %d net, 1 sale", st, err, want)
	}
	moves, _, _ := f.inv.Movements(t.Context(), inventory.MovementFilter{SaleID: s.ID})
	if len(moves) != 1 || moves[0].Type != inventory.Sale || moves[0].Quantity != -3 {
		t.Errorf("movements of the sale = %+v; want one SALE of -3", moves)
	}
}

func flowCancelPending(t *testing.T, f *flow) {
	b := f.book(t, 5)
	s := f.sell(t, b, 2)
	f.cancel(t, s)
	wantLevel(t, f, b.ID, 5, 0)
	f.consume(t)
	f.relay(t)
	f.waitApplied(t)
	wantLevel(t, f, b.ID, 5, 0)
	if _, err := f.Analytics.BookStats(t.Context(), b.ID); !errors.Is(err, analytics.ErrNotFound) {
		t.Errorf("statistics of a book never sold: %v; want ErrNotFound", err)
	}
}

func flowCancelCompleted(t *testing.T, f *flow) {
	b := f.book(t, 5)
	s := f.sell(t, b, 2)
	f.complete(t, s)
	f.consume(t)
	f.relay(t)
	f.waitApplied(t)
	wantLevel(t, f, b.ID, 3, 0)
	f.cancel(t, s)
	f.relay(t)
	f.waitApplied(t)
	wantLevel(t, f, b.ID, 5, 0)
	st, err := f.Analytics.BookStats(t.Context(), b.ID)
	if err != nil || st.UnitsSold != 0 || st.NetRevenue != 0 || st.SalesCount != 0 {
		t.Errorf("statistics after the return = %+v, %v; want zeros", st, err)
	}
	moves, _, _ := f.inv.Movements(t.Context(), inventory.MovementFilter{SaleID: s.ID})
	if len(moves) != 2 || moves[1].Type != inventory.Return || moves[1].Quantity != 2 {
		t.Errorf("movements = %+v; want SALE then RETURN", moves)
	}
}

// outboxDeliveries turns every outbox record into a delivery, bypassing
// the bus, and marks them published.
func (f *flow) outboxDeliveries(t *testing.T) []eventbus.Delivery {
	t.Helper()
	recs, err := f.Outbox.Pending(t.Context(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []eventbus.Delivery
	var seqs []int64
	for i, r := range recs {
		out = append(out, eventbus.Delivery{Message: r.Message, Offset: int64(i), Attempt: 1})
		seqs = append(seqs, r.Seq)
	}
	if err := f.Outbox.MarkPublished(t.Context(), seqs); err != nil {
		t.Fatal(err)
	}
	return out
}

// lifecycle makes n sales over books: a third stay pending, a third are
// completed, a third are completed and returned, and some are cancelled
// while pending.
func (f *flow) lifecycle(t *testing.T, n int) {
	t.Helper()
	books := []*inventory.Book{f.book(t, 1000), f.book(t, 1000), f.book(t, 1000)}
	for i := range n {
		s, err := f.sales.Create(t.Context(), "seller", sales.NewSale{Items: []sales.NewLine{
			{BookID: books[i%3].ID, Quantity: int64(i%4 + 1)}, {BookID: books[(i+1)%3].ID, Quantity: 1},
		}})
		if err != nil {
			t.Fatal(err)
		}
		switch i % 4 {
		case 1:
			f.complete(t, s)
		case 2:
			f.complete(t, s)
			f.cancel(t, s)
		case 3:
			f.cancel(t, s)
		}
	}
}

func flowRedelivered(t *testing.T, f *flow) {
	f.lifecycle(t, 24)
	h := f.worker(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, d := range f.outboxDeliveries(t) {
		for range rng.IntN(3) + 1 {
			if err := h(t.Context(), d); err != nil {
				t.Fatalf("handler: %v", err)
			}
		}
	}
}

func flowShuffled(t *testing.T, f *flow) {
	f.lifecycle(t, 24)
	h := f.worker(t)
	ds := f.outboxDeliveries(t)
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	// Two workers of one group apply concurrently, as two partitions would.
	var wg sync.WaitGroup
	for half := range 2 {
		wg.Go(func() {
			for i := half; i < len(ds); i += 2 {
				if err := h(context.Background(), ds[i]); err != nil {
					t.Errorf("handler: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// errStop is returned after applying, to model a worker that dies before
// committing its offset.
var errStop = errors.New("worker stopped before committing")

func flowWorkerStopped(t *testing.T, f *flow) {
	f.lifecycle(t, 12)
	f.relay(t)
	// The first worker applies events but never acknowledges them: its
	// subscriber retries, then it is stopped; the next member gets them all
	// again and skips what was applied.
	sub := f.Subscriber(t, f.group, f.topics(), eventbus.RetryPolicy{MaxAttempts: 1000, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	h := f.worker(t)
	var handled atomic.Int64
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() {
		done <- sub.Run(ctx, func(ctx context.Context, d eventbus.Delivery) error {
			if err := h(ctx, d); err != nil {
				return err
			}
			handled.Add(1)
			return errStop
		})
	}()
	deadline := time.After(30 * time.Second)
	for handled.Load() < 3 {
		select {
		case <-deadline:
			t.Fatal("first worker handled nothing")
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	_ = sub.Close()
	<-done
	f.consume(t)
}

// markFails is an outbox whose marking always fails, as when the relay
// dies between publishing and marking.
type markFails struct{ eventbus.Outbox }

func (markFails) MarkPublished(context.Context, []int64) error {
	return errors.New("relay died before marking")
}

func flowRelayStopped(t *testing.T, f *flow) {
	f.lifecycle(t, 12)
	r, err := eventbus.NewRelay(markFails{f.Outbox}, f.Publisher)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Flush(t.Context()); err == nil {
		t.Fatal("relay marked records although marking fails")
	}
	f.consume(t)
	f.relay(t) // publishes everything a second time
}

func flowBrokerOutage(t *testing.T, f *flow) {
	if f.Outage == nil {
		t.Skip("the deployment's bus has no outage control")
	}
	b := f.book(t, 100)
	f.consume(t)
	for range 5 {
		f.complete(t, f.sell(t, b, 1))
	}
	restore := f.Outage(t)
	for range 5 {
		f.complete(t, f.sell(t, b, 1))
	}
	r, err := eventbus.NewRelay(f.Outbox, f.Publisher, eventbus.WithPollInterval(5*time.Millisecond),
		eventbus.WithRelayRetry(eventbus.RetryPolicy{MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond) // the relay fails against the dead broker meanwhile
	restore()
	f.waitApplied(t)
	cancel()
	<-done
	wantLevel(t, f, b.ID, 90, 0)
}

func flowRebalance(t *testing.T, f *flow) {
	books := []*inventory.Book{f.book(t, 1000), f.book(t, 1000)}
	f.consume(t)
	stop2 := f.consume(t)
	var wg sync.WaitGroup
	var made atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	wg.Go(func() {
		for i := 0; ctx.Err() == nil && i < 300; i++ {
			s, err := f.sales.Create(ctx, "s", sales.NewSale{Items: []sales.NewLine{{BookID: books[i%2].ID, Quantity: 1}}})
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("create: %v", err)
				}
				return
			}
			if i%3 != 0 {
				if _, err := f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash}); err != nil && ctx.Err() == nil {
					t.Errorf("complete: %v", err)
				}
			}
			made.Add(1)
		}
	})
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		r, _ := eventbus.NewRelay(f.Outbox, f.Publisher, eventbus.WithPollInterval(2*time.Millisecond))
		_ = r.Run(ctx)
	}()
	waitCount(t, &made, 60)
	f.consume(t) // a third member joins mid-flow
	waitCount(t, &made, 120)
	stop2() // and one leaves
	wg.Wait()
	cancel()
	<-relayDone
}

func waitCount(t *testing.T, n *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for n.Load() < want {
		select {
		case <-deadline:
			t.Fatalf("reached %d of %d", n.Load(), want)
		case <-time.After(time.Millisecond):
		}
	}
}

// flowRandom runs 1,000 sales over 50 books from concurrent clients that
// create, complete and cancel at random, while the relay and two workers run.
func flowRandom(t *testing.T, f *flow) {
	const nSales, nBooks, clients = 1000, 50, 8
	books := make([]*inventory.Book, nBooks)
	for i := range books {
		books[i] = f.book(t, 60)
	}
	f.consume(t)
	f.consume(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		r, _ := eventbus.NewRelay(f.Outbox, f.Publisher, eventbus.WithPollInterval(2*time.Millisecond))
		_ = r.Run(ctx)
	}()
	var next atomic.Int64
	var refused atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			for next.Add(1) <= nSales {
				var items []sales.NewLine
				for range rng.IntN(3) + 1 {
					items = append(items, sales.NewLine{BookID: books[rng.IntN(nBooks)].ID, Quantity: int64(rng.IntN(3) + 1)})
				}
				s, err := f.sales.Create(ctx, fmt.Sprint("client-", c), sales.NewSale{Items: items})
				if errors.Is(err, sales.ErrInsufficientStock) {
					refused.Add(1)
					continue
				}
				if err != nil {
					t.Errorf("create: %v", err)
					return
				}
				switch p := rng.IntN(10); {
				case p < 6:
					_, err = f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash})
					if err == nil && p == 0 {
						_, err = f.sales.Cancel(ctx, s.ID, "returned")
					}
				case p < 8:
					_, err = f.sales.Cancel(ctx, s.ID, "changed mind")
				}
				if err != nil {
					t.Errorf("status change: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	f.relay(t)
	f.waitApplied(t)
	cancel()
	<-relayDone
	t.Logf("%d sales refused for stock", refused.Load())
}

// compareRollups checks that the daily rollups give the summary that
// aggregating the sales gives.
func (f *flow) compareRollups(t *testing.T) {
	t.Helper()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	q := sales.SummaryQuery{From: today.AddDate(0, 0, -30), To: today.AddDate(0, 0, 2), Location: time.UTC, TopN: 10}
	want, err := f.Sales.Summary(t.Context(), q)
	if err != nil {
		t.Fatalf("summary from sales: %v", err)
	}
	got, err := f.Rollups.Summary(t.Context(), q)
	if err != nil {
		t.Fatalf("summary from rollups: %v", err)
	}
	if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
		t.Errorf("summary from rollups:\n%s\nfrom sales:\n%s", g, w)
	}
}
