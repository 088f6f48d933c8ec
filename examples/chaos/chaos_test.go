package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/salesflow/salesflow/testkit"
)

// TestChaos is the CI's chaos run: the real server, a worker process and
// kfake in its own process (or KAFKA_BROKERS) on a database of its own,
// 40 seconds of workload with every fault kind, then every check. It
// fails, rather than skips, without PostgreSQL when CI=true.
func TestChaos(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("a one-minute chaos run; skipped with -short")
	}
	t.Parallel()
	url := testkit.PostgresURL(t)
	server, broker := bins(t)
	cfg := Config{
		Seed: 20260101, Duration: 40 * time.Second, Clients: 4, DatabaseURL: url,
		ServerBin: server, BrokerBin: broker,
		MinGap: time.Second, MaxGap: 3 * time.Second, EndGrace: 10 * time.Second, DrainTimeout: 3 * time.Minute,
		Log: logWriter{t},
	}
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		cfg.KafkaBrokers = strings.Split(b, ",")
	}
	rep, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("chaos run: %v", err)
	}
	var out strings.Builder
	rep.Write(&out)
	t.Log(out.String())
	if rep.Failed() {
		t.Errorf("chaos run (seed %d): %d violations; see the report above", rep.Seed, rep.Violations)
	}

	// The run exercised what it claims to.
	kinds := map[string]int{}
	for _, f := range rep.Faults {
		kinds[f.Kind]++
	}
	want := []string{faultServerKill, faultServerTerm, faultWorkerKill, faultWorkerPair, faultPGTerminate, faultPGOutage}
	if len(cfg.KafkaBrokers) == 0 {
		want = append(want, faultBrokerKill, faultBrokerTerm)
	}
	for _, k := range want {
		if kinds[k] == 0 {
			t.Errorf("no %s fault injected (faults: %v)", k, kinds)
		}
	}
	if rep.Totals.Acknowledged < 100 {
		t.Errorf("only %d operations acknowledged", rep.Totals.Acknowledged)
	}
	if rep.Ops[opComplete].Acknowledged == 0 || rep.Ops[opCancel].Acknowledged == 0 {
		t.Errorf("no completion or no cancellation acknowledged: %+v", rep.Ops)
	}
}
