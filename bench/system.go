package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// LoadResult is one load generator run against the full system, with what
// the machine's CPUs did during its measured window.
type LoadResult struct {
	Rate    float64    `json:"rate"` // lifecycles per second asked for; 0: as fast as possible
	Report  string     `json:"report"`
	SVG     string     `json:"svg"`
	Loadgen loadReport `json:"loadgen"`
	CPU     *CPUUse    `json:"cpu,omitempty"`
	// Per lifecycle in the measured window: CPU milliseconds of the
	// server and of PostgreSQL, and database commits.
	ServerCPUMs   float64 `json:"serverCpuMsPerLifecycle,omitempty"`
	PostgresCPUMs float64 `json:"postgresCpuMsPerLifecycle,omitempty"`
	Commits       float64 `json:"commitsPerLifecycle,omitempty"`
	// Profiles are the server's pprof files of this run, by kind.
	Profiles map[string]string `json:"profiles,omitempty"`
}

// loadReport is the part of the load generator's JSON report the bench
// reads (examples/loadgen/report.go).
type loadReport struct {
	LoadSeconds  float64 `json:"loadSeconds"`
	DrainSeconds float64 `json:"drainSeconds"`
	Drained      bool    `json:"drained"`
	Lifecycles   struct {
		Finished           int64   `json:"finished"`
		Failed             int64   `json:"failed"`
		PerSecond          float64 `json:"perSecond"`
		CreatedPerSecond   float64 `json:"createdPerSecond"`
		CompletedPerSecond float64 `json:"completedPerSecond"`
		ProjectedPerSecond float64 `json:"projectedPerSecond"`
	} `json:"lifecycles"`
	Routes     map[string]quantiles `json:"routes"`
	Projection struct {
		Sampled   int64     `json:"sampled"`
		Observed  int64     `json:"observed"`
		TimedOut  int64     `json:"timedOut"`
		Lag       quantiles `json:"lag"`
		ServerLag quantiles `json:"serverLag"`
	} `json:"projection"`
	Events struct {
		Expected       int64   `json:"expected"`
		Published      float64 `json:"published"`
		Handled        float64 `json:"handled"`
		Applied        float64 `json:"applied"`
		BacklogMax     float64 `json:"outboxBacklogMax"`
		ConsumerLagMax float64 `json:"consumerLagMax"`
	} `json:"events"`
	Server  processUse `json:"server"`
	Loadgen processUse `json:"loadgen"`
}

type quantiles struct {
	Count  uint64  `json:"count"`
	Errors int     `json:"errors,omitempty"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P95Ms  float64 `json:"p95Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
}

type processUse struct {
	CPUPercentAvg float64 `json:"cpuPercentAvg"`
	CPUPercentMax float64 `json:"cpuPercentMax"`
	RSSMiBMax     float64 `json:"rssMiBMax"`
	PeakRSSMiB    float64 `json:"peakRssMiB"`
}

// The routes of a lifecycle, as the load generator names them.
const (
	routeCreateSale = "POST /sales"
	routeStatus     = "PATCH /sales/{id}/status"
	routeMovements  = "GET /stock-movements"
)

// variant is one way to build and configure the server under test.
type variant struct {
	name     string
	server   string   // the binary
	env      []string // added to the server's environment
	dbParams string   // added to the query of the server's DATABASE_URL
	loadgen  []string // added to the load generator's flags
}

