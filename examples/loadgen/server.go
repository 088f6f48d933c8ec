package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startedServer is a server binary the load generator started (-server).
type startedServer struct {
	cmd     *exec.Cmd
	baseURL string
	token   string // the admin token the server printed, if it printed one
	done    chan error
}

// startServer runs bin serve on a free loopback port with env added to the
// load generator's environment, and waits until /readyz answers 200. The
// server's log goes to logw. Without JWT_SECRET in the environment the
// server prints an admin token, which startServer keeps.
func startServer(ctx context.Context, bin string, env []string, logw io.Writer, wait time.Duration) (*startedServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), env...), "PORT="+strconv.Itoa(port))
	cmd.Stderr = logw
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Its own process group, so that a Ctrl-C meant for the load generator
	// does not stop the server before the report is written.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &startedServer{cmd: cmd, baseURL: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan error, 1)}
	tokens := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if tok, ok := strings.CutPrefix(sc.Text(), "export TOKEN="); ok && !sent {
				tokens <- strings.TrimSpace(tok)
				sent = true
			}
		}
		close(tokens)
		s.done <- cmd.Wait()
	}()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(wait)
	for {
		if ready(ctx, hc, s.baseURL) {
			break
		}
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("server exited before it was ready: %v", err)
		case <-ctx.Done():
			s.stop(5 * time.Second)
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop(5 * time.Second)
			return nil, fmt.Errorf("server not ready after %v", wait)
		}
	}
	if envValue(env, "JWT_SECRET") == "" && envValue(env, "JWT_PUBLIC_KEY_FILE") == "" {
		// The generated secret's admin token is printed before the
		// server listens, so it is here by now.
		select {
		case tok := <-tokens:
			s.token = tok
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

func ready(ctx context.Context, hc *http.Client, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// pid returns the server's process id.
func (s *startedServer) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits up to grace before killing the server.
func (s *startedServer) stop(grace time.Duration) error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		err := <-s.done
		s.done <- err
		return fmt.Errorf("server did not stop within %v: killed", grace)
	}
}

// mintToken runs bin token with env added to the environment, which must
// hold JWT_SECRET (or the key files), and returns the token it prints.
func mintToken(ctx context.Context, bin string, env []string, role, sub string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "token", "--role", role, "--sub", sub)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s token: %v: %s", bin, err, strings.TrimSpace(errb.String()))
	}
	tok := strings.TrimSpace(out.String())
	if tok == "" {
		return "", errors.New(bin + " token printed nothing")
	}
	return tok, nil
}

// freePort returns a TCP port free on the loopback interface just now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
