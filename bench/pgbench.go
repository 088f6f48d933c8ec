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

	"github.com/jackc/pgx/v5/pgconn"
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
// Each sale has three lines (the load generator's 1 to 5 average 3), on
// books drawn from three disjoint ranges so that rows are locked in one
// order, as the server sorts them. pgbench counts one run of the script as
// one "transaction"; it commits two, so the baseline's transactions per
// second are twice pgbench's tps.
//
// The goal is judged against that script, as it has been since the first
// session. The bench also runs variants of it in the first round, as
// references (-pgbench-references), each on a new database like the
// baseline, because how much of the server's work a baseline should hold
// changes the ratio by more than any change to the server has:
//
//   - keys: the script with the idempotency key that each of the load
//     generator's writes carries, claimed and stored in each transaction
//     with the server's statements for a new key (LockNewKey and KeyAbsent
//     first, InsertKeyResponse last, see
//     storage/postgres/queries/idempotency.sql), the response as large as
//     the script's event, since the server stores the same JSON twice.
//   - pipelined: keys, with the statements sent in the server's round
//     trips (pgbench pipelines, two per transaction: the batch ends with
//     the transaction's first read, then with the COMMIT) instead of one
//     round trip each: the database's own limit for work like the
//     server's. In a pipeline no result can be passed on (\gset), so the
//     client makes the sale's id, as the server does.
//   - notify: the script with a NOTIFY in each transaction, as the
//     server's were until the fifth session (storage/postgres/notify.go now
//     wakes the relay after the commit).
//
// They remain imitations. The server's ids are UUIDv7, ordered in time,
// and the scripts' random (so the scripts' inserts spread over the
// indexes); its keys are the load generator's text, theirs random
// numbers; it reads a sale with its lines in one statement, reserves a
// sale's books in one (salesflow_add_reserved, since the thirteenth session:
// an UPDATE per book inside one function call, where the scripts send
// one statement per book), and checks its guards with salesflow_expect;
// its events and answers are about 800 bytes, the scripts' 700 to 750.
// Most of these make the scripts a little dearer than the server's
// transactions.

// script says which variant of the baseline's script to write.
type script struct {
	notify, keys, pipelined bool
}

// reference is a variant of the baseline's script.
type reference struct {
	script
	about string
}

// references are the variants -pgbench-references may name.
var references = map[string]reference{
	"keys":      {script{keys: true}, "with the idempotency keys"},
	"pipelined": {script{keys: true, pipelined: true}, "with the keys, pipelined in the server's round trips"},
	"notify":    {script{notify: true}, "with a NOTIFY in each transaction (the server's until the fifth session)"},
}