// runSystem runs the server v on a fresh database and a fresh kfake and
// drives it as fast as the clients go (or, with paced > 0, at paced
// lifecycles per second), then (with half) paced at half the rate the
// first load reached. Its files are named after tag.
func (b *bench) runSystem(ctx context.Context, v variant, tag string, withHalf, profile bool, paced float64) (full, half *LoadResult, err error) {
	dbURL, err := b.freshDatabase(ctx, "sfbench_load")
	if err != nil {
		return nil, nil, err
	}
	serverURL := dbURL
	if v.dbParams != "" {
		sep := "?"
		if strings.Contains(dbURL, "?") {
			sep = "&"
		}
		serverURL += sep + v.dbParams
	}
	kport, err := harness.FreePort()
	if err != nil {
		return nil, nil, err
	}
	ready := make(chan string, 4)
	kf, err := b.start(b.bins.kfake, tag+"-kfake.log", nil, ready, "-port", itoa(kport))
	if err != nil {
		return nil, nil, err
	}
	defer kf.Stop(10 * time.Second)
	select {
	case <-ready:
	case <-kf.Done():
		return nil, nil, fmt.Errorf("kfake exited: %v", kf.Err())
	case <-time.After(10 * time.Second):
		return nil, nil, fmt.Errorf("kfake did not start")
	}
	brokers := fmt.Sprintf("127.0.0.1:%d", kport)

	port, err := harness.FreePort()
	if err != nil {
		return nil, nil, err
	}
	pprofPort, err := harness.FreePort()
	if err != nil {
		return nil, nil, err
	}
	secret := harness.RandomSecret()
	env := []string{
		"DATABASE_URL=" + serverURL, "KAFKA_BROKERS=" + brokers, "JWT_SECRET=" + secret,
		"PORT=" + itoa(port), "SALESFLOW_PPROF_ADDR=" + fmt.Sprintf("127.0.0.1:%d", pprofPort),
	}
	env = append(env, v.env...)
	srv, err := b.start(v.server, tag+"-server.log", env, nil, "serve")
	if err != nil {
		return nil, nil, err
	}
	defer srv.Stop(30 * time.Second)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := harness.WaitReady(ctx, base, srv, time.Minute); err != nil {
		return nil, nil, err
	}
	b.logf("%s: server pid %d on %s (pprof on 127.0.0.1:%d), kfake pid %d on %s, database %s%s",
		v.name, srv.PID(), base, pprofPort, kf.PID(), brokers, harness.Redacted(serverURL), strings.Join(append([]string{""}, v.env...), " "))
	tokenEnv := append(os.Environ(), "JWT_SECRET="+secret)
	admin, err := harness.MintToken(ctx, v.server, tokenEnv, "admin", "bench-admin")
	if err != nil {
		return nil, nil, err
	}
	user, err := harness.MintToken(ctx, v.server, tokenEnv, "user", "bench-seller")
	if err != nil {
		return nil, nil, err
	}
	pids := map[string]int{"server": srv.PID(), "kfake": kf.PID()}
	lg := loadArgs{
		base: base, admin: admin, user: user, brokers: brokers, serverPID: srv.PID(),
		pprof: fmt.Sprintf("http://127.0.0.1:%d", pprofPort), server: v.server, dbURL: dbURL,
		extra: v.loadgen,
	}

	if paced > 0 {
		b.logf("load: %d clients paced at %g lifecycles/s, %v measured after %v of warm-up", b.clients, paced, b.duration, b.warmup)
	} else {
		b.logf("load: %d clients as fast as they go, %v measured after %v of warm-up", b.clients, b.duration, b.warmup)
	}
	if full, err = b.load(ctx, tag, lg, paced, pids, profile); err != nil {
		return nil, nil, err
	}
	b.logf("%s: %.1f lifecycles/s", tag, full.Loadgen.Lifecycles.PerSecond)
	if withHalf && full.Loadgen.Lifecycles.PerSecond > 0 {
		rate := full.Loadgen.Lifecycles.PerSecond / 2
		if err := b.settle(ctx, dbURL); err != nil {
			return full, nil, err
		}
		b.logf("load: paced at %.1f lifecycles/s (half the maximum)", rate)
		htag := strings.Replace(tag, "full", "half", 1)
		if htag == tag {
			htag += "-half"
		}
		if half, err = b.load(ctx, htag, lg, rate, pids, false); err != nil {
			return full, nil, err
		}
	}
	return full, half, nil
}

// settle prepares the database at dbURL for a measured phase that follows
// another, as the baseline's seed ends with a VACUUM ANALYZE:
//
//   - VACUUM ANALYZE: the full load grows the history from nothing in half
//     a minute, faster than autovacuum (which wakes once a minute, and is
//     off on some machines) cleans the stock rows and refreshes the
//     statistics, and the plans cached over a nearly empty table would
//     scan it whole for the rest of the run;
//   - CHECKPOINT: the phases before wrote about 500 MB of WAL, close to the
//     distance at which PostgreSQL starts a checkpoint (max_wal_size / 1.9
//     with the defaults), and the writes of every page's first change after
//     one stall commits for a few hundred milliseconds (POST /sales p99 262
//     and 270 ms in the two seconds after one began in a half-load run,
//     15-25 ms otherwise). The phase then starts its distance afresh, as
//     the first phases do on their new databases (CREATE DATABASE
//     checkpoints too). A role that may not checkpoint skips it.
func (b *bench) settle(ctx context.Context, dbURL string) error {
	start := time.Now()
	if err := b.execSQL(ctx, dbURL, `VACUUM ANALYZE`); err != nil {
		return fmt.Errorf("settle the database between phases: %w", err)
	}
	b.checkpoint(ctx, dbURL)
	b.logf("VACUUM ANALYZE and CHECKPOINT between the phases took %v", time.Since(start).Round(time.Millisecond))
	return nil
}

