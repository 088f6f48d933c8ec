package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/salesflow/salesflow/eventbus"
)

// spyTx records the transactions a combiner runs; a transaction holding a
// delivery whose offset is in block waits until release is closed, and
// one holding an offset in fail fails.
type spyTx struct {
	mu      sync.Mutex
	alone   [][]int64 // offsets of each transaction of one call
	shared  [][]int64 // offsets of each shared transaction
	block   map[int64]bool
	fail    map[int64]bool
	started chan struct{} // a blocking transaction started
	release chan struct{}
	ctxs    map[int64]context.Context // the context each offset last ran alone with
	panics  map[int64]bool            // a transaction holding it panics
	running int                       // transactions running now
	most    int                       // the most that ever ran at once
}

func newSpy() *spyTx {
	return &spyTx{block: map[int64]bool{}, fail: map[int64]bool{}, panics: map[int64]bool{}, started: make(chan struct{}, 16), release: make(chan struct{}), ctxs: map[int64]context.Context{}}
}

func offsets(ds []eventbus.Delivery) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Offset
	}
	return out
}

func (s *spyTx) run(ctx context.Context, ds []eventbus.Delivery, shared bool) error {
	s.mu.Lock()
	if shared {
		s.shared = append(s.shared, offsets(ds))
	} else {
		s.alone = append(s.alone, offsets(ds))
		for _, d := range ds {
			s.ctxs[d.Offset] = ctx
		}
	}
	var block, fail, panics bool
	for _, d := range ds {
		block = block || s.block[d.Offset]
		fail = fail || s.fail[d.Offset]
		panics = panics || s.panics[d.Offset]
	}
	s.running++
	s.most = max(s.most, s.running)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running--
		s.mu.Unlock()
	}()
	if panics {
		panic("bad event")
	}
	if block {
		s.started <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return errors.New("poison")
	}
	return nil
}

func (s *spyTx) combiner(max int) *combiner { return s.waitingCombiner(max, 0) }

// waitingCombiner is a combiner whose quiet deliveries (offsets from
// quietFrom on) wait up to wait to be taken.
func (s *spyTx) waitingCombiner(max int, wait time.Duration) *combiner {
	return newCombiner(max, wait, func(d eventbus.Delivery) bool { return d.Offset >= quietFrom },
		func(ctx context.Context, ds []eventbus.Delivery) error { return s.run(ctx, ds, false) },
		func(ctx context.Context, ds []eventbus.Delivery) error { return s.run(ctx, ds, true) },
		slog.New(slog.DiscardHandler))
}

// quietFrom is the first offset of the deliveries that spy combiners take
// for events that change no projection.
const quietFrom = 1000

func deliveries(from, n int) []eventbus.Delivery {
	ds := make([]eventbus.Delivery, n)
	for i := range ds {
		ds[i].Offset = int64(from + i)
	}
	return ds
}

// queued waits until n calls wait in c's queue.
func queued(t *testing.T, c *combiner, n int) {
	t.Helper()
	awaitLen(t, c, n, "calls queued", func() int { return len(c.queue) })
}

// waiting waits until n quiet calls wait in c to be taken along.
func waiting(t *testing.T, c *combiner, n int) {
	t.Helper()
	awaitLen(t, c, n, "quiet calls waiting", func() int { return len(c.waiting) })
}

// awaitLen waits until length, read under c.mu, is n.
func awaitLen(t *testing.T, c *combiner, n int, what string, length func() int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		l := length()
		c.mu.Unlock()
		if l == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s; want %d", l, what, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// behindBlocked runs calls on c, each in its own goroutine: the first runs
// alone and blocks (its first offset must be in s.block), the others come
// while it runs, in order, each queued (a retried one goes to the lane
// directly) before the next starts. Then it releases the first and returns
// each call's error; a panic becomes an error, as the subscriber's guard
// makes it. Call i runs with ctx(i), or the test's context for a nil ctx.
func behindBlocked(t *testing.T, s *spyTx, c *combiner, ctx func(i int) context.Context, calls ...[]eventbus.Delivery) []error {
	t.Helper()
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	inQueue := 0
	for i, ds := range calls {
		cx := t.Context()
		if ctx != nil {
			cx = ctx(i)
		}
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("panicked: %v", r)
				}
			}()
			errs[i] = c.do(cx, ds)
		})
		switch {
		case i == 0:
			<-s.started
		case !slices.ContainsFunc(ds, func(d eventbus.Delivery) bool { return d.Attempt > 1 }):
			inQueue++
			queued(t, c, inQueue)
		}
	}
	close(s.release)
	wg.Wait()
	return errs
}

