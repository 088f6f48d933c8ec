package harness

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestFreePort checks that FreePort returns a port that can be listened
// on. Between FreePort's close and the test's listen, another process may
// take the port (an outgoing connection of a test running beside it got it
// once in CI), so a port taken is tried again, three times at most: a
// FreePort that returns ports in use still fails.
func TestFreePort(t *testing.T) {
	t.Parallel()
	var errs []error
	for range 3 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if port <= 0 {
			t.Fatalf("FreePort = %d; want a port", port)
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return
		}
		errs = append(errs, fmt.Errorf("port %d is not free: %w", port, err))
	}
	t.Fatal(errors.Join(errs...))
}

func TestRandomSecret(t *testing.T) {
	t.Parallel()
	a, b := RandomSecret(), RandomSecret()
	if len(a) != 64 || a == b {
		t.Errorf("secrets %q and %q: want two different ones of 64 hex digits", a, b)
	}
}

func TestStatTicks(t *testing.T) {
	t.Parallel()
	// A command name with spaces and a parenthesis, as the kernel allows.
	stat := "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1234 0 5 0 250 17 0 0 20 0 12 0 5000 123456789 2500 18446744073709551615\n"
	ticks, err := statTicks([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if ticks != 267 {
		t.Errorf("utime + stime = %d, want 250 + 17", ticks)
	}
	for _, bad := range []string{"4242 no parenthesis", "4242 (p) S 1 2 3", "4242 (p) S 1 2 3 4 5 6 7 8 9 10 x 17"} {
		if _, err := statTicks([]byte(bad)); err == nil {
			t.Errorf("statTicks(%q): no error", bad)
		}
	}
}

func TestReadProc(t *testing.T) {
	t.Parallel()
	if ClockTicks() <= 0 {
		t.Fatalf("ClockTicks() = %d", ClockTicks())
	}
	s, err := ReadProc(os.Getpid())
	if err != nil && runtime.GOOS != "linux" {
		t.Skipf("no /proc here: %v", err)
	}
	if err != nil {
		t.Fatalf("ReadProc(own pid): %v", err)
	}
	if s.RSS <= 0 || s.PeakRSS < s.RSS || s.CPU < 0 {
		t.Errorf("own process: %+v", s)
	}
	if _, err := ReadProc(-1); !errors.Is(err, ErrNoProc) {
		t.Errorf("ReadProc(-1) = %v, want ErrNoProc", err)
	}
}

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	page := `# HELP salesflow_outbox_backlog Outbox records waiting to be published.
# TYPE salesflow_outbox_backlog gauge
salesflow_outbox_backlog 7
salesflow_events_handled_total{topic="sale.created"} 10
salesflow_events_handled_total{topic="sale.completed"} 5.5
salesflow_http_request_duration_seconds_bucket{route="GET /x {y}",status="200",le="0.005"} 3
process_resident_memory_bytes 1.2e+07
`
	m, err := ParseMetrics(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"salesflow_outbox_backlog": 7, "salesflow_events_handled_total": 15.5, "process_resident_memory_bytes": 1.2e7,
		"salesflow_http_request_duration_seconds_bucket": 3,
	} {
		if got := m[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if m.Has("salesflow_events_applied_total") {
		t.Error("Has is true for a metric not on the page")
	}
	for _, bad := range []string{"broken{ 1\n", "no_value\n", "bad_value x\n"} {
		if _, err := ParseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseMetrics(%q): no error", bad)
		}
	}
}

func TestScrapeMetrics(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, `up{job="x"} 1`)
	}))
	defer srv.Close()
	m, err := ScrapeMetrics(t.Context(), srv.Client(), srv.URL)
	if err != nil || m["up"] != 1 {
		t.Errorf("ScrapeMetrics = %v, %v; want up 1", m, err)
	}
	if _, err := ScrapeMetrics(t.Context(), srv.Client(), srv.URL+"/elsewhere"); err == nil {
		t.Error("no error for a 404")
	}
}

func TestProcess(t *testing.T) {
	t.Parallel()
	lines := make(chan string, 1)
	p, err := Start("sleeper", exec.Command("sh", "-c", "echo hello; exec sleep 30"), func(l string) { lines <- l })
	if err != nil {
		t.Fatal(err)
	}
	if l := <-lines; l != "hello" {
		t.Errorf("line %q, want hello", l)
	}
	if err := p.Stop(10 * time.Second); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("Stop = %v, want the SIGTERM it died of", err)
	}

	// A child that ignores SIGTERM is killed after the grace.
	p, err = Start("stubborn", exec.Command("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"), func(string) { lines <- "" })
	if err != nil {
		t.Fatal(err)
	}
	<-lines
	if err := p.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "stubborn did not stop") {
		t.Errorf("Stop = %v, want that it was killed", err)
	}
}

func TestWaitReady(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	p, err := Start("sleeper", exec.Command("sleep", "30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second)
	if err := WaitReady(t.Context(), srv.URL, p, 5*time.Second); err != nil {
		t.Errorf("WaitReady on a ready server: %v", err)
	}
	if err := WaitReady(t.Context(), srv.URL+"/nothing", p, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "sleeper not ready after") {
		t.Errorf("WaitReady on a server that is never ready: %v", err)
	}

	gone, err := Start("quitter", exec.Command("sh", "-c", "exit 3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitReady(t.Context(), srv.URL+"/nothing", gone, time.Minute); err == nil || !strings.Contains(err.Error(), "quitter exited before it was ready: exit status 3") {
		t.Errorf("WaitReady on a process that exits: %v", err)
	}
}

func TestMintToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	script := "#!/bin/sh\n[ -n \"$JWT_SECRET\" ] || { echo 'no secret' >&2; exit 1; }\necho \"  tok $*  \"\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tok, err := MintToken(t.Context(), bin, []string{"JWT_SECRET=s"}, "admin", "me", "--ttl", "24h")
	if err != nil || tok != "tok token --role admin --sub me --ttl 24h" {
		t.Errorf("MintToken = %q, %v", tok, err)
	}
	if _, err := MintToken(t.Context(), bin, nil, "admin", "me"); err == nil || !strings.Contains(err.Error(), "no secret") {
		t.Errorf("MintToken without a secret: %v, want the command's stderr", err)
	}
}

func TestDatabase(t *testing.T) {
	t.Parallel()
	server := cmp.Or(os.Getenv("DATABASE_URL"), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	name := "harness_test_" + strings.ToLower(rand.Text()[:10])
	dbURL, err := CreateDatabase(ctx, server, name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the new database: %v", err)
	}
	var got string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&got); err != nil || got != name {
		t.Errorf("current_database() = %q, %v; want %q", got, err, name)
	}
	// The open connection does not stop the drop.
	if err := DropDatabase(ctx, server, name, name+"_never_made"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if _, err := CreateDatabase(ctx, "postgres://nobody:secret@127.0.0.1:1/postgres?connect_timeout=2", name); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("CreateDatabase on no server: %v, want an error without the password", err)
	}
}
