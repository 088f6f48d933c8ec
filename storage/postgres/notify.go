package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// notifyInterval is the least time between two notifications a DB sends on
// OutboxChannel: commits that enqueue within it share one.
const notifyInterval = 5 * time.Millisecond

// notifier wakes relays after the commits of this DB that enqueued outbox
// records. A relay of this process, running a Waker of this DB, is woken
// through its channel, without a round trip. Only when none runs here is a
// NOTIFY on OutboxChannel sent, for a relay in another process: one
// statement of its own, outside the business transactions, at most one per
// notifyInterval.
//
// A NOTIFY in the business transaction itself, as before, takes a lock
// that PostgreSQL holds for the rest of the commit, WAL flush included, so
// that notifying transactions commit one at a time: that halved what
// pgbench did with the sale transactions. A relay only needs to wake soon
// after, not at, the commit; and one that misses a wake-up (this process
// stopped between the commit and the NOTIFY) still polls.
type notifier struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	local   map[chan<- struct{}]struct{} // wakers of this DB
	started bool
	closed  bool

	pending chan struct{} // holds one: a NOTIFY is owed
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

func newNotifier(pool *pgxpool.Pool) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	return &notifier{
		pool:    pool,
		local:   map[chan<- struct{}]struct{}{},
		pending: make(chan struct{}, 1),
		ctx:     ctx, cancel: cancel,
		done: make(chan struct{}),
	}
}

// subscribe has ch signalled after each commit of this DB that enqueued,
// until unsubscribe.
func (n *notifier) subscribe(ch chan<- struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.local[ch] = struct{}{}
}

func (n *notifier) unsubscribe(ch chan<- struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.local, ch)
}

// committed wakes relays after a commit that enqueued.
func (n *notifier) committed() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.local) > 0 {
		for ch := range n.local {
			signal(ch)
		}
		return
	}
	if n.closed {
		return
	}
	if !n.started {
		n.started = true
		go n.run()
	}
	signal(n.pending)
}

// run sends the NOTIFYs owed until close.
func (n *notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.pending:
		}
		ctx, cancel := context.WithTimeout(n.ctx, leaderQueryTimeout)
		// Failures are not reported: a relay that is not woken polls.
		n.pool.Exec(ctx, "SELECT pg_notify($1, '')", OutboxChannel) //nolint:errcheck
		cancel()
		if !sleep(n.ctx, notifyInterval) {
			return
		}
	}
}

// close stops sending NOTIFYs, waiting for one in flight.
func (n *notifier) close() {
	n.mu.Lock()
	started := n.started
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	if started {
		<-n.done
	}
}
