package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/internal/harness"
)

// bench is one run of every phase.
type bench struct {
	root, out, pgURL string
	clients, cpus    int

	pgbenchDuration, duration, warmup time.Duration
	half, profile, bus, keep          bool
	references                        []string // of the baseline, run in the first round
	machineRef                        bool     // run the machine reference in the first round
	dbParams, serverEnv, overlay      string
	compare                           bool
	bOverlay, bDBParams, bServerEnv   string
	loadgenArgs, bLoadgenArgs         string
	fullSampleEvery                   int
	repeat, rounds                    int
	rate                              float64 // with compare: paced lifecycles/s; 0: full load
	busPublishTime, busConsumeTime    string
	busCount, summarySales            int

	bins struct{ server, serverB, loadgen, kfake string }
	log  *os.File
	dbs  []string // databases made, dropped at the end
}

// Result is everything one run measured; bench.json holds it.
type Result struct {
	StartedAt time.Time `json:"startedAt"`
	Machine   Machine   `json:"machine"`
	Clients   int       `json:"clients"`

	Pgbench *PgbenchResult `json:"pgbench,omitempty"`
	// References are the variants of the baseline's script, by name (see
	// references in pgbench.go), run in the first round.
	References map[string]*PgbenchResult `json:"references,omitempty"`
	// MachineRef is pgbench's built-in TPC-B-like script, run in the
	// first round (see runMachine): how fast this machine's PostgreSQL is.
	MachineRef *MachineResult `json:"machineReference,omitempty"`
	Full       *LoadResult    `json:"full,omitempty"`
	// Rounds are the baseline, the full load and the half load of each
	// round, with -rounds above 1; Pgbench, Full and Half are then the
	// last round's.
	Rounds  []Round        `json:"rounds,omitempty"`
	Half    *LoadResult    `json:"half,omitempty"`
	Bus     *BusResult     `json:"bus,omitempty"`
	Summary *SummaryResult `json:"summary,omitempty"`
	Goals   []Goal         `json:"goals"`
}

// Round is one run of the baseline and the full load after it, and of the
// half load after that.
type Round struct {
	PgbenchTPS float64    `json:"pgbenchTps"`
	Lifecycles float64    `json:"lifecyclesPerSecond"`
	Ratio      float64    `json:"ratio"` // Lifecycles / PgbenchTPS, unrounded
	Half       *HalfRound `json:"half,omitempty"`
}

// HalfRound is what the half-load goals read of one round's half load.
type HalfRound struct {
	Rate            float64 `json:"pacedLifecyclesPerSecond"`
	APIP99Ms        float64 `json:"apiP99Ms"` // of the slower write route
	APIRoute        string  `json:"apiRoute"`
	ProjectionP99Ms float64 `json:"projectionP99Ms"`
	// ProjectionComplete: some completions were observed projected, and
	// none timed out.
	ProjectionComplete bool `json:"projectionComplete"`
}

// halfRound reads h (nil: none).
func halfRound(h *LoadResult) *HalfRound {
	if h == nil {
		return nil
	}
	out := &HalfRound{Rate: h.Rate}
	for _, route := range []string{routeCreateSale, routeStatus} {
		if q, ok := h.Loadgen.Routes[route]; ok && q.P99Ms >= out.APIP99Ms {
			out.APIP99Ms, out.APIRoute = q.P99Ms, route
		}
	}
	p := h.Loadgen.Projection
	out.ProjectionP99Ms, out.ProjectionComplete = p.Lag.P99Ms, p.Observed > 0 && p.TimedOut == 0
	return out
}

// Machine describes where the run ran.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GoVersion  string `json:"goVersion"`
	PostgreSQL string `json:"postgresql"`
	SyncCommit string `json:"synchronousCommit"`
	Kernel     string `json:"kernel"`
}

// serverVariant is the server of the tree (or -overlay) with -server-env,
// -db-params and -loadgen-args, named name.
func (b *bench) serverVariant(name string) variant {
	return variant{name: name, server: b.bins.server, env: settings(b.serverEnv), dbParams: b.dbParams, loadgen: strings.Fields(b.loadgenArgs)}
}

