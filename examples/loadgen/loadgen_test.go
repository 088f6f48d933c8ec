package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salesflow/salesflow/internal/harness"
)

// TestLoadEmbedded runs the load generator for a few seconds against the
// reference server built from this tree and started by the load generator
// (-server) on the embedded in-memory store and bus, and checks that the
// report is complete and consistent. It asserts no timing: the machine
// running it may be slow or busy.
func TestLoadEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	t.Parallel()
	bin := buildServer(t)
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.svg")
	profPath := filepath.Join(dir, "loadgen.pprof")
	args := []string{
		"-server", bin,
		// The embedded default, whatever the environment says.
		"-server-env", "DATABASE_URL=,KAFKA_BROKERS=,JWT_SECRET=,JWT_PUBLIC_KEY_FILE=,LOG_LEVEL=warn",
		"-server-log", filepath.Join(dir, "server.log"),
		"-clients", "4", "-warmup", "1s", "-duration", "3s", "-books", "200", "-sample-every", "3",
		"-cancel-rate", "0.2", "-return-rate", "0.1", "-seed", "7",
		"-json", jsonPath, "-svg", svgPath,
		// As the bench runs it; command restores GOMAXPROCS on return.
		"-procs", "1",
	}
	// One CPU profile at a time per process: go test -cpuprofile takes it.
	ownProfile := flag.Lookup("test.cpuprofile").Value.String() == ""
	if ownProfile {
		args = append(args, "-cpuprofile", profPath)
	}
	var stdout, stderr bytes.Buffer
	if code := command(t.Context(), args, noEnv, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	// The load generator's own CPU profile, written whole: a profile is
	// a gzipped protocol buffer.
	if ownProfile {
		data, err := os.ReadFile(profPath)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("-cpuprofile: %v", err)
		}
		if n, err := io.Copy(io.Discard, zr); err != nil || n == 0 {
			t.Errorf("-cpuprofile: %d bytes, %v", n, err)
		}
	}

	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	check := func(ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Errorf(format, args...)
		}
	}

	check(r.Config.Procs == 1, "config: procs %d, want 1", r.Config.Procs)

	// Lifecycles over the whole load: each one started ends finished or
	// failed, and nothing failed against a healthy server.
	tot := r.Totals
	check(tot.Started > 0, "totals: no lifecycle started")
	check(tot.Failed == 0, "totals: %d failed; errors: %v", tot.Failed, r.Errors)
	check(tot.Started == tot.Finished+tot.Failed, "totals: started %d, want finished %d + failed %d", tot.Started, tot.Finished, tot.Failed)
	check(tot.Created == tot.Started, "totals: created %d, want started %d", tot.Created, tot.Started)
	check(tot.Completed+tot.Cancelled == tot.Created, "totals: completed %d + cancelled %d, want created %d", tot.Completed, tot.Cancelled, tot.Created)
	check(tot.Returned <= tot.Completed, "totals: returned %d > completed %d", tot.Returned, tot.Completed)
	check(tot.Cancelled > 0 && tot.Returned > 0, "totals: cancelled %d, returned %d: want some of each", tot.Cancelled, tot.Returned)

	// The measured window.
	l := r.Lifecycles
	check(r.LoadSeconds > 0, "loadSeconds %v", r.LoadSeconds)
	check(l.Finished > 0 && l.Finished <= tot.Finished, "measured finished %d of %d", l.Finished, tot.Finished)
	check(l.PerSecond > 0 && l.CreatedPerSecond > 0 && l.CompletedPerSecond > 0 && l.ProjectedPerSecond > 0,
		"rates: %+v", l)
	check(l.ProjectedPerSecond <= l.PerSecond, "projected %v/s above finished %v/s", l.ProjectedPerSecond, l.PerSecond)

	for _, route := range []string{routeCreateSale, routeStatus, routeMovements} {
		q, ok := r.Routes[route]
		if !ok {
			t.Errorf("routes: no %s", route)
			continue
		}
		sum := 0
		for _, n := range q.Statuses {
			sum += n
		}
		check(q.Count > 0 && uint64(sum) == q.Count, "%s: count %d, statuses %v", route, q.Count, q.Statuses)
		check(q.Errors == 0, "%s: %d errors: %v", route, q.Errors, q.Statuses)
		check(0 < q.P50Ms && q.P50Ms <= q.P95Ms && q.P95Ms <= q.P99Ms && q.P99Ms <= q.MaxMs,
			"%s: quantiles out of order: %+v", route, q.Quantiles)
	}
	check(r.Routes[routeCreateSale].Statuses["201"] > 0, "POST /sales: no 201: %v", r.Routes[routeCreateSale].Statuses)

	p := r.Projection
	check(p.Sampled > 0 && p.Observed == p.Sampled && p.TimedOut == 0, "projection: %+v", p)
	check(p.Polls >= p.Observed, "projection: %d polls for %d observed", p.Polls, p.Observed)
	check(p.Lag.Count == uint64(p.Observed) && p.Lag.P50Ms <= p.Lag.P99Ms, "projection lag: %+v", p.Lag)

	// Every write made one event, published and handled once the drain
	// is over.
	e := r.Events
	writes := tot.Created + tot.Completed + tot.Cancelled + tot.Returned
	check(r.Drained, "the drain timed out: %+v", e)
	check(e.MetricsAvailable, "no metrics")
	check(e.Expected == writes, "events expected %d, want the %d writes", e.Expected, writes)
	check(e.Published == float64(writes), "events published %v, want %d", e.Published, writes)
	check(e.Handled == e.Published, "events handled %v, want published %v", e.Handled, e.Published)
	check(e.Applied > 0 && e.Applied <= e.Handled, "events applied %v of %v handled", e.Applied, e.Handled)
	check(e.Errors == 0, "event errors %v", e.Errors)
	check(e.BacklogEnd == 0 && e.ConsumerLagEnd == 0, "after the drain: backlog %v, lag %v", e.BacklogEnd, e.ConsumerLagEnd)

	for name, pr := range map[string]ProcessReport{"server": r.Server, "loadgen": r.Loadgen} {
		check(pr.Source == "proc" && pr.PID > 0, "%s: source %q pid %d", name, pr.Source, pr.PID)
		check(pr.RSSMiBMax > 0 && pr.RSSMiBEnd > 0 && pr.CPUPercentAvg > 0, "%s: %+v", name, pr)
	}

	check(len(r.Timeline) >= 3, "timeline of %d seconds", len(r.Timeline))
	phases := map[string]bool{}
	for i, s := range r.Timeline {
		phases[s.Phase] = true
		if i > 0 && s.T <= r.Timeline[i-1].T {
			t.Errorf("timeline: t %v after %v", s.T, r.Timeline[i-1].T)
		}
	}
	check(phases["warmup"] && phases["load"], "timeline phases %v", phases)

	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	checkXML(t, svg)
	check(bytes.Count(svg, []byte("<polyline")) >= 3, "SVG without its lines")

	out := stdout.String()
	for _, want := range []string{"lifecycles", routeCreateSale, routeStatus, "projection", "events", "server"} {
		check(strings.Contains(out, want), "summary lacks %q:\n%s", want, out)
	}
	check(strings.Contains(stderr.String(), "load  ]"), "no progress lines:\n%s", stderr.String())
}

