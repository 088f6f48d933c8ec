package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The baseline: pgbench on the same PostgreSQL, in a fresh database with
// salesflow's schema (migrated by the server binary), running a script that
// does what the server's create and complete transactions do, without the
// HTTP, JSON, idempotency keys, relay and worker around them:
//
//	create:   read the books' prices; reserve each book with the guarded
//	          UPDATE ... WHERE on_hand - reserved >= n; insert the sale, its
//	          lines and its outbox row
//	complete: lock the sale and read its lines; update its status; insert
//	          the outbox row
//
// Until the fifth session the server's Enqueue sent a NOTIFY in the
// transaction, and the script did too (pgbenchNotifyScript); the bench
// still runs that one for comparison with earlier results. Now the
// server notifies after the commit, outside the transaction (see
// storage/postgres/notify.go), and the script does not notify.
//
// Each sale has three lines (the load generator's 1 to 5 average 3), on
// books drawn from three disjoint ranges so that rows are locked in one
// order, as the server sorts them. pgbench counts one run of the script as
// one "transaction"; it commits two, so the baseline's transactions per
// second are twice pgbench's tps.

// pgbenchNotifyScript is the custom script with a NOTIFY in each
// transaction, as the server's were until the fifth session; book i's id is
// md5(i)::uuid.
const pgbenchNotifyScript = `-- salesflow's create and complete transactions (bench/pgbench.go)
\set b1 random(1, 333)
\set b2 random(334, 666)
\set b3 random(667, 1000)
\set q1 random(1, 3)
\set q2 random(1, 3)
\set q3 random(1, 3)
BEGIN;
SELECT id, price, available FROM books
WHERE id = ANY (ARRAY[md5(:b1::text)::uuid, md5(:b2::text)::uuid, md5(:b3::text)::uuid]);
UPDATE stock_levels SET reserved = reserved + :q1::bigint
WHERE book_id = md5(:b1::text)::uuid AND :q1::bigint > 0 AND on_hand - reserved >= :q1::bigint;
UPDATE stock_levels SET reserved = reserved + :q2::bigint
WHERE book_id = md5(:b2::text)::uuid AND :q2::bigint > 0 AND on_hand - reserved >= :q2::bigint;
UPDATE stock_levels SET reserved = reserved + :q3::bigint
WHERE book_id = md5(:b3::text)::uuid AND :q3::bigint > 0 AND on_hand - reserved >= :q3::bigint;
INSERT INTO sales (id, status, version, seller_id, customer_name, subtotal, discount, tax, total, currency, created_at, updated_at)
VALUES (gen_random_uuid(), 'PENDING', 1, 'pgbench', 'Customer', 1999 * (:q1::bigint + :q2::bigint + :q3::bigint), 0, 0, 1999 * (:q1::bigint + :q2::bigint + :q3::bigint), 'USD', now(), now())
RETURNING id AS sale_id
\gset
INSERT INTO sale_items (sale_id, line_no, book_id, quantity, unit_price, discount, subtotal, net) VALUES
(:sale_id, 0, md5(:b1::text)::uuid, :q1::bigint, 1999, 0, 1999 * :q1::bigint, 1999 * :q1::bigint),
(:sale_id, 1, md5(:b2::text)::uuid, :q2::bigint, 1999, 0, 1999 * :q2::bigint, 1999 * :q2::bigint),
(:sale_id, 2, md5(:b3::text)::uuid, :q3::bigint, 1999, 0, 1999 * :q3::bigint, 1999 * :q3::bigint);
WITH inserted AS (
    INSERT INTO outbox (event_id, topic, key, headers, value, created_at)
    VALUES (gen_random_uuid(), 'sale.created', :sale_id::text,
            '{"ce_specversion":"1.0","ce_type":"sale.created","ce_source":"/salesflow/sales","content-type":"application/json"}',
            convert_to(repeat('x', 700), 'UTF8'), now())
    RETURNING seq
)
SELECT pg_notify('salesflow_outbox', '') FROM inserted;
COMMIT;
BEGIN;
SELECT * FROM sales WHERE id = :sale_id FOR UPDATE;
SELECT * FROM sale_items WHERE sale_id = ANY (ARRAY[:sale_id::uuid]) ORDER BY sale_id, line_no;
UPDATE sales SET status = 'COMPLETED', version = 2, payment_method = 'CASH', paid_at = now(), updated_at = now()
WHERE id = :sale_id;
WITH inserted AS (
    INSERT INTO outbox (event_id, topic, key, headers, value, created_at)
    VALUES (gen_random_uuid(), 'sale.completed', :sale_id::text,
            '{"ce_specversion":"1.0","ce_type":"sale.completed","ce_source":"/salesflow/sales","content-type":"application/json"}',
            convert_to(repeat('x', 750), 'UTF8'), now())
    RETURNING seq
)
SELECT pg_notify('salesflow_outbox', '') FROM inserted;
COMMIT;
`

