package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

// recorder is a Publisher that keeps what it is given, in order, after
// running check (when set) on each message.
type recorder struct {
	check func(eventbus.Message) error

	mu   sync.Mutex
	msgs []eventbus.Message
	errs []error
}

var _ eventbus.Publisher = (*recorder)(nil)

func (r *recorder) Publish(ctx context.Context, msgs ...eventbus.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		if r.check != nil {
			if err := r.check(m); err != nil {
				r.errs = append(r.errs, err)
			}
		}
		r.msgs = append(r.msgs, m)
	}
	return nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) messages() []eventbus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *recorder) published(id uuid.UUID) bool {
	return slices.ContainsFunc(r.messages(), func(m eventbus.Message) bool { return eventID(m) == id })
}

// testRecord returns an outbox record holding a valid CloudEvent for key,
// whose data is {"version": version}.
func testRecord(key string, version int64) eventbus.OutboxRecord {
	ev := eventbus.Event{
		ID: uuid.New(), Type: "test.changed", Source: "/test", Subject: key, Time: time.Now(),
		Data: fmt.Appendf(nil, `{"version":%d}`, version),
	}
	return eventbus.OutboxRecord{EventID: ev.ID, Message: ev.Message("test.changed", key)}
}

func eventID(m eventbus.Message) uuid.UUID { return uuid.MustParse(m.Headers.Get(eventbus.HeaderID)) }

// enqueue writes rec in a transaction of its own, committed unless fail is
// not nil.
func enqueue(t *testing.T, d *postgres.DB, rec eventbus.OutboxRecord, fail error) {
	t.Helper()
	err := d.InTx(t.Context(), func(tx *postgres.Tx) error {
		if err := tx.Enqueue(t.Context(), rec); err != nil {
			return err
		}
		return fail
	})
	if err != fail {
		t.Fatalf("enqueue: %v; want %v", err, fail)
	}
}

// waitFor polls cond every 5 ms until it holds, and fails the test after
// timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listen LISTENs on OutboxChannel on a connection of its own to url, and
// returns a function that reports whether a notification comes within a
// time.
func listen(t *testing.T, url string) func(within time.Duration) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(t.Context(), "LISTEN "+postgres.OutboxChannel); err != nil {
		t.Fatal(err)
	}
	return func(within time.Duration) bool {
		ctx, cancel := context.WithTimeout(t.Context(), within)
		defer cancel()
		n, err := conn.WaitForNotification(ctx)
		return err == nil && n.Channel == postgres.OutboxChannel
	}
}

// TestWakerOtherProcess checks that a relay is woken by the commits of
// another process (another DB on the same database), through NOTIFY: a DB
// without a running waker of its own notifies after a commit that
// enqueued, and only then.
func TestWakerOtherProcess(t *testing.T) {
	t.Parallel()
	url, relay := migrated(t)
	writer := open(t, url)
	woken := wakeups(t, t.Context(), relay)
	enqueue(t, writer, testRecord("k", 1), errors.New("rollback"))
	if woken(300 * time.Millisecond) {
		t.Error("another process's rolled-back enqueue woke the relay")
	}
	for i := range 3 {
		enqueue(t, writer, testRecord("k", int64(i)), nil)
		if !woken(3 * time.Second) {
			t.Fatalf("another process's committed enqueue #%d did not wake the relay", i+1)
		}
	}
	enqueue(t, relay, testRecord("k", 9), nil)
	if !woken(3 * time.Second) {
		t.Error("the relay's own DB's committed enqueue did not wake it")
	}
}

// migrated returns the URL of a new database, and a DB on it, migrated.
func migrated(t *testing.T) (string, *postgres.DB) {
	t.Helper()
	url := testkit.PostgresURL(t)
	d := open(t, url)
	if err := d.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return url, d
}

// wakeups runs a Waker of d until ctx is done, and returns a function that
// reports whether it wakes the relay within a time.
func wakeups(t *testing.T, ctx context.Context, d *postgres.DB) func(within time.Duration) bool {
	t.Helper()
	ch, err := d.Waker().Wake(ctx)
	if err != nil {
		t.Fatalf("Wake: %v", err)
	}
	return func(within time.Duration) bool {
		select {
		case <-ch:
			return true
		case <-time.After(within):
			return false
		}
	}
}

// TestNotifyOnClose: a DB closed right after a commit that enqueued still
// wakes the relay of another process: Close sends the NOTIFY owed.
func TestNotifyOnClose(t *testing.T) {
	t.Parallel()
	url, relay := migrated(t)
	woken := wakeups(t, t.Context(), relay)
	for i := range 5 {
		writer, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		enqueue(t, writer, testRecord("k", int64(i)), nil)
		writer.Close()
		if !woken(3 * time.Second) {
			t.Fatalf("commit #%d then Close: the relay was not woken", i+1)
		}
	}
}

// TestNotifyAfterLeading: once a DB's waker stops (its relay no longer
// leads), the DB's commits notify again, for the relay that leads next in
// another process.
func TestNotifyAfterLeading(t *testing.T) {
	t.Parallel()
	url, first := migrated(t)
	next := open(t, url)
	ctx, stop := context.WithCancel(t.Context())
	wakeups(t, ctx, first)
	woken := wakeups(t, t.Context(), next)
	enqueue(t, first, testRecord("k", 1), nil)
	if woken(300 * time.Millisecond) {
		t.Error("a commit of a DB whose waker runs notified another process")
	}
	stop()
	waitFor(t, 5*time.Second, "the next relay woken by the first DB's commits", func() bool {
		enqueue(t, first, testRecord("k", 2), nil)
		return woken(100 * time.Millisecond)
	})
}