// text returns the script; book i's id is md5(i)::uuid.
func (sc script) text() string {
	var b strings.Builder
	w := func(lines ...string) {
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	// The sale's id: made by PostgreSQL and returned by its insert, or,
	// in a pipeline, which cannot pass a result on (\gset), made from a
	// random number.
	newSale, sale := "gen_random_uuid()", ":sale_id"
	w(`-- salesflow's create and complete transactions (bench/pgbench.go)`,
		`\set b1 random(1, 333)`, `\set b2 random(334, 666)`, `\set b3 random(667, 1000)`,
		`\set q1 random(1, 3)`, `\set q2 random(1, 3)`, `\set q3 random(1, 3)`)
	if sc.keys {
		w(`\set k1 random(1, 9007199254740991)`, `\set k2 random(1, 9007199254740991)`)
	}
	if sc.pipelined {
		w(`\set sale random(1, 9007199254740991)`)
		newSale, sale = "md5(:sale::text)::uuid", "md5(:sale::text)::uuid"
	}
	begin := func() {
		if sc.pipelined {
			w(`\startpipeline`)
		}
		w("BEGIN;")
	}
	roundTrip := func() { // the server's batch ends with a read here
		if sc.pipelined {
			w(`\endpipeline`, `\startpipeline`)
		}
	}
	// claim and store are the server's statements for a new key (see
	// storage/postgres/queries/idempotency.sql).
	claim := func(scope, k string) {
		if sc.keys {
			w(fmt.Sprintf(`SELECT salesflow_expect(pg_try_advisory_xact_lock(hashtext('%s'), hashtext(:%s::text)));`, scope, k),
				fmt.Sprintf(`SELECT salesflow_expect(NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE scope = '%s' AND key = :%s::text));`, scope, k))
		}
	}
	store := func(scope, k string, status, size int) {
		if sc.keys {
			w(`INSERT INTO idempotency_keys (scope, key, request_hash, claimed_at, claim, response_status, response_body, responded_at)`,
				fmt.Sprintf(`VALUES ('%s', :%s::text, md5(:%s::text) || md5('%s'), now(), 'pgbench-' || :%s, %d, convert_to(repeat('x', %d), 'UTF8'), now());`,
					scope, k, k, scope, k, status, size))
		}
	}
	outbox := func(topic string, size int) {
		last := "SELECT seq FROM inserted;"
		if sc.notify {
			last = "SELECT pg_notify('salesflow_outbox', '') FROM inserted;"
		}
		w(`WITH inserted AS (`,
			`    INSERT INTO outbox (event_id, topic, key, headers, value, created_at)`,
			fmt.Sprintf(`    VALUES (gen_random_uuid(), '%s', %s::text,`, topic, sale),
			fmt.Sprintf(`            '{"ce_specversion":"1.0","ce_type":"%s","ce_source":"/salesflow/sales","content-type":"application/json"}',`, topic),
			fmt.Sprintf(`            convert_to(repeat('x', %d), 'UTF8'), now())`, size),
			`    RETURNING seq`,
			`)`,
			last)
	}
	commit := func() {
		w("COMMIT;")
		if sc.pipelined {
			w(`\endpipeline`)
		}
	}

	begin()
	claim("pgbench", "k1")
	w(`SELECT id, price, available FROM books`,
		`WHERE id = ANY (ARRAY[md5(:b1::text)::uuid, md5(:b2::text)::uuid, md5(:b3::text)::uuid]);`)
	roundTrip()
	for i := 1; i <= 3; i++ {
		w(fmt.Sprintf(`UPDATE stock_levels SET reserved = reserved + :q%d::bigint`, i),
			fmt.Sprintf(`WHERE book_id = md5(:b%d::text)::uuid AND :q%d::bigint > 0 AND on_hand - reserved >= :q%d::bigint;`, i, i, i))
	}
	values := `VALUES (` + newSale + `, 'PENDING', 1, 'pgbench', 'Customer', 1999 * (:q1::bigint + :q2::bigint + :q3::bigint), 0, 0, 1999 * (:q1::bigint + :q2::bigint + :q3::bigint), 'USD', now(), now())`
	w(`INSERT INTO sales (id, status, version, seller_id, customer_name, subtotal, discount, tax, total, currency, created_at, updated_at)`)
	if sc.pipelined {
		w(values + ";")
	} else {
		w(values, `RETURNING id AS sale_id`, `\gset`)
	}
	w(`INSERT INTO sale_items (sale_id, line_no, book_id, quantity, unit_price, discount, subtotal, net) VALUES`)
	for i := 1; i <= 3; i++ {
		end := ","
		if i == 3 {
			end = ";"
		}
		w(fmt.Sprintf(`(%s, %d, md5(:b%d::text)::uuid, :q%d::bigint, 1999, 0, 1999 * :q%d::bigint, 1999 * :q%d::bigint)%s`, sale, i-1, i, i, i, i, end))
	}
	outbox("sale.created", 700)
	store("pgbench", "k1", 201, 700)
	commit()

	begin()
	claim("admin", "k2")
	w(fmt.Sprintf(`SELECT * FROM sales WHERE id = %s FOR UPDATE;`, sale),
		fmt.Sprintf(`SELECT * FROM sale_items WHERE sale_id = ANY (ARRAY[%s::uuid]) ORDER BY sale_id, line_no;`, sale))
	roundTrip()
	w(`UPDATE sales SET status = 'COMPLETED', version = 2, payment_method = 'CASH', paid_at = now(), updated_at = now()`,
		fmt.Sprintf(`WHERE id = %s;`, sale))
	outbox("sale.completed", 750)
	store("admin", "k2", 200, 750)
	commit()
	return b.String()
}

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

// runPgbench runs each of refs (see references), then pgbench with the
// baseline's script, each on a new database with the schema and the
// catalog: the baseline last, next to the full load it is compared with.
// It returns the references that ran by name: a reference that fails is
// logged and left out, as the goal does not depend on it.
func (b *bench) runPgbench(ctx context.Context, refs []string) (*PgbenchResult, map[string]*PgbenchResult, error) {
	var out map[string]*PgbenchResult
	for _, name := range refs {
		r, err := b.pgbenchFresh(ctx, "pgbench_lifecycle_"+name+".sql", references[name].text())
		b.between(ctx, pgbenchDB)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			b.logf("pgbench, %s: %v (left out of the results)", name, err)
			continue
		}
		b.logf("pgbench, %s: %.0f scripts/s = %.0f transactions/s (latency %.1f ms per script, %d failed)",
			name, r.Scripts, r.TPS, r.Latency, r.Failed)
		if out == nil {
			out = map[string]*PgbenchResult{}
		}
		out[name] = r
	}
	mimic, err := b.pgbenchFresh(ctx, "pgbench_lifecycle.sql", script{}.text())
	if err != nil {
		return nil, nil, err
	}
	b.logf("pgbench: %.0f scripts/s = %.0f transactions/s (latency %.1f ms per script, %d failed)",
		mimic.Scripts, mimic.TPS, mimic.Latency, mimic.Failed)
	return mimic, out, nil
}

