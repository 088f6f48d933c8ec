package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ExecRolledBack runs one raw SQL statement in a transaction that it always
// rolls back, and returns the statement's error: tests use it to see what
// the schema itself refuses, without changing the database.
func (d *DB) ExecRolledBack(ctx context.Context, sql string, args ...any) error {
	t, err := d.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer t.Rollback(context.WithoutCancel(ctx))
	_, err = t.Exec(ctx, sql, args...)
	return err
}

// MigrateDown undoes every migration.
func (d *DB) MigrateDown(ctx context.Context) error { return d.MigrateDownTo(ctx, 0) }

// MigrateDownTo undoes the migrations after version.
func (d *DB) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := d.migrator()
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = p.DownTo(ctx, version)
	return err
}

// Tables returns the names of the tables in the public schema, sorted.
func (d *DB) Tables(ctx context.Context) ([]string, error) {
	rows, err := d.pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// Committed does what a commit that enqueued does: it wakes the relays.
func (d *DB) Committed() { d.notify.committed() }

// RelayLockHolder returns the backend pid of the session that holds
// RelayLockID in this database, and whether one does.
func (d *DB) RelayLockHolder(ctx context.Context) (int32, bool, error) {
	var pid int32
	err := d.pool.QueryRow(ctx, `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1`,
		RelayLockID).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return pid, err == nil, err
}

// ListenerPIDs returns the backend pids of this database's outbox waker
// sessions.
func (d *DB) ListenerPIDs(ctx context.Context) ([]int32, error) {
	rows, err := d.pool.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE '%outbox waker%' ORDER BY pid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int32])
}

// TerminateBackend ends the server session with this pid, as an operator
// or a crash would.
func (d *DB) TerminateBackend(ctx context.Context, pid int32) error {
	var ok bool
	if err := d.pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no backend %d", pid)
	}
	return nil
}

// OutboxSeqs returns the seq of every outbox record by event id.
func (d *DB) OutboxSeqs(ctx context.Context) (map[uuid.UUID]int64, error) {
	rows, err := d.pool.Query(ctx, "SELECT event_id, seq FROM outbox")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID]int64{}
	for rows.Next() {
		var id uuid.UUID
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, err
		}
		out[id] = seq
	}
	return out, rows.Err()
}

// ProcessedEvents returns the ids of the events that group has processed,
// one entry per processed_events row.
func (d *DB) ProcessedEvents(ctx context.Context, group string) ([]uuid.UUID, error) {
	rows, err := d.pool.Query(ctx, "SELECT event_id FROM processed_events WHERE consumer_group = $1", group)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// Headers codec of the outbox.
var (
	EncodeHeaders = encodeHeaders
	DecodeHeaders = decodeHeaders
)

// Exec runs one raw SQL statement, committed.
func (d *DB) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := d.pool.Exec(ctx, sql, args...)
	return err
}

// RawTx runs fn in one transaction on the connection that queues writes
// (pipe): queue queues a statement as the tx methods' writes are queued,
// read sends one at once, after the queue.
func (d *DB) RawTx(ctx context.Context, fn func(queue func(sql string, args ...any), read func(sql string, args ...any) error) error) error {
	return runPipe(ctx, d.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(p *pipe) error {
		queue := func(sql string, args ...any) {
			_ = p.collect(func() error { _, err := p.Exec(ctx, sql, args...); return err }, checkErr)
		}
		read := func(sql string, args ...any) error {
			rows, err := p.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		}
		return fn(queue, read)
	})
}

// ExecCommitted runs one raw SQL statement and commits it.
func (d *DB) ExecCommitted(ctx context.Context, sql string, args ...any) error {
	_, err := d.pool.Exec(ctx, sql, args...)
	return err
}

// ListFrom is the fewest movements AddMovements writes in one statement.
const ListFrom = listFrom

// GenericPlan returns the generic plan PostgreSQL has for the statement
// that pgx prepared on the pool's connection from the query sqlc names
// name: EXPLAIN of its EXECUTE with plan_cache_mode forced to generic, all
// parameters NULL. With a pool of one connection, that is the connection
// the store's transactions ran on.
func (d *DB) GenericPlan(ctx context.Context, name string) (string, error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Release()
	ps, err := preparedAs(ctx, conn, name)
	if err != nil {
		return "", err
	}
	nulls := make([]string, ps.params)
	for i := range nulls {
		nulls[i] = "NULL"
	}
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		return "", err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `RESET plan_cache_mode`) //nolint:errcheck // the pool is the test's
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE "+pgx.Identifier{ps.name}.Sanitize()+"("+strings.Join(nulls, ", ")+")", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return strings.Join(lines, "\n"), err
}

// PlanCounts returns how many times PostgreSQL ran the generic plan and a
// custom plan of the statement pgx prepared from the query sqlc names name,
// on the pool's connection (see GenericPlan).
func (d *DB) PlanCounts(ctx context.Context, name string) (generic, custom int64, err error) {
	ps, err := preparedAs(ctx, d.pool, name)
	return ps.generic, ps.custom, err
}

// prepared is a row of pg_prepared_statements.
type prepared struct {
	name            string
	params          int
	generic, custom int64
}

// preparedAs returns the statement prepared on q's connection from the
// query sqlc names name.
func preparedAs(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) (prepared, error) {
	var ps prepared
	err := q.QueryRow(ctx, `SELECT name, cardinality(parameter_types), generic_plans, custom_plans
		FROM pg_prepared_statements WHERE statement LIKE '-- name: ' || $1::text || ' %'`, name).
		Scan(&ps.name, &ps.params, &ps.generic, &ps.custom)
	if err != nil {
		return ps, fmt.Errorf("statement %s not prepared: %w", name, err)
	}
	return ps, nil
}

// SeedCatalog adds n books, each with a stock level of 1,000 units, in
// one statement, and analyzes their tables, as autovacuum does for a
// catalog of that size: the plans PostgreSQL caches from then on are
// costed for it.
func (d *DB) SeedCatalog(ctx context.Context, n int) error {
	_, err := d.pool.Exec(ctx, `WITH b AS (
		INSERT INTO books (id, title, author, price, available, created_at, updated_at)
		SELECT gen_random_uuid(), 'Seeded ' || i, 'Seed', 1000, true, now(), now() FROM generate_series(1, $1::int) i
		RETURNING id)
	INSERT INTO stock_levels (book_id, on_hand, reserved, min_stock) SELECT id, 1000, 0, 0 FROM b`, n)
	if err != nil {
		return err
	}
	_, err = d.pool.Exec(ctx, `ANALYZE books, stock_levels`)
	return err
}

// SeedProgress adds n pending sales, each with a worker's progress record
// at version 1, in one statement, and analyzes their tables.
func (d *DB) SeedProgress(ctx context.Context, n int) error {
	_, err := d.pool.Exec(ctx, `WITH s AS (
		INSERT INTO sales (id, status, version, seller_id, subtotal, discount, tax, total, currency, created_at, updated_at)
		SELECT gen_random_uuid(), 'PENDING', 1, 'seed', 0, 0, 0, 0, 'USD', now(), now() FROM generate_series(1, $1::int)
		RETURNING id)
	INSERT INTO sale_progress (sale_id, version, sold, returned) SELECT id, 1, false, false FROM s`, n)
	if err != nil {
		return err
	}
	_, err = d.pool.Exec(ctx, `ANALYZE sales, sale_progress`)
	return err
}