func (b *bench) run(ctx context.Context) (err error) {
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return err
	}
	if b.log, err = os.Create(filepath.Join(b.out, "bench.log")); err != nil {
		return err
	}
	defer b.log.Close()
	defer b.dropDatabases()
	res := &Result{StartedAt: time.Now().UTC(), Clients: b.clients}
	b.logf("results in %s", b.out)
	if res.Machine, err = b.machine(ctx); err != nil {
		return err
	}
	if err := b.build(ctx); err != nil {
		return err
	}
	save := func() {
		if b.compare {
			return
		}
		res.Goals = goals(res)
		if data, err := json.MarshalIndent(res, "", "  "); err == nil {
			_ = os.WriteFile(filepath.Join(b.out, "bench.json"), append(data, '\n'), 0o644)
		}
	}
	defer save()

	if b.compare {
		return b.runCompare(ctx)
	}
	v := b.serverVariant("server")
	previous := "" // the database of the phase before, in rounds
	for i := 1; i <= b.rounds; i++ {
		round, tag := "", "full"
		if b.rounds > 1 {
			round, tag = fmt.Sprintf(", round %d of %d", i, b.rounds), fmt.Sprintf("full-r%d", i)
		}
		last := i == b.rounds
		var pg *PgbenchResult
		var refs map[string]*PgbenchResult
		var full, half *LoadResult
		baseline := func() (err error) {
			b.between(ctx, previous)
			b.phase("1/4 baseline: pgbench, %d clients, %v per script%s", b.clients, b.pgbenchDuration, round)
			var names []string
			if i == 1 {
				// The references first, so that the baseline runs next
				// to the full load it is compared with.
				names = b.references
				if b.machineRef {
					b.machineReference(ctx, res)
					b.between(ctx, machineDB)
				}
			}
			pg, refs, err = b.runPgbench(ctx, names)
			previous = pgbenchDB
			return err
		}
		system := func() (err error) {
			b.between(ctx, previous)
			b.phase("2/4 full system: server on PostgreSQL and kfake, load generator at %d clients%s", b.clients, round)
			full, half, err = b.runSystem(ctx, v, tag, b.half, b.profile && last, 0)
			previous = "sfbench_load"
			return err
		}
		// Even rounds run the system first, so that a drift of the
		// machine's speed over the run favours neither side.
		first, second := baseline, system
		if i%2 == 0 {
			first, second = system, baseline
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		if i == 1 {
			res.References = refs
		}
		res.Pgbench, res.Full, res.Half = pg, full, half
		if b.rounds > 1 {
			l := full.Loadgen.Lifecycles.PerSecond
			res.Rounds = append(res.Rounds, Round{PgbenchTPS: pg.TPS, Lifecycles: l, Ratio: l / pg.TPS, Half: halfRound(half)})
			b.logf("round %d: %.1f lifecycles/s / %.0f transactions/s = %.1f %%", i, l, pg.TPS, 100*l/pg.TPS)
		}
	}

	if b.bus {
		b.phase("3/4 bus against plain franz-go on kfake (go test -bench)")
		if res.Bus, err = b.runBus(ctx); err != nil {
			return err
		}
	}
	if b.summarySales > 0 {
		b.phase("4/4 summary over %d completed sales: daily rollups against the plain aggregate", b.summarySales)
		if res.Summary, err = b.runSummary(ctx); err != nil {
			return err
		}
	}
	save()
	printGoals(os.Stdout, res)
	fmt.Fprintf(b.log, "\n")
	printGoals(b.log, res)
	b.logf("all results: %s", b.out)
	return nil
}

// machineReference runs the machine reference into res; a failure is logged and
// leaves it out, as no goal depends on it.
func (b *bench) machineReference(ctx context.Context, res *Result) {
	m, err := b.runMachine(ctx)
	if err != nil {
		b.logf("pgbench, the machine reference: %v (left out of the results)", err)
		return
	}
	res.MachineRef = m
	b.logf("pgbench, the machine reference: %.0f TPC-B-like transactions/s over %s (latency %.1f ms, %d failed)",
		m.TPS, m.Connection, m.Latency, m.Failed)
}

