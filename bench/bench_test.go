package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

func TestParsePgbench(t *testing.T) {
	out := `transaction type: pgbench_lifecycle.sql
number of clients: 16
number of failed transactions: 3 (0.500%)
latency average = 29.117 ms
initial connection time = 40.001 ms
tps = 548.123456 (without initial connection time)
`
	if tps, latency, failed, ok := parsePgbench(out); !ok || tps != 548.123456 || latency != 29.117 || failed != 3 {
		t.Errorf("parsePgbench = %v, %v, %v, %v", tps, latency, failed, ok)
	}
	if _, _, _, ok := parsePgbench("pgbench: error: connection refused\n"); ok {
		t.Error("parsePgbench read a tps from an error")
	}
}

func TestParseBench(t *testing.T) {
	for line, want := range map[string]map[string]float64{
		"BenchmarkPublish/bus/batch=1-2         	   64477	     34593 ns/op	  29.60 MB/s	     28908 records/s": {"Publish/bus/batch=1": 28908},
		"BenchmarkPublish/batch=1-2         	     160	  25080155 ns/op	  16.33 MB/s	      8033 bus-records/s	      8125 franz-records/s": {
			"Publish/batch=1/bus": 8033, "Publish/batch=1/franz": 8125,
		},
		"BenchmarkConsume/records=20000-2         	       2	 189717999 ns/op	 323.85 MB/s	    248768 bus-records/s	    3.58761e+05 franz+headers-records/s	    373326 franz-records/s": {
			"Consume/records=20000/bus": 248768, "Consume/records=20000/franz+headers": 358761, "Consume/records=20000/franz": 373326,
		},
		"PASS": nil,
	} {
		if got := parseBench(line); !maps.Equal(got, want) {
			t.Errorf("%q: got %v, want %v", line, got, want)
		}
	}
}

