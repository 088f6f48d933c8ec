package main

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salesflow/salesflow/internal/harness"
)

// startEmbedded starts the server binary on the embedded store and bus
// and returns its port and an admin and a user token.
func startEmbedded(t *testing.T) (port int, admin, user string) {
	t.Helper()
	server, _ := bins(t)
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(ownEnv, k) || strings.HasPrefix(k, "SERVICE_")
	})
	env = append(env, "PORT="+strconv.Itoa(port), "JWT_SECRET="+harness.RandomSecret())
	p, err := newProc("server", server, []string{"serve"}, env, port, true, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.waitUp(t.Context(), true, time.Minute); err != nil {
		t.Fatal(err)
	}
	token := func(role, sub string) string {
		tok, err := harness.MintToken(t.Context(), server, env, role, sub)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return port, token("admin", "abuse-admin"), token("user", "abuse-user")
}

// TestAbuse runs the abuse probes against the server binary: slow-loris
// headers (alone and 200 at once, with normal clients served meanwhile), a
// slow body, oversized bodies (announced and streamed), oversized headers
// and forged tokens the server's own tests do not try. It takes about the
// server's body read timeout (30 s).
func TestAbuse(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("takes the server's 30 s read timeout; skipped with -short")
	}
	t.Parallel()
	port, admin, user := startEmbedded(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for _, p := range runProbes(ctx, port, admin, user) {
		if p.OK {
			t.Logf("ok   %-40s %s (%d ms)", p.Name, p.Result, p.TookMS)
		} else {
			t.Errorf("FAIL %-40s %s (%d ms)", p.Name, p.Result, p.TookMS)
		}
	}
}
