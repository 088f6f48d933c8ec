package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/salesflow/salesflow/internal/harness"
)

// defaultPostgresURL is the server the run makes its database on when
// neither -postgres nor DATABASE_URL says otherwise.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Config is one chaos run.
type Config struct {
	Seed     uint64
	Duration time.Duration // of the workload and the faults
	Clients  int

	// PostgresURL is the server on which the run creates a fresh database
	// (dropped at the end unless Keep); DatabaseURL, when set, is an empty
	// database to use as it is instead.
	PostgresURL string
	DatabaseURL string
	// KafkaBrokers, when set, is an external broker: no broker faults.
	KafkaBrokers []string
	// PGRestartCmd, when set, adds the pg-restart fault: a command that
	// restarts the PostgreSQL server, such as "pg_ctlcluster 15 main restart".
	PGRestartCmd string
	// Faults lists the kinds to inject; empty means all that apply.
	Faults         []string
	MinGap, MaxGap time.Duration // between faults

	// ServerBin and BrokerBin are prebuilt binaries of examples/server and
	// examples/kfake; empty: built into the work directory (with the
	// go command, inside the salesflow module).
	ServerBin, BrokerBin string

	WorkDir      string        // logs and broker data; a temporary directory when empty
	Keep         bool          // keep the work directory and the database
	Race         bool          // build the binaries with -race
	Abuse        bool          // probe the server with abusive clients at the end
	OpTimeout    time.Duration // how long an operation retries (past the server's 60 s idempotency claims)
	EndGrace     time.Duration // how long operations in flight may finish after Duration (default OpTimeout)
	DrainTimeout time.Duration
	Log          io.Writer // progress lines; nil discards them
}

func (c *Config) defaults() {
	c.Duration = cmp.Or(c.Duration, time.Minute)
	c.Clients = cmp.Or(c.Clients, 8)
	c.MinGap = cmp.Or(c.MinGap, 1500*time.Millisecond)
	c.MaxGap = max(cmp.Or(c.MaxGap, 5*time.Second), c.MinGap)
	c.OpTimeout = cmp.Or(c.OpTimeout, 150*time.Second)
	c.EndGrace = cmp.Or(c.EndGrace, c.OpTimeout)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, 5*time.Minute)
	c.PostgresURL = cmp.Or(c.PostgresURL, os.Getenv("DATABASE_URL"), defaultPostgresURL)
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// deployment is the system under test: the database, the broker, the
// server and the workers, and what the run knows about them.
type deployment struct {
	cfg              Config
	dir              string
	serverBin        string
	brokerBin        string
	secret           string
	dbURL            string // the chaos database
	adminURL         string // the same server's postgres database, for faults
	dbName           string
	brokers          []string
	prefix           string
	group            string
	baseEnv          []string
	server           *proc
	broker           *proc // nil with an external broker
	mu               sync.Mutex
	workers          []*proc
	allProcs         []*proc
	nworkers         int
	logf             func(format string, args ...any)
	exitsMu          sync.Mutex
	exitTimes        []exitAt
	unackedCommitted int
}

type exitAt struct {
	proc string
	exit
}

// ownEnv are the server's settings, which the run sets itself.
var ownEnv = []string{"DATABASE_URL", "KAFKA_BROKERS", "KAFKA_PARTITIONS", "KAFKA_REPLICATION_FACTOR", "JWT_SECRET",
	"JWT_PUBLIC_KEY_FILE", "JWT_PRIVATE_KEY_FILE", "TAX_RATE", "CURRENCY", "TIME_ZONE", "TOPIC_PREFIX", "CONSUMER_GROUP",
	"LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT", "PORT"}

func (d *deployment) env(port int, dbURL string) []string {
	return append(slices.Clone(d.baseEnv),
		"PORT="+strconv.Itoa(port), "DATABASE_URL="+dbURL, "KAFKA_BROKERS="+strings.Join(d.brokers, ","),
		"KAFKA_REPLICATION_FACTOR=1", "JWT_SECRET="+d.secret, "TOPIC_PREFIX="+d.prefix, "CONSUMER_GROUP="+d.group,
		"SHUTDOWN_TIMEOUT=10s", "LOG_LEVEL=info", "TAX_RATE=0.19")
}

