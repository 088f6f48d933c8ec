package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

// insertSale stores a pending sale with no lines at version 1: a row that
// writers lock to serialize the events of one key, as the sales service
// does.
func insertSale(t *testing.T, d *postgres.DB) uuid.UUID {
	t.Helper()
	now := time.Now().UTC()
	s := &sales.Sale{
		ID: uuid.New(), Status: sales.StatusPending, Version: 1, SellerID: "s",
		Currency: sales.USD, CreatedAt: now, UpdatedAt: now,
	}
	if err := d.InTx(t.Context(), func(tx *postgres.Tx) error { return tx.InsertSale(t.Context(), s) }); err != nil {
		t.Fatalf("insert sale: %v", err)
	}
	return s.ID
}

func version(t *testing.T, m eventbus.Message) int64 {
	t.Helper()
	var v struct{ Version int64 }
	if err := json.Unmarshal(m.Value, &v); err != nil {
		t.Fatalf("event %s: %v", eventID(m), err)
	}
	return v.Version
}

// TestOutboxHole: a transaction that took a lower seq and commits after a
// higher one is neither skipped nor published before it commits (the hole
// that an offset-based relay, such as Watermill's first SQL outbox, fell
// into).
func TestOutboxHole(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := testkit.OpenPostgres(t)
	pub := &recorder{}
	relay, err := eventbus.NewRelay(d.Outbox(), pub)
	if err != nil {
		t.Fatal(err)
	}
	a, b := testRecord("a", 1), testRecord("b", 1)
	enqueuedA, commitA, doneA := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		doneA <- d.InTx(ctx, func(tx *postgres.Tx) error {
			if err := tx.Enqueue(ctx, a); err != nil {
				return err
			}
			// A read sends the queued insert: A takes its seq now.
			if _, err := tx.Books(ctx, nil); err != nil {
				return err
			}
			close(enqueuedA)
			<-commitA
			return nil
		})
	}()
	select {
	case <-enqueuedA:
	case err := <-doneA:
		t.Fatalf("transaction A: %v", err)
	}
	enqueue(t, d, b, nil) // takes a higher seq, commits first

	if n, err := relay.Flush(ctx); err != nil || n != 1 || !pub.published(b.EventID) {
		t.Fatalf("Flush with A open = %d, %v, published %d; want B alone", n, err, len(pub.messages()))
	}
	close(commitA)
	if err := <-doneA; err != nil {
		t.Fatalf("transaction A: %v", err)
	}
	if n, err := relay.Flush(ctx); err != nil || n != 1 || !pub.published(a.EventID) {
		t.Fatalf("Flush after A committed = %d, %v; want A", n, err)
	}
	seqs, err := d.OutboxSeqs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seqs[a.EventID] >= seqs[b.EventID] {
		t.Fatalf("seq of A %d not below seq of B %d; the test proves nothing", seqs[a.EventID], seqs[b.EventID])
	}
}