type loadArgs struct {
	base, admin, user, brokers, pprof string
	server, dbURL                     string
	serverPID                         int
	extra                             []string // the variant's own flags
}

// loadgenFlags are the load generator's flags for one load at rate
// lifecycles/s (0: as fast as it goes), writing its report and chart to
// report and svg; the variant's own flags come last and win.
func (b *bench) loadgenFlags(a loadArgs, rate float64, report, svg string) []string {
	args := []string{
		"-url", a.base, "-admin-token", a.admin, "-user-token", a.user, "-server-pid", itoa(a.serverPID),
		"-kafka-brokers", a.brokers, "-clients", itoa(b.clients), "-duration", b.duration.String(),
		"-warmup", b.warmup.String(), "-json", report, "-svg", svg,
		// The load generator shares the two cores with what it measures:
		// with its Go code on one thread at a time it spends about a sixth
		// less CPU (fourteenth session, 3 + 3 at 140 lifecycles/s: 12.7 to
		// 13.3 % of a core against 15.0 to 16.3 %; on two, Go's scheduler
		// looking for work was 24 % of its profile). It used at most 17 %
		// of a core at full load. A variant's own -procs comes later and
		// wins.
		"-procs", "1",
	}
	if rate > 0 {
		args = append(args, "-rate", strconv.FormatFloat(rate, 'f', 2, 64))
	} else {
		// The load as fast as it goes measures throughput. Its projection
		// polls are the load generator's reads, not the lifecycles': at
		// the load generator's every 10th completion they were a fifth of
		// the API's requests and cost the system about a tenth of its
		// lifecycles/s (README, Performance). The paced loads keep every
		// 10th, where the lag is a goal.
		args = append(args, "-sample-every", itoa(b.fullSampleEvery))
	}
	return append(args, a.extra...)
}