// withPool returns the database URL with a pool of n connections, so that
// the processes stay within the shared server's connection limit.
func withPool(dbURL string, n int) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	q := u.Query()
	q.Set("pool_max_conns", strconv.Itoa(n))
	q.Set("connect_timeout", "5")
	u.RawQuery = q.Encode()
	return u.String()
}

func (d *deployment) newHTTPProc(name, sub string, pool int) (*proc, error) {
	port, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	p, err := newProc(name, d.serverBin, []string{sub}, d.env(port, withPool(d.dbURL, pool)), port, true, d.dir)
	if err != nil {
		return nil, err
	}
	p.onExit = d.recordExit
	d.mu.Lock()
	d.allProcs = append(d.allProcs, p)
	d.mu.Unlock()
	return p, nil
}

func (d *deployment) recordExit(p *proc, e exit) {
	d.exitsMu.Lock()
	d.exitTimes = append(d.exitTimes, exitAt{p.name, e})
	d.exitsMu.Unlock()
	d.logf("         %s exited on its own (%s); the supervisor starts it again: %s", p.name, e.Status, strings.ReplaceAll(truncate(e.Tail, 400), "\n", " | "))
}

// addWorker starts one more worker process.
func (d *deployment) addWorker() (*proc, error) {
	d.mu.Lock()
	d.nworkers++
	name := fmt.Sprintf("worker-%d", d.nworkers)
	d.mu.Unlock()
	w, err := d.newHTTPProc(name, "worker", 4)
	if err != nil {
		return nil, err
	}
	if err := w.start(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.workers = append(d.workers, w)
	d.mu.Unlock()
	return w, nil
}

// worker returns the oldest worker process.
func (d *deployment) worker() *proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.workers[0]
}

func (d *deployment) dropWorker(w *proc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.workers = slices.DeleteFunc(d.workers, func(p *proc) bool { return p == w })
}

func (d *deployment) procs() []*proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.allProcs)
}

// createDatabase makes a fresh database on the server at serverURL.
func createDatabase(ctx context.Context, serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("-postgres must be a postgres:// URL")
	}
	return harness.CreateDatabase(ctx, serverURL, name)
}