// TestOutboxConcurrentWriters runs many writers whose transactions commit
// out of seq order, some rolling back, while a relay publishes: nothing is
// skipped, nothing is published before its transaction tries to commit or
// after it rolled back, and each key's events come out in commit order.
// Writers of one key are serialized by the lock on its sale row, as in the
// sales service, and number the key's events by the sale's version.
func TestOutboxConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const keys, writers, perWriter = 24, 16, 30
	// Enough connections for every writer and the relay: a relay starved of
	// connections lags behind the writers, and only ever sees the old,
	// fully committed part of the outbox.
	d, err := postgres.Open(ctx, testkit.PostgresURL(t), postgres.WithMaxConns(writers+4))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	saleIDs := make([]uuid.UUID, keys)
	for i := range saleIDs {
		saleIDs[i] = insertSale(t, d)
	}

	var (
		attempted  sync.Map // event id → true, stored just before COMMIT is sent
		rolledBack sync.Map // event id → true
		mu         sync.Mutex
		committed  []uuid.UUID // in the order the commits returned
	)
	pub := &recorder{check: func(m eventbus.Message) error {
		if _, ok := attempted.Load(eventID(m)); !ok {
			return errors.New("event " + eventID(m).String() + " of key " + m.Key + " published before its transaction tried to commit")
		}
		return nil
	}}
	relay, err := eventbus.NewRelay(d.Outbox(), pub)
	if err != nil {
		t.Fatal(err)
	}
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() {
		for relayCtx.Err() == nil {
			if _, err := relay.Flush(relayCtx); err != nil && relayCtx.Err() == nil {
				relayDone <- err
				return
			}
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
		}
		relayDone <- nil
	}()
	defer stopRelay()

	errRollback := errors.New("rollback")
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for i := range perWriter {
				key := saleIDs[rng.IntN(keys)]
				rollback := rng.IntN(8) == 0
				// Between taking its seq and committing, a transaction waits:
				// briefly, or long enough for many later ones to commit first.
				hold := time.Duration(rng.IntN(2000)) * time.Microsecond
				if i%5 == 0 {
					hold = 20 * time.Millisecond
				}
				var id uuid.UUID
				err := d.InTx(ctx, func(tx *postgres.Tx) error {
					s, err := tx.LockSale(ctx, key)
					if err != nil {
						return err
					}
					s.Version++
					if err := tx.UpdateSale(ctx, s); err != nil {
						return err
					}
					rec := testRecord(key.String(), s.Version)
					id = rec.EventID
					if err := tx.Enqueue(ctx, rec); err != nil {
						return err
					}
					// A read sends the queued writes: the record takes its
					// seq now, and holds it while the transaction waits.
					if _, err := tx.Books(ctx, nil); err != nil {
						return err
					}
					time.Sleep(hold)
					if rollback {
						rolledBack.Store(id, true)
						return errRollback
					}
					attempted.Store(id, true)
					return nil
				})
				switch {
				case rollback && err == errRollback:
				case err != nil:
					t.Errorf("writer %d, transaction %d: %v", w, i, err)
					return
				default:
					mu.Lock()
					committed = append(committed, id)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "relay drained the outbox (a record skipped?)", func() bool {
		n, _, err := d.Outbox().Backlog(ctx)
		return err == nil && n == 0
	})
	stopRelay()
	if err := <-relayDone; err != nil {
		t.Fatalf("relay: %v", err)
	}

	for _, err := range pub.errs {
		t.Error(err)
	}
	seqs, err := d.OutboxSeqs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := pub.messages()
	times := map[uuid.UUID]int{}
	lastSeq, lastVersion := map[string]int64{}, map[string]int64{}
	var maxSeq int64
	filled := 0 // records published after one with a higher seq: holes the relay came back for
	for _, m := range msgs {
		id := eventID(m)
		times[id]++
		if _, ok := rolledBack.Load(id); ok {
			t.Errorf("event %s of a rolled-back transaction published", id)
			continue
		}
		seq, v := seqs[id], version(t, m)
		if seq <= lastSeq[m.Key] {
			t.Errorf("key %s: seq %d published after seq %d", m.Key, seq, lastSeq[m.Key])
		}
		if want := max(lastVersion[m.Key], 1) + 1; v != want {
			t.Errorf("key %s: version %d published after version %d; want %d", m.Key, v, lastVersion[m.Key], want)
		}
		lastSeq[m.Key], lastVersion[m.Key] = seq, v
		if seq < maxSeq {
			filled++
		}
		maxSeq = max(maxSeq, seq)
	}
	for _, id := range committed {
		if times[id] != 1 {
			t.Errorf("committed event %s published %d times; want once", id, times[id])
		}
	}
	if len(msgs) != len(committed) {
		t.Errorf("published %d messages; want the %d committed events", len(msgs), len(committed))
	}
	for _, id := range saleIDs {
		s, err := d.Sales().Sale(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := max(lastVersion[id.String()], 1); got != s.Version {
			t.Errorf("sale %s: last published version %d; want %d", id, got, s.Version)
		}
	}

	// The test proves something only if commits came out of seq order and
	// the relay published past records that were not committed yet.
	var outOfOrder int
	maxSeq = 0
	for _, id := range committed {
		if seqs[id] < maxSeq {
			outOfOrder++
		}
		maxSeq = max(maxSeq, seqs[id])
	}
	var rolled int
	rolledBack.Range(func(any, any) bool { rolled++; return true })
	t.Logf("%d committed, %d rolled back; %d commits out of seq order; relay published %d records after a higher seq",
		len(committed), rolled, outOfOrder, filled)
	if outOfOrder == 0 || filled == 0 || rolled == 0 {
		t.Error("no commit out of seq order, no hole filled later, or no rollback: the test proves nothing")
	}
}

// markFails is an Outbox whose MarkPublished fails, as when the relay's
// process dies right after publishing.
type markFails struct{ eventbus.Outbox }

func (markFails) MarkPublished(context.Context, []int64) error { return errors.New("killed") }

// TestRelayKilledBetweenPublishAndMark: records published by a relay that
// dies before marking them are published again by the next relay, and the
// idempotent consumer over InTx applies each event once however often, and
// however concurrently, it is delivered.
func TestRelayKilledBetweenPublishAndMark(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// dying returns the outbox and publisher of a relay that dies after
		// publishing its first batch; kill cancels its context.
		dying func(d *postgres.DB, broker eventbus.Publisher, kill context.CancelFunc) (eventbus.Outbox, eventbus.Publisher)
	}{
		{"mark fails", func(d *postgres.DB, broker eventbus.Publisher, _ context.CancelFunc) (eventbus.Outbox, eventbus.Publisher) {
			return markFails{d.Outbox()}, broker
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			d := testkit.OpenPostgres(t)
			const events, batch = 20, 8
			var ids []uuid.UUID
			for i := range events {
				rec := testRecord([]string{"k1", "k2", "k3"}[i%3], int64(i))
				enqueue(t, d, rec, nil)
				ids = append(ids, rec.EventID)
			}

			broker := &recorder{}
			killCtx, kill := context.WithCancel(ctx)
			defer kill()
			outbox, pub := c.dying(d, broker, kill)
			dying, err := eventbus.NewRelay(outbox, pub, eventbus.WithBatchSize(batch))
			if err != nil {
				t.Fatal(err)
			}
			if n, err := dying.Flush(killCtx); err == nil || n != 0 {
				t.Fatalf("dying relay's Flush = %d, %v; want an error and nothing marked", n, err)
			}
			if got := len(broker.messages()); got != batch {
				t.Fatalf("dying relay published %d; want one batch of %d", got, batch)
			}
			if n, _, err := d.Outbox().Backlog(ctx); err != nil || n != events {
				t.Fatalf("backlog after the dying relay = %d, %v; want all %d", n, err, events)
			}
			next, err := eventbus.NewRelay(d.Outbox(), broker, eventbus.WithBatchSize(batch))
			if err != nil {
				t.Fatal(err)
			}
			if n, err := next.Flush(ctx); err != nil || n != events {
				t.Fatalf("next relay's Flush = %d, %v; want %d", n, err, events)
			}
			delivered := broker.messages()
			if len(delivered) != events+batch {
				t.Fatalf("broker holds %d messages; want %d with %d duplicates", len(delivered), events+batch, batch)
			}

			// The consumer's effect is a real write in its transaction: one
			// PURCHASE of one unit per application.
			book := testBook(t, d)
			var (
				mu      sync.Mutex
				applied = map[uuid.UUID]int{}
				failed  bool
			)
			const group = "analytics-group"
			handle := eventbus.Idempotent(group, d.InTx, func(ctx context.Context, tx *postgres.Tx, ev eventbus.Event) error {
				mu.Lock()
				fail := !failed && ev.ID == ids[0]
				failed = failed || fail
				mu.Unlock()
				if fail {
					return errors.New("handler fails once")
				}
				lvls, err := tx.LockLevels(ctx, []uuid.UUID{book})
				if err != nil {
					return err
				}
				err = addMovement(ctx, tx, inventory.Movement{
					ID: uuid.New(), BookID: book, Type: inventory.Purchase, Quantity: 1,
					StockBefore: lvls[0].OnHand, StockAfter: lvls[0].OnHand + 1, Reason: ev.ID.String(), CreatedAt: time.Now(),
				}, 0)
				if err != nil {
					return err
				}
				mu.Lock()
				applied[ev.ID]++
				mu.Unlock()
				return nil
			})
			// Each message reaches two consumers at once, as in a rebalance,
			// and a failed delivery is retried.
			var wg sync.WaitGroup
			for i, m := range delivered {
				for range 2 {
					wg.Go(func() {
						for attempt := 1; ; attempt++ {
							err := handle(ctx, eventbus.Delivery{Message: m, Offset: int64(i), Attempt: attempt})
							if err == nil {
								return
							}
							if attempt == 3 {
								t.Errorf("delivery of %s: %v", eventID(m), err)
								return
							}
						}
					})
				}
			}
			wg.Wait()

			for _, id := range ids {
				if applied[id] != 1 {
					t.Errorf("event %s applied %d times; want once", id, applied[id])
				}
			}
			if !failed {
				t.Error("the handler never failed; the retry path went untested")
			}
			lvl, err := d.Inventory().Level(ctx, book)
			if err != nil || lvl.OnHand != events {
				t.Errorf("on hand = %d, %v; want one unit per event, %d", lvl.OnHand, err, events)
			}
			processed, err := d.ProcessedEvents(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(processed, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
			want := slices.Clone(ids)
			slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
			if !slices.Equal(processed, want) {
				t.Errorf("processed_events of %s holds %d rows; want one per event, %d", group, len(processed), len(want))
			}
		})
	}
}

// testBook stores a book with an empty stock level and returns its id.
func testBook(t *testing.T, d *postgres.DB) uuid.UUID {
	t.Helper()
	now := time.Now().UTC()
	b := &inventory.Book{ID: uuid.New(), Title: "T", Author: "A", Price: 100, Available: true, CreatedAt: now, UpdatedAt: now}
	if err := d.InTx(t.Context(), func(tx *postgres.Tx) error { return tx.InsertBook(t.Context(), b, 0) }); err != nil {
		t.Fatalf("insert book: %v", err)
	}
	return b.ID
}

// TestRelayLeaderAndWaker runs two relays with the PostgreSQL Leader and
// Waker and an hour-long poll interval: one publishes, each record soon
// after its commit (woken by the Waker); publishing goes on when the leader's
// backend is terminated, and the other relay takes over when the leader
// stops.
func TestRelayLeaderAndWaker(t *testing.T) {
	t.Parallel()
	d := testkit.OpenPostgres(t)
	var (
		wg    sync.WaitGroup
		pubs  [2]*recorder
		stops [2]context.CancelFunc
	)
	defer wg.Wait()
	for i := range pubs {
		pubs[i] = &recorder{}
		r, err := eventbus.NewRelay(d.Outbox(), pubs[i],
			eventbus.WithLeader(d.Leader()), eventbus.WithWaker(d.Waker()), eventbus.WithPollInterval(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var ctx context.Context
		ctx, stops[i] = context.WithCancel(t.Context())
		defer stops[i]()
		wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				t.Errorf("relay %d: %v", i, err)
			}
		})
	}
	waitFor(t, 5*time.Second, "a relay leads", func() bool { _, ok := lockHolder(t, d); return ok })
	time.Sleep(200 * time.Millisecond) // past the leader's first pass

	publishedBy := func(id uuid.UUID) int {
		for i, p := range pubs {
			if p.published(id) {
				return i
			}
		}
		return -1
	}
	// relayOf commits a record and returns the relay that published it.
	relayOf := func(what string, within time.Duration) int {
		t.Helper()
		rec := testRecord("k", 1)
		start := time.Now()
		enqueue(t, d, rec, nil)
		waitFor(t, within, what, func() bool { return publishedBy(rec.EventID) >= 0 })
		t.Logf("%s: published by relay %d %v after commit", what, publishedBy(rec.EventID), time.Since(start).Round(time.Millisecond))
		return publishedBy(rec.EventID)
	}
	leader := relayOf("first record", 2*time.Second)
	for range 4 {
		if got := relayOf("next record", 2*time.Second); got != leader {
			t.Fatalf("record published by relay %d; want the leader, %d", got, leader)
		}
	}
	if n := len(pubs[1-leader].messages()); n != 0 {
		t.Fatalf("the standby published %d records", n)
	}

	pid, _ := lockHolder(t, d)
	if err := d.TerminateBackend(t.Context(), pid); err != nil {
		t.Fatal(err)
	}
	for range 3 { // either relay may win the lock now
		leader = relayOf("record after the leader's backend was terminated", 5*time.Second)
	}

	stops[leader]()
	for range 3 {
		if got := relayOf("record after the leader stopped", 5*time.Second); got != 1-leader {
			t.Fatalf("record published by relay %d; want the one still running, %d", got, 1-leader)
		}
	}
	stops[1-leader]()
	wg.Wait()
	if n, _, err := d.Outbox().Backlog(t.Context()); err != nil || n != 0 {
		t.Errorf("backlog = %d, %v; want none", n, err)
	}
}

// TestOutboxHeaders: headers go through the outbox as a JSON object, which
// releases before ordered headers read too, unless a key repeats: then as
// an array of pairs, in order.
func TestOutboxHeaders(t *testing.T) {
	t.Parallel()
	unique := eventbus.Headers{{Key: "z", Value: "1"}, {Key: "a", Value: "é\"\\"}, {Key: "e", Value: ""}}
	b, err := postgres.EncodeHeaders(unique)
	if err != nil || !bytes.HasPrefix(b, []byte("{")) {
		t.Fatalf("unique keys encoded as %s, %v; want a JSON object", b, err)
	}
	got, err := postgres.DecodeHeaders(b)
	if want := (eventbus.Headers{{Key: "a", Value: "é\"\\"}, {Key: "e", Value: ""}, {Key: "z", Value: "1"}}); err != nil || !slices.Equal(got, want) {
		t.Fatalf("object round trip = %v, %v; want %v (sorted)", got, err, want)
	}
	repeated := eventbus.Headers{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}, {Key: "z", Value: "3"}}
	b, err = postgres.EncodeHeaders(repeated)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := postgres.DecodeHeaders(b); err != nil || !slices.Equal(got, repeated) {
		t.Fatalf("repeated keys: %s decoded as %v, %v; want %v", b, got, err, repeated)
	}
	if b, err := postgres.EncodeHeaders(nil); err != nil || string(b) != "{}" {
		t.Fatalf("no headers encoded as %s, %v; want {}", b, err)
	}
	if got, err := postgres.DecodeHeaders([]byte(`[]`)); err != nil || len(got) != 0 {
		t.Fatalf("no headers = %v, %v", got, err)
	}
	if _, err := postgres.DecodeHeaders([]byte(`[[1, 2]]`)); err == nil {
		t.Fatal("numbers as headers decoded")
	}
}

