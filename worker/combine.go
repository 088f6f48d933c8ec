package worker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/salesflow/salesflow/eventbus"
)

// combiner is one of the worker's lanes: it lets concurrent handler calls
// share transactions. It runs one transaction at a time; a call that finds
// it busy queues its deliveries, and the next call to get the lane takes
// the queue (up to max events) into one transaction. A call that finds the
// lane free runs at once, so it waits for no other call; a busy lane runs
// fewer, larger transactions, which is what bounds it (each costs a commit
// and its fixed statements).
//
// A call whose deliveries all change no projection (sales' creations, see
// quiet) that finds its lane idle (no transaction running, no call
// queued) does not run at once: for up to wait it stays on a list of its
// own, and each transaction that a call of the queue leads takes such
// calls along, after the queue's, while they fit in max. Only a quiet call
// that none took joins the queue, as any call. Nobody waits for those
// events' effects, and a commit of their own would be most of their cost;
// the calls of the queue never wait for them. In a busy lane a quiet call
// queues as any call: the next transaction runs anyway and takes it in its
// turn, so under load nothing waits.
//
// A shared transaction that fails (or panics) applies nothing; each call
// then runs alone, as it would have without the combiner, one transaction
// at a time still, so one bad event fails only its own call. A delivery
// tried before always runs alone.
type combiner struct {
	max   int
	wait  time.Duration                                           // how long a quiet call waits to be taken along
	quiet func(eventbus.Delivery) bool                            // the delivery changes no projection
	slot  chan struct{}                                           // holds a token while a transaction runs
	alone func(ctx context.Context, ds []eventbus.Delivery) error // one call's deliveries in a transaction of their own
	batch func(ctx context.Context, ds []eventbus.Delivery) error // several calls' deliveries in one transaction
	log   *slog.Logger

	mu      sync.Mutex
	queue   []*call // calls waiting for the lane, oldest first
	waiting []*call // quiet calls waiting to be taken along, oldest first
}

// call is one handler call waiting in the queue.
type call struct {
	ds    []eventbus.Delivery
	done  chan outcome // buffered: the leader never waits for the caller
	taken bool         // a leader took it off the queue (under combiner.mu)
}

// outcome is what the leader of a transaction tells a call it took.
type outcome struct {
	err   error
	alone bool // the shared transaction failed: run alone
}

func newCombiner(max int, wait time.Duration, quiet func(eventbus.Delivery) bool, alone, batch func(context.Context, []eventbus.Delivery) error, log *slog.Logger) *combiner {
	return &combiner{max: max, wait: wait, quiet: quiet, slot: make(chan struct{}, 1), alone: alone, batch: batch, log: log}
}

// do handles ds, in a transaction of its own or shared with other calls.
// A delivery tried before (Attempt > 1) runs alone: it may be the one that
// failed a shared transaction.
func (c *combiner) do(ctx context.Context, ds []eventbus.Delivery) error {
	if slices.ContainsFunc(ds, func(d eventbus.Delivery) bool { return d.Attempt > 1 }) {
		return c.solo(ctx, ds)
	}
	me := &call{ds: ds, done: make(chan outcome, 1)}
	quiet := c.wait > 0 && !slices.ContainsFunc(ds, func(d eventbus.Delivery) bool { return !c.quiet(d) })
	c.mu.Lock()
	// Only in an idle lane: in a busy one the call is taken, in its turn,
	// by the next transaction, which runs anyway.
	if quiet = quiet && len(c.queue) == 0 && len(c.slot) == 0; quiet {
		c.waiting = append(c.waiting, me)
	} else {
		c.queue = append(c.queue, me)
	}
	c.mu.Unlock()
	if quiet {
		t := time.NewTimer(c.wait)
		select {
		case o := <-me.done:
			t.Stop()
			return c.finish(ctx, me, o)
		case <-t.C:
			if !c.enqueue(me) { // taken as the time ran out
				return c.finish(ctx, me, <-me.done)
			}
		case <-ctx.Done():
			t.Stop()
			if c.drop(me) {
				return ctx.Err()
			}
			return c.finish(ctx, me, <-me.done) // taken: its transaction decides
		}
	}
	for {
		select { // an outcome already told wins over a free lane
		case o := <-me.done:
			return c.finish(ctx, me, o)
		default:
		}
		select {
		case o := <-me.done:
			return c.finish(ctx, me, o)
		case c.slot <- struct{}{}:
			// Lead: run what is queued, me among it unless another
			// leader took me meanwhile, or the queue held more than
			// one transaction's worth before me.
			c.lead(ctx, me)
			if c.taken(me) {
				return c.finish(ctx, me, <-me.done)
			}
		case <-ctx.Done():
			if c.drop(me) {
				return ctx.Err()
			}
			return c.finish(ctx, me, <-me.done) // taken: its transaction decides
		}
	}
}

