// Command loadgen drives a running salesflow server over HTTP with
// concurrent clients and reports what it sustained: sale lifecycles per
// second, API latency per route, the lag from a completion to its
// projection, the outbox backlog and consumer lag, and the server's CPU
// and memory.
//
//	go run ./examples/loadgen -url http://127.0.0.1:8080 -admin-token "$TOKEN" -clients 16 -duration 30s
//	go run ./examples/loadgen -server ./server -clients 8 -duration 10s -json out.json -svg out.svg
//
// It first creates a catalog of books (-books, 1,000 by default) with an
// admin token, then each client runs sale lifecycles one after another: a
// sale of 1 to 5 lines is created (POST /sales), then completed (PATCH
// /sales/{id}/status), cancelled while pending (-cancel-rate), or
// completed and then returned (-return-rate). Every write carries an
// Idempotency-Key, and a write that gets no answer is sent again with it.
// For every -sample-every-th completion a poller asks
// GET /stock-movements?saleId= until the worker's SALE movements appear,
// which measures the completion→projection lag. After the load it waits for
// the outbox and the worker to catch up (the drain), then prints the report
// and writes it as JSON (-json) and as a latency-over-time SVG (-svg).
//
// A progress line is printed each second. /metrics gives the outbox
// backlog, the events published, handled and applied, and the consumer lag
// (published less handled); with -kafka-brokers the consumer group's
// committed lag comes from the brokers too. The server's CPU and RSS come
// from /proc/<pid> with -server-pid or for a server started with -server,
// else from the process_* metrics.
//
// Runs are bounded: -duration (at most 1 h) and -count (at most 10 million
// lifecycles), and only servers on this machine (localhost, 127.0.0.0/8,
// ::1) are driven. -rate paces the clients to a number of lifecycles per
// second in all, to measure latency below the maximum load.
//
// Flags fall back to environment variables: BASE_URL, ADMIN_TOKEN,
// USER_TOKEN, KAFKA_BROKERS. With -server the binary is started as
// "BIN serve" on a free port with the load generator's environment (so
// DATABASE_URL, KAFKA_BROKERS and JWT_SECRET pass through); the admin token
// is the one it prints when JWT_SECRET is unset, or one minted with
// "BIN token" when it is set.
//
// Unless GOGC is set, it collects garbage at GOGC=400, as the server does:
// it shares the machine with what it measures. For the same reason -procs
// can keep it on fewer threads (the bench runs it with -procs 1).
//
// The exit status is 0 when the run completed, 1 when it failed, and 2 on
// bad usage.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	// The load generator shares the machine with what it measures, and
	// its garbage collection is part of its cost: collect less often, as
	// the server does, unless GOGC says otherwise. It changes what the
	// system gets of the machine, not the system (unmeasured alone:
	// collection was about 8 % of the load generator's CPU).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := command(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is the whole command, for tests: it parses args (with getenv for the
// fallbacks), runs the load and returns the exit status.
func command(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, files, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	if files.procs > 0 {
		// Restored on return: command is also the tests' entry point.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(files.procs))
	}
	if files.serverLog != "" {
		f, err := os.Create(files.serverLog)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 2
		}
		defer f.Close()
		cfg.ServerLog = f
	}
	if !files.quiet {
		cfg.Progress = stderr
	}
	if files.cpuProfile != "" {
		stop, err := startCPUProfile(files.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 2
		}
		defer stop()
	}
	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	rep.print(stdout)
	if files.json != "" {
		if err := rep.writeJSON(files.json); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	}
	if files.svg != "" {
		if err := rep.writeSVG(files.svg); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	}
	return 0
}

