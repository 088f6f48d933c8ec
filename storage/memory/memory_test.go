package memory_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/memory"
	"github.com/salesflow/salesflow/testkit"
)

func TestConformance(t *testing.T) {
	testkit.RunStoreTests(t, func(t *testing.T) testkit.Stores {
		s := memory.New()
		return testkit.Stores{Sales: s.Sales(), Inventory: s.Inventory(), Outbox: s.Outbox()}
	})
}

// recorder is a Publisher that keeps what it gets.
type recorder struct {
	mu   sync.Mutex
	msgs []eventbus.Message
}

var _ eventbus.Publisher = (*recorder)(nil)

func (r *recorder) Publish(_ context.Context, msgs ...eventbus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// The relay on the memory store is woken by commits, without waiting for a
// poll, and only one relay leads.
func TestRelayWakesOnCommit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	store := memory.New()
	inv, _ := inventory.NewService(store.Inventory())
	svc, _ := sales.NewService(store.Sales())
	book, err := inv.CreateBook(ctx, inventory.NewBook{Title: "T", Author: "A", Price: sales.MustDecimal("1"), Stock: 10})
	if err != nil {
		t.Fatal(err)
	}
	pub := &recorder{}
	var relays []*eventbus.Relay
	for range 2 {
		r, err := eventbus.NewRelay(store.Outbox(), pub, eventbus.WithLeader(store.Leader()),
			eventbus.WithWaker(store.Waker()), eventbus.WithPollInterval(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		relays = append(relays, r)
		go func() { _ = r.Run(ctx) }()
	}
	for range 3 {
		if _, err := svc.Create(ctx, "s", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	for pub.count() < 3 {
		select {
		case <-ctx.Done():
			t.Fatalf("relayed %d of 3 events with polling off", pub.count())
		case <-time.After(time.Millisecond):
		}
	}
	if a, b := relays[0].Published(), relays[1].Published(); a != 0 && b != 0 {
		t.Errorf("both relays published (%d, %d); want one leader", a, b)
	}
	// The relay marks the records published after Publish returns.
	for {
		n, _, err := store.Outbox().Backlog(ctx)
		if err == nil && n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("backlog %d (%v) 10 s after the events were published; want 0", n, err)
		case <-time.After(time.Millisecond):
		}
	}
}

// PruneEvents deletes published records and processed-event records older
// than the cutoff, never an unpublished record, and nothing newer.
func TestPruneEvents(t *testing.T) {
	t.Parallel()
	s := memory.New()
	ctx := t.Context()
	var ids []uuid.UUID
	for i := range 3 {
		ev := eventbus.Event{ID: uuid.New(), Type: "t", Source: "/s", Time: time.Now(), Data: []byte(`{}`)}
		ids = append(ids, ev.ID)
		err := s.InTx(ctx, func(tx *memory.Tx) error {
			if err := tx.Enqueue(ctx, eventbus.OutboxRecord{EventID: ev.ID, Message: ev.Message("t", fmt.Sprint(i))}); err != nil {
				return err
			}
			if i < 2 {
				_, err := tx.MarkProcessed(ctx, "g", ev.ID)
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	pending, _ := s.Outbox().Pending(ctx, 10)
	if err := s.Outbox().MarkPublished(ctx, []int64{pending[0].Seq, pending[1].Seq}); err != nil {
		t.Fatal(err)
	}
	if o, p, err := s.PruneEvents(ctx, time.Now().Add(-time.Hour)); err != nil || o+p != 0 {
		t.Fatalf("prune of nothing old = %d, %d, %v", o, p, err)
	}
	if o, p, err := s.PruneEvents(ctx, time.Now().Add(time.Second)); err != nil || o != 2 || p != 2 {
		t.Fatalf("PruneEvents = %d, %d, %v; want 2 and 2", o, p, err)
	}
	if rest, _ := s.Outbox().Pending(ctx, 10); len(rest) != 1 || rest[0].EventID != ids[2] {
		t.Fatalf("pending after pruning = %+v; want the unpublished record", rest)
	}
	if n, _, _ := s.Outbox().Backlog(ctx); n != 1 {
		t.Errorf("backlog = %d; want 1", n)
	}
	err := s.InTx(ctx, func(tx *memory.Tx) error {
		first, err := tx.MarkProcessed(ctx, "g", ids[0])
		if !first {
			t.Error("a pruned processed-event record still counts")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
