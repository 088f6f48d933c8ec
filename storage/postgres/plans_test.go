package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

// The plans PostgreSQL caches for a prepared statement: after five runs
// with custom plans (planned for the values of each run), it keeps the
// generic plan when that seems no dearer, costed without the values (ten
// elements for an array) and, on a new deployment, against tables that
// have no statistics until autovacuum first analyzes them (never, where
// autovacuum is off). These tests run on a pool of one connection, so that
// the statements the store prepared are on the connection they read.

// oneConnWorld is newWorld on a pool of one connection.
func oneConnWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	db, err := postgres.Open(ctx, testkit.PostgresURL(t), postgres.WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return newWorldOn(t, db)
}

// wantIndexPlan fails t unless the generic plan of the statement sqlc
// names name reads table by index: it names index and has no sequential
// scan of table.
func wantIndexPlan(t *testing.T, d *postgres.DB, name, table, index string) {
	t.Helper()
	plan, err := d.GenericPlan(t.Context(), name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if strings.Contains(plan, "Seq Scan on "+table) || !strings.Contains(plan, index) {
		t.Errorf("%s: the generic plan does not read %s by %s:\n%s", name, table, index, plan)
	}
}

// wantPlannedOnce fails t unless PostgreSQL planned the statement sqlc
// names name for its values at most the first 5 of calls times, and ran
// its generic plan the others.
func wantPlannedOnce(t *testing.T, d *postgres.DB, name string, calls int64) {
	t.Helper()
	generic, custom, err := d.PlanCounts(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if custom > 5 || generic+custom != calls {
		t.Errorf("%s: %d generic and %d custom plans in %d calls; want at most the first 5 custom", name, generic, custom, calls)
	}
}

// TestGenericPlansOfProgress checks that the generic plan of the worker's
// lock of its progress records reads them by index, both on a new
// deployment and with a thousand records, where a sale_id = ANY
// costed for ten sales scanned them whole (0.9 ms a call at half load; the
// update of the records, by a join and then by = ANY, did the same, 2.6
// ms and 2.1 ms a call, before it became salesflow_save_progress).
func TestGenericPlansOfProgress(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := oneConnWorld(t)
	lock := func() {
		t.Helper()
		err := w.db.InTx(ctx, func(tx *postgres.Tx) error {
			ps, err := tx.LockProgress(ctx, []uuid.UUID{w.sale.ID})
			if err != nil {
				return err
			}
			ps[0].Version = w.sale.Version
			return tx.SaveProgress(ctx, ps)
		})
		if err != nil {
			t.Fatal(err)
		}
		wantIndexPlan(t, w.db, "LockProgress", "sale_progress", "sale_progress_pkey")
	}
	lock()
	if err := w.db.SeedProgress(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	lock()
}

// TestProgressPlannedOnce checks that the worker's lock of its progress
// records, which takes the sales of a transaction as an array, one to a
// few sales when the worker is not busy, keeps its generic plan rather
// than being planned at every call (more than it ran, at half load,
// before the array was padded), and that the records are saved.
func TestProgressPlannedOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := oneConnWorld(t)
	sales3 := []uuid.UUID{w.sale.ID}
	for range 2 {
		s, err := w.svc.Create(ctx, "seller", sales.NewSale{Items: []sales.NewLine{{BookID: w.book.ID, Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		sales3 = append(sales3, s.ID)
	}
	const calls = 12
	for i := range calls {
		ids, version := sales3[:1+i%3], int64(i+1)
		err := w.db.InTx(ctx, func(tx *postgres.Tx) error {
			ps, err := tx.LockProgress(ctx, ids)
			if err != nil {
				return err
			}
			if len(ps) != len(ids) {
				t.Errorf("%d sales: %d progress records", len(ids), len(ps))
			}
			for j := range ps {
				ps[j].Version, ps[j].Sold = version, true
			}
			return tx.SaveProgress(ctx, ps)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if p, err := w.db.Progress(ctx, id); err != nil || p.Version != version || !p.Sold {
				t.Errorf("progress of %s = %+v, %v; want version %d, sold", id, p, err, version)
			}
		}
	}
	wantPlannedOnce(t, w.db, "LockProgress", calls)
}

// TestSaleMovementsPlannedOnce checks that listing a sale's movements, as
// clients do to see a completion's effect, runs a generic plan on the
// sale's index rather than planning its statements at every call.
func TestSaleMovementsPlannedOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := oneConnWorld(t)
	const calls = 10
	for range calls {
		ms, n, err := w.db.Inventory().Movements(ctx, inventory.MovementFilter{SaleID: w.sale.ID, Type: inventory.Sale})
		if err != nil || n != 1 || len(ms) != 1 || ms[0].SaleID != w.sale.ID {
			t.Fatalf("Movements of the sale = %+v, %d, %v; want its SALE movement", ms, n, err)
		}
	}
	wantPlannedOnce(t, w.db, "SaleMovements", calls)
	wantIndexPlan(t, w.db, "SaleMovements", "stock_movements", "stock_movements_sale_idx")
}

// TestBookRefsPlannedOnce checks that a sale's creation reads its books
// with a generic plan that PostgreSQL keeps, by the books' index, rather
// than planning the statement at every call, from one book to more than
// ten, unknown ones and repeated ones among them.
func TestBookRefsPlannedOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := oneConnWorld(t) // its sale read its book once
	ids := []uuid.UUID{w.book.ID}
	for range 11 {
		b, err := w.inv.CreateBook(ctx, inventory.NewBook{Title: "T", Author: "A", Price: sales.MustDecimal("1.50"), Stock: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
	}
	unknown := uuid.New()
	calls := int64(1)
	read := func(want []uuid.UUID) {
		t.Helper()
		n := len(want)
		err := w.db.InTx(ctx, func(tx *postgres.Tx) error {
			refs, err := tx.Books(ctx, append(slices.Clone(want), unknown, want[0]))
			if err != nil {
				return err
			}
			if len(refs) != n {
				t.Errorf("%d books, an unknown one and a repeated one: %d refs", n, len(refs))
			}
			for i, id := range want {
				price := sales.Money(150)
				if i == 0 {
					price = 999
				}
				if r, ok := refs[id]; !ok || r.Price != price || !r.Available {
					t.Errorf("%d books: book %d: %+v, %v; want price %d, available", n, i, r, ok, price)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		calls++
	}
	for i := range 10 {
		read(ids[:1+i%3]) // one to three books, as most sales
	}
	for n := 4; n <= len(ids); n++ {
		read(ids[:n])
	}
	wantPlannedOnce(t, w.db, "BookRefs", calls)
	wantIndexPlan(t, w.db, "BookRefs", "books", "books_pkey")
}

// addPurchases locks a book's level and adds postgres.ListFrom purchases
// of one unit, the fewest that go in one statement (AddMovementList).
func addPurchases(ctx context.Context, tx *postgres.Tx, bookID uuid.UUID) error {
	ls, err := tx.LockLevels(ctx, []uuid.UUID{bookID})
	if err != nil {
		return err
	}
	cs := make([]inventory.Change, postgres.ListFrom)
	onHand := ls[0].OnHand
	for i := range cs {
		cs[i] = inventory.Change{Movement: inventory.Movement{
			ID: uuid.New(), BookID: bookID, Type: inventory.Purchase, Quantity: 1,
			StockBefore: onHand, StockAfter: onHand + 1, CreatedAt: time.Now().UTC(),
		}}
		onHand++
	}
	return tx.AddMovements(ctx, cs)
}

// TestMovementListPlannedOnce checks that the worker's statement for many
// movements runs a generic plan that reads the stock levels by index,
// rather than planning it at every call.
func TestMovementListPlannedOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := oneConnWorld(t)
	const calls = 10
	for range calls {
		err := w.db.InTx(ctx, func(tx *postgres.Tx) error {
			return addPurchases(ctx, tx, w.book.ID)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wantPlannedOnce(t, w.db, "AddMovementList", calls)
	wantIndexPlan(t, w.db, "AddMovementList", "stock_levels", "stock_levels_pkey")
}

// TestArrayPlansOnALargeCatalog checks that the statements that take the
// books of a sale or a batch as an array read books and stock levels by
// index in their generic plans once the catalog is large enough for a
// sequential scan to seem cheaper than ten index lookups (about a
// thousand books, where the catalog of the load generator is). A generic
// plan is costed for ten elements, and BookRefs's scanned the 1,000 books
// at every sale (0.17 ms, against 0.02 ms by index).
func TestArrayPlansOnALargeCatalog(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := oneConnWorld(t)
	if err := w.db.SeedCatalog(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	err := w.db.InTx(ctx, func(tx *postgres.Tx) error {
		if _, err := tx.Books(ctx, []uuid.UUID{w.book.ID}); err != nil {
			return err
		}
		return addPurchases(ctx, tx, w.book.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantIndexPlan(t, w.db, "BookRefs", "books", "books_pkey")
	for _, name := range []string{"LockLevels", "AddMovementList"} {
		wantIndexPlan(t, w.db, name, "stock_levels", "stock_levels_pkey")
	}
}