// build compiles the server (with the pprof overlay and -overlay; with
// -compare also server B with -b-overlay), the load generator and the
// kfake broker into the output directory.
func (b *bench) build(ctx context.Context) error {
	bin := filepath.Join(b.out, "bin")
	b.bins.server = filepath.Join(bin, "server")
	b.bins.loadgen = filepath.Join(bin, "loadgen")
	b.bins.kfake = filepath.Join(bin, "kfake")
	b.logf("building the server, the load generator and kfake")
	builds := [][]string{
		{"build", "-o", b.bins.loadgen, "./examples/loadgen"},
		{"build", "-o", b.bins.kfake, "./examples/kfake"},
	}
	servers := []struct{ bin, overlay, name string }{{b.bins.server, b.overlay, "a"}}
	if b.compare {
		b.bins.serverB = filepath.Join(bin, "server-b")
		servers = append(servers, struct{ bin, overlay, name string }{b.bins.serverB, b.bOverlay, "b"})
	}
	for _, s := range servers {
		overlay, err := b.serverOverlay(s.name, s.overlay)
		if err != nil {
			return err
		}
		builds = append(builds, []string{"build", "-overlay", overlay, "-o", s.bin, "./examples/server"})
	}
	for _, c := range builds {
		if _, err := b.command(ctx, "build.log", "go", c...); err != nil {
			return fmt.Errorf("go %s: %w (see %s)", strings.Join(c, " "), err, filepath.Join(b.out, "build.log"))
		}
	}
	return nil
}

