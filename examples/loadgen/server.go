package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/salesflow/salesflow/internal/harness"
)

// startedServer is a server binary the load generator started (-server).
type startedServer struct {
	*harness.Process
	baseURL string
	token   string // the admin token the server printed, if it printed one
}

// startServer runs bin serve on a free loopback port with env added to the
// load generator's environment, and waits until /readyz answers 200. The
// server's log goes to logw. Without JWT_SECRET in the environment the
// server prints an admin token, which startServer keeps.
func startServer(ctx context.Context, bin string, env []string, logw io.Writer, wait time.Duration) (*startedServer, error) {
	port, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), env...), "PORT="+strconv.Itoa(port))
	cmd.Stderr = logw
	tokens := make(chan string, 1)
	sent := false
	// Its own process group, so that a Ctrl-C meant for the load generator
	// does not stop the server before the report is written.
	p, err := harness.Start("server", cmd, func(line string) {
		if tok, ok := strings.CutPrefix(line, "export TOKEN="); ok && !sent {
			tokens <- strings.TrimSpace(tok)
			sent = true
		}
	})
	if err != nil {
		return nil, err
	}
	s := &startedServer{Process: p, baseURL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	if err := harness.WaitReady(ctx, s.baseURL, p, wait); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, err
	}
	if envValue(env, "JWT_SECRET") == "" && envValue(env, "JWT_PUBLIC_KEY_FILE") == "" {
		// The generated secret's admin token is printed before the
		// server listens, so it is here by now.
		select {
		case tok := <-tokens:
			s.token = tok
		case <-p.Done(): // its output is read: the token, if any, is sent
			select {
			case s.token = <-tokens:
			default:
			}
		case <-time.After(5 * time.Second):
		}
	}
	return s, nil
}

// envValue is the value name has in the started server's environment: its
// last setting in env, else the load generator's own.
func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return os.Getenv(name)
}

// mintToken runs bin token with env added to the load generator's
// environment, which must hold JWT_SECRET (or the key files), and returns
// the token it prints.
func mintToken(ctx context.Context, bin string, env []string, role, sub string) (string, error) {
	return harness.MintToken(ctx, bin, append(os.Environ(), env...), role, sub)
}