// pgbenchDB is the database of the pgbench runs.
const pgbenchDB = "sfbench_pgbench"

// pgbenchFresh runs one script on a new database with salesflow's schema
// and the catalog.
func (b *bench) pgbenchFresh(ctx context.Context, file, text string) (*PgbenchResult, error) {
	url, err := b.freshDatabase(ctx, pgbenchDB)
	if err != nil {
		return nil, err
	}
	if err := b.migrate(ctx, url); err != nil {
		return nil, err
	}
	if err := b.execSQL(ctx, url, pgbenchSeed...); err != nil {
		return nil, fmt.Errorf("seed the pgbench catalog: %w", err)
	}
	return b.pgbench(ctx, url, file, text)
}

// pgbench runs one script.
func (b *bench) pgbench(ctx context.Context, url, name, text string) (*PgbenchResult, error) {
	path := filepath.Join(b.out, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, err
	}
	sum, err := b.runPgbenchArgs(ctx, b.pgbenchDuration, "-P", "5", "-f", path, url)
	if err != nil {
		return nil, err
	}
	return &PgbenchResult{
		Clients: b.clients, Seconds: b.pgbenchDuration.Seconds(), Output: sum.output,
		Scripts: sum.tps, TPS: 2 * sum.tps, Lifecycles: sum.tps, Latency: sum.latency, Failed: sum.failed,
	}, nil
}

// pgbenchSummary is what a pgbench run printed, and its summary read.
type pgbenchSummary struct {
	output       string
	seconds      int     // how long it ran
	tps, latency float64 // latency: the average, in milliseconds
	failed       int64
}

// runPgbenchArgs runs pgbench for d (whole seconds, at least one) at
// -clients clients with the prepared protocol, and args after those (the
// URL last), and reads its summary.
func (b *bench) runPgbenchArgs(ctx context.Context, d time.Duration, args ...string) (pgbenchSummary, error) {
	seconds := max(int(d/time.Second), 1)
	args = append([]string{
		"-n", "-M", "prepared", "-c", strconv.Itoa(b.clients), "-j", strconv.Itoa(min(b.clients, b.cpus)),
		"-T", strconv.Itoa(seconds),
	}, args...)
	b.logf("pgbench %v", args[:len(args)-1])
	out, err := b.command(ctx, "pgbench.log", "pgbench", args...)
	if err != nil {
		return pgbenchSummary{}, fmt.Errorf("pgbench: %w (see %s)", err, filepath.Join(b.out, "pgbench.log"))
	}
	sum := pgbenchSummary{output: out, seconds: seconds}
	var ok bool
	if sum.tps, sum.latency, sum.failed, ok = parsePgbench(out); !ok {
		return pgbenchSummary{}, fmt.Errorf("pgbench: no tps in its output (see %s)", filepath.Join(b.out, "pgbench.log"))
	}
	return sum, nil
}

