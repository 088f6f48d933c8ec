package postgres

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/eventbus"
)

// notifyInterval is the least time between two notifications a DB sends on
// OutboxChannel: commits that enqueue within it share one.
const notifyInterval = 5 * time.Millisecond

// closeNotifyTimeout bounds the NOTIFY that Close sends for the commits
// before it.
const closeNotifyTimeout = time.Second

// notifier wakes relays after the commits of this DB that enqueued outbox
// records. A relay of this process, running a Waker of this DB, is woken
// through its channel, without a round trip. Only when none runs is a
// NOTIFY on OutboxChannel sent, for a relay in another process: one
// statement of its own, outside the business transactions, on a
// connection of its own (so that a busy pool does not hold it up), at most
// one per notifyInterval, retried with backoff when it fails, and sent by
// Close for the commits before it.
//
// A NOTIFY in the business transaction itself, as before, takes a lock
// that PostgreSQL holds for the rest of the commit, WAL flush included, so
// that notifying transactions commit one at a time: that halved what
// pgbench did with the sale transactions. A relay only needs to wake soon
// after, not at, the commit; and one that misses a wake-up (this process
// was killed between the commit and the NOTIFY) still polls.
type notifier struct {
	connect func(ctx context.Context) (*pgx.Conn, error)
	log     *slog.Logger

	mu      sync.Mutex
	local   map[chan<- struct{}]struct{} // wakers of this DB
	started bool
	closed  bool

	pending chan struct{} // holds one: a NOTIFY is owed
	stop    chan struct{} // closed by close
	done    chan struct{} // closed when run returns
}

func newNotifier(connect func(ctx context.Context) (*pgx.Conn, error), log *slog.Logger) *notifier {
	return &notifier{
		connect: connect,
		log:     log,
		local:   map[chan<- struct{}]struct{}{},
		pending: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
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

// run sends the NOTIFYs owed until close, and then the one owed, if any.
func (n *notifier) run() {
	defer close(n.done)
	var conn *pgx.Conn
	defer func() { closeConn(conn) }()
	failures := 0
	for {
		select {
		case <-n.stop:
			select {
			case <-n.pending:
				ctx, cancel := context.WithTimeout(context.Background(), closeNotifyTimeout)
				conn, _ = n.notify(ctx, conn)
				cancel()
			default:
			}
			return
		case <-n.pending:
		}
		ctx, cancel := context.WithTimeout(context.Background(), leaderQueryTimeout)
		var err error
		conn, err = n.notify(ctx, conn)
		cancel()
		wait := notifyInterval
		if err != nil {
			failures++
			if failures == 1 {
				n.log.Warn("outbox notifications: NOTIFY failed, retrying", "err", err)
			}
			signal(n.pending) // still owed
			wait = eventbus.DefaultRetryPolicy.Backoff(failures)
		} else if failures > 0 {
			n.log.Info("outbox notifications: NOTIFY works again", "failures", failures)
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-n.stop:
			t.Stop()
		}
	}
}

// notify sends one NOTIFY on conn, connecting first when conn is nil, and
// returns the connection to use next time: nil after an error.
func (n *notifier) notify(ctx context.Context, conn *pgx.Conn) (*pgx.Conn, error) {
	if conn == nil {
		var err error
		if conn, err = n.connect(ctx); err != nil {
			return nil, err
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_notify($1, '')", OutboxChannel); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// close sends the NOTIFY owed, if any, and stops.
func (n *notifier) close() {
	n.mu.Lock()
	started, closed := n.started, n.closed
	n.closed = true
	n.mu.Unlock()
	if closed {
		return
	}
	close(n.stop)
	if started {
		<-n.done
	}
}