// load runs the load generator once; with profile, it takes the server's
// CPU profile during the measured window and its heap profile after.
func (b *bench) load(ctx context.Context, name string, a loadArgs, rate float64, pids map[string]int, profile bool) (*LoadResult, error) {
	res := &LoadResult{
		Rate: rate, Report: filepath.Join(b.out, name+".json"), SVG: filepath.Join(b.out, name+".svg"),
		Profiles: map[string]string{},
	}
	args := b.loadgenFlags(a, rate, res.Report, res.SVG)
	loadgenProfile := filepath.Join(b.out, name+"-loadgen-cpu.pprof")
	if profile {
		// The load generator shares the machine: its own cost is part of
		// what the system's run pays, and pgbench's is much smaller.
		args = append(args, "-cpuprofile", loadgenProfile)
	}
	logf, err := os.Create(filepath.Join(b.out, "loadgen-"+name+".log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, b.bins.loadgen, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.MultiWriter(logf, os.Stdout)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pids["loadgen"] = cmd.Process.Pid

	// The measured window begins with the first progress line of the load
	// phase and ends with the first of the drain.
	var (
		wg        sync.WaitGroup
		cpuStart  *cpuSample
		cpuEnd    *cpuSample
		profErr   error
		dbStart   int64
		dbEnd     int64
		loadBegan = make(chan struct{})
	)
	sc := bufio.NewScanner(stderr)
	began, ended := false, false
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(logf, line)
		fmt.Println("  " + line)
		switch {
		case !began && strings.Contains(line, " load  ]"):
			began = true
			cpuStart = takeCPU(pids)
			dbStart = dbCommits(ctx, a.dbURL)
			close(loadBegan)
			if profile {
				secs := int(min(b.duration-2*time.Second, 20*time.Second) / time.Second)
				wg.Go(func() {
					path := filepath.Join(b.out, name+"-cpu.pprof")
					u := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", a.pprof, max(secs, 1))
					if profErr = fetch(ctx, u, path); profErr == nil {
						res.Profiles["cpu"] = path
					}
				})
			}
		case began && !ended && strings.Contains(line, " drain ]"):
			ended = true
			cpuEnd = takeCPU(pids)
			dbEnd = dbCommits(ctx, a.dbURL)
			if profile {
				b.fetchProfiles(ctx, name, a.pprof, res.Profiles)
			}
		}
	}
	err = cmd.Wait()
	wg.Wait()
	delete(pids, "loadgen")
	if err != nil {
		return nil, fmt.Errorf("loadgen %s: %w (see %s)", name, err, logf.Name())
	}
	if profErr != nil {
		b.logf("cpu profile: %v", profErr)
	}
	if cpuStart != nil && cpuEnd == nil {
		cpuEnd = takeCPU(pids) // no drain line: the run ended within a second
		dbEnd = dbCommits(ctx, a.dbURL)
		if profile {
			b.fetchProfiles(ctx, name, a.pprof, res.Profiles)
		}
	}
	if cpuStart != nil {
		res.CPU = cpuStart.use(cpuEnd)
		b.logf("%s: machine CPU %.0f %% busy of %d cores; by process, %% of one core: %s", name, res.CPU.BusyPercent, b.cpus, res.CPU.describe())
	}
	data, err := os.ReadFile(res.Report)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &res.Loadgen); err != nil {
		return nil, fmt.Errorf("%s: %w", res.Report, err)
	}
	if l := res.Loadgen.Lifecycles.PerSecond; l > 0 && res.CPU != nil {
		res.ServerCPUMs = round2(res.CPU.ByProcess["server"] * 10 / l)
		res.PostgresCPUMs = round2(res.CPU.ByProcess["postgres"] * 10 / l)
		if n := float64(res.Loadgen.Lifecycles.Finished); n > 0 && dbStart > 0 && dbEnd > dbStart {
			// The window of the commits is the loadgen's measured window,
			// give or take a progress interval.
			res.Commits = round2(float64(dbEnd-dbStart) / (l * res.CPU.Seconds))
		}
		b.logf("%s: per lifecycle: server %.2f CPU ms, postgres %.2f CPU ms, %.1f database commits", name, res.ServerCPUMs, res.PostgresCPUMs, res.Commits)
	}
	if profile {
		res.Profiles["loadgen-cpu"] = loadgenProfile
		b.topLoadgenProfile(ctx, name, loadgenProfile)
	}
	if len(res.Profiles) > 0 {
		b.topProfiles(ctx, name, a.server, res.Profiles)
	} else {
		res.Profiles = nil
	}
	return res, nil
}

// topProfiles writes pprof -top listings next to the profiles and prints
// the head of the CPU one.
func (b *bench) topProfiles(ctx context.Context, name, bin string, profiles map[string]string) {
	type listing struct {
		kind, file string
		args       []string
	}
	for _, l := range []listing{
		{"cpu", "cpu.top.txt", []string{"-top", "-nodecount=40"}},
		{"cpu", "cpu.cum.txt", []string{"-top", "-cum", "-nodecount=60"}},
		{"allocs", "allocs.top.txt", []string{"-top", "-sample_index=alloc_space", "-nodecount=40"}},
		{"allocs", "allocs.cum.txt", []string{"-top", "-cum", "-sample_index=alloc_space", "-nodecount=60"}},
		{"heap", "heap.top.txt", []string{"-top", "-sample_index=inuse_space", "-nodecount=30"}},
		{"mutex", "mutex.top.txt", []string{"-top", "-nodecount=20"}},
		{"block", "block.top.txt", []string{"-top", "-nodecount=20"}},
	} {
		p, ok := profiles[l.kind]
		if !ok {
			continue
		}
		out, err := b.pprofTop(ctx, bin, p, name+"-"+l.file, l.args...)
		if err != nil {
			continue
		}
		if l.file == "cpu.top.txt" {
			lines := strings.Split(string(out), "\n")
			b.logf("server CPU profile, top 20 by flat time (all in %s):", filepath.Join(b.out, name+"-cpu.*.txt"))
			for _, line := range lines[:min(len(lines), 26)] {
				fmt.Println("  " + line)
			}
		}
	}
}

