package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/inventory"
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

// TestGenericPlansOfProgress checks that the generic plans of the worker's
// progress statements use sale_progress's index. One that scans the table
// whole costs a call more as the history grows: 2.6 ms at 5,000 sales with
// SaveProgress's former join of an unnest, a hash join over such a scan.
func TestGenericPlansOfProgress(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := oneConnWorld(t)
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
	for _, name := range []string{"LockProgress", "SaveProgress"} {
		plan, err := w.db.GenericPlan(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(plan, "Seq Scan on sale_progress") || !strings.Contains(plan, "sale_progress_pkey") {
			t.Errorf("%s: the generic plan does not use sale_progress's index:\n%s", name, plan)
		}
	}
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
	for _, name := range []string{"SaleMovements"} {
		generic, custom, err := w.db.PlanCounts(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if custom > 5 || generic+custom != calls {
			t.Errorf("%s: %d generic and %d custom plans in %d calls; want at most the first 5 custom", name, generic, custom, calls)
		}
		plan, err := w.db.GenericPlan(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "stock_movements_sale_idx") {
			t.Errorf("%s: the generic plan does not use the sale's index:\n%s", name, plan)
		}
	}
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
			ls, err := tx.LockLevels(ctx, []uuid.UUID{w.book.ID})
			if err != nil {
				return err
			}
			cs := make([]inventory.Change, postgres.ListFrom)
			onHand := ls[0].OnHand
			for i := range cs {
				cs[i] = inventory.Change{Movement: inventory.Movement{
					ID: uuid.New(), BookID: w.book.ID, Type: inventory.Purchase, Quantity: 1,
					StockBefore: onHand, StockAfter: onHand + 1, CreatedAt: time.Now().UTC(),
				}}
				onHand++
			}
			return tx.AddMovements(ctx, cs)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	generic, custom, err := w.db.PlanCounts(ctx, "AddMovementList")
	if err != nil {
		t.Fatal(err)
	}
	if custom > 5 || generic+custom != calls {
		t.Errorf("AddMovementList: %d generic and %d custom plans in %d calls; want at most the first 5 custom", generic, custom, calls)
	}
	plan, err := w.db.GenericPlan(ctx, "AddMovementList")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plan, "Seq Scan on stock_levels") || !strings.Contains(plan, "stock_levels_pkey") {
		t.Errorf("AddMovementList: the generic plan does not read the stock levels by index:\n%s", plan)
	}
}
