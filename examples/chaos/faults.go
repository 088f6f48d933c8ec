package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Fault kinds.
const (
	faultServerKill  = "server-kill"  // SIGKILL the server (API, relay, worker), start it again
	faultServerTerm  = "server-term"  // SIGTERM the server (graceful), start it again
	faultWorkerKill  = "worker-kill"  // SIGKILL the worker process, start it again
	faultWorkerPair  = "worker-pair"  // start a second worker, SIGKILL one of the two
	faultBrokerKill  = "broker-kill"  // SIGKILL the broker, start it again on its data
	faultBrokerTerm  = "broker-term"  // stop the broker cleanly, start it again
	faultPGTerminate = "pg-terminate" // pg_terminate_backend on every connection to the database
	faultPGOutage    = "pg-outage"    // refuse connections to the database for a few seconds, and cut the open ones
	faultPGRestart   = "pg-restart"   // restart the PostgreSQL server (-pg-restart only)
)

// faultInfo says what each kind does, for the report.
var faultInfo = map[string]string{
	faultServerKill:  "SIGKILL the serve process (API, relay, in-process worker) mid-traffic; start it again after 0-1.5 s",
	faultServerTerm:  "SIGTERM the serve process (graceful shutdown); start it again",
	faultWorkerKill:  "SIGKILL the worker process; start it again after 0-2 s",
	faultWorkerPair:  "start a second worker, let the group rebalance, SIGKILL one of the two",
	faultBrokerKill:  "SIGKILL the broker (kfake); start it again on the same port and data after 0.5-3 s",
	faultBrokerTerm:  "stop the broker cleanly; start it again after 0.5-3 s",
	faultPGTerminate: "pg_terminate_backend on every connection to the chaos database",
	faultPGOutage:    "ALTER DATABASE ... ALLOW_CONNECTIONS false and cut every connection for 1-5 s (a restart as the database's clients see it)",
	faultPGRestart:   "restart the PostgreSQL server (-pg-restart)",
}

// Fault is one injected fault.
type Fault struct {
	Kind       string  `json:"kind"`
	AtSec      float64 `json:"atSec"`      // since the workload started
	DownMS     int64   `json:"downMs"`     // how long the component was down or cut off
	RecoveryMS int64   `json:"recoveryMs"` // from the end of the fault to the server ready again
	Detail     string  `json:"detail,omitempty"`
	Err        string  `json:"err,omitempty"`
	start, end time.Time
}

// faulter injects faults at random moments drawn from the seed.
type faulter struct {
	rng       *rand.Rand
	kinds     []string
	deck      []string
	d         *deployment
	minGap    time.Duration
	maxGap    time.Duration
	logf      func(format string, args ...any)
	t0        time.Time
	mu        sync.Mutex
	faults    []Fault
	lastFault time.Time // when the last fault's recovery ended
}

// next draws the next fault kind: every kind once, in a random order, then
// again, so that a short run sees each kind.
func (f *faulter) next() string {
	if len(f.deck) == 0 {
		f.deck = append(f.deck, f.kinds...)
		f.rng.Shuffle(len(f.deck), func(i, j int) { f.deck[i], f.deck[j] = f.deck[j], f.deck[i] })
	}
	k := f.deck[0]
	f.deck = f.deck[1:]
	return k
}

// run injects faults one after the other until until.
func (f *faulter) run(ctx context.Context, until time.Time) {
	for {
		gap := f.minGap + time.Duration(f.rng.Int64N(int64(f.maxGap-f.minGap)+1))
		if time.Now().Add(gap).After(until) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(gap):
		}
		kind := f.next()
		ft := Fault{Kind: kind, start: time.Now(), AtSec: time.Since(f.t0).Seconds()}
		err := f.inject(ctx, kind, &ft)
		if err != nil {
			ft.Err = err.Error()
		}
		// Recovered: the server answers /readyz (database and broker).
		rec, rerr := f.d.server.waitUp(ctx, true, 2*time.Minute)
		ft.RecoveryMS = rec.Milliseconds()
		if rerr != nil && ft.Err == "" {
			ft.Err = "not ready again: " + rerr.Error()
		}
		ft.end = time.Now()
		f.logf("t=%5.1fs fault %-12s down %5dms, ready again after %5dms %s%s", ft.AtSec, kind, ft.DownMS, ft.RecoveryMS, ft.Detail, errSuffix(ft.Err))
		f.mu.Lock()
		f.faults = append(f.faults, ft)
		f.lastFault = ft.end
		f.mu.Unlock()
	}
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " ERROR: " + s
}