// outputs are the flags about the process rather than the load: where
// things go, and how many threads run its Go code.
type outputs struct {
	json, svg, serverLog, cpuProfile string
	quiet                            bool
	procs                            int
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (Config, outputs, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c   Config
		o   outputs
		kb  string
		env string
	)
	fs.StringVar(&c.BaseURL, "url", cmp.Or(getenv("BASE_URL"), "http://127.0.0.1:8080"), "the server's base URL, on this machine (env BASE_URL)")
	fs.StringVar(&c.AdminToken, "admin-token", getenv("ADMIN_TOKEN"), "a bearer token with role admin (env ADMIN_TOKEN)")
	fs.StringVar(&c.UserToken, "user-token", getenv("USER_TOKEN"), "a bearer token with role user that creates the sales (env USER_TOKEN); default: the admin token")
	fs.IntVar(&c.Clients, "clients", 8, "concurrent clients, each running one lifecycle at a time")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time, after the warm-up (at most 1h; 0 with -count: until the count)")
	fs.DurationVar(&c.Warmup, "warmup", 0, "load before measuring")
	fs.Int64Var(&c.Count, "count", 0, "at most this many lifecycles, warm-up included (0: no bound but -duration)")
	fs.Float64Var(&c.Rate, "rate", 0, "lifecycles per second over all clients (0: as fast as the clients go)")
	fs.IntVar(&c.Books, "books", 1000, "books in the catalog")
	fs.Int64Var(&c.Stock, "stock", 1_000_000, "initial stock of each book")
	fs.Float64Var(&c.CancelRate, "cancel-rate", 0.10, "share of sales cancelled while pending")
	fs.Float64Var(&c.ReturnRate, "return-rate", 0.05, "share of sales completed and then returned")
	fs.IntVar(&c.SampleEvery, "sample-every", 10, "poll the projection of every n-th lifecycle's completion (0: none)")
	fs.DurationVar(&c.PollInterval, "poll-interval", 2*time.Millisecond, "between two polls of one sampled completion")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "how long to wait for the projections after the load")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "the server's process id, to read its CPU and memory from /proc")
	fs.StringVar(&c.ServerBin, "server", "", "start this server binary (BIN serve on a free port) and stop it at the end")
	fs.StringVar(&env, "server-env", "", "comma-separated NAME=VALUE settings added to the started server's environment")
	fs.StringVar(&o.serverLog, "server-log", "", "write the started server's log to this file (default: discard)")
	fs.StringVar(&kb, "kafka-brokers", getenv("KAFKA_BROKERS"), "also read the consumer group's committed lag from these brokers (env KAFKA_BROKERS)")
	fs.StringVar(&c.ConsumerGroup, "consumer-group", cmp.Or(getenv("CONSUMER_GROUP"), "analytics-group"), "the worker's consumer group (env CONSUMER_GROUP)")
	fs.Uint64Var(&c.Seed, "seed", 0, "seed of the random choices (0: random)")
	fs.StringVar(&o.json, "json", "", "write the report as JSON to this file")
	fs.StringVar(&o.svg, "svg", "", "draw latency over time as SVG into this file")
	fs.BoolVar(&o.quiet, "q", false, "no progress lines")
	fs.IntVar(&o.procs, "procs", 0, "run this process's Go code on at most this many threads at once (GOMAXPROCS; 0: Go's default)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile of the whole run to this file (it shares the machine with what it measures)")
	if err := fs.Parse(args); err != nil {
		return c, o, err
	}
	if fs.NArg() > 0 {
		return c, o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.procs < 0 {
		return c, o, fmt.Errorf("-procs %d: want 0 (Go's default) or more", o.procs)
	}
	for b := range strings.SplitSeq(kb, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.KafkaBrokers = append(c.KafkaBrokers, b)
		}
	}
	for kv := range strings.SplitSeq(env, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			if !strings.Contains(kv, "=") {
				return c, o, fmt.Errorf("-server-env %q: want NAME=VALUE", kv)
			}
			c.ServerEnv = append(c.ServerEnv, kv)
		}
	}
	if err := c.check(); err != nil {
		return c, o, err
	}
	return c, o, nil
}
