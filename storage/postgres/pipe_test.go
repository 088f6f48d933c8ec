package postgres_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

// TestQueuedWrites checks the connection that queues writes: a queued write
// that fails, on the server or in the client, fails the transaction even
// when the function ignores the error, and nothing of it commits.
func TestQueuedWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d, err := postgres.Open(ctx, testkit.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows := func(n int) func(queue func(string, ...any), read func(string, ...any) error) error {
		return func(_ func(string, ...any), read func(string, ...any) error) error {
			return read("SELECT salesflow_expect((SELECT count(*) FROM pipe_t) = $1)", n)
		}
	}
	// A batch's statements are prepared before any runs: the table must
	// exist before a batch inserts into it.
	err = d.RawTx(ctx, func(_ func(string, ...any), read func(string, ...any) error) error {
		return read("CREATE TABLE pipe_t (x int NOT NULL)")
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	err = d.RawTx(ctx, func(queue func(string, ...any), _ func(string, ...any) error) error {
		queue("INSERT INTO pipe_t VALUES (1)") // sent with the COMMIT
		return nil
	})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if err := d.RawTx(ctx, rows(1)); err != nil {
		t.Fatalf("a queued write sent with the COMMIT did not commit: %v", err)
	}

	cases := []struct {
		name string
		fn   func(queue func(string, ...any), read func(string, ...any) error) error
		want func(error) bool
	}{
		{"server error ignored", func(queue func(string, ...any), read func(string, ...any) error) error {
			queue("INSERT INTO pipe_t VALUES (2)")
			queue("SELECT salesflow_expect(false)")
			_ = read("SELECT 1") // ignores the failure
			return nil
		}, func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "SF001"
		}},
		{"server error at commit", func(queue func(string, ...any), _ func(string, ...any) error) error {
			queue("INSERT INTO pipe_t VALUES (2)")
			queue("INSERT INTO pipe_t VALUES (NULL)")
			return nil
		}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "23502") }},
		{"client error ignored", func(queue func(string, ...any), read func(string, ...any) error) error {
			queue("INSERT INTO pipe_t VALUES (2)")
			queue("INSERT INTO pipe_t VALUES ($1)", make(chan int)) // pgx cannot encode it: nothing is sent
			_ = read("SELECT 1")
			queue("INSERT INTO pipe_t VALUES (3)")
			return nil
		}, func(err error) bool { return err != nil }},
	}
	for _, c := range cases {
		err := d.RawTx(ctx, c.fn)
		if !c.want(err) {
			t.Errorf("%s: InTx = %v", c.name, err)
		}
		if err := d.RawTx(ctx, rows(1)); err != nil {
			t.Errorf("%s: the transaction changed the table: %v", c.name, err)
		}
	}

	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not come through")
			}
		}()
		_ = d.RawTx(ctx, func(queue func(string, ...any), read func(string, ...any) error) error {
			queue("INSERT INTO pipe_t VALUES (4)")
			if err := read("SELECT 1"); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if err := d.RawTx(ctx, rows(1)); err != nil {
		t.Errorf("a transaction that panicked changed the table: %v", err)
	}
}