// fetchProfiles takes the server's memory, lock and goroutine profiles
// into profiles, by kind.
func (b *bench) fetchProfiles(ctx context.Context, name, pprofURL string, profiles map[string]string) {
	for _, kind := range []string{"heap", "allocs", "mutex", "block", "goroutine"} {
		path := filepath.Join(b.out, name+"-"+kind+".pprof")
		if err := fetch(ctx, pprofURL+"/debug/pprof/"+kind, path); err != nil {
			b.logf("%s profile: %v", kind, err)
			continue
		}
		profiles[kind] = path
	}
}

// topLoadgenProfile writes the pprof -top listings of the load
// generator's CPU profile next to it.
func (b *bench) topLoadgenProfile(ctx context.Context, name, profile string) {
	if _, err := b.pprofTop(ctx, b.bins.loadgen, profile, name+"-loadgen-cpu.top.txt", "-top", "-nodecount=40"); err != nil {
		return
	}
	_, _ = b.pprofTop(ctx, b.bins.loadgen, profile, name+"-loadgen-cpu.cum.txt", "-top", "-cum", "-nodecount=60")
}

// pprofTop writes go tool pprof's listing (args) of bin's profile into
// file in the results, and returns it; a failure is logged.
func (b *bench) pprofTop(ctx context.Context, bin, profile, file string, args ...string) ([]byte, error) {
	args = append(append([]string{"tool", "pprof"}, args...), bin, profile)
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		b.logf("pprof %s: %v", file, err)
		return nil, err
	}
	_ = os.WriteFile(filepath.Join(b.out, file), out, 0o644)
	return out, nil
}

// dbCommits is the database's committed and rolled-back transactions
// (pg_stat_database), or 0 if unknown.
func dbCommits(ctx context.Context, dbURL string) int64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0
	}
	defer conn.Close(ctx)
	// Statistics are flushed at most once a second: ask for a fresh snapshot.
	var n int64
	if err := conn.QueryRow(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		return 0
	}
	return n
}

// cpuSample is the machine's and some processes' CPU time at one moment.
type cpuSample struct {
	at         time.Time
	total      uint64                   // jiffies of all CPUs
	idle       uint64                   // idle and iowait jiffies
	procs      map[string]time.Duration // user and system CPU time by name
	postgres   time.Duration            // every process named postgres
	postgresOK bool
}

// CPUUse is the CPU time used over a window.
type CPUUse struct {
	Seconds     float64 `json:"seconds"`
	BusyPercent float64 `json:"busyPercent"` // of all CPUs
	// ByProcess is each process's CPU in percent of one core; postgres
	// counts every process named postgres (other databases' too).
	ByProcess map[string]float64 `json:"byProcess"`
}

func (u *CPUUse) describe() string {
	var parts []string
	for _, k := range []string{"server", "postgres", "kfake", "loadgen"} {
		if v, ok := u.ByProcess[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

func takeCPU(pids map[string]int) *cpuSample {
	s := &cpuSample{at: time.Now(), procs: map[string]time.Duration{}}
	if f, err := os.Open("/proc/stat"); err == nil {
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			fields := strings.Fields(sc.Text())
			for i, v := range fields[1:] {
				n, _ := strconv.ParseUint(v, 10, 64)
				if i < 8 { // user nice system idle iowait irq softirq steal
					s.total += n
				}
				if i == 3 || i == 4 {
					s.idle += n
				}
			}
		}
		f.Close()
	}
	for name, pid := range pids {
		if t, err := harness.ProcCPU(pid); err == nil {
			s.procs[name] = t
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		if t, err := harness.ProcCPU(pid); err == nil {
			s.postgres += t
			s.postgresOK = true
		}
	}
	return s
}

func (a *cpuSample) use(b *cpuSample) *CPUUse {
	secs := b.at.Sub(a.at).Seconds()
	u := &CPUUse{Seconds: round1(secs), ByProcess: map[string]float64{}}
	if secs <= 0 {
		return u
	}
	if dt := b.total - a.total; dt > 0 {
		u.BusyPercent = round1(100 * (1 - float64(b.idle-a.idle)/float64(dt)))
	}
	pct := func(d time.Duration) float64 { return round1(d.Seconds() / secs * 100) }
	for name, t := range b.procs {
		if t0, ok := a.procs[name]; ok && t >= t0 {
			u.ByProcess[name] = pct(t - t0)
		}
	}
	if a.postgresOK && b.postgresOK && b.postgres >= a.postgres {
		u.ByProcess["postgres"] = pct(b.postgres - a.postgres)
	}
	return u
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