// TestNotifyBesideBusyPool: the NOTIFY does not wait for a connection of
// the pool, which a long transaction holds.
func TestNotifyBesideBusyPool(t *testing.T) {
	t.Parallel()
	url, relay := migrated(t)
	writer, err := postgres.Open(t.Context(), url, postgres.WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(writer.Close)
	woken := wakeups(t, t.Context(), relay)
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- writer.InTx(t.Context(), func(*postgres.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held // the pool's one connection is taken until release
	writer.Committed()
	if !woken(3 * time.Second) {
		t.Error("the NOTIFY waited for the pool's connection")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func lockHolder(t *testing.T, d *postgres.DB) (int32, bool) {
	t.Helper()
	pid, ok, err := d.RelayLockHolder(t.Context())
	if err != nil {
		t.Fatalf("relay lock holder: %v", err)
	}
	return pid, ok
}

type leadResult struct {
	ctx     context.Context
	release func()
	err     error
}

// TestLeader checks that one session leads at a time, that a leader whose
// backend is terminated loses its context and a standby takes over, and
// that release hands leadership on.
func TestLeader(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := testkit.OpenPostgres(t)

	ctx1, release1, err := d.Leader().Lead(ctx)
	if err != nil {
		t.Fatalf("first Lead: %v", err)
	}
	defer release1()
	pid1, ok := lockHolder(t, d)
	if !ok {
		t.Fatal("the leader holds no lock")
	}

	second := make(chan leadResult, 1)
	go func() {
		c, r, err := d.Leader().Lead(ctx)
		second <- leadResult{c, r, err}
	}()
	// Longer than LeaderCheckInterval, so the leader has also checked its lock.
	select {
	case r := <-second:
		t.Fatalf("second Lead returned (%v) while the first leads", r.err)
	case <-time.After(postgres.LeaderCheckInterval + 3*postgres.LeaderPollInterval):
	}
	if ctx1.Err() != nil {
		t.Fatalf("leader lost its context with a live connection: %v", context.Cause(ctx1))
	}

	if err := d.TerminateBackend(ctx, pid1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx1.Done():
		t.Logf("first leader lost: %v", context.Cause(ctx1))
	case <-time.After(3 * time.Second):
		t.Fatal("leader's context not cancelled after its backend was terminated")
	}
	var r2 leadResult
	select {
	case r2 = <-second:
	case <-time.After(3 * time.Second):
		t.Fatal("standby did not take over")
	}
	if r2.err != nil {
		t.Fatalf("second Lead: %v", r2.err)
	}
	release1() // after the loss: closes what is left
	release1() // and again: nothing
	if pid2, ok := lockHolder(t, d); !ok || pid2 == pid1 {
		t.Fatalf("lock holder = %d, %v; want the second leader, not %d", pid2, ok, pid1)
	}

	short, cancel := context.WithTimeout(ctx, 3*postgres.LeaderPollInterval/2)
	defer cancel()
	if c, _, err := d.Leader().Lead(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lead while another leads = %v, %v; want the context's error", c, err)
	}

	r2.release()
	if r2.ctx.Err() == nil {
		t.Error("release left the leadership context alive")
	}
	if pid, ok := lockHolder(t, d); ok {
		t.Fatalf("lock still held by %d after release", pid)
	}
	start := time.Now()
	_, release3, err := d.Leader().Lead(ctx)
	if err != nil {
		t.Fatalf("Lead after release: %v", err)
	}
	release3()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Lead after release took %v", took)
	}
}

// TestWaker checks that a commit that enqueues wakes the relay, without a
// NOTIFY since the waker is the same DB's, that a rollback does not, and
// that wake-ups survive a lost connection.
func TestWaker(t *testing.T) {
	t.Parallel()
	url, d := migrated(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	woken := wakeups(t, ctx, d)
	notified := listen(t, url)

	enqueue(t, d, testRecord("k", 1), errors.New("rollback"))
	if woken(300 * time.Millisecond) {
		t.Error("a rolled-back enqueue woke the relay")
	}
	if err := d.InTx(ctx, func(*postgres.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if woken(300 * time.Millisecond) {
		t.Error("a commit that enqueued nothing woke the relay")
	}
	enqueue(t, d, testRecord("k", 1), nil)
	if !woken(3 * time.Second) {
		t.Error("a committed enqueue did not wake the relay")
	}
	if notified(300 * time.Millisecond) {
		t.Error("a commit woke the relay of its own DB through a NOTIFY")
	}

	pids, err := d.ListenerPIDs(ctx)
	if err != nil || len(pids) != 1 {
		t.Fatalf("listeners = %v, %v; want one", pids, err)
	}
	if err := d.TerminateBackend(ctx, pids[0]); err != nil {
		t.Fatal(err)
	}
	if !woken(3 * time.Second) {
		t.Fatal("no wake-up after reconnecting")
	}
	enqueue(t, d, testRecord("k", 1), nil)
	if !woken(3 * time.Second) {
		t.Error("a committed enqueue did not wake the relay after a reconnection")
	}

	cancel()
	waitFor(t, 3*time.Second, "listener closed after ctx ended", func() bool {
		pids, err := d.ListenerPIDs(t.Context())
		return err == nil && len(pids) == 0
	})
}
