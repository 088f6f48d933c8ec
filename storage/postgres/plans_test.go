package postgres_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

// TestGenericPlansOfProgress checks the plans PostgreSQL caches for the
// worker's progress statements on a new deployment, whose tables have no
// statistics until autovacuum first analyzes them (never, where autovacuum
// is off): after five runs it keeps a generic plan when that seems no
// dearer, costed for ten array elements. A plan that scans sale_progress
// whole costs a call more as the history grows (2.6 ms at 5,000 sales, with
// SaveProgress's former join of an unnest); both must use its index.
func TestGenericPlansOfProgress(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := postgres.Open(ctx, testkit.PostgresURL(t), postgres.WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.NewService(db.Inventory())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := sales.NewService(db.Sales())
	if err != nil {
		t.Fatal(err)
	}
	book, err := inv.CreateBook(ctx, inventory.NewBook{Title: "Dune", Author: "Herbert", Price: sales.MustDecimal("9.99"), Stock: 10})
	if err != nil {
		t.Fatal(err)
	}
	sale, err := svc.Create(ctx, "seller", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	err = db.InTx(ctx, func(tx *postgres.Tx) error {
		ps, err := tx.LockProgress(ctx, []uuid.UUID{sale.ID})
		if err != nil {
			return err
		}
		ps[0].Version = sale.Version
		return tx.SaveProgress(ctx, ps)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"LockProgress", "SaveProgress"} {
		plan, err := db.GenericPlan(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(plan, "Seq Scan on sale_progress") || !strings.Contains(plan, "sale_progress_pkey") {
			t.Errorf("%s: the generic plan does not use sale_progress's index:\n%s", name, plan)
		}
	}
}
