package main

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParsePgbench(t *testing.T) {
	out := `transaction type: pgbench_lifecycle.sql
number of clients: 16
number of failed transactions: 0 (0.000%)
latency average = 29.117 ms
initial connection time = 40.001 ms
tps = 548.123456 (without initial connection time)
`
	if m := reTPS.FindStringSubmatch(out); m == nil || m[1] != "548.123456" {
		t.Errorf("tps: %q", m)
	}
	if m := reLatency.FindStringSubmatch(out); m == nil || m[1] != "29.117" {
		t.Errorf("latency: %q", m)
	}
	if m := reFailed.FindStringSubmatch(out); m == nil || m[1] != "0" {
		t.Errorf("failed: %q", m)
	}
}

func TestParseBench(t *testing.T) {
	for line, want := range map[string]map[string]float64{
		"BenchmarkPublish/bus/batch=1-2         	   64477	     34593 ns/op	  29.60 MB/s	     28908 records/s": {"Publish/bus/batch=1": 28908},
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
	out := `BenchmarkPublish/bus/batch=1-2 	 100	 1 ns/op	 900 records/s
BenchmarkPublish/franz/batch=1-2 	 100	 1 ns/op	 1000 records/s
BenchmarkConsume/records=20000-2 	 5	 1 ns/op	 450 bus-records/s	 450 franz+headers-records/s	 500 franz-records/s
BenchmarkConsume/records=20000-2 	 5	 1 ns/op	 540 bus-records/s	 540 franz+headers-records/s	 600 franz-records/s
BenchmarkConsume/records=20000-2 	 5	 1 ns/op	 270 bus-records/s	 270 franz+headers-records/s	 1000 franz-records/s
PASS
`
	r := busResult(out)
	want := map[string]float64{
		"Publish/bus/batch=1 vs franz":               0.9,
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

func TestPgbenchScripts(t *testing.T) {
	base := script{}.text()
	for _, tc := range []struct {
		name, text                       string
		notifies, keys, pipelines, gsets int
	}{
		{"the baseline", base, 0, 0, 0, 1},
		{"keys", references["keys"].text(), 0, 2, 0, 1},
		{"pipelined", references["pipelined"].text(), 0, 2, 4, 0},
		{"notify", references["notify"].text(), 2, 0, 0, 1},
	} {
		count := func(s string) int { return strings.Count(tc.text, s) }
		if n := count("BEGIN;"); n != 2 {
			t.Errorf("%s: %d transactions, want 2 (its tps is doubled)", tc.name, n)
		}
		if n := count("INSERT INTO outbox"); n != 2 {
			t.Errorf("%s: %d outbox inserts, want 2", tc.name, n)
		}
		if n := count("pg_notify"); n != tc.notifies {
			t.Errorf("%s: %d NOTIFYs, want %d", tc.name, n, tc.notifies)
		}
		// A key is claimed (its lock, its absence) and stored with the
		// response, in each transaction.
		for _, stmt := range []string{"pg_try_advisory_xact_lock", "NOT EXISTS (SELECT 1 FROM idempotency_keys", "INSERT INTO idempotency_keys"} {
			if n := count(stmt); n != tc.keys {
				t.Errorf("%s: %d of %q, want %d", tc.name, n, stmt, tc.keys)
			}
		}
		// Two round trips per transaction, as the server's; \gset cannot
		// be used in a pipeline.
		if n, m := count(`\startpipeline`), count(`\endpipeline`); n != tc.pipelines || m != tc.pipelines {
			t.Errorf("%s: %d pipelines started and %d ended, want %d", tc.name, n, m, tc.pipelines)
		}
		if n := count(`\gset`); n != tc.gsets {
			t.Errorf("%s: %d \\gset, want %d", tc.name, n, tc.gsets)
		}
		if !strings.HasPrefix(tc.text, "-- salesflow's create and complete transactions") || !strings.HasSuffix(tc.text, "COMMIT;\n") && tc.pipelines == 0 {
			t.Errorf("%s: the script's head or tail changed:\n%s", tc.name, tc.text)
		}
	}
	// The notify variant is the baseline with a NOTIFY instead of each
	// outbox insert's result.
	if got := strings.ReplaceAll(references["notify"].text(), "SELECT pg_notify('salesflow_outbox', '') FROM inserted;", "SELECT seq FROM inserted;"); got != base {
		t.Errorf("the notify script differs from the baseline elsewhere:\n%s", got)
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
