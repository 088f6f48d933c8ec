package eventbus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/eventbus"
)

// fakeOutbox is an in-memory Outbox.
type fakeOutbox struct {
	mu      sync.Mutex
	recs    []eventbus.OutboxRecord
	markErr error
	reads   int // calls of Pending
}

var _ eventbus.Outbox = (*fakeOutbox)(nil)

func (o *fakeOutbox) add(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for range n {
		seq := int64(len(o.recs) + 1)
		ev := eventbus.Event{ID: uuid.New(), Type: "t", Source: "/s", Time: time.Now()}
		o.recs = append(o.recs, eventbus.OutboxRecord{Seq: seq, EventID: ev.ID, Message: ev.Message("t", fmt.Sprint(seq%3))})
	}
}

func (o *fakeOutbox) Pending(_ context.Context, limit int) ([]eventbus.OutboxRecord, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads++
	var out []eventbus.OutboxRecord
	for _, r := range o.recs {
		if r.PublishedAt.IsZero() && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (o *fakeOutbox) MarkPublished(_ context.Context, seqs []int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.markErr != nil {
		return o.markErr
	}
	for i := range o.recs {
		if slices.Contains(seqs, o.recs[i].Seq) {
			o.recs[i].PublishedAt = time.Now()
		}
	}
	return nil
}

func (o *fakeOutbox) Backlog(context.Context) (int64, time.Time, error) {
	recs, _ := o.Pending(context.Background(), 1<<30)
	if len(recs) == 0 {
		return 0, time.Time{}, nil
	}
	return int64(len(recs)), recs[0].CreatedAt, nil
}

// fakePublisher records what it publishes and fails when told to.
type fakePublisher struct {
	mu    sync.Mutex
	got   []eventbus.Message
	fails int
	calls []int // the number of messages of each successful Publish
}

var _ eventbus.Publisher = (*fakePublisher)(nil)

func (p *fakePublisher) Publish(_ context.Context, msgs ...eventbus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fails > 0 {
		p.fails--
		return errors.New("broker unavailable")
	}
	p.got = append(p.got, msgs...)
	p.calls = append(p.calls, len(msgs))
	return nil
}

func (p *fakePublisher) Close() error { return nil }

func (p *fakePublisher) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.got {
		out = append(out, m.Headers.Get(eventbus.HeaderID))
	}
	return out
}

func TestRelayFlushInOrder(t *testing.T) {
	t.Parallel()
	ob, pub := &fakeOutbox{}, &fakePublisher{}
	ob.add(10)
	r, err := eventbus.NewRelay(ob, pub, eventbus.WithBatchSize(3))
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Flush(t.Context())
	if err != nil || n != 10 {
		t.Fatalf("Flush = %d, %v; want 10", n, err)
	}
	var want []string
	for _, rec := range ob.recs {
		want = append(want, rec.EventID.String())
	}
	if got := pub.ids(); !slices.Equal(got, want) {
		t.Errorf("published %v; want %v in outbox order", got, want)
	}
	if n, _, _ := ob.Backlog(t.Context()); n != 0 {
		t.Errorf("backlog %d after flush; want 0", n)
	}
}

// A crash between publishing and marking publishes the batch again:
// duplicates, never a loss.
func TestRelayMarkFailurePublishesAgain(t *testing.T) {
	t.Parallel()
	ob, pub := &fakeOutbox{markErr: errors.New("connection lost")}, &fakePublisher{}
	ob.add(4)
	r, _ := eventbus.NewRelay(ob, pub)
	if _, err := r.Flush(t.Context()); err == nil {
		t.Fatal("Flush succeeded although marking failed")
	}
	ob.mu.Lock()
	ob.markErr = nil
	ob.mu.Unlock()
	if n, err := r.Flush(t.Context()); err != nil || n != 4 {
		t.Fatalf("second Flush = %d, %v; want 4", n, err)
	}
	if got := len(pub.ids()); got != 8 {
		t.Errorf("published %d messages; want 8 (each twice)", got)
	}
}

func TestRelayRunRetriesAndPolls(t *testing.T) {
	t.Parallel()
	ob, pub := &fakeOutbox{}, &fakePublisher{fails: 2}
	ob.add(5)
	r, _ := eventbus.NewRelay(ob, pub, eventbus.WithPollInterval(5*time.Millisecond),
		eventbus.WithRelayRetry(eventbus.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, ctx, func() bool { return r.Published() == 5 })
	ob.add(2) // found by polling
	waitFor(t, ctx, func() bool { return r.Published() == 7 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want nil after cancel", err)
	}
	if got := len(pub.ids()); got != 7 {
		t.Errorf("published %d; want 7", got)
	}
}

// chanWaker hands out one wake-up channel.
type chanWaker chan struct{}

func (w chanWaker) Wake(context.Context) (<-chan struct{}, error) { return w, nil }

// With a linger, the records committed after a wake-up and before the
// linger ends go in the wake-up's pass, and the wake-ups they sent are
// spent: one read in all.
func TestRelayLinger(t *testing.T) {
	t.Parallel()
	const linger = 500 * time.Millisecond
	ob, pub, wake := &fakeOutbox{}, &fakePublisher{}, make(chanWaker, 1)
	r, err := eventbus.NewRelay(ob, pub, eventbus.WithWaker(wake), eventbus.WithLinger(linger),
		eventbus.WithPollInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	reads := func() int { ob.mu.Lock(); defer ob.mu.Unlock(); return ob.reads }
	// The first pass, at start, finds nothing.
	waitFor(t, ctx, func() bool { return reads() == 1 })
	start := time.Now()
	ob.add(1)
	wake <- struct{}{}
	// Without a linger the relay would publish the first record alone
	// within these 50 ms.
	waitFor(t, ctx, func() bool { return len(wake) == 0 })
	time.Sleep(50 * time.Millisecond)
	ob.add(2)
	wake <- struct{}{}
	waitFor(t, ctx, func() bool { return r.Published() == 3 })
	took := time.Since(start)
	time.Sleep(linger + 100*time.Millisecond) // a spurious pass would come by now
	cancel()
	<-done
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if !slices.Equal(pub.calls, []int{3}) {
		t.Errorf("published in calls of %v; want one call of 3", pub.calls)
	}
	if took < linger {
		t.Errorf("published %v after the wake-up; want the linger, %v, at least", took, linger)
	}
	if n := reads(); n != 2 {
		t.Errorf("%d reads; want 2 (at start, after the linger)", n)
	}
	if _, err := eventbus.NewRelay(ob, pub, eventbus.WithLinger(-time.Millisecond)); err == nil {
		t.Error("a negative linger was accepted")
	}
}

// chanLeader hands leadership to one caller at a time.
type chanLeader struct{ token chan struct{} }

func (l chanLeader) Lead(ctx context.Context) (context.Context, func(), error) {
	select {
	case <-l.token:
		lctx, cancel := context.WithCancel(ctx)
		return lctx, func() { cancel(); l.token <- struct{}{} }, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func TestRelayStandbyTakesOver(t *testing.T) {
	t.Parallel()
	leader := chanLeader{token: make(chan struct{}, 1)}
	leader.token <- struct{}{}
	ob, pub := &fakeOutbox{}, &fakePublisher{}
	ob.add(3)
	opts := []eventbus.RelayOption{eventbus.WithLeader(leader), eventbus.WithPollInterval(2 * time.Millisecond)}
	first, _ := eventbus.NewRelay(ob, pub, opts...)
	second, _ := eventbus.NewRelay(ob, pub, opts...)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ctx1, stop1 := context.WithCancel(ctx)
	done1 := make(chan struct{})
	go func() { _ = first.Run(ctx1); close(done1) }()
	waitFor(t, ctx, func() bool { return first.Published() == 3 })
	go func() { _ = second.Run(ctx) }()
	ob.add(2)
	waitFor(t, ctx, func() bool { return first.Published() == 5 })
	if second.Published() != 0 {
		t.Fatalf("standby relay published %d while the other led", second.Published())
	}
	stop1() // the leader dies
	<-done1
	ob.add(4)
	waitFor(t, ctx, func() bool { return second.Published() == 4 })
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("timed out waiting")
		case <-time.After(time.Millisecond):
		}
	}
}

// fakeTx is a transaction over a processed-events set.
type fakeTx struct {
	seen    map[uuid.UUID]bool
	pending []uuid.UUID
}

func (tx *fakeTx) MarkProcessed(_ context.Context, group string, id uuid.UUID) (bool, error) {
	if tx.seen[id] || slices.Contains(tx.pending, id) {
		return false, nil
	}
	tx.pending = append(tx.pending, id)
	return true, nil
}

func TestIdempotent(t *testing.T) {
	t.Parallel()
	seen := map[uuid.UUID]bool{}
	inTx := func(ctx context.Context, fn func(*fakeTx) error) error {
		tx := &fakeTx{seen: seen}
		if err := fn(tx); err != nil {
			return err
		}
		for _, id := range tx.pending {
			seen[id] = true
		}
		return nil
	}
	applied := map[uuid.UUID]int{}
	failNext := true
	h := eventbus.Idempotent("g", inTx, func(_ context.Context, _ *fakeTx, ev eventbus.Event) error {
		if failNext {
			failNext = false
			return errors.New("db down")
		}
		applied[ev.ID]++
		return nil
	})
	ev := eventbus.Event{ID: uuid.New(), Type: "t", Source: "/s", Time: time.Now()}
	d := eventbus.Delivery{Message: ev.Message("t", "k")}
	if err := h(t.Context(), d); err == nil {
		t.Fatal("handler error was swallowed")
	}
	for range 3 {
		if err := h(t.Context(), d); err != nil {
			t.Fatalf("redelivery: %v", err)
		}
	}
	if applied[ev.ID] != 1 {
		t.Errorf("applied %d times; want once", applied[ev.ID])
	}
	if err := h(t.Context(), eventbus.Delivery{Message: eventbus.Message{Topic: "t"}}); !errors.Is(err, eventbus.ErrMalformed) {
		t.Errorf("malformed delivery: %v; want ErrMalformed", err)
	}
}

// lazyTx records events as a store that answers late does: MarkFirst
// returns at once, and a repeated event fails the commit. Effects count
// only when the transaction commits.
type lazyTx struct {
	fakeTx
	repeat  uuid.UUID // an event processed before
	effects []uuid.UUID
}

func (tx *lazyTx) MarkProcessed(context.Context, string, uuid.UUID) (bool, error) {
	panic("Idempotent waited for MarkProcessed although the transaction has MarkFirst")
}

func (tx *lazyTx) MarkFirst(_ context.Context, _ string, id uuid.UUID) error {
	if tx.seen[id] || slices.Contains(tx.pending, id) {
		tx.repeat = id
	}
	tx.pending = append(tx.pending, id)
	return nil
}

// With a FirstMarker, Idempotent runs h at once and acknowledges a
// redelivery whose transaction the store fails; h's effects count once.
func TestIdempotentFirstMarker(t *testing.T) {
	t.Parallel()
	seen := map[uuid.UUID]bool{}
	applied := map[uuid.UUID]int{}
	inTx := func(ctx context.Context, fn func(*lazyTx) error) error {
		tx := &lazyTx{fakeTx: fakeTx{seen: seen}}
		if err := fn(tx); err != nil {
			return err
		}
		if tx.repeat != uuid.Nil {
			return fmt.Errorf("commit: %w", &eventbus.ProcessedBeforeError{Group: "g", EventID: tx.repeat})
		}
		for _, id := range tx.pending {
			seen[id] = true
		}
		for _, id := range tx.effects {
			applied[id]++
		}
		return nil
	}
	calls := 0
	fail := errors.New("db down")
	h := eventbus.Idempotent("g", inTx, func(_ context.Context, tx *lazyTx, ev eventbus.Event) error {
		calls++
		if calls == 1 {
			return fail
		}
		tx.effects = append(tx.effects, ev.ID)
		return nil
	})
	ev := eventbus.Event{ID: uuid.New(), Type: "t", Source: "/s", Time: time.Now()}
	d := eventbus.Delivery{Message: ev.Message("t", "k")}
	if err := h(t.Context(), d); !errors.Is(err, fail) {
		t.Fatalf("first delivery = %v; want h's error", err)
	}
	for range 3 {
		if err := h(t.Context(), d); err != nil {
			t.Fatalf("redelivery: %v", err)
		}
	}
	if applied[ev.ID] != 1 || calls != 4 {
		t.Errorf("applied %d times in %d calls of h; want once in 4", applied[ev.ID], calls)
	}

	// Another event's ProcessedBeforeError (h's own business) is not this
	// delivery's redelivery: it is returned, not acknowledged.
	other := &eventbus.ProcessedBeforeError{Group: "g", EventID: uuid.New()}
	h = eventbus.Idempotent("g", inTx, func(context.Context, *lazyTx, eventbus.Event) error { return other })
	ev2 := eventbus.Event{ID: uuid.New(), Type: "t", Source: "/s", Time: time.Now()}
	if err := h(t.Context(), eventbus.Delivery{Message: ev2.Message("t", "k")}); !errors.Is(err, other) {
		t.Errorf("another event's ProcessedBeforeError = %v; want it returned", err)
	}
}

// cancelAfterPublish publishes, then cancels the relay's context before it
// marks the records.
type cancelAfterPublish struct {
	eventbus.Publisher
	cancel context.CancelFunc
}

func (p cancelAfterPublish) Publish(ctx context.Context, msgs ...eventbus.Message) error {
	err := p.Publisher.Publish(ctx, msgs...)
	p.cancel()
	return err
}

// A relay whose context ends right after a successful publish still marks
// the records, so the next relay does not publish them again.
func TestRelayMarksAfterCancel(t *testing.T) {
	t.Parallel()
	ob, pub := &fakeOutbox{}, &fakePublisher{}
	ob.add(3)
	ctx, cancel := context.WithCancel(t.Context())
	r, _ := eventbus.NewRelay(ob, cancelAfterPublish{pub, cancel})
	if n, _ := r.Flush(ctx); n != 3 {
		t.Errorf("Flush = %d; want 3 published and marked", n)
	}
	if n, _, _ := ob.Backlog(t.Context()); n != 0 {
		t.Errorf("backlog %d; want 0", n)
	}
}

// batchTx is a fakeTx that also records several events at once.
type batchTx struct{ fakeTx }

func (tx *batchTx) MarkProcessedAll(ctx context.Context, group string, ids []uuid.UUID) ([]bool, error) {
	out := make([]bool, len(ids))
	for i, id := range ids {
		out[i], _ = tx.MarkProcessed(ctx, group, id)
	}
	return out, nil
}

// IdempotentBatch hands h the events not processed before, once each
// (also when a batch repeats one), and records nothing when h fails; with
// or without the transaction's MarkProcessedAll.
func TestIdempotentBatch(t *testing.T) {
	t.Parallel()
	t.Run("MarkProcessed", func(t *testing.T) {
		t.Parallel()
		testIdempotentBatch(t, func(seen map[uuid.UUID]bool) *fakeTx { return &fakeTx{seen: seen} }, func(tx *fakeTx) *fakeTx { return tx })
	})
	t.Run("MarkProcessedAll", func(t *testing.T) {
		t.Parallel()
		testIdempotentBatch(t, func(seen map[uuid.UUID]bool) *batchTx { return &batchTx{fakeTx{seen: seen}} }, func(tx *batchTx) *fakeTx { return &tx.fakeTx })
	})
}

func testIdempotentBatch[T eventbus.Deduper](t *testing.T, newTx func(map[uuid.UUID]bool) T, inner func(T) *fakeTx) {
	seen := map[uuid.UUID]bool{}
	inTx := func(ctx context.Context, fn func(T) error) error {
		tx := newTx(seen)
		if err := fn(tx); err != nil {
			return err
		}
		for _, id := range inner(tx).pending {
			seen[id] = true
		}
		return nil
	}
	var got []uuid.UUID
	fail := true
	h := eventbus.IdempotentBatch("g", inTx, func(_ context.Context, _ T, evs []eventbus.Event) error {
		if fail {
			fail = false
			return errors.New("db down")
		}
		for _, ev := range evs {
			got = append(got, ev.ID)
		}
		return nil
	})
	var evs []eventbus.Event
	for range 4 {
		evs = append(evs, eventbus.Event{ID: uuid.New(), Type: "t", Source: "/s", Time: time.Now()})
	}
	deliver := func(evs ...eventbus.Event) error {
		ds := make([]eventbus.Delivery, len(evs))
		for i, ev := range evs {
			ds[i] = eventbus.Delivery{Message: ev.Message("t", "k")}
		}
		return h(t.Context(), ds)
	}
	if err := deliver(evs[0], evs[1]); err == nil {
		t.Fatal("handler error was swallowed")
	}
	if len(seen) != 0 {
		t.Fatalf("a failed batch recorded %d events", len(seen))
	}
	// 0 and 1 again (the failed batch), 2 twice, then 0 once more.
	if err := deliver(evs[0], evs[1], evs[2], evs[2]); err != nil {
		t.Fatal(err)
	}
	if err := deliver(evs[0], evs[3]); err != nil {
		t.Fatal(err)
	}
	if err := deliver(evs[1]); err != nil { // nothing new: h is not called
		t.Fatal(err)
	}
	want := []uuid.UUID{evs[0].ID, evs[1].ID, evs[2].ID, evs[3].ID}
	if !slices.Equal(got, want) {
		t.Errorf("h got %v; want each event once, in order: %v", got, want)
	}
	if err := h(t.Context(), []eventbus.Delivery{{Message: evs[0].Message("t", "k")}, {Message: eventbus.Message{Topic: "t"}}}); !errors.Is(err, eventbus.ErrMalformed) {
		t.Errorf("a malformed delivery in the batch: %v; want ErrMalformed", err)
	}
}