func noEnv(string) string { return "" }

// buildServer builds the reference server of this tree.
func buildServer(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build the server with")
	}
	bin := filepath.Join(t.TempDir(), "server")
	if err := harness.GoBuild(t.Context(), bin, "github.com/salesflow/salesflow/examples/server"); err != nil {
		t.Fatal(err)
	}
	return bin
}

func checkXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BASE_URL": "http://127.0.0.1:9999", "ADMIN_TOKEN": "tok", "KAFKA_BROKERS": "127.0.0.1:19092"}
	getenv := func(k string) string { return env[k] }
	c, o, err := parseFlags([]string{"-clients", "3", "-procs", "1"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.procs != 1 {
		t.Errorf("-procs 1: %d", o.procs)
	}
	if c.BaseURL != env["BASE_URL"] || c.AdminToken != "tok" || c.Clients != 3 || !slices.Equal(c.KafkaBrokers, []string{"127.0.0.1:19092"}) {
		t.Errorf("environment fallbacks not taken: %+v", c)
	}

	for _, tc := range []struct {
		name string
		args []string
		env  func(string) string
		want string
	}{
		{"remote server", []string{"-url", "http://example.com:8080", "-admin-token", "t"}, noEnv, "only drives servers on this machine"},
		{"remote broker", []string{"-admin-token", "t", "-kafka-brokers", "10.0.0.1:9092"}, noEnv, "loopback only"},
		{"no token", nil, noEnv, "admin token"},
		{"no bound", []string{"-admin-token", "t", "-duration", "0"}, noEnv, "give a duration or a count"},
		{"too long", []string{"-admin-token", "t", "-duration", "2h"}, noEnv, "at most"},
		{"too many", []string{"-admin-token", "t", "-count", "20000000"}, noEnv, "count"},
		{"shares", []string{"-admin-token", "t", "-cancel-rate", "0.8", "-return-rate", "0.5"}, noEnv, "shares"},
		{"clients", []string{"-admin-token", "t", "-clients", "0"}, noEnv, "clients"},
		{"server env", []string{"-admin-token", "t", "-server-env", "NOVALUE"}, noEnv, "NAME=VALUE"},
		{"procs", []string{"-admin-token", "t", "-procs", "-1"}, noEnv, "-procs -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseFlags(tc.args, tc.env, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseFlags(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
	var stderr bytes.Buffer
	if code := command(t.Context(), []string{"-url", "http://10.1.2.3"}, noEnv, io.Discard, &stderr); code != 2 {
		t.Errorf("exit status %d for a remote server, want 2 (%s)", code, stderr.String())
	}
}

func TestHistQuantiles(t *testing.T) {
	t.Parallel()
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tc.q)
		if diff := float64(got-tc.want) / float64(tc.want); diff < -0.001 || diff > histGrowth-1 {
			t.Errorf("quantile(%v) = %v, want %v within %.1f %%", tc.q, got, tc.want, (histGrowth-1)*100)
		}
	}
	if h.max != time.Second || h.n != 1000 {
		t.Errorf("max %v, n %d", h.max, h.n)
	}
	var empty hist
	if q := empty.quantiles(); q.Count != 0 || q.P99Ms != 0 {
		t.Errorf("empty quantiles %+v", q)
	}
}

func TestLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"example.com": false, "10.0.0.1": false, "0.0.0.0": false, "": false,
	} {
		if got := isLoopbackHost(host); got != want {
			t.Errorf("isLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
