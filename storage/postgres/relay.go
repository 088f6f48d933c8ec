package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/storage/postgres/internal/db"
)

// RelayLockID is the session advisory lock whose holder is the relay leader
// (see Leader): the ASCII bytes of "sfoutbox". Advisory locks are scoped to
// one database, so deployments in different databases do not contend.
const RelayLockID int64 = 0x73666f7574626f78

// Timing of the relay leadership (see Leader).
const (
	// LeaderPollInterval is how often a standby tries to take RelayLockID.
	LeaderPollInterval = 500 * time.Millisecond
	// LeaderCheckInterval is how long the leader's connection may stay
	// silent before the leader asks the server whether it still holds
	// RelayLockID. A connection the server closes (such as a backend ended
	// by pg_terminate_backend) is noticed at once.
	LeaderCheckInterval = time.Second
	// leaderQueryTimeout bounds each lock and check query (of the leader
	// and the waker), so that a dead network is noticed even without a TCP
	// reset.
	leaderQueryTimeout = 5 * time.Second
	// wakerCheckInterval is how long the waker's connection may stay
	// silent before the waker pings the server.
	wakerCheckInterval = 30 * time.Second
)

// errReleased is the cause of a leadership context cancelled by release.
var errReleased = errors.New("postgres: relay leadership released")

// Leader returns the relay's leader election across processes: the leader
// is the session that holds the advisory lock RelayLockID, on a connection
// of its own outside the pool, whose application_name ends in "relay
// leader". See eventbus.Leader.
//
// Lead opens that connection and tries the lock every LeaderPollInterval
// until it gets it, or until ctx is done and it returns ctx.Err(); a
// failure to connect or query is returned (the relay retries). The context it returns is cancelled, with
// a cause that context.Cause reports, when ctx is done, when the connection
// fails, or when the lock is found lost; the server releases the lock when
// the session ends, so a standby may take over as soon as the connection
// dies, up to LeaderCheckInterval (plus the query timeout) before the old
// leader notices. Two relays may thus briefly publish together: delivery is
// at least once. The release function unlocks and closes the connection;
// it may be called more than once. The connection is not closed by Close.
func (d *DB) Leader() eventbus.Leader { return leader{d} }

type leader struct{ d *DB }

func (l leader) Lead(ctx context.Context) (context.Context, func(), error) {
	conn, err := l.d.connect(ctx, "relay leader")
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("postgres: relay leader: %w", err)
	}
	for {
		ok, err := tryLock(ctx, conn)
		if err != nil {
			closeConn(conn)
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("postgres: relay leader: %w", err)
		}
		if ok {
			break
		}
		if !sleep(ctx, LeaderPollInterval) {
			closeConn(conn)
			return nil, nil, ctx.Err()
		}
	}
	l.d.log.Info("relay leadership taken", "pid", conn.PgConn().PID())
	lctx, lose := context.WithCancelCause(ctx)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		l.watch(lctx, conn, lose)
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			lose(errReleased)
			<-watching
			if !conn.IsClosed() {
				uctx, cancel := context.WithTimeout(context.Background(), leaderQueryTimeout)
				defer cancel()
				// Closing the session would release the lock too; unlocking
				// first frees it even if the close is slow to reach the server.
				_, _ = db.New(conn).AdvisoryUnlock(uctx, RelayLockID)
			}
			closeConn(conn)
		})
	}
	return lctx, release, nil
}

func tryLock(ctx context.Context, conn *pgx.Conn) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, leaderQueryTimeout)
	defer cancel()
	return db.New(conn).TryAdvisoryLock(ctx, RelayLockID)
}

// watch cancels the leadership with lose when conn fails or no longer
// holds the lock, and returns when ctx is done. It owns conn until then.
func (l leader) watch(ctx context.Context, conn *pgx.Conn, lose context.CancelCauseFunc) {
	for {
		// Nothing is LISTENed to on this connection: waiting for a
		// notification just reads the socket, and so returns at once with
		// the server's FATAL message when the backend is terminated.
		wctx, cancel := context.WithTimeout(ctx, LeaderCheckInterval)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && !pgconn.Timeout(err) {
			l.lose(lose, fmt.Errorf("postgres: relay leader connection: %w", err))
			return
		}
		qctx, cancel := context.WithTimeout(ctx, leaderQueryTimeout)
		held, err := db.New(conn).HoldsAdvisoryLock(qctx, RelayLockID)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.lose(lose, fmt.Errorf("postgres: relay leader connection: %w", err))
			return
		case !held:
			l.lose(lose, errors.New("postgres: relay leader lock lost"))
			return
		}
	}
}