// pprofFile is compiled into the server through the build overlay: with
// SALESFLOW_PPROF_ADDR set, net/http/pprof serves on that address.
const pprofFile = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func init() {
	addr := os.Getenv("SALESFLOW_PPROF_ADDR")
	if addr == "" {
		return
	}
	runtime.SetMutexProfileFraction(100)
	runtime.SetBlockProfileRate(100000) // one sample per 100 µs blocked
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
`

// serverOverlay writes the overlay that adds pprofFile to the server,
// merged with the replacements of the overlay file user (if any), and
// returns its path.
func (b *bench) serverOverlay(name, user string) (string, error) {
	// "_": the go command ignores the directory, so that ./... in the
	// module does not build the file as a package of its own.
	dir := filepath.Join(b.out, "_overlay")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(dir, "zz_bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofFile), 0o644); err != nil {
		return "", err
	}
	ov := struct{ Replace map[string]string }{Replace: map[string]string{}}
	if user != "" {
		data, err := os.ReadFile(user)
		if err != nil {
			return "", err
		}
		if err := json.Unmarshal(data, &ov); err != nil {
			return "", fmt.Errorf("overlay %s: %w", user, err)
		}
		for k := range ov.Replace {
			b.logf("server %s: %s replaced (overlay %s)", name, k, user)
		}
	}
	ov.Replace[filepath.Join(b.root, "examples", "server", "zz_bench_pprof.go")] = src
	data, err := json.Marshal(ov)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay-"+name+".json")
	return path, os.WriteFile(path, data, 0o644)
}

// settings splits comma-separated NAME=VALUE settings.
func settings(s string) []string {
	var out []string
	for kv := range strings.SplitSeq(s, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			out = append(out, kv)
		}
	}
	return out
}

// machine describes the machine and the database server.
func (b *bench) machine(ctx context.Context) (Machine, error) {
	m := Machine{CPUs: b.cpus}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	conn, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		return m, fmt.Errorf("PostgreSQL at -pg: %w", err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('synchronous_commit')").Scan(&m.PostgreSQL, &m.SyncCommit); err != nil {
		return m, err
	}
	b.logf("machine: %d CPUs, %s, PostgreSQL %s (synchronous_commit %s), Linux %s", m.CPUs, m.GoVersion, m.PostgreSQL, m.SyncCommit, m.Kernel)
	return m, nil
}

// freshDatabase drops and makes dbname and returns its URL.
func (b *bench) freshDatabase(ctx context.Context, dbname string) (string, error) {
	if err := harness.DropDatabase(ctx, b.pgURL, dbname); err != nil {
		return "", err
	}
	u, err := harness.CreateDatabase(ctx, b.pgURL, dbname)
	if err != nil {
		return "", err
	}
	b.dbs = append(b.dbs, dbname)
	return u, nil
}

// between readies the machine for a phase of -rounds that follows another
// one: the phase before's database (previous, if any) is dropped unless
// -keep, so that nothing vacuums it meanwhile, and a CHECKPOINT starts
// the next phase's WAL distance afresh (the phases before wrote up to
// about 500 MB of WAL). The run's first phase needs neither.
func (b *bench) between(ctx context.Context, previous string) {
	if previous == "" {
		return
	}
	if !b.keep {
		if err := harness.DropDatabase(ctx, b.pgURL, previous); err != nil {
			b.logf("dropping %s between the phases failed: %v", previous, err)
		}
	}
	b.checkpoint(ctx, b.pgURL)
}

// checkpoint runs CHECKPOINT between two phases; a role that may not
// checkpoint skips it, with a note in the log.
func (b *bench) checkpoint(ctx context.Context, dbURL string) {
	if err := b.execSQL(ctx, dbURL, `CHECKPOINT`); err != nil {
		b.logf("CHECKPOINT between the phases failed (%v): the next phase may include one that PostgreSQL starts", err)
	}
}

// dropDatabases drops the databases the run made, unless -keep.
func (b *bench) dropDatabases() {
	if b.keep || len(b.dbs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = harness.DropDatabase(ctx, b.pgURL, b.dbs...)
}

// migrate applies the schema with the server's migrate command.
func (b *bench) migrate(ctx context.Context, dbURL string) error {
	cmd := exec.CommandContext(ctx, b.bins.server, "migrate")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "LOG_LEVEL=warn")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("server migrate: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// execSQL runs each statement on dbURL, outside any transaction block.
func (b *bench) execSQL(ctx context.Context, dbURL string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", firstLine(s), err)
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// command runs name with args in the module root, appending its output to
// the log file logName in the output directory, and returns the output.
func (b *bench) command(ctx context.Context, logName, name string, args ...string) (string, error) {
	f, err := os.OpenFile(filepath.Join(b.out, logName), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fmt.Fprintf(f, "$ %s %s\n", name, strings.Join(args, " "))
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = b.root
	cmd.Stdout = io.MultiWriter(f, &buf)
	cmd.Stderr = io.MultiWriter(f, &buf)
	err = cmd.Run()
	return buf.String(), err
}

// start runs name in its own process group with env added, its output
// to the log file logName; lines of stdout go to lines too, if not nil.
func (b *bench) start(name, logName string, env []string, lines chan<- string, args ...string) (*harness.Process, error) {
	f, err := os.Create(filepath.Join(b.out, logName))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = f
	p, err := harness.Start(filepath.Base(name), cmd, func(line string) {
		fmt.Fprintln(f, line)
		if lines != nil {
			select {
			case lines <- line:
			default:
			}
		}
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	go func() {
		<-p.Done()
		f.Close()
	}()
	return p, nil
}

// fetch GETs u into the file path.
func fetch(ctx context.Context, u, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var logMu sync.Mutex

// logf prints a line to stdout and bench.log.
func (b *bench) logf(format string, args ...any) {
	logMu.Lock()
	defer logMu.Unlock()
	line := time.Now().Format("15:04:05 ") + fmt.Sprintf(format, args...)
	fmt.Println(line)
	if b.log != nil {
		fmt.Fprintln(b.log, line)
	}
}

func (b *bench) phase(format string, args ...any) {
	b.logf("=== "+format, args...)
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run bench inside the salesflow module")
	}
	return filepath.Dir(mod), nil
}

func itoa(i int) string { return strconv.Itoa(i) }
