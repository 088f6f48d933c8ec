package worker_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/memory"
	"github.com/salesflow/salesflow/worker"
)

// tampered is an inventory store whose reads are corrupted on purpose.
type tampered struct {
	inventory.Store
	levels func([]inventory.Level) []inventory.Level
	moves  func([]inventory.Movement) []inventory.Movement
}

func (s tampered) Levels(ctx context.Context, p inventory.PageQuery) ([]inventory.Level, int64, error) {
	l, n, err := s.Store.Levels(ctx, p)
	if s.levels != nil {
		l = s.levels(l)
	}
	return l, n, err
}

func (s tampered) Movements(ctx context.Context, f inventory.MovementFilter) ([]inventory.Movement, int64, error) {
	m, n, err := s.Store.Movements(ctx, f)
	if s.moves != nil {
		m = s.moves(m)
		n = int64(len(m))
	}
	return m, n, err
}

// settled returns a store where two sales were completed (one of them then
// returned) and one is pending, with every event applied.
func settled(t *testing.T) (*memory.Store, *inventory.Book, *sales.Sale) {
	t.Helper()
	ctx := t.Context()
	store := memory.New()
	inv, _ := inventory.NewService(store.Inventory())
	svc, _ := sales.NewService(store.Sales())
	b, err := inv.CreateBook(ctx, inventory.NewBook{Title: "T", Author: "A", Price: sales.MustDecimal("5.00"), Stock: 10})
	if err != nil {
		t.Fatal(err)
	}
	buy := func(q int64) *sales.Sale {
		s, err := svc.Create(ctx, "u", sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: q}}, Discount: sales.MustDecimal("0.50")})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	kept, returned := buy(2), buy(3)
	buy(1)
	for _, s := range []*sales.Sale{kept, returned} {
		if _, err := svc.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Cancel(ctx, returned.ID, "return"); err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(store.InTx)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := store.Outbox().Pending(ctx, 100)
	h := w.Handler()
	for i := len(recs) - 1; i >= 0; i-- { // newest first: the worker catches up in order
		if err := h(ctx, eventbus.Delivery{Message: recs[i].Message}); err != nil {
			t.Fatal(err)
		}
	}
	return store, b, kept
}

func sources(store *memory.Store) worker.Sources {
	return worker.Sources{Sales: store.Sales(), Inventory: store.Inventory(), Analytics: store.Analytics(), Progress: store.Progress}
}

func TestCheckClean(t *testing.T) {
	t.Parallel()
	store, b, _ := settled(t)
	vs, err := worker.Check(t.Context(), sources(store))
	if err != nil || len(vs) != 0 {
		t.Fatalf("Check = %v, %v; want no violation", vs, err)
	}
	l, _ := store.Inventory().Level(t.Context(), b.ID)
	if l.OnHand != 8 || l.Reserved != 1 {
		t.Errorf("level = %+v; want 8 on hand (2 sold, 3 returned), 1 reserved", l)
	}
}

// Each corruption is caught, and named by its invariant.
func TestCheckCatchesCorruption(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		corrupt func(t *testing.T, store *memory.Store, b *inventory.Book, kept *sales.Sale, src *worker.Sources)
		want    int
	}{
		{"negative available", func(_ *testing.T, _ *memory.Store, _ *inventory.Book, _ *sales.Sale, src *worker.Sources) {
			src.Inventory = tampered{Store: src.Inventory, levels: func(l []inventory.Level) []inventory.Level {
				l[0].Reserved = l[0].OnHand + 1
				return l
			}}
		}, 1},
		{"movement missing from the ledger", func(_ *testing.T, _ *memory.Store, _ *inventory.Book, _ *sales.Sale, src *worker.Sources) {
			src.Inventory = tampered{Store: src.Inventory, moves: func(m []inventory.Movement) []inventory.Movement { return m[1:] }}
		}, 2},
		{"reservation no sale accounts for", func(t *testing.T, store *memory.Store, b *inventory.Book, _ *sales.Sale, _ *worker.Sources) {
			err := store.Sales().InTx(t.Context(), func(tx sales.Tx) error { return tx.Reserve(t.Context(), map[uuid.UUID]int64{b.ID: 1}) })
			if err != nil {
				t.Fatal(err)
			}
		}, 3},
		{"second SALE movement", func(_ *testing.T, _ *memory.Store, _ *inventory.Book, kept *sales.Sale, src *worker.Sources) {
			src.Inventory = tampered{Store: src.Inventory, moves: func(m []inventory.Movement) []inventory.Movement {
				for _, mv := range m {
					if mv.Type == inventory.Sale && mv.SaleID == kept.ID {
						dup := mv
						dup.ID, dup.Quantity, dup.StockBefore, dup.StockAfter = uuid.New(), 0, m[len(m)-1].StockAfter, m[len(m)-1].StockAfter
						return append(m, dup)
					}
				}
				return m
			}}
		}, 4},
		{"statistics off by a unit", func(t *testing.T, store *memory.Store, b *inventory.Book, _ *sales.Sale, _ *worker.Sources) {
			err := store.InTx(t.Context(), func(tx *memory.Tx) error {
				return tx.AddBookStats(t.Context(), []analytics.Delta{{BookID: b.ID, Units: 1}})
			})
			if err != nil {
				t.Fatal(err)
			}
		}, 5},
		{"event never applied", func(t *testing.T, store *memory.Store, b *inventory.Book, _ *sales.Sale, _ *worker.Sources) {
			svc, _ := sales.NewService(store.Sales())
			if _, err := svc.Create(t.Context(), "u", sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: 1}}}); err != nil {
				t.Fatal(err)
			}
		}, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			store, b, kept := settled(t)
			src := sources(store)
			c.corrupt(t, store, b, kept, &src)
			vs, err := worker.Check(t.Context(), src)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, v := range vs {
				found = found || v.Invariant == c.want
			}
			if !found {
				t.Errorf("violations %v; want one of invariant %d", vs, c.want)
			}
		})
	}
}