// pgbenchSeed is the catalog the script sells from, one statement each.
var pgbenchSeed = []string{
	`INSERT INTO books (id, title, author, price, available, created_at, updated_at)
	 SELECT md5(i::text)::uuid, 'Book ' || i, 'Author', 1999, true, now(), now() FROM generate_series(1, 1000) i`,
	`INSERT INTO stock_levels (book_id, on_hand, reserved, min_stock)
	 SELECT md5(i::text)::uuid, 1000000000, 0, 0 FROM generate_series(1, 1000) i`,
	// The catalog only: statistics of the empty history tables would make
	// PostgreSQL cache plans that scan them whole (a sale's lines check
	// their sale through its foreign key), which slow down as they grow
	// where autovacuum is off or has not run yet; the server's database
	// starts with no statistics either.
	`VACUUM ANALYZE books, stock_levels`,
}

// PgbenchResult is the baseline.
type PgbenchResult struct {
	Clients    int     `json:"clients"`
	Seconds    float64 `json:"seconds"`
	Scripts    float64 `json:"scriptsPerSecond"`      // pgbench's tps: one create and one complete each
	TPS        float64 `json:"transactionsPerSecond"` // database transactions: twice Scripts
	Lifecycles float64 `json:"lifecyclesPerSecond"`   // = Scripts: a created and completed sale each
	Latency    float64 `json:"latencyMs"`             // of one script
	Failed     int64   `json:"failed"`
	Output     string  `json:"-"`
}

var (
	reTPS     = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	reLatency = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	reFailed  = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

// pgbenchScript is the baseline's script: pgbenchNotifyScript without the
// NOTIFY of each outbox insert, as the server's transactions are now.
var pgbenchScript = strings.ReplaceAll(pgbenchNotifyScript,
	"SELECT pg_notify('salesflow_outbox', '') FROM inserted;", "SELECT seq FROM inserted;")

// runPgbench makes the database, seeds it and runs pgbench with the
// script, and with the NOTIFY script too when notify is set.
func (b *bench) runPgbench(ctx context.Context, notify bool) (mimic, notified *PgbenchResult, err error) {
	url, err := b.freshDatabase(ctx, "sfbench_pgbench")
	if err != nil {
		return nil, nil, err
	}
	if err := b.migrate(ctx, url); err != nil {
		return nil, nil, err
	}
	if err := b.execSQL(ctx, url, pgbenchSeed...); err != nil {
		return nil, nil, fmt.Errorf("seed the pgbench catalog: %w", err)
	}
	if mimic, err = b.pgbench(ctx, url, "pgbench_lifecycle.sql", pgbenchScript); err != nil {
		return nil, nil, err
	}
	b.logf("pgbench: %.0f scripts/s = %.0f transactions/s (latency %.1f ms per script, %d failed)",
		mimic.Scripts, mimic.TPS, mimic.Latency, mimic.Failed)
	if notify {
		if err := b.settle(ctx, url); err != nil {
			return nil, nil, err
		}
		if notified, err = b.pgbench(ctx, url, "pgbench_lifecycle_notify.sql", pgbenchNotifyScript); err != nil {
			return nil, nil, err
		}
		b.logf("pgbench with NOTIFY in the transactions: %.0f scripts/s = %.0f transactions/s (latency %.1f ms per script, %d failed)",
			notified.Scripts, notified.TPS, notified.Latency, notified.Failed)
	}
	return mimic, notified, nil
}

// pgbench runs one script.
func (b *bench) pgbench(ctx context.Context, url, name, text string) (*PgbenchResult, error) {
	script := filepath.Join(b.out, name)
	if err := os.WriteFile(script, []byte(text), 0o644); err != nil {
		return nil, err
	}
	args := []string{
		"-n", "-M", "prepared", "-c", strconv.Itoa(b.clients), "-j", strconv.Itoa(min(b.clients, b.cpus)),
		"-T", strconv.Itoa(int(b.pgbenchDuration / time.Second)), "-P", "5", "-f", script, url,
	}
	b.logf("pgbench %v", args[:len(args)-1])
	out, err := b.command(ctx, "pgbench.log", "pgbench", args...)
	if err != nil {
		return nil, fmt.Errorf("pgbench: %w (see %s)", err, filepath.Join(b.out, "pgbench.log"))
	}
	res := &PgbenchResult{Clients: b.clients, Seconds: b.pgbenchDuration.Seconds(), Output: out}
	m := reTPS.FindStringSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("pgbench: no tps in its output (see %s)", filepath.Join(b.out, "pgbench.log"))
	}
	res.Scripts, _ = strconv.ParseFloat(m[1], 64)
	res.TPS = 2 * res.Scripts
	res.Lifecycles = res.Scripts
	if m := reLatency.FindStringSubmatch(out); m != nil {
		res.Latency, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reFailed.FindStringSubmatch(out); m != nil {
		res.Failed, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return res, nil
}
