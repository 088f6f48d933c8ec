// Command bench measures salesflow against this machine's limits in one
// run and prints the ratios of issue 6's goals:
//
//	go run ./bench                      # about 5 minutes with the defaults
//	go run ./bench -rounds 3            # about 9 minutes: the goals' medians of three rounds
//	go run ./bench -clients 32 -duration 60s -out /tmp/bench
//
// It runs, one after another, on the same PostgreSQL (-pg, default the
// local server on 127.0.0.1:5432, user postgres):
//
//  1. the baseline: pgbench with a script that does the server's create and
//     complete transactions (bench/pgbench.go), at -clients clients, in a
//     fresh database with salesflow's schema, and its references
//     (-pgbench-references: the same with idempotency keys, and pipelined
//     in the server's round trips), each in a fresh database too; and
//     the machine reference (-machine-reference): pgbench's built-in
//     TPC-B-like script on its own tables, which says how this machine's
//     PostgreSQL compares with the one issue 6 quotes;
//  2. the full system: the server binary (built here, with a pprof listener
//     added through a build overlay, so no file of the repository changes)
//     on a fresh database and on kfake run as a broker process of its own
//     (examples/kfake), driven by the load generator (examples/loadgen) at
//     -clients clients as fast as they go, polling the projection of
//     every -full-sample-every-th completion (50th), then paced at half
//     the lifecycles per second that reached, polling every 10th (the
//     load generator's default), the load generator's Go code on one
//     thread at a time (-procs 1); CPU profiles of the server and
//     of the load generator are taken during the last full load, the
//     server's heap profiles after it;
//  3. the bus alone against plain franz-go on kfake: the benchmarks of
//     eventbus/kafka (go test -bench);
//  4. the summary over a large history: -summary-sales completed sales
//     (1,000,000 by default; 0 skips) written straight into a fresh
//     database with their daily rollups, then GET /sales/summary for 30
//     days against the plain aggregate over the sales table.
//
// Everything lands in -out (default bench/out/<time>): the logs, the
// load generator's JSON reports and SVG charts, the profiles and their
// pprof -top listings, and bench.json with every number. The databases it
// makes (sfbench_*) are dropped at the end unless -keep.
//
// The machine is shared and noisy: compare only numbers of one run, which
// is what the ratios do. Its speed also drifts within minutes, so that one
// baseline against one full load can miss by several points either way:
// -rounds N runs phases 1 and 2 N times, alternately (the even rounds the
// system first), each on a new database after a CHECKPOINT, and judges
// the throughput goal by the median of the rounds' ratios; each round's
// half load follows its full load, and the half-load goals are judged by
// the median of the rounds' p99s (the upper middle of an even count: the
// higher of two). The baseline's references and the machine reference
// run in the first round, before its baseline; the profiles in the last.
//
// -compare measures a proposed change instead: server A (the tree, or
// -overlay, with -db-params and -server-env, driven with the load
// generator's flags -loadgen-args added) against server B (-b-overlay,
// -b-db-params, -b-server-env, -b-loadgen-args), at full load, alternately -repeat times
// each, and prints the medians and B's ratio to A, including the CPU
// milliseconds of the server and of PostgreSQL per lifecycle:
//
//	go run ./bench -compare -b-db-params pool_max_conns=16
//	go run ./bench -compare -b-overlay /tmp/change/overlay.json   # see go help build, -overlay
//	go run ./bench -compare -rate 200 ...   # both paced at 200 lifecycles/s, for latencies
//	go run ./bench -compare -b-loadgen-args "-sample-every 0"   # the load generator without polls
//
// bench/proposals holds the changes measured so far and their numbers.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := b.run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*bench, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	b := &bench{cpus: runtime.NumCPU()}
	fs.StringVar(&b.pgURL, "pg", cmp.Or(os.Getenv("BENCH_PG_URL"), "postgres://postgres@127.0.0.1:5432/postgres"), "a PostgreSQL URL of a role that may create databases (env BENCH_PG_URL)")
	fs.IntVar(&b.clients, "clients", 16, "clients of pgbench and of the load generator")
	fs.DurationVar(&b.pgbenchDuration, "pgbench-duration", 20*time.Second, "how long pgbench runs each script")
	fs.BoolVar(&b.machineRef, "machine-reference", true, "also run pgbench's built-in TPC-B-like script, in the first round, on its own tables: how fast this machine's PostgreSQL is at the small write transactions issue 6 quotes for its machine (see bench/pgbench.go)")
	refs := fs.String("pgbench-references", "keys,pipelined", "comma-separated variants of the baseline's script to run too, in the first round, as references: keys, pipelined, notify (see bench/pgbench.go; empty: none)")
	fs.DurationVar(&b.duration, "duration", 30*time.Second, "measured time of each load run")
	fs.DurationVar(&b.warmup, "warmup", 5*time.Second, "warm-up of each load run")
	fs.IntVar(&b.rounds, "rounds", 1, "rounds of the baseline and the full load (with its half load), alternately, each on new databases; the throughput goal is the median of the rounds' ratios, and the half-load goals the median of the rounds' p99s, as the machine's speed drifts between phases")
	fs.BoolVar(&b.half, "half", true, "also run the load paced at half the maximum lifecycles per second")
	fs.StringVar(&b.dbParams, "db-params", "", "query parameters added to the server's DATABASE_URL, such as pool_max_conns=16&sslmode=disable")
	fs.StringVar(&b.serverEnv, "server-env", "", "comma-separated NAME=VALUE settings for the server (such as LOG_LEVEL=warn)")
	fs.BoolVar(&b.profile, "profile", true, "take CPU profiles of the server (20 s of the measured window) and of the load generator (its whole run) in the last full load, and the server's heap profiles after it; the profilers' cost falls on that run")
	fs.StringVar(&b.overlay, "overlay", "", "a go build -overlay file for the server (replaced files of the tree, see go help build)")
	fs.BoolVar(&b.compare, "compare", false, "compare two servers instead of the four phases: A (-overlay, -db-params, -server-env) and B (-b-overlay, -b-db-params, -b-server-env), at full load, alternately -repeat times each")
	fs.StringVar(&b.bOverlay, "b-overlay", "", "with -compare: the overlay of server B")
	fs.StringVar(&b.bDBParams, "b-db-params", "", "with -compare: the DATABASE_URL parameters of server B")
	fs.StringVar(&b.bServerEnv, "b-server-env", "", "with -compare: the settings of server B")
	fs.IntVar(&b.fullSampleEvery, "full-sample-every", 50, "the load generator's -sample-every in the loads that run as fast as they go (the paced ones, such as the half load, keep its default, every 10th)")
	fs.StringVar(&b.loadgenArgs, "loadgen-args", "", "flags added to the load generator's, split at spaces, after the bench's, so they win (such as -sample-every 20 or -procs 2; not those the bench sets and reads back, such as -rate)")
	fs.StringVar(&b.bLoadgenArgs, "b-loadgen-args", "", "with -compare: the load generator's added flags in B's runs")
	fs.IntVar(&b.repeat, "repeat", 3, "with -compare: runs of each server")
	fs.Float64Var(&b.rate, "rate", 0, "with -compare: pace both servers at this many lifecycles/s rather than run them as fast as they go, to compare latencies at one load (such as half the maximum)")
	fs.BoolVar(&b.bus, "bus", true, "run the bus benchmarks (bus against plain franz-go)")
	fs.StringVar(&b.busPublishTime, "bus-publish-benchtime", "4s", "-benchtime of BenchmarkPublish (both variants share it)")
	fs.StringVar(&b.busConsumeTime, "bus-consume-benchtime", "10x", "-benchtime of BenchmarkConsume")
	fs.IntVar(&b.busCount, "bus-count", 3, "-count of the bus benchmarks (the median is used)")
	fs.IntVar(&b.summarySales, "summary-sales", 1_000_000, "completed sales in the summary's history (0: skip the summary)")
	fs.StringVar(&b.out, "out", "", "directory for the results (default bench/out/<time>)")
	fs.BoolVar(&b.keep, "keep", false, "keep the sfbench_* databases")
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case b.clients < 1 || b.clients > 256:
		return nil, fmt.Errorf("-clients %d: want 1 to 256", b.clients)
	case b.duration < 5*time.Second || b.duration > time.Hour:
		return nil, fmt.Errorf("-duration %v: want 5s to 1h", b.duration)
	case b.pgbenchDuration < 5*time.Second || b.pgbenchDuration > time.Hour:
		return nil, fmt.Errorf("-pgbench-duration %v: want 5s to 1h", b.pgbenchDuration)
	case b.warmup < 0 || b.warmup > 10*time.Minute:
		return nil, fmt.Errorf("-warmup %v: want 0 to 10m", b.warmup)
	case b.summarySales < 0 || b.summarySales > 20_000_000:
		return nil, fmt.Errorf("-summary-sales %d: want 0 to 20,000,000", b.summarySales)
	case b.rounds < 1 || b.rounds > 10:
		return nil, fmt.Errorf("-rounds %d: want 1 to 10", b.rounds)
	case b.busCount < 1 || b.busCount > 20:
		return nil, fmt.Errorf("-bus-count %d: want 1 to 20", b.busCount)
	case b.fullSampleEvery < 0:
		return nil, fmt.Errorf("-full-sample-every %d: want 0 (no polls) or more", b.fullSampleEvery)
	}
	if b.references, err = parseReferences(*refs); err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, args string }{{"-loadgen-args", b.loadgenArgs}, {"-b-loadgen-args", b.bLoadgenArgs}} {
		if err := checkLoadgenArgs(f.args); err != nil {
			return nil, fmt.Errorf("%s %q: %w", f.name, f.args, err)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	b.root = root
	if b.out == "" {
		b.out = filepath.Join(root, "bench", "out", time.Now().Format("20060102-150405"))
	}
	if b.out, err = filepath.Abs(b.out); err != nil {
		return nil, err
	}
	for _, p := range []*string{&b.overlay, &b.bOverlay} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return nil, err
			}
		}
	}
	if b.compare && b.rounds != 1 {
		return nil, fmt.Errorf("-rounds %d: not with -compare, which has -repeat", b.rounds)
	}
	if b.compare && (b.repeat < 1 || b.repeat > 20) {
		return nil, fmt.Errorf("-repeat %d: want 1 to 20", b.repeat)
	}
	if b.rate < 0 || (b.rate > 0 && !b.compare) {
		return nil, fmt.Errorf("-rate %g: want a positive rate, with -compare", b.rate)
	}
	return b, nil
}

// benchOwned are the load generator's flags that the bench sets and reads
// back: a variant may not change them.
var benchOwned = []string{"url", "admin-token", "user-token", "server-pid", "kafka-brokers",
	"clients", "duration", "warmup", "json", "svg", "rate", "cpuprofile", "server"}

// checkLoadgenArgs refuses -loadgen-args that set a flag the bench owns.
// The arguments are split at spaces, without quoting.
func checkLoadgenArgs(args string) error {
	for _, a := range strings.Fields(args) {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && slices.Contains(benchOwned, name) {
			return fmt.Errorf("%s is the bench's to set", a)
		}
	}
	return nil
}

// parseReferences reads -pgbench-references: names of references, each
// once.
func parseReferences(list string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		switch _, ok := references[name]; {
		case name == "":
		case !ok:
			return nil, fmt.Errorf("-pgbench-references: unknown %q (want %s)", name, strings.Join(slices.Sorted(maps.Keys(references)), ", "))
		case slices.Contains(out, name):
			return nil, fmt.Errorf("-pgbench-references: %q twice", name)
		default:
			out = append(out, name)
		}
	}
	return out, nil
}