func (f *faulter) sleep(ctx context.Context, lo, hi time.Duration) time.Duration {
	d := lo + time.Duration(f.rng.Int64N(int64(hi-lo)+1))
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return d
}

func (f *faulter) inject(ctx context.Context, kind string, ft *Fault) error {
	d := f.d
	switch kind {
	case faultServerKill, faultServerTerm:
		sig, grace := syscall.SIGKILL, 5*time.Second
		if kind == faultServerTerm {
			sig, grace = syscall.SIGTERM, 40*time.Second
		}
		start := time.Now()
		took, _ := d.server.stop(sig, grace)
		f.sleep(ctx, 0, 1500*time.Millisecond)
		if err := d.server.start(); err != nil {
			return err
		}
		ft.DownMS = time.Since(start).Milliseconds()
		if kind == faultServerTerm {
			ft.Detail = fmt.Sprintf("(stopped in %dms)", took.Milliseconds())
		}
		return nil
	case faultWorkerKill:
		w := d.worker()
		start := time.Now()
		w.stop(syscall.SIGKILL, time.Second)
		f.sleep(ctx, 0, 2*time.Second)
		ft.DownMS = time.Since(start).Milliseconds()
		if err := w.start(); err != nil {
			return err
		}
		_, err := w.waitUp(ctx, false, time.Minute)
		return err
	case faultWorkerPair:
		second, err := d.addWorker()
		if err != nil {
			return err
		}
		if _, err := second.waitUp(ctx, false, time.Minute); err != nil {
			return err
		}
		f.sleep(ctx, time.Second, 4*time.Second)
		victim := d.worker()
		if f.rng.IntN(2) == 0 {
			victim = second
		}
		victim.stop(syscall.SIGKILL, time.Second)
		d.dropWorker(victim)
		ft.Detail = "(killed the " + map[bool]string{true: "new", false: "old"}[victim == second] + " one)"
		return nil
	case faultBrokerKill, faultBrokerTerm:
		sig := syscall.SIGKILL
		if kind == faultBrokerTerm {
			sig = syscall.SIGTERM
		}
		start := time.Now()
		d.broker.stop(sig, 20*time.Second)
		f.sleep(ctx, 500*time.Millisecond, 3*time.Second)
		if err := d.broker.start(); err != nil {
			return err
		}
		_, err := d.broker.waitUp(ctx, false, time.Minute)
		ft.DownMS = time.Since(start).Milliseconds()
		return err
	case faultPGTerminate:
		n, err := d.terminate(ctx)
		ft.Detail = fmt.Sprintf("(%d connections cut)", n)
		return err
	case faultPGOutage:
		start := time.Now()
		if err := d.allowConnections(ctx, false); err != nil {
			return err
		}
		n, err := d.terminate(ctx)
		f.sleep(ctx, time.Second, 5*time.Second)
		if aerr := d.allowConnections(context.WithoutCancel(ctx), true); aerr != nil {
			return aerr
		}
		ft.DownMS = time.Since(start).Milliseconds()
		ft.Detail = fmt.Sprintf("(%d connections cut)", n)
		return err
	case faultPGRestart:
		start := time.Now()
		args := strings.Fields(d.cfg.PGRestartCmd)
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		ft.DownMS = time.Since(start).Milliseconds()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", d.cfg.PGRestartCmd, err, out)
		}
		return nil
	}
	return fmt.Errorf("unknown fault %q", kind)
}

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// terminate cuts every connection to the chaos database but the caller's.
func (d *deployment) terminate(ctx context.Context) (int, error) {
	conn, err := pgx.Connect(ctx, d.adminURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()) t`, d.dbName).Scan(&n)
	return n, err
}

// allowConnections opens or closes the chaos database to new connections.
func (d *deployment) allowConnections(ctx context.Context, allow bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	for ctx.Err() == nil {
		var conn *pgx.Conn
		if conn, err = pgx.Connect(ctx, d.adminURL); err == nil {
			_, err = conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", pgx.Identifier{d.dbName}.Sanitize(), allow))
			conn.Close(ctx)
			if err == nil {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("allow connections %t: %w", allow, err)
}