// A call that finds a transaction free runs at once, alone.
func TestCombinerIdle(t *testing.T) {
	s := newSpy()
	c := s.combiner(64)
	for i := range 3 {
		if err := c.do(t.Context(), deliveries(10*i, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if want := [][]int64{{0}, {10, 11}, {20, 21, 22}}; !slices.EqualFunc(s.alone, want, slices.Equal) || len(s.shared) != 0 {
		t.Errorf("alone %v, shared %v; want alone %v, none shared", s.alone, s.shared, want)
	}
}

// Calls that find every transaction busy share the next ones, as many
// events to a transaction as fit in max, in the order they came.
func TestCombinerShares(t *testing.T) {
	s := newSpy()
	s.block[0] = true
	c := s.combiner(4)
	errs := behindBlocked(t, s, c, nil, deliveries(0, 1), deliveries(10, 2), deliveries(20, 1),
		deliveries(30, 2), // 2 + 1 + 2 > 4: the next transaction
		deliveries(40, 1))
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if want := [][]int64{{0}}; !slices.EqualFunc(s.alone, want, slices.Equal) {
		t.Errorf("alone %v; want %v", s.alone, want)
	}
	if want := [][]int64{{10, 11, 20}, {30, 31, 40}}; !slices.EqualFunc(s.shared, want, slices.Equal) {
		t.Errorf("shared %v; want %v", s.shared, want)
	}
}

// A shared transaction that fails applies nothing, and each of its calls
// runs alone with its own context: only the call with the bad event fails.
func TestCombinerFailureRunsAlone(t *testing.T) {
	s := newSpy()
	s.block[0] = true
	s.fail[21] = true
	c := s.combiner(64)
	ctx := func(i int) context.Context { return context.WithValue(t.Context(), spyKey{}, i) }
	errs := behindBlocked(t, s, c, ctx, deliveries(0, 1), deliveries(10, 1), deliveries(20, 2), deliveries(30, 1))
	for i, err := range errs {
		if (err != nil) != (i == 2) {
			t.Errorf("call %d: %v; want an error only for call 2", i, err)
		}
	}
	if want := [][]int64{{10, 20, 21, 30}}; !slices.EqualFunc(s.shared, want, slices.Equal) {
		t.Errorf("shared %v; want %v", s.shared, want)
	}
	if s.most != 1 {
		t.Errorf("%d transactions ran at once in a lane of one", s.most)
	}
	for i, off := range []int64{10, 20, 30} {
		if got := s.ctxs[off]; got == nil || got.Value(spyKey{}) != i+1 {
			t.Errorf("offset %d ran alone with context %v; want call %d's", off, got, i+1)
		}
	}
}

type spyKey struct{}

// A call whose context ends while it waits in the queue returns at once,
// and its deliveries never run; one already taken waits for its
// transaction.
func TestCombinerCanceledWhileQueued(t *testing.T) {
	s := newSpy()
	s.block[0] = true
	c := s.combiner(64)
	done := make(chan error, 1)
	go func() { done <- c.do(t.Context(), deliveries(0, 1)) }()
	<-s.started
	ctx, cancel := context.WithCancel(t.Context())
	canceled := make(chan error, 1)
	go func() { canceled <- c.do(ctx, deliveries(10, 1)) }()
	queued(t, c, 1)
	cancel()
	if err := <-canceled; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled call = %v; want context.Canceled", err)
	}
	queued(t, c, 0)
	close(s.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(s.shared) != 0 || len(s.alone) != 1 {
		t.Errorf("alone %v, shared %v; want only the first call", s.alone, s.shared)
	}
}

// Many concurrent calls each get their own outcome, and every delivery
// runs in exactly one transaction that succeeds.
func TestCombinerConcurrent(t *testing.T) {
	s := newSpy()
	for off := range int64(400) {
		s.fail[off] = off%97 == 5
	}
	c := s.combiner(16)
	var wg sync.WaitGroup
	errs := make([]error, 100)
	for i := range 100 {
		wg.Go(func() { errs[i] = c.do(t.Context(), deliveries(4*i, 1+i%4)) })
	}
	wg.Wait()
	ok := map[int64]int{}
	for _, tx := range s.alone {
		if !slices.ContainsFunc(tx, func(o int64) bool { return s.fail[o] }) {
			for _, o := range tx {
				ok[o]++
			}
		}
	}
	for _, tx := range s.shared {
		if !slices.ContainsFunc(tx, func(o int64) bool { return s.fail[o] }) {
			for _, o := range tx {
				ok[o]++
			}
		}
	}
	for i, err := range errs {
		ds := deliveries(4*i, 1+i%4)
		bad := slices.ContainsFunc(ds, func(d eventbus.Delivery) bool { return s.fail[d.Offset] })
		if (err != nil) != bad {
			t.Errorf("call %d: %v; want an error: %v", i, err, bad)
		}
		for _, d := range ds {
			if want := map[bool]int{false: 1, true: 0}[bad]; ok[d.Offset] != want {
				t.Errorf("offset %d committed %d times; want %d", d.Offset, ok[d.Offset], want)
			}
		}
	}
	if len(c.queue) != 0 || len(c.slot) != 0 {
		t.Errorf("after the calls: %d queued, lane held %d", len(c.queue), len(c.slot))
	}
}

// A panic in a shared transaction is a failure: each call then runs alone,
// the panic comes back in the goroutine of the call that holds the bad
// event only, and the lane goes on.
func TestCombinerPanic(t *testing.T) {
	s := newSpy()
	s.block[0] = true
	s.panics[21] = true
	c := s.combiner(64)
	errs := behindBlocked(t, s, c, nil, deliveries(0, 1), deliveries(10, 1), deliveries(20, 2), deliveries(30, 1))
	for i, err := range errs {
		if (err != nil) != (i == 2) {
			t.Errorf("call %d: %v; want a panic only in call 2", i, err)
		}
	}
	if len(c.slot) != 0 {
		t.Fatalf("lane held (%d) after the panics", len(c.slot))
	}
	// The panic alone, in the leader's own transaction, frees the lane too.
	func() {
		defer func() { _ = recover() }()
		_ = c.do(t.Context(), deliveries(21, 1))
	}()
	if err := c.do(t.Context(), deliveries(40, 1)); err != nil || len(c.slot) != 0 {
		t.Errorf("after a panic: %v, lane held %d", err, len(c.slot))
	}
}

// A delivery tried before never shares a transaction.
func TestCombinerRetriedAlone(t *testing.T) {
	s := newSpy()
	s.block[0] = true
	c := s.combiner(64)
	retried := deliveries(20, 1)
	retried[0].Attempt = 2
	behindBlocked(t, s, c, nil, deliveries(0, 1), deliveries(10, 1), retried, deliveries(30, 1))
	if want := [][]int64{{10, 30}}; !slices.EqualFunc(s.shared, want, slices.Equal) {
		t.Errorf("shared %v; want %v", s.shared, want)
	}
	if !slices.ContainsFunc(s.alone, func(tx []int64) bool { return slices.Equal(tx, []int64{20}) }) {
		t.Errorf("alone %v; want the retried delivery alone", s.alone)
	}
}

// within is the test's context, ended after 10 s: a call that should not
// wait fails the test rather than hang it.
func within(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A quiet call does not run while the lane is free: it waits, and the
// next call that leads takes it into its transaction, after the queue's
// calls. A call with any delivery that is not quiet runs at once.
func TestCombinerQuietRides(t *testing.T) {
	s := newSpy()
	c := s.waitingCombiner(64, time.Hour)
	done := make(chan error, 1)
	go func() { done <- c.do(within(t), deliveries(quietFrom, 2)) }()
	waiting(t, c, 1)
	mixed := append(deliveries(quietFrom+10, 1), deliveries(20, 1)...)
	if err := c.do(within(t), mixed); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := [][]int64{{quietFrom + 10, 20, quietFrom, quietFrom + 1}}; !slices.EqualFunc(s.shared, want, slices.Equal) || len(s.alone) != 0 {
		t.Errorf("alone %v, shared %v; want none alone, shared %v", s.alone, s.shared, want)
	}
}

// Quiet calls never delay the queue's: a call that leads takes along only
// the waiting quiet calls that fit in max after its own events.
func TestCombinerQuietDoesNotDelay(t *testing.T) {
	s := newSpy()
	c := s.waitingCombiner(64, time.Hour)
	first := make(chan error, 1)
	go func() { first <- c.do(within(t), deliveries(quietFrom, 30)) }()
	waiting(t, c, 1)
	ctx, cancel := context.WithCancel(within(t))
	second := make(chan error, 1)
	go func() { second <- c.do(ctx, deliveries(quietFrom+100, 30)) }()
	waiting(t, c, 2)
	if err := c.do(within(t), deliveries(0, 5)); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if len(s.shared) != 1 || len(s.shared[0]) != 35 || s.shared[0][0] != 0 || s.shared[0][5] != quietFrom || len(s.alone) != 0 {
		t.Fatalf("alone %v, shared %v; want one transaction of the 5 events, then the first quiet call's 30", s.alone, s.shared)
	}
	waiting(t, c, 1) // 5 + 30 + 30 > 64: the second still waits
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled quiet call = %v; want context.Canceled", err)
	}
	if len(s.shared) != 1 || len(s.alone) != 0 {
		t.Errorf("alone %v, shared %v; the canceled call ran", s.alone, s.shared)
	}
}

// A quiet call that no transaction takes within the wait runs alone, after
// the wait; one whose context ends while it waits returns without running.
func TestCombinerQuietAlone(t *testing.T) {
	s := newSpy()
	const wait = 20 * time.Millisecond
	c := s.waitingCombiner(64, wait)
	start := time.Now()
	if err := c.do(within(t), deliveries(quietFrom, 2)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < wait {
		t.Errorf("a quiet call alone ran after %v; want it to wait %v first", took, wait)
	}
	if want := [][]int64{{quietFrom, quietFrom + 1}}; !slices.EqualFunc(s.alone, want, slices.Equal) || len(s.shared) != 0 {
		t.Errorf("alone %v, shared %v; want alone %v", s.alone, s.shared, want)
	}

	c = s.waitingCombiner(64, time.Hour)
	ctx, cancel := context.WithCancel(within(t))
	canceled := make(chan error, 1)
	go func() { canceled <- c.do(ctx, deliveries(quietFrom+10, 1)) }()
	waiting(t, c, 1)
	cancel()
	if err := <-canceled; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled quiet call = %v; want context.Canceled", err)
	}
	waiting(t, c, 0)
	if len(s.alone) != 1 || len(s.shared) != 0 {
		t.Errorf("alone %v, shared %v; the canceled call ran", s.alone, s.shared)
	}
}

// A quiet call taken along gets its transaction's outcome, even when its
// context ends while the transaction runs; when the transaction fails, it
// runs alone like every call in it.
func TestCombinerQuietTaken(t *testing.T) {
	s := newSpy()
	s.block[0] = true
	c := s.waitingCombiner(64, time.Hour)
	ctx, cancel := context.WithCancel(within(t))
	quiet := make(chan error, 1)
	go func() { quiet <- c.do(ctx, deliveries(quietFrom, 1)) }()
	waiting(t, c, 1)
	lead := make(chan error, 1)
	go func() { lead <- c.do(within(t), deliveries(0, 1)) }()
	<-s.started
	cancel()
	close(s.release)
	if err := <-lead; err != nil {
		t.Fatal(err)
	}
	if err := <-quiet; err != nil {
		t.Errorf("quiet call canceled after it was taken = %v; want its transaction's nil", err)
	}

	s = newSpy()
	s.fail[0] = true
	c = s.waitingCombiner(64, time.Hour)
	go func() { quiet <- c.do(within(t), deliveries(quietFrom, 1)) }()
	waiting(t, c, 1)
	if err := c.do(within(t), deliveries(0, 1)); err == nil {
		t.Error("the failing call succeeded")
	}
	if err := <-quiet; err != nil {
		t.Errorf("quiet call in a failed transaction = %v; want it run alone, successfully", err)
	}
	if want := [][]int64{{0, quietFrom}}; !slices.EqualFunc(s.shared, want, slices.Equal) || len(s.alone) != 2 {
		t.Errorf("alone %v, shared %v; want shared %v, then each alone", s.alone, s.shared, want)
	}
}

// A quiet call that finds its lane busy queues as any call, and the next
// transaction takes it in its turn.
func TestCombinerQuietBusy(t *testing.T) {
	s := newSpy()
	s.block[0] = true
	c := s.waitingCombiner(64, time.Hour)
	errs := behindBlocked(t, s, c, func(int) context.Context { return within(t) },
		deliveries(0, 1), deliveries(10, 1), deliveries(quietFrom, 2), deliveries(20, 1))
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if want := [][]int64{{10, quietFrom, quietFrom + 1, 20}}; !slices.EqualFunc(s.shared, want, slices.Equal) {
		t.Errorf("shared %v; want %v", s.shared, want)
	}
}
