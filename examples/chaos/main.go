// Command chaos runs the real salesflow binaries under faults and checks
// that nothing was lost. It creates a fresh PostgreSQL database, starts a
// Kafka-protocol broker (kfake in its own process, examples/kfake, or the
// one in KAFKA_BROKERS), builds and starts the reference server (serve) and a
// separate worker, and drives concurrent creates, completions and
// cancellations through HTTP with retries and idempotency keys. Meanwhile,
// at moments drawn from the seed, it kills and restarts the server, kills
// workers, runs two workers and kills one, restarts the broker, and cuts
// or refuses the database's connections. Then it waits for the outbox and
// the consumer lag to drain and checks every invariant of DESIGN §6 and
// every acknowledged answer, prints a report and exits 1 on a violation.
//
//	go run ./examples/chaos                          # one minute, a random seed
//	go run ./examples/chaos -seed 42 -duration 20m -json report.json
//
// The fault schedule (kinds, order, gaps, pauses) follows from the seed;
// how the processes interleave does not, so a seed reproduces the faults,
// not the exact run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	var cfg Config
	var jsonPath, faults, brokers string
	flag.Uint64Var(&cfg.Seed, "seed", 0, "seed of the fault schedule and the workload (0: a random one, printed)")
	flag.DurationVar(&cfg.Duration, "duration", time.Minute, "how long the workload and the faults run")
	flag.IntVar(&cfg.Clients, "clients", 8, "concurrent HTTP clients")
	flag.StringVar(&cfg.PostgresURL, "postgres", "", "PostgreSQL server to create the run's database on (default DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres)")
	flag.StringVar(&cfg.DatabaseURL, "database-url", "", "an empty database to use as it is, instead of creating one")
	flag.StringVar(&brokers, "kafka-brokers", os.Getenv("KAFKA_BROKERS"), "external Kafka brokers (default KAFKA_BROKERS); empty: kfake in its own process, with broker faults")
	flag.StringVar(&cfg.PGRestartCmd, "pg-restart", "", `command that restarts the PostgreSQL server, such as "pg_ctlcluster 15 main restart": adds the pg-restart fault (never on a shared server)`)
	flag.StringVar(&faults, "faults", "", "comma-separated fault kinds (default all that apply): "+strings.Join(allKinds(), ", "))
	flag.DurationVar(&cfg.MinGap, "min-gap", 1500*time.Millisecond, "shortest pause between faults")
	flag.DurationVar(&cfg.MaxGap, "max-gap", 5*time.Second, "longest pause between faults")
	flag.StringVar(&jsonPath, "json", "", "also write the report as JSON to this file")
	flag.StringVar(&cfg.WorkDir, "workdir", "", "directory for logs and broker data (default a temporary one, removed after a clean run)")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the database and the work directory")
	flag.BoolVar(&cfg.Race, "race", false, "build the server with the race detector")
	flag.StringVar(&cfg.ServerBin, "server-bin", "", "a prebuilt examples/server binary (default: built with the go command, inside the module)")
	flag.StringVar(&cfg.BrokerBin, "broker-bin", "", "a prebuilt examples/kfake binary (default: built)")
	flag.BoolVar(&cfg.Abuse, "abuse", true, "run the abuse probes (slow-loris, oversized requests, forged tokens) at the end")
	flag.DurationVar(&cfg.EndGrace, "end-grace", 150*time.Second, "how long operations in flight may finish after -duration (they retry past the server's 60 s idempotency claims)")
	flag.DurationVar(&cfg.DrainTimeout, "drain-timeout", 5*time.Minute, "how long to wait for the outbox and the consumer lag to drain")
	flag.Parse()
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64() % 1_000_000
	}
	if brokers != "" {
		cfg.KafkaBrokers = strings.Split(brokers, ",")
	}
	if faults != "" {
		cfg.Faults = strings.Split(faults, ",")
	}
	cfg.Log = os.Stderr
	fmt.Fprintf(os.Stderr, "chaos: seed %d (rerun with -seed %d)\n", cfg.Seed, cfg.Seed)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	rep.Write(os.Stdout)
	if jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			os.Exit(2)
		}
	}
	if rep.Failed() {
		os.Exit(1)
	}
}

func allKinds() []string {
	return []string{faultServerKill, faultServerTerm, faultWorkerKill, faultWorkerPair, faultBrokerKill, faultBrokerTerm,
		faultPGTerminate, faultPGOutage, faultPGRestart}
}