func (l leader) lose(lose context.CancelCauseFunc, err error) {
	l.d.log.Warn("relay leadership lost", "err", err)
	lose(err)
}

// Waker returns wake-ups for the relay: Wake returns a channel that
// receives a value (coalesced: it holds at most one) after each commit of
// a transaction that enqueued records. The commits of d signal it
// directly, and while it runs d sends no NOTIFY; for those of other
// processes Wake opens a connection of its own, outside the pool (its
// application_name ends in "outbox waker"), and LISTENs on OutboxChannel.
// See eventbus.Waker.
//
// Wake returns an error when it cannot connect or LISTEN. Later, when the
// connection fails, it reconnects with backoff (100 ms doubling to 5 s,
// reported to the logger) until ctx is done, and sends a wake-up after
// reconnecting since notifications may have been missed meanwhile. When ctx
// is done the connection is closed and the channel soon receives no more
// (d's commits notify OutboxChannel again); the channel is never closed,
// so stop reading it when ctx is done.
func (d *DB) Waker() eventbus.Waker { return waker{d} }

type waker struct{ d *DB }

func (w waker) Wake(ctx context.Context) (<-chan struct{}, error) {
	conn, err := w.listen(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: outbox wake-ups: %w", err)
	}
	ch := make(chan struct{}, 1)
	// This DB's commits signal ch directly, and send no NOTIFY, until
	// ctx is done: then they notify again, for whichever relay leads next.
	w.d.notify.subscribe(ch)
	context.AfterFunc(ctx, func() { w.d.notify.unsubscribe(ch) })
	go w.run(ctx, conn, ch)
	return ch, nil
}

// listen opens a connection that LISTENs on OutboxChannel.
func (w waker) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := w.d.connect(ctx, "outbox waker")
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{OutboxChannel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// run forwards notifications to ch until ctx is done, reconnecting when the
// connection fails.
func (w waker) run(ctx context.Context, conn *pgx.Conn, ch chan<- struct{}) {
	defer func() { closeConn(conn) }()
	failures := 0
	for {
		wctx, cancel := context.WithTimeout(ctx, wakerCheckInterval)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failures = 0
			signal(ch)
			continue
		}
		if pgconn.Timeout(err) {
			// Silent for a while: make sure the server is still there, as
			// a dead network may not close the socket for many minutes.
			pctx, cancel := context.WithTimeout(ctx, leaderQueryTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err == nil || ctx.Err() != nil {
				continue
			}
		}
		w.d.log.Warn("outbox wake-ups: connection lost, reconnecting", "err", err)
		closeConn(conn)
		for {
			failures++
			if !sleep(ctx, eventbus.DefaultRetryPolicy.Backoff(failures)) {
				conn = nil
				return
			}
			if conn, err = w.listen(ctx); err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			w.d.log.Warn("outbox wake-ups: reconnect failed", "err", err, "failures", failures)
		}
		signal(ch) // notifications sent while disconnected were lost
	}
}

// signal sends on ch unless a wake-up is already waiting there.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// connect opens a connection outside the pool, with the pool's settings,
// for a session that must outlive a pooled acquisition (advisory lock,
// LISTEN). Its application_name names its role, after the configured
// name if any, so that pg_stat_activity tells it apart.
func (d *DB) connect(ctx context.Context, role string) (*pgx.Conn, error) {
	cc := d.pool.Config().ConnConfig
	name := "salesflow " + role
	if app := cc.RuntimeParams["application_name"]; app != "" {
		name = app + " (" + role + ")"
	}
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = name
	return pgx.ConnectConfig(ctx, cc)
}

// closeConn closes conn, if any, waiting at most a second for the server.
func closeConn(conn *pgx.Conn) {
	if conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// sleep waits for d or until ctx is done, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
