package postgres_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

var schemaTables = []string{
	"book_stats", "books", "daily_book_sales", "daily_sales", "idempotency_keys", "outbox", "processed_events", "sale_items", "sale_progress", "sales",
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