// parsePgbench reads pgbench's summary: its tps, the average latency in
// milliseconds and the failed transactions; ok is false without a tps.
func parsePgbench(out string) (tps, latency float64, failed int64, ok bool) {
	m := reTPS.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, 0, false
	}
	tps, _ = strconv.ParseFloat(m[1], 64)
	if m := reLatency.FindStringSubmatch(out); m != nil {
		latency, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reFailed.FindStringSubmatch(out); m != nil {
		failed, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return tps, latency, failed, true
}

// The machine reference: pgbench's built-in TPC-B-like script (a SELECT,
// three UPDATEs and an INSERT per transaction) on pgbench's own tables, at
// scale -clients up to 32 (each transaction updates one of scale branch
// rows, drawn at random, so that a scale of the client count keeps the
// clients from queuing on them, while 32 bounds the tables to 3.2
// million accounts, filled in seconds). It is no baseline of the goals:
// it says how fast this machine's PostgreSQL is at the small write
// transactions that issue 6 quotes for its machine (about 5,000 to 6,000
// a second at 8 to 32 clients), so that runs on machines of different
// speeds can be told apart, most of all for the goals set in
// milliseconds.

// machineDB is the database of the machine reference.
const machineDB = "sfbench_tpcb"

// MachineResult is one run of the machine reference.
type MachineResult struct {
	Scale      int     `json:"scale"`
	Clients    int     `json:"clients"`
	Connection string  `json:"connection"` // how pgbench reached PostgreSQL: the ratio to issue 6's machine depends on it
	Seconds    float64 `json:"seconds"`
	TPS        float64 `json:"transactionsPerSecond"`
	Latency    float64 `json:"latencyMs"` // of one transaction
	Failed     int64   `json:"failed"`
}

// runMachine runs the machine reference on a new database.
func (b *bench) runMachine(ctx context.Context) (*MachineResult, error) {
	url, err := b.freshDatabase(ctx, machineDB)
	if err != nil {
		return nil, err
	}
	return b.tpcb(ctx, url, b.pgbenchDuration)
}

// connection says how a client of url reaches PostgreSQL: over a Unix
// socket, or over TCP, with TLS unless url's sslmode disables it.
func connection(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	switch {
	case err != nil:
		return "unknown"
	case strings.HasPrefix(cfg.Host, "/"):
		return "Unix socket"
	case cfg.TLSConfig == nil:
		return "TCP without TLS"
	default:
		return "TCP with TLS if the server offers it"
	}
}

// tpcb fills the database at url with pgbench's tables and runs its
// TPC-B-like script for d.
func (b *bench) tpcb(ctx context.Context, url string, d time.Duration) (*MachineResult, error) {
	scale := min(b.clients, 32)
	if _, err := b.command(ctx, "pgbench.log", "pgbench", "-i", "-q", "-s", strconv.Itoa(scale), url); err != nil {
		return nil, fmt.Errorf("pgbench -i: %w (see %s)", err, filepath.Join(b.out, "pgbench.log"))
	}
	sum, err := b.runPgbenchArgs(ctx, d, "-b", "tpcb-like", url)
	if err != nil {
		return nil, err
	}
	return &MachineResult{
		Scale: scale, Clients: b.clients, Seconds: float64(sum.seconds), Connection: connection(url),
		TPS: sum.tps, Latency: sum.latency, Failed: sum.failed,
	}, nil
}