// Run runs one chaos scenario and returns its report; an error means the
// run itself could not be made (no PostgreSQL, a build that failed), not
// that the system broke an invariant: the report says that.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	cfg.defaults()
	logf := func(format string, args ...any) { fmt.Fprintf(cfg.Log, "chaos: "+format+"\n", args...) }
	logf("seed %d, %v, %d clients", cfg.Seed, cfg.Duration, cfg.Clients)
	rep = &Report{Seed: cfg.Seed, DurationSec: cfg.Duration.Seconds(), Clients: cfg.Clients}
	started := time.Now()

	dir := cfg.WorkDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "salesflow-chaos-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rep.WorkDir = dir
	d := &deployment{cfg: cfg, dir: dir, logf: logf}
	defer func() {
		if !cfg.Keep && cfg.WorkDir == "" && err == nil && rep.Violations == 0 {
			os.RemoveAll(dir)
			rep.WorkDir = ""
		}
	}()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(ownEnv, k) && !strings.HasPrefix(k, "SERVICE_") {
			d.baseEnv = append(d.baseEnv, kv)
		}
	}
	d.secret = harness.RandomSecret()
	suffix := strings.ToLower(rand.Text()[:8])
	d.prefix = fmt.Sprintf("chaos-%d-%s.", cfg.Seed, suffix)
	d.group = fmt.Sprintf("chaos-%d-%s", cfg.Seed, suffix)

	d.serverBin, d.brokerBin = cfg.ServerBin, cfg.BrokerBin
	if d.serverBin == "" || d.brokerBin == "" {
		logf("building the server and the broker")
		if d.serverBin, d.brokerBin, err = build(ctx, dir, cfg.Race); err != nil {
			return nil, err
		}
	}

	// The database.
	if cfg.DatabaseURL != "" {
		d.dbURL = cfg.DatabaseURL
	} else {
		name := fmt.Sprintf("salesflow_chaos_%d_%s", cfg.Seed, suffix)
		if d.dbURL, err = createDatabase(ctx, cfg.PostgresURL, name); err != nil {
			return nil, err
		}
		if !cfg.Keep {
			defer func() {
				if derr := harness.DropDatabase(context.WithoutCancel(ctx), d.adminURL, d.dbName); derr != nil {
					logf("drop database: %v", derr)
				}
			}()
		}
	}
	u, err := url.Parse(d.dbURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	d.dbName = strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	d.adminURL = u.String()
	rep.Database = d.dbName
	// A fault may have left it closed.
	defer func() { _ = d.allowConnections(context.WithoutCancel(ctx), true) }()

	// The broker.
	if len(cfg.KafkaBrokers) > 0 {
		d.brokers = cfg.KafkaBrokers
	} else {
		port, err := harness.FreePort()
		if err != nil {
			return nil, err
		}
		data := dir + "/broker-data"
		if d.broker, err = newProc("broker", d.brokerBin, []string{"-port", strconv.Itoa(port), "-dir", data}, d.baseEnv, port, false, dir); err != nil {
			return nil, err
		}
		d.broker.onExit = d.recordExit
		d.allProcs = append(d.allProcs, d.broker)
		if err := d.broker.start(); err != nil {
			return nil, err
		}
		if _, err := d.broker.waitUp(ctx, false, 30*time.Second); err != nil {
			return nil, err
		}
		d.brokers = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	}
	defer func() {
		for _, p := range d.procs() {
			p.close()
		}
	}()

	// The server and one worker.
	if d.server, err = d.newHTTPProc("server", "serve", 8); err != nil {
		return nil, err
	}
	if err := d.server.start(); err != nil {
		return nil, err
	}
	if _, err := d.server.waitUp(ctx, true, time.Minute); err != nil {
		return nil, err
	}
	w1, err := d.addWorker()
	if err != nil {
		return nil, err
	}
	if _, err := w1.waitUp(ctx, true, time.Minute); err != nil {
		return nil, err
	}

	// Tokens and books.
	tokenEnv := append(slices.Clone(d.baseEnv), "JWT_SECRET="+d.secret)
	token := func(role, sub string) (string, error) {
		return harness.MintToken(ctx, d.serverBin, tokenEnv, role, sub, "--ttl", "24h")
	}
	admin, err := token("admin", "chaos-admin")
	if err != nil {
		return nil, err
	}
	users, subs := make([]string, cfg.Clients), make([]string, cfg.Clients)
	for i := range users {
		subs[i] = fmt.Sprintf("chaos-user-%d", i)
		if users[i], err = token("user", subs[i]); err != nil {
			return nil, err
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", d.server.port)
	w := newWorkload(base, admin, users, subs, cfg.Seed, cfg.OpTimeout)
	if err := w.setup(ctx, 4, 12); err != nil {
		return nil, err
	}

	// Metrics, faults and the workload.
	sctx, stopScrape := context.WithCancel(ctx)
	defer stopScrape()
	sc := newScraper()
	var scrapeDone sync.WaitGroup
	scrapeDone.Go(func() { sc.run(sctx, d.procs) })

	kinds := cfg.Faults
	if len(kinds) == 0 {
		kinds = []string{faultServerKill, faultServerTerm, faultWorkerKill, faultWorkerPair, faultPGTerminate, faultPGOutage}
		if d.broker != nil {
			kinds = append(kinds, faultBrokerKill, faultBrokerTerm)
		}
		if cfg.PGRestartCmd != "" {
			kinds = append(kinds, faultPGRestart)
		}
	}
	for _, k := range kinds {
		if faultInfo[k] == "" {
			return nil, fmt.Errorf("unknown fault kind %q", k)
		}
		if d.broker == nil && (k == faultBrokerKill || k == faultBrokerTerm) {
			return nil, fmt.Errorf("fault %s needs the run's own broker (no KAFKA_BROKERS)", k)
		}
		if k == faultPGRestart && cfg.PGRestartCmd == "" {
			return nil, errors.New("fault pg-restart needs -pg-restart")
		}
	}
	t0 := time.Now()
	until := t0.Add(cfg.Duration)
	f := &faulter{
		rng: newRand(cfg.Seed, 1<<32), kinds: kinds, d: d, minGap: cfg.MinGap, maxGap: cfg.MaxGap, logf: logf, t0: t0,
	}
	logf("workload and faults for %v", cfg.Duration)
	var faults sync.WaitGroup
	faults.Go(func() { f.run(ctx, until) })
	w.run(ctx, until, cfg.EndGrace)
	workloadEnd := time.Now()
	faults.Wait()
	logf("workload done after %.1fs; faults done", time.Since(t0).Seconds())

	// Everything up again, then drain.
	_ = d.allowConnections(ctx, true)
	for _, p := range append([]*proc{d.broker, d.server}, d.workers...) {
		if p == nil {
			continue
		}
		if err := p.start(); err != nil {
			return nil, err
		}
		if _, err := p.waitUp(ctx, p == d.server, 2*time.Minute); err != nil {
			return nil, err
		}
	}
	dr, err := d.drain(ctx, cfg.DrainTimeout)
	if err != nil {
		return nil, err
	}
	drained := time.Now()
	lastFault := f.lastFault
	if lastFault.IsZero() {
		lastFault = t0
	}
	dr.AfterLastFaultMS = drained.Sub(lastFault).Milliseconds()
	dr.AfterWorkloadMS = drained.Sub(workloadEnd).Milliseconds()
	rep.Drain = dr
	logf("drained=%t in %dms after the last fault (backlog %d, unapplied %d, lag %d %s)",
		dr.Drained, dr.AfterLastFaultMS, dr.Backlog, dr.Unapplied, dr.Lag, dr.LagErr)
	time.Sleep(1500 * time.Millisecond) // one more scrape of the counters
	stopScrape()
	scrapeDone.Wait()
	sc.scrapeAll(ctx, d.procs())

	checks, events, err := d.verify(ctx, w, sc)
	if err != nil {
		return nil, err
	}
	if !dr.Drained {
		c := Check{Name: "the outbox and the consumer lag drained", Checked: 1}
		c.fail("%.0f s after the workload: backlog %d, unapplied %d, lag %d %s", float64(dr.AfterWorkloadMS)/1000, dr.Backlog, dr.Unapplied, dr.Lag, dr.LagErr)
		checks = append(checks, c)
	}

	if cfg.Abuse {
		logf("abuse probes")
		rep.Abuse = runProbes(ctx, d.server.port, admin, users[0])
		c := Check{Name: "abuse probes", Checked: len(rep.Abuse)}
		for _, p := range rep.Abuse {
			if !p.OK {
				c.fail("%s: %s", p.Name, p.Result)
			}
		}
		checks = append(checks, c)
	}

	// A clean shutdown of everything left.
	shutdown := Check{Name: "graceful shutdown (SIGTERM) of the server and the workers within 15 s"}
	for _, p := range append([]*proc{d.server}, d.workers...) {
		shutdown.Checked++
		took, ran := p.stop(syscall.SIGTERM, 15*time.Second)
		switch {
		case ran && took >= 15*time.Second:
			shutdown.fail("%s did not stop within 15 s", p.name)
		case ran && p.status() != "exit 0":
			shutdown.fail("%s stopped with %s", p.name, p.status())
		}
	}
	checks = append(checks, shutdown)

	rep.fill(d, w, f, checks, events, t0, workloadEnd)
	rep.ElapsedSec = time.Since(started).Seconds()
	return rep, nil
}
