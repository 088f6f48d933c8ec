package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipe is the connection of one transaction, as the sqlc queries see it.
// Statements whose answer the caller does not wait for (see tx.later) are
// queued rather than sent, and go to the server in one round trip with the
// next statement that must be answered, or with COMMIT; the BEGIN is queued
// the same way. A sale's creation then takes two round trips instead of
// eleven, and holds the stock rows it reserves for the last one only.
//
// A queued statement fails when its batch is sent: its error, described by
// its check, is returned by the statement that sent the batch, and by
// every later one and the commit, even if the caller ignores it. The
// statements sent after a failed one are skipped by the server, and the
// transaction rolls back, so a function that goes on after a queued write
// changes nothing that it would not have changed had the write failed at
// once; it only learns of the failure later.
type pipe struct {
	conn   *pgxpool.Conn
	queue  []queued
	check  func(error) error // while collecting: the check of the statements queued
	collec bool              // Exec and SendBatch queue instead of sending
	err    error             // a batch with queued statements failed: the transaction is lost

	commitSent bool // runPipe went on to COMMIT: an error may come after the commit
}

// queued is a statement waiting to be sent, and the check of its result.
type queued struct {
	sql   string
	args  []any
	check func(error) error
}

// checkErr is the check of a statement queued without one.
func checkErr(err error) error { return err }

// begin queues the BEGIN of a transaction with opts' isolation level and
// access mode.
func (p *pipe) begin(opts pgx.TxOptions) {
	sql := "begin"
	if opts.IsoLevel != "" {
		sql += " isolation level " + string(opts.IsoLevel)
	}
	if opts.AccessMode != "" {
		sql += " " + string(opts.AccessMode)
	}
	p.queue = append(p.queue, queued{sql: sql, check: checkErr})
}

// collect runs fn with the statements it executes queued. When one fails
// as its batch is sent, check turns the server's error into the one to
// return. A check sees only errors: a write whose guard matched too few
// rows must fail on the server (salesflow_expect, migration 00008, or a
// function of 00011 and later), for the statements queued after it,
// COMMIT included, to be skipped.
func (p *pipe) collect(fn func() error, check func(error) error) error {
	p.collec, p.check = true, check
	defer func() { p.collec, p.check = false, nil }()
	return fn()
}

// send sends the queued statements followed by b's, and reads the results
// of the queued ones: the first that fails ends the batch, and the
// transaction, with its error. A check sees the errors of the server;
// those of the client (a cancelled context, an argument pgx cannot encode)
// come as they are.
func (p *pipe) send(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	if p.err != nil {
		return nil, p.err
	}
	q := p.queue
	p.queue = nil
	if len(q) == 0 {
		return p.conn.SendBatch(ctx, b), nil
	}
	all := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(q)+len(b.QueuedQueries))}
	for _, s := range q {
		all.Queue(s.sql, s.args...)
	}
	all.QueuedQueries = append(all.QueuedQueries, b.QueuedQueries...)
	br := p.conn.SendBatch(ctx, all)
	for _, s := range q {
		if _, err := br.Exec(); err != nil {
			if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) {
				err = s.check(err)
			}
			br.Close()
			p.err = err
			return nil, err
		}
	}
	return br, nil
}

// Exec queues sql while collecting; otherwise it sends it after the queue.
func (p *pipe) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.collec {
		p.queue = append(p.queue, queued{sql: sql, args: args, check: p.check})
		return pgconn.CommandTag{}, nil
	}
	if len(p.queue) == 0 && p.err == nil {
		return p.conn.Exec(ctx, sql, args...)
	}
	return p.execAfter(ctx, sql, args...)
}

// after sends sql after the queued statements; the batch's next result
// is sql's.
func (p *pipe) after(ctx context.Context, sql string, args ...any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return p.send(ctx, b)
}

// execAfter executes sql after the queued statements.
func (p *pipe) execAfter(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br, err := p.after(ctx, sql, args...)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	ct, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return ct, err
}

// Query sends sql after the queue.
func (p *pipe) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.collec {
		return nil, errors.New("postgres: a query inside a queued write")
	}
	if len(p.queue) == 0 && p.err == nil {
		return p.conn.Query(ctx, sql, args...)
	}
	br, err := p.after(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow sends sql after the queue.
func (p *pipe) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := p.Query(ctx, sql, args...)
	return row{rows, err}
}

// SendBatch queues b's statements while collecting, answering them as
// successful; otherwise it sends them after the queue.
func (p *pipe) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if p.collec {
		for _, s := range b.QueuedQueries {
			p.queue = append(p.queue, queued{sql: s.SQL, args: s.Arguments, check: p.check})
		}
		return queuedResults{}
	}
	br, err := p.send(ctx, b)
	if err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return br
}

// commit sends the queue and COMMIT in one round trip.
func (p *pipe) commit(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	if len(p.queue) == 1 && p.conn.Conn().PgConn().TxStatus() == 'I' {
		p.queue = nil // only the BEGIN: nothing to send
		return nil
	}
	ct, err := p.execAfter(ctx, "commit")
	if err == nil && ct.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	return err
}

// rollback ends a transaction that failed, if one is open. When it cannot,
// the pool discards the connection on release, which ends it too.
func (p *pipe) rollback(ctx context.Context) {
	p.queue = nil
	if p.conn.Conn().IsClosed() || p.conn.Conn().PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	p.conn.Exec(ctx, "rollback") //nolint:errcheck // on failure the connection is discarded
}

// runPipe runs fn in a transaction with opts on a connection of pool:
// committed when fn returns nil, rolled back otherwise (or when fn panics).
// fn's error, or the commit's, is returned as it is.
func runPipe(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions, fn func(*pipe) error) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	p := &pipe{conn: conn}
	p.begin(opts)
	defer func() {
		if r := recover(); r != nil {
			p.rollback(ctx)
			panic(r)
		}
		if err != nil {
			p.rollback(ctx)
		}
	}()
	if err := fn(p); err != nil {
		return err
	}
	p.commitSent = true
	if err := p.commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// batchRows are the rows of the last statement of a batch; closing them
// closes the batch.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	r.br.Close()
}

// row is pgx's QueryRow on rows: the first row, or pgx.ErrNoRows.
type row struct {
	rows pgx.Rows
	err  error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// queuedResults answers the statements of a batch queued while collecting.
type queuedResults struct{}

var errQueued = errors.New("postgres: a queued statement has no rows")

func (queuedResults) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, nil }
func (queuedResults) Query() (pgx.Rows, error)         { return nil, errQueued }
func (queuedResults) QueryRow() pgx.Row                { return row{err: errQueued} }
func (queuedResults) Close() error                     { return nil }
func (queuedResults) Tx() pgx.Tx                       { return nil }