func TestBusResult(t *testing.T) {
	// Three lines of a noisy machine: two lines' own ratio is 0.9, while
	// the medians of the two columns (bus 450, franz 600) would say 0.75.
	// Rates on separate lines (Other) are compared by their medians.
	out := `BenchmarkOther/bus/batch=1-2 	 100	 1 ns/op	 900 records/s
BenchmarkOther/franz/batch=1-2 	 100	 1 ns/op	 1000 records/s
BenchmarkPublish/batch=1-2 	 100	 1 ns/op	 800 bus-records/s	 1000 franz-records/s
BenchmarkPublish/batch=1-2 	 100	 1 ns/op	 400 bus-records/s	 400 franz-records/s
BenchmarkPublish/batch=1-2 	 100	 1 ns/op	 1000 bus-records/s	 1050 franz-records/s
BenchmarkConsume/records=20000-2 	 5	 1 ns/op	 450 bus-records/s	 450 franz+headers-records/s	 500 franz-records/s
BenchmarkConsume/records=20000-2 	 5	 1 ns/op	 540 bus-records/s	 540 franz+headers-records/s	 600 franz-records/s
BenchmarkConsume/records=20000-2 	 5	 1 ns/op	 270 bus-records/s	 270 franz+headers-records/s	 1000 franz-records/s
PASS
`
	r := busResult(out)
	want := map[string]float64{
		"Other/bus/batch=1 vs franz":                 0.9,
		"Publish/batch=1/bus vs franz":               0.952,
		"Consume/records=20000/bus vs franz":         0.9,
		"Consume/records=20000/bus vs franz+headers": 1,
	}
	if !maps.Equal(r.Ratios, want) {
		t.Errorf("ratios = %v, want %v", r.Ratios, want)
	}
	if got := r.RecordsPerSecond["Consume/records=20000/bus"]; got != 450 {
		t.Errorf("bus records/s = %v, want the median 450", got)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestPgbenchScripts checks each script against its golden file, so that
// no change to the function that writes them moves the baseline that
// every session's ratio was measured against (testdata/pgbench_baseline.sql
// is the script of the first sessions, byte for byte), and checks the
// shape of each: two transactions, the key statements and the pipelines
// where they belong.
func TestPgbenchScripts(t *testing.T) {
	base := script{}.text()
	scripts := map[string]string{"baseline": base}
	for name, r := range references {
		scripts[name] = r.text()
	}
	for name, text := range scripts {
		path := filepath.Join("testdata", "pgbench_"+name+".sql")
		if *update {
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if text != string(want) {
			t.Errorf("%s: the script differs from %s (run with -update if intended):\n%s", name, path, text)
		}
	}
	for _, tc := range []struct {
		name                            string
		notifies, keys, pipelines, gset int
	}{
		{"baseline", 0, 0, 0, 1},
		{"keys", 0, 2, 0, 1},
		{"pipelined", 0, 2, 4, 0},
		{"notify", 2, 0, 0, 1},
	} {
		text := scripts[tc.name]
		count := func(s string) int { return strings.Count(text, s) }
		if n := count("BEGIN;"); n != 2 {
			t.Errorf("%s: %d transactions, want 2 (its tps is doubled)", tc.name, n)
		}
		if n := count("INSERT INTO outbox"); n != 2 {
			t.Errorf("%s: %d outbox inserts, want 2", tc.name, n)
		}
		if n := count("pg_notify"); n != tc.notifies {
			t.Errorf("%s: %d NOTIFYs, want %d", tc.name, n, tc.notifies)
		}
		for _, stmt := range []string{"pg_try_advisory_xact_lock", "NOT EXISTS (SELECT 1 FROM idempotency_keys", "INSERT INTO idempotency_keys"} {
			if n := count(stmt); n != tc.keys {
				t.Errorf("%s: %d of %q, want %d", tc.name, n, stmt, tc.keys)
			}
		}
		if n := count(`\gset`); n != tc.gset {
			t.Errorf("%s: %d \\gset, want %d", tc.name, n, tc.gset)
		}
		// Each transaction: a claim of its key, then its statements up
		// to the first read in one round trip, the rest with the COMMIT
		// in a second (the server's batches, see TestRoundTrips in
		// storage/postgres).
		if tc.pipelines > 0 {
			txs := strings.Split(text, "BEGIN;\n")[1:]
			for i, tx := range txs {
				rts := strings.Split(tx, `\endpipeline`)
				if len(rts) != 3 || !strings.Contains(rts[0], "pg_try_advisory_xact_lock") ||
					!strings.Contains(rts[0], "SELECT") || !strings.Contains(rts[1], "INSERT INTO idempotency_keys") ||
					!strings.HasSuffix(rts[1], "COMMIT;\n") {
					t.Errorf("%s: transaction %d is not a claim and a read, then the writes and the COMMIT:\n%s", tc.name, i+1, tx)
				}
			}
			if count(":sale_id") != 0 {
				t.Errorf("%s: uses :sale_id, which a pipeline cannot set", tc.name)
			}
		}
	}
}

// TestPgbenchScriptsRun runs each script through pgbench against a new
// database with salesflow's schema and the catalog, and checks what they
// wrote: a sale with its lines completed per run, an outbox record per
// transaction and, with keys, a key per transaction.
func TestPgbenchScriptsRun(t *testing.T) {
	if _, err := exec.LookPath("pgbench"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pgbench is missing (it comes with PostgreSQL's server package)")
		}
		t.Skip("no pgbench")
	}
	scripts := map[string]script{"baseline": {}}
	for name, r := range references {
		scripts[name] = r.script
	}
	for name, sc := range scripts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := testkit.PostgresURL(t)
			db, err := postgres.Open(t.Context(), url, postgres.WithMaxConns(2))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.Connect(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			for _, stmt := range pgbenchSeed {
				if _, err := conn.Exec(t.Context(), stmt); err != nil {
					t.Fatal(err)
				}
			}
			file := filepath.Join(t.TempDir(), name+".sql")
			if err := os.WriteFile(file, []byte(sc.text()), 0o644); err != nil {
				t.Fatal(err)
			}
			const clients, runs = 2, 3
			out, err := exec.CommandContext(t.Context(), "pgbench", "-n", "-M", "prepared", "-c", strconv.Itoa(clients),
				"-t", strconv.Itoa(runs), "-f", file, url).CombinedOutput()
			if err != nil {
				t.Fatalf("pgbench: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "number of failed transactions: 0 ") {
				t.Errorf("pgbench failed some:\n%s", out)
			}
			var sales, completed, lines, events, keys int
			err = conn.QueryRow(t.Context(), `SELECT
				(SELECT count(*) FROM sales), (SELECT count(*) FROM sales WHERE status = 'COMPLETED'),
				(SELECT count(*) FROM sale_items), (SELECT count(*) FROM outbox), (SELECT count(*) FROM idempotency_keys)`).
				Scan(&sales, &completed, &lines, &events, &keys)
			if err != nil {
				t.Fatal(err)
			}
			n := clients * runs
			wantKeys := 0
			if sc.keys {
				wantKeys = 2 * n
			}
			if sales != n || completed != n || lines != 3*n || events != 2*n || keys != wantKeys {
				t.Errorf("sales %d (completed %d), lines %d, outbox %d, keys %d; want %d, %d, %d, %d, %d",
					sales, completed, lines, events, keys, n, n, 3*n, 2*n, wantKeys)
			}
		})
	}
}

func TestParseReferences(t *testing.T) {
	for in, want := range map[string][]string{
		"": nil, "keys": {"keys"}, " keys , pipelined,notify": {"keys", "pipelined", "notify"}, "keys,": {"keys"},
	} {
		if got, err := parseReferences(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("parseReferences(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"bogus", "keys,keys", "KEYS"} {
		if got, err := parseReferences(in); err == nil {
			t.Errorf("parseReferences(%q) = %q, want an error", in, got)
		}
	}
}

func TestGoals(t *testing.T) {
	r := &Result{Clients: 16, Pgbench: &PgbenchResult{TPS: 1000, Lifecycles: 500}, Full: &LoadResult{}}
	r.Full.Loadgen.Lifecycles.PerSecond = 250
	r.Full.Loadgen.Server.RSSMiBMax = 40
	g := goals(r)
	if len(g) != 2 || g[0].Met == nil || !*g[0].Met || g[0].Value != 0.25 || g[1].Met == nil || !*g[1].Met {
		t.Errorf("goals = %+v", g)
	}
	r.Full.Loadgen.Lifecycles.PerSecond = 150
	if g := goals(r); *g[0].Met {
		t.Errorf("15 %% met the 20 %% goal: %+v", g[0])
	}
	// With rounds, the median of their ratios decides, not the last one.
	round := func(tps, l float64) Round { return Round{PgbenchTPS: tps, Lifecycles: l, Ratio: l / tps} }
	r.Rounds = []Round{round(1000, 210), round(1000, 150), round(900, 200)}
	if g := goals(r); g[0].Value != 0.21 || !*g[0].Met || !strings.Contains(g[0].Measured, "median of 3 rounds 21.0 %") {
		t.Errorf("three rounds: %+v", g[0])
	}
	r.Rounds = r.Rounds[:2]
	if g := goals(r); g[0].Value != 0.18 || *g[0].Met {
		t.Errorf("two rounds: %+v", g[0])
	}
	// Judged on the ratio itself, not on its rounding.
	r.Rounds = []Round{round(10000, 1999.6), round(10000, 1999.6), round(10000, 1999.6)}
	if g := goals(r); *g[0].Met {
		t.Errorf("19.996 %% met the 20 %% goal: %+v", g[0])
	}
	// The references: read beside the goal, against round 1's system (the
	// round they ran in), judging nothing.
	r.Rounds = []Round{round(1000, 210), round(1000, 150), round(900, 200)}
	r.References = map[string]*PgbenchResult{"pipelined": {TPS: 2100}, "keys": {TPS: 700}}
	g = goals(r)
	if len(g) != 4 || g[0].Value != 0.21 || !*g[0].Met {
		t.Fatalf("goals with references = %+v", g)
	}
	for i, want := range []struct {
		name  string
		value float64
	}{{"with the idempotency keys (round 1)", 0.3}, {"pipelined in the server's round trips (round 1)", 0.1}} {
		ref := g[1+i]
		if !strings.HasSuffix(ref.Name, want.name) || ref.Value != want.value || ref.Met != nil || ref.Target != "(reference)" {
			t.Errorf("reference %d = %+v; want %q at %v, judging nothing", i+1, ref, want.name, want.value)
		}
	}
}

func TestHalfLoadGoals(t *testing.T) {
	half := func(rate, post, patch, proj float64) *LoadResult {
		h := &LoadResult{Rate: rate}
		h.Loadgen.Routes = map[string]quantiles{routeCreateSale: {P99Ms: post}, routeStatus: {P99Ms: patch}}
		h.Loadgen.Projection.Sampled, h.Loadgen.Projection.Observed = 10, 10
		h.Loadgen.Projection.Lag.P99Ms = proj
		return h
	}
	find := func(gs []Goal, prefix string) Goal {
		for _, g := range gs {
			if strings.HasPrefix(g.Name, prefix) {
				return g
			}
		}
		t.Fatalf("no goal %q in %+v", prefix, gs)
		return Goal{}
	}
	// One run: its half load decides, by the slower write route.
	r := &Result{Half: half(100, 20, 30, 90)}
	if api, proj := find(goals(r), "API p99"), find(goals(r), "completion"); api.Value != 30 || *api.Met || proj.Value != 90 || !*proj.Met {
		t.Errorf("one run: API %+v, projection %+v", api, proj)
	}
	// Rounds: the median of their half loads decides, not the last one.
	rounds := []*LoadResult{half(100, 30, 10, 95), half(110, 20, 22, 80), half(90, 21, 5, 130)}
	r.Rounds = nil
	for _, h := range rounds {
		r.Rounds = append(r.Rounds, Round{Half: halfRound(h)})
	}
	r.Half = rounds[2]
	api, proj := find(goals(r), "API p99"), find(goals(r), "completion")
	if api.Value != 22 || !*api.Met || !strings.Contains(api.Measured, "median of 3 rounds 22.0 ms (30.0 POST, 22.0 PATCH, 21.0 POST)") ||
		!strings.Contains(api.Name, "100.0, 110.0, 90.0") {
		t.Errorf("three rounds, API: %+v", api)
	}
	if proj.Value != 95 || !*proj.Met || !strings.Contains(proj.Measured, "median of 3 rounds 95.0 ms (95.0, 80.0, 130.0)") {
		t.Errorf("three rounds, projection: %+v", proj)
	}
	// A round whose projections were not all seen fails the goal.
	r.Rounds[0].Half.ProjectionComplete = false
	if proj := find(goals(r), "completion"); *proj.Met || !strings.Contains(proj.Measured, "seen projected in round 1") {
		t.Errorf("a round with unseen projections met the goal: %+v", proj)
	}
	// Two rounds: the higher decides.
	r.Rounds = r.Rounds[1:]
	if api := find(goals(r), "API p99"); api.Value != 22 || !*api.Met {
		t.Errorf("two rounds, API: %+v", api)
	}
	r.Rounds[0].Half.APIP99Ms = 26
	if api := find(goals(r), "API p99"); api.Value != 26 || *api.Met {
		t.Errorf("two rounds, one above: %+v", api)
	}
	// A round without a half load (its full load reached nothing): the
	// last half load alone.
	r.Rounds[0].Half = nil
	if api := find(goals(r), "API p99"); api.Value != 21 || strings.Contains(api.Measured, "median") {
		t.Errorf("a round without a half load: %+v", api)
	}
}

func TestParseRounds(t *testing.T) {
	for _, args := range [][]string{{"-rounds", "0"}, {"-rounds", "11"}, {"-compare", "-rounds", "3"}} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if b, err := parseFlags([]string{"-rounds", "3"}); err != nil || b.rounds != 3 {
		t.Errorf("-rounds 3: %+v, %v", b, err)
	}
}

// The full loads poll every -full-sample-every-th completion, the paced
// ones the load generator's default, and a variant's own flags win.
func TestLoadgenFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-full-sample-every", "-1"}); err == nil {
		t.Error("-full-sample-every -1: no error")
	}
	b, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	// last is the value the load generator reads for the flag: its last.
	last := func(args []string, name string) (v string, ok bool) {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == name {
				v, ok = args[i+1], true
			}
		}
		return v, ok
	}
	full := b.loadgenFlags(loadArgs{}, 0, "r.json", "r.svg")
	if v, _ := last(full, "-sample-every"); v != "50" {
		t.Errorf("full load: -sample-every %q; want 50 in %q", v, full)
	}
	if v, ok := last(full, "-rate"); ok {
		t.Errorf("full load: -rate %q", v)
	}
	if v, _ := last(full, "-procs"); v != "1" {
		t.Errorf("full load: -procs %q; want 1 in %q", v, full)
	}
	half := b.loadgenFlags(loadArgs{}, 211.5, "r.json", "r.svg")
	if v, ok := last(half, "-sample-every"); ok {
		t.Errorf("paced load: -sample-every %q; want the load generator's default", v)
	}
	if v, _ := last(half, "-rate"); v != "211.50" {
		t.Errorf("paced load: -rate %q; want 211.50", v)
	}
	if v, _ := last(half, "-procs"); v != "1" {
		t.Errorf("paced load: -procs %q; want 1 in %q", v, half)
	}
	b.fullSampleEvery = 0
	if v, _ := last(b.loadgenFlags(loadArgs{}, 0, "r.json", "r.svg"), "-sample-every"); v != "0" {
		t.Errorf("-full-sample-every 0: -sample-every %q", v)
	}
	own := b.loadgenFlags(loadArgs{extra: []string{"-sample-every", "7", "-procs", "2"}}, 0, "r.json", "r.svg")
	if v, _ := last(own, "-sample-every"); v != "7" {
		t.Errorf("with the variant's -sample-every 7: %q in %q", v, own)
	}
	if v, _ := last(own, "-procs"); v != "2" {
		t.Errorf("with the variant's -procs 2: %q in %q", v, own)
	}
	if err := checkLoadgenArgs("-procs 2"); err != nil {
		t.Errorf("-loadgen-args -procs 2: %v", err)
	}

	// -loadgen-args and -b-loadgen-args reach their variants, and may not
	// set what the bench sets and reads back.
	for _, args := range [][]string{
		{"-compare", "-loadgen-args", "-rate 5"},
		{"-compare", "-b-loadgen-args", "-sample-every 0 --json=x.json"},
		{"-loadgen-args", "-clients=3"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	b, err = parseFlags([]string{"-compare", "-loadgen-args", "-sample-every 20", "-b-loadgen-args", "-sample-every 0 -books 50"})
	if err != nil {
		t.Fatal(err)
	}
	va, vb := b.variants()
	if !slices.Equal(va.loadgen, []string{"-sample-every", "20"}) || !slices.Equal(vb.loadgen, []string{"-sample-every", "0", "-books", "50"}) {
		t.Errorf("variants' load generator flags: A %q, B %q", va.loadgen, vb.loadgen)
	}
}

func TestMachineReference(t *testing.T) {
	if _, err := exec.LookPath("pgbench"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pgbench is missing (it comes with PostgreSQL's server package)")
		}
		t.Skip("no pgbench")
	}
	url := testkit.PostgresURL(t)
	b := &bench{out: t.TempDir(), clients: 2, cpus: 2}
	b.log, _ = os.Create(filepath.Join(b.out, "bench.log"))
	defer b.log.Close()
	m, err := b.tpcb(t.Context(), url, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Scale != 2 || m.Clients != 2 || m.Seconds != 1 || m.TPS <= 0 || m.Latency <= 0 || m.Failed != 0 || m.Connection != connection(url) {
		t.Errorf("machine reference = %+v", m)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var accounts, history int
	if err := conn.QueryRow(t.Context(), "SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT count(*) FROM pgbench_history)").Scan(&accounts, &history); err != nil {
		t.Fatal(err)
	}
	if accounts != 200_000 || history == 0 {
		t.Errorf("pgbench_accounts %d rows, pgbench_history %d; want 200000 at scale 2, and some", accounts, history)
	}

	var out strings.Builder
	printGoals(&out, &Result{MachineRef: m})
	if want := fmt.Sprintf("scale 2, 2 clients, %s: %.0f transactions/s", m.Connection, m.TPS); !strings.Contains(out.String(), want) {
		t.Errorf("printed %q; want it to hold %q", out.String(), want)
	}
}

func TestConnection(t *testing.T) {
	for url, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5432/db":                      "TCP with TLS if the server offers it",
		"postgres://postgres@127.0.0.1:5432/db?sslmode=disable":      "TCP without TLS",
		"postgres://postgres@/db?host=/var/run/postgresql":           "Unix socket",
		"postgres://postgres@127.0.0.1:5432/db?sslmode=no-such-mode": "unknown",
	} {
		if got := connection(url); got != want {
			t.Errorf("connection(%q) = %q; want %q", url, got, want)
		}
	}
}