// MarkProcessedAll reports, in the order given, which events a group
// records for the first time; another group has its own record.
func TestMarkProcessedAll(t *testing.T) {
	t.Parallel()
	d := testkit.OpenPostgres(t)
	ctx := t.Context()
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	mark := func(group string, ids ...uuid.UUID) []bool {
		t.Helper()
		var got []bool
		err := d.InTx(ctx, func(tx *postgres.Tx) error {
			var err error
			got, err = tx.MarkProcessedAll(ctx, group, ids)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := mark("g", a, b); !slices.Equal(got, []bool{true, true}) {
		t.Errorf("first batch = %v", got)
	}
	if got := mark("g", c, b, a); !slices.Equal(got, []bool{true, false, false}) {
		t.Errorf("second batch = %v; want only c new", got)
	}
	if got := mark("other", b); !slices.Equal(got, []bool{true}) {
		t.Errorf("another group = %v", got)
	}
	err := d.InTx(ctx, func(tx *postgres.Tx) error {
		first, err := tx.MarkProcessed(ctx, "g", c)
		if err != nil || first {
			t.Errorf("MarkProcessed after MarkProcessedAll = %t, %v; want false", first, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// MarkFirst records a new event without waiting; for an event recorded
// before, the transaction's next statement or its commit fails with
// ErrProcessedBefore and nothing of the transaction stays. A transaction
// that recorded the event and is still open is waited for.
func TestMarkFirst(t *testing.T) {
	t.Parallel()
	d := testkit.OpenPostgres(t)
	ctx := t.Context()
	processed := func(group string, id uuid.UUID) bool {
		t.Helper()
		var first bool
		asked := errors.New("only asking")
		err := d.InTx(ctx, func(tx *postgres.Tx) error {
			var err error
			if first, err = tx.MarkProcessed(ctx, group, id); err != nil {
				return err
			}
			return asked // rolls the record back
		})
		if !errors.Is(err, asked) {
			t.Fatal(err)
		}
		return !first
	}
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	if err := d.InTx(ctx, func(tx *postgres.Tx) error { return tx.MarkFirst(ctx, "g", a) }); err != nil {
		t.Fatalf("a new event: %v", err)
	}
	if !processed("g", a) || processed("other", a) {
		t.Fatal("a is not recorded for g alone")
	}

	// A repeat fails the next statement, and the transaction with it,
	// even when the caller ignores that error; the commit fails too.
	err := d.InTx(ctx, func(tx *postgres.Tx) error {
		if err := tx.MarkFirst(ctx, "g", a); err != nil {
			return err
		}
		_ = tx.MarkFirst(ctx, "g", b)
		if _, err := tx.MarkProcessed(ctx, "g", c); !errors.Is(err, eventbus.ErrProcessedBefore) {
			t.Errorf("statement after a repeat = %v; want ErrProcessedBefore", err)
		}
		return nil
	})
	if !errors.Is(err, eventbus.ErrProcessedBefore) {
		t.Errorf("commit after a repeat = %v; want ErrProcessedBefore", err)
	}
	if processed("g", b) || processed("g", c) {
		t.Error("the failed transaction recorded events")
	}

	// A transaction that recorded b and is open is waited for: its
	// rollback lets the waiting one record b, its commit fails it.
	for _, commit := range []bool{false, true} {
		id := uuid.New()
		holding, release := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- d.InTx(ctx, func(tx *postgres.Tx) error {
				err := tx.MarkFirst(ctx, "g", id)
				if err == nil {
					_, err = tx.MarkProcessed(ctx, "g", uuid.New()) // sends the record
				}
				close(holding)
				<-release
				if err == nil && !commit {
					err = errors.New("rolled back")
				}
				return err
			})
		}()
		<-holding
		second := make(chan error, 1)
		go func() {
			second <- d.InTx(ctx, func(tx *postgres.Tx) error {
				if err := tx.MarkFirst(ctx, "g", id); err != nil {
					return err
				}
				_, err := tx.MarkProcessed(ctx, "g", uuid.New())
				return err
			})
		}()
		select {
		case err := <-second:
			t.Fatalf("commit=%t: the second transaction did not wait: %v", commit, err)
		case <-time.After(100 * time.Millisecond):
		}
		close(release)
		err1, err2 := <-first, <-second
		switch {
		case commit && (err1 != nil || !errors.Is(err2, eventbus.ErrProcessedBefore)):
			t.Errorf("first committed (%v): second = %v; want ErrProcessedBefore", err1, err2)
		case !commit && err2 != nil:
			t.Errorf("first rolled back (%v): second = %v; want it to record the event", err1, err2)
		}
	}
}

// PruneEvents deletes published records and processed-event records older
// than the cutoff, never an unpublished record, and nothing newer.
func TestPruneEvents(t *testing.T) {
	t.Parallel()
	d := testkit.OpenPostgres(t)
	ctx := t.Context()
	recs := []eventbus.OutboxRecord{testRecord("a", 1), testRecord("b", 1), testRecord("c", 1), testRecord("d", 1)}
	for _, r := range recs {
		enqueue(t, d, r, nil)
	}
	pending, err := d.Outbox().Pending(ctx, 10)
	if err != nil || len(pending) != 4 {
		t.Fatalf("pending = %d, %v", len(pending), err)
	}
	// a and b published long ago, c just now, d not at all.
	if err := d.Outbox().MarkPublished(ctx, []int64{pending[0].Seq, pending[1].Seq, pending[2].Seq}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-30 * 24 * time.Hour)
	if err := d.Exec(ctx, `UPDATE outbox SET published_at = $1, created_at = $1 WHERE seq = ANY($2)`, old, []int64{pending[0].Seq, pending[1].Seq}); err != nil {
		t.Fatal(err)
	}
	err = d.InTx(ctx, func(tx *postgres.Tx) error {
		_, err := tx.MarkProcessedAll(ctx, "g", []uuid.UUID{recs[0].EventID, recs[1].EventID, recs[2].EventID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Exec(ctx, `UPDATE processed_events SET processed_at = $1 WHERE event_id = ANY($2)`, old, []uuid.UUID{recs[0].EventID, recs[1].EventID}); err != nil {
		t.Fatal(err)
	}
	// An unpublished record, however old, stays.
	if err := d.Exec(ctx, `UPDATE outbox SET created_at = $1 WHERE seq = $2`, old, pending[3].Seq); err != nil {
		t.Fatal(err)
	}
	outbox, processed, err := d.PruneEvents(ctx, time.Now().Add(-7*24*time.Hour))
	if err != nil || outbox != 2 || processed != 2 {
		t.Fatalf("PruneEvents = %d, %d, %v; want 2 outbox and 2 processed records", outbox, processed, err)
	}
	if n, _, err := d.Outbox().Backlog(ctx); err != nil || n != 1 {
		t.Errorf("backlog after pruning = %d, %v; want the unpublished record", n, err)
	}
	// c's record is still there: MarkProcessed says it was processed.
	err = d.InTx(ctx, func(tx *postgres.Tx) error {
		first, err := tx.MarkProcessed(ctx, "g", recs[2].EventID)
		if first {
			t.Error("a recent processed-event record was pruned")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if outbox, processed, err := d.PruneEvents(ctx, time.Now().Add(-7*24*time.Hour)); err != nil || outbox+processed != 0 {
		t.Errorf("second prune = %d, %d, %v; want nothing", outbox, processed, err)
	}
}
