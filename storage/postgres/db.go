package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres/internal/db"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migration bookkeeping: goose records applied versions in MigrationTable,
// and Migrate holds the session advisory lock MigrationLockID while it runs.
// Both are salesflow's own, so the schema can share a database with other
// goose-managed schemas.
const (
	MigrationTable        = "salesflow_schema_version"
	MigrationLockID int64 = 0x73616c6573666c6f // "salesflo"
)

// OutboxChannel is the channel a DB notifies after commits that enqueued
// outbox records, for relays in other processes: unless a Waker of the
// same DB runs (the relay is in this process, and is woken without a
// round trip), it sends a NOTIFY of its own, outside the transaction, on
// a connection of its own (application_name ending in "outbox notifier"),
// at most one per 5 ms for all the commits of that time; Close sends the
// one owed. A relay can LISTEN on it to wake up without polling; the
// payload is empty. A process killed between a commit and its NOTIFY
// leaves the relay to its poll.
const OutboxChannel = "salesflow_outbox"

// DB is a PostgreSQL database holding salesflow's data. It is safe for
// concurrent use.
type DB struct {
	pool   *pgxpool.Pool
	q      *db.Queries
	log    *slog.Logger
	notify *notifier
}

// Option configures Open.
type Option func(*config) error

type config struct {
	log      *slog.Logger
	maxConns int32
	tracer   pgx.QueryTracer
}

// WithLogger sets the logger that Migrate, and the relay's Leader and
// Waker, report to (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("postgres: nil logger")
		}
		c.log = l
		return nil
	}
}

// WithMaxConns sets the size of the connection pool (default: the URL's
// pool_max_conns, else the greater of 16 and four per CPU: requests spend
// most of a transaction waiting on round trips, and the relay, the worker
// and the API share the pool).
func WithMaxConns(n int32) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("postgres: max conns %d, want at least 1", n)
		}
		c.maxConns = n
		return nil
	}
}

// WithTracer sets the pgx tracer of every connection of the pool, such as
// an OpenTelemetry one: it sees each statement sent alone, and each batch
// (when it also is a pgx.BatchTracer) of the statements a transaction
// queued and sent together (see Tx).
func WithTracer(t pgx.QueryTracer) Option {
	return func(c *config) error {
		if t == nil {
			return errors.New("postgres: nil tracer")
		}
		c.tracer = t
		return nil
	}
}

// Open connects to the database at url, a PostgreSQL URL or keyword/value
// connection string such as "postgres://user@localhost:5432/salesflow", and
// pings it. It does not migrate; see Migrate. Errors come from a bad option
// or URL, or a server that cannot be reached or refuses the login.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	c := config{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	switch {
	case c.maxConns > 0:
		pc.MaxConns = c.maxConns
	case !strings.Contains(url, "pool_max_conns"):
		pc.MaxConns = int32(max(16, 4*runtime.NumCPU()))
	}
	if c.tracer != nil {
		pc.ConnConfig.Tracer = c.tracer
	}
	// Send and read ids as binary uuids: without this pgx goes through
	// uuid.UUID's driver.Valuer and sql.Scanner, formatting and parsing the
	// 36-character text of every id (10 % of the server's CPU under load).
	pc.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pgxuuid.Register(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	d := &DB{pool: pool, q: db.New(pool), log: c.log}
	d.notify = newNotifier(func(ctx context.Context) (*pgx.Conn, error) { return d.connect(ctx, "outbox notifier") }, c.log)
	return d, nil
}

// Close closes all connections, waiting for those in use to be returned,
// after notifying OutboxChannel for the commits before it if one is owed
// (see OutboxChannel). Calls after the first do nothing.
func (d *DB) Close() {
	d.notify.close()
	d.pool.Close()
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Migrate applies the embedded migrations that the database lacks. It is
// idempotent, and safe to call from several processes at once: they queue
// on a session advisory lock (MigrationLockID), polled every second for up
// to five minutes, and each migration runs in its own transaction.
func (d *DB) Migrate(ctx context.Context) error {
	p, err := d.migrator()
	if err != nil {
		return err
	}
	defer p.Close()
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// migrator returns a goose provider on the embedded migrations; closing it
// does not close the pool.
func (d *DB) migrator() (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(MigrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(d.pool), fsys,
		goose.WithTableName(MigrationTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(d.log),
	)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	return p, nil
}

// Sales returns the database as a sales.Store.
func (d *DB) Sales() sales.Store { return salesStore{d} }

// Inventory returns the database as an inventory.Store.
func (d *DB) Inventory() inventory.Store { return inventoryStore{d} }

// Outbox returns the database's outbox, as the relay reads it.
func (d *DB) Outbox() eventbus.Outbox { return outbox{d} }

// InTx runs fn in one READ COMMITTED transaction whose Tx serves sales,
// inventory and the idempotent consumer at once: committed when fn returns
// nil, rolled back when fn returns an error (returned as it is) or panics.
// A write's error may come from a later read or from the commit (wrapped
// as "commit: ..."); see the package documentation.
func (d *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	return d.inTx(ctx, func(t *tx) error { return fn(&Tx{t}) })
}

// inTx runs fn in a READ COMMITTED transaction, committed when fn returns
// nil and rolled back otherwise (or when fn panics). fn's error is returned
// as it is.
func (d *DB) inTx(ctx context.Context, fn func(*tx) error) error {
	var t *tx
	err := runPipe(ctx, d.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(p *pipe) error {
		t = &tx{q: db.New(p), p: p}
		if err := fn(t); err != nil {
			return err
		}
		return t.claimsLeft(ctx)
	})
	// A COMMIT that failed on the way back may have committed: a wake-up
	// too many costs the relay one pass over nothing.
	if t != nil && t.enqueued && (err == nil || t.p.commitSent) {
		d.notify.committed()
	}
	return err
}

// snapshot runs fn in a read-only REPEATABLE READ transaction, so that all
// its queries see the same committed data.
func (d *DB) snapshot(ctx context.Context, fn func(*db.Queries) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return runPipe(ctx, d.pool, opts, func(p *pipe) error { return fn(db.New(p)) })
}
