package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/salesflow/salesflow/internal/harness"
	"github.com/salesflow/salesflow/testkit"
)

// The suite is checked against the reference server itself, built from
// examples/server and run as a separate process, exactly as a deployment
// would be: nothing here knows the server's internals, only its command
// line (PORT, JWT_SECRET, DATABASE_URL, KAFKA_BROKERS and `token`).

func TestConformanceEmbedded(t *testing.T) {
	srv := startServer(t, nil)
	testkit.RunAPITests(t, srv.harness())
}

func TestConformancePostgresKafka(t *testing.T) {
	db := testkit.PostgresURL(t) // skips without a PostgreSQL server, except in CI
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	srv := startServer(t, []string{"DATABASE_URL=" + db, "KAFKA_BROKERS=" + strings.Join(cluster.ListenAddrs(), ",")})
	testkit.RunAPITests(t, srv.harness())
}

// TestCommand runs the command itself, passing and failing, against the
// embedded server.
func TestCommand(t *testing.T) {
	srv := startServer(t, nil)
	h := srv.harness()
	t.Run("passes", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		env := map[string]string{"BASE_URL": h.BaseURL, "ADMIN_TOKEN": h.AdminToken, "USER_TOKEN": h.UserToken, "USER2_TOKEN": h.User2Token}
		code := run(t.Context(), []string{"-run", "^(SeedFlow|Overselling|Ownership)$"}, func(k string) string { return env[k] }, &stdout, &stderr)
		if code != 0 || !strings.Contains(stdout.String(), "3 passed, 0 failed, 0 skipped") {
			t.Errorf("exit %d, want 0 and 3 passes:\n%s%s", code, stdout.String(), stderr.String())
		}
		for _, c := range []string{"SeedFlow", "Overselling", "Ownership"} {
			if !regexp.MustCompile(`(?m)^--- PASS  ` + c + ` \(`).MatchString(stdout.String()) {
				t.Errorf("no PASS line for %s:\n%s", c, stdout.String())
			}
		}
	})
	t.Run("fails and skips", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		args := []string{"-url", h.BaseURL, "-admin-token", h.UserToken, "-user-token", h.UserToken, "-run", "^(Health|Roles|Ownership)$"}
		code := run(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
		out := stdout.String()
		if code != 1 || !strings.Contains(out, "1 passed, 1 failed, 1 skipped") ||
			!strings.Contains(out, "--- FAIL  Roles") || !strings.Contains(out, "--- SKIP  Ownership") {
			t.Errorf("with a user token as the admin's: exit %d, want 1 with Roles failing and Ownership skipped:\n%s%s", code, out, stderr.String())
		}
	})
}

// server is a running reference server.
type server struct {
	url    string
	bin    string
	env    []string
	tokens [3]string // admin, user A, user B
}

func (s *server) harness() testkit.APIHarness {
	return testkit.APIHarness{BaseURL: s.url, AdminToken: s.tokens[0], UserToken: s.tokens[1], User2Token: s.tokens[2]}
}

// serverEnv are the variables the server reads, removed from the test's
// environment so that each server runs as its test says. humacli also
// reads SERVICE_<NAME>.
var serverEnv = regexp.MustCompile(`^(SERVICE_[A-Z0-9_]*|PORT|DATABASE_URL|KAFKA_[A-Z_]*|JWT_[A-Z_]*|TAX_RATE|CURRENCY|TIME_ZONE|TOPIC_PREFIX|CONSUMER_GROUP|LOG_LEVEL|LOG_FORMAT|SHUTDOWN_TIMEOUT)=`)

// startServer starts the reference server on a free port with a fresh
// JWT_SECRET and env added, waits until /healthz answers, mints an admin
// token and two user tokens with its token command, and stops it when the
// test ends.
func startServer(t *testing.T, env []string) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the reference server")
	}
	bin := buildServer(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	port := freePort(t)
	s := &server{url: fmt.Sprintf("http://127.0.0.1:%d", port), bin: bin}
	for _, kv := range os.Environ() {
		if !serverEnv.MatchString(kv) {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env, "JWT_SECRET="+hex.EncodeToString(secret), "LOG_LEVEL=warn")
	s.env = append(s.env, env...)

	logs := &harness.SyncBuffer{}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(s.env[:len(s.env):len(s.env)], fmt.Sprintf("PORT=%d", port))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("server did not stop within 30s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("server exited (%v):\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy within 60s:\n%s", logs.String())
		}
	}
	for i, role := range []string{"admin", "user", "user"} {
		s.tokens[i] = s.token(t, role, uuid.NewString())
	}
	return s
}

// token mints a token with the server's token command.
func (s *server) token(t *testing.T, role, sub string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(s.bin, "token", "--role", role, "--sub", sub)
	cmd.Env, cmd.Stdout, cmd.Stderr = s.env, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("server token --role %s: %v: %s", role, err, stderr.String())
	}
	tok := strings.TrimSpace(stdout.String())
	if tok == "" || strings.ContainsAny(tok, " \n") {
		t.Fatalf("server token --role %s printed %q, want the token alone", role, stdout.String())
	}
	return tok
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// buildServer builds examples/server once per test binary.
func buildServer(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "conformance-server-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "server")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", binPath, "github.com/salesflow/salesflow/examples/server").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./examples/server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
