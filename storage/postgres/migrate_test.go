package postgres_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/sales"

	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

var schemaTables = []string{
	"book_stats", "books", "daily_book_sales", "daily_sales", "daily_sales_stripes", "idempotency_keys", "outbox", "processed_events", "sale_items", "sale_progress", "sales",
	postgres.MigrationTable, "stock_levels", "stock_movements",
}

func open(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

func wantTables(t *testing.T, db *postgres.DB, want []string) {
	t.Helper()
	got, err := db.Tables(t.Context())
	if err != nil {
		t.Fatalf("tables: %v", err)
	}
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("tables = %v; want %v", got, want)
	}
}

func TestMigrateUpTwiceDownUp(t *testing.T) {
	t.Parallel()
	db := open(t, testkit.PostgresURL(t))
	ctx := t.Context()
	for i := range 2 {
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	wantTables(t, db, schemaTables)
	if err := db.MigrateDown(ctx); err != nil {
		t.Fatalf("down: %v", err)
	}
	wantTables(t, db, []string{postgres.MigrationTable})
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after down: %v", err)
	}
	wantTables(t, db, schemaTables)
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := testkit.PostgresURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			db, err := postgres.Open(t.Context(), url)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			errs[i] = db.Migrate(t.Context())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("process %d: Migrate: %v", i, err)
		}
	}
	wantTables(t, open(t, url), schemaTables)
}

func TestOpenOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		url  string
		opts []postgres.Option
	}{
		{"zero max conns", "postgres://localhost/x", []postgres.Option{postgres.WithMaxConns(0)}},
		{"nil logger", "postgres://localhost/x", []postgres.Option{postgres.WithLogger(nil)}},
		{"bad url", "postgres://localhost:notaport/x", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if db, err := postgres.Open(t.Context(), c.url, c.opts...); err == nil {
				db.Close()
				t.Errorf("Open succeeded; want an error")
			}
		})
	}
}

// TestDailySalesStripes checks migration 00007: a summary adds the days
// kept in daily_sales (before the migration, or by a worker of the
// previous release) to the stripes, and going down folds the stripes into
// daily_sales.
func TestDailySalesStripes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := open(t, testkit.PostgresURL(t))
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	err := d.InTx(ctx, func(tx *postgres.Tx) error {
		for range 2 {
			if err := tx.AddDay(ctx, analytics.DayDelta{Zone: "UTC", Day: "2026-11-02", Sales: 1, Revenue: 500, Net: 500, Items: 2}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// What a worker of the previous release writes.
	if err := d.ExecCommitted(ctx, `INSERT INTO daily_sales (zone, day, sales, revenue, net_revenue, items) VALUES ('UTC', '2026-11-02', 1, 100, 100, 1), ('UTC', '2026-11-01', 1, 50, 50, 1)`); err != nil {
		t.Fatal(err)
	}
	q := sales.SummaryQuery{From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)}
	sum, err := d.Rollups().Summary(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if sum.TotalSales != 4 || sum.TotalRevenue != 1150 || sum.TotalItems != 6 || len(sum.SalesByDay) != 2 ||
		sum.SalesByDay[1].Sales != 3 || sum.SalesByDay[1].Revenue != 1100 {
		t.Fatalf("summary = %+v; want 4 sales, 1150, 6 items, and 3 sales on the second day", sum)
	}
	if err := d.MigrateDownTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	// Divides by zero unless the stripes were added to their days.
	err = d.ExecRolledBack(ctx, `SELECT 1 / (CASE WHEN (SELECT sum(sales) FROM daily_sales WHERE day = '2026-11-02') = 3
		AND (SELECT sum(revenue) FROM daily_sales) = 1150 AND (SELECT count(*) FROM daily_sales) = 2 THEN 1 ELSE 0 END)`)
	if err != nil {
		t.Errorf("daily_sales after going down does not hold the stripes: %v", err)
	}
	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