func (c *combiner) finish(ctx context.Context, me *call, o outcome) error {
	if o.alone {
		return c.solo(ctx, me.ds)
	}
	return o.err
}

// solo runs ds in a transaction of its own when the lane is free, in the
// caller's goroutine: a panic is the caller's own.
func (c *combiner) solo(ctx context.Context, ds []eventbus.Delivery) error {
	select {
	case c.slot <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.slot }()
	return c.alone(ctx, ds)
}

// take removes from the queue the calls of the next transaction: the
// oldest, and those after it while the events fit in max; then, while
// they fit too, the quiet calls waiting to be taken along.
func (c *combiner) take() []*call {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, events := 0, 0
	for n < len(c.queue) && (n == 0 || events+len(c.queue[n].ds) <= c.max) {
		c.queue[n].taken = true
		events += len(c.queue[n].ds)
		n++
	}
	if n == 0 {
		return nil
	}
	calls := slices.Clone(c.queue[:n])
	c.queue = slices.Delete(c.queue, 0, n)
	w := 0
	for w < len(c.waiting) && events+len(c.waiting[w].ds) <= c.max {
		c.waiting[w].taken = true
		events += len(c.waiting[w].ds)
		w++
	}
	calls = append(calls, c.waiting[:w]...)
	c.waiting = slices.Delete(c.waiting, 0, w)
	return calls
}

// enqueue moves the quiet call me, whose wait ran out, from the waiting
// calls to the queue, and reports whether it was still waiting.
func (c *combiner) enqueue(me *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.remove(me) {
		return false
	}
	c.queue = append(c.queue, me)
	return true
}

// taken reports whether a leader took me off the queue.
func (c *combiner) taken(me *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return me.taken
}

// drop removes me from the queue, or from the waiting calls, and reports
// whether it was still there.
func (c *combiner) drop(me *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remove(me)
}

// remove is drop with c.mu held.
func (c *combiner) remove(me *call) bool {
	if me.taken {
		return false
	}
	c.queue = slices.DeleteFunc(c.queue, func(q *call) bool { return q == me })
	c.waiting = slices.DeleteFunc(c.waiting, func(q *call) bool { return q == me })
	return true
}

// lead takes the queue's next calls and runs them in one transaction, with
// the context of me (the leader's call), holding the lane the caller took,
// and tells each its outcome. Another call that must run alone does so in
// its own goroutine, with its own context: what cancels the leader must
// not fail it, and its panic must not be charged to the leader.
func (c *combiner) lead(ctx context.Context, me *call) {
	defer func() { <-c.slot }()
	calls := c.take()
	switch {
	case len(calls) == 0:
	case len(calls) == 1 && calls[0] == me:
		me.done <- outcome{err: c.alone(ctx, me.ds)}
	case len(calls) == 1:
		calls[0].done <- outcome{alone: true}
	default:
		var ds []eventbus.Delivery
		for _, q := range calls {
			ds = append(ds, q.ds...)
		}
		err := c.shared(ctx, ds)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("worker: a shared transaction failed, its calls run alone", "calls", len(calls), "events", len(ds), "err", err)
		}
		for _, q := range calls {
			q.done <- outcome{alone: err != nil}
		}
	}
}

// shared runs ds in one transaction; a panic is a failure, so that each
// call runs alone and the one that panics again is charged with it.
func (c *combiner) shared(ctx context.Context, ds []eventbus.Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("worker: shared transaction panicked: %v", r)
		}
	}()
	return c.batch(ctx, ds)
}
