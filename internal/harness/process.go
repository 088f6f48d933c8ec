package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a child process started by Start.
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts cmd in its own process group, so that a Ctrl-C meant for
// the caller does not stop the child before the caller is done with it.
// Each line of the child's standard output goes to line, if not nil; name
// names the child in errors.
func Start(name string, cmd *exec.Cmd, line func(string)) (*Process, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line != nil {
				line(sc.Text())
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is the process's id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited and its output is read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process exited (nil for status 0); valid once Done is
// closed.
func (p *Process) Err() error { return p.err }

// Stop sends SIGTERM and kills the process if it has not exited after
// grace. It returns how the process exited, or that it had to be killed.
func (p *Process) Stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	if Terminate(p.cmd.Process, syscall.SIGTERM, p.done, grace) {
		return fmt.Errorf("%s did not stop within %v: killed", p.name, grace)
	}
	return p.err
}

// Terminate sends sig to proc and waits until done is closed; after grace
// it sends SIGKILL and waits on. It reports whether it had to kill.
func Terminate(proc *os.Process, sig os.Signal, done <-chan struct{}, grace time.Duration) (killed bool) {
	_ = proc.Signal(sig)
	select {
	case <-done:
		return false
	case <-time.After(grace):
		_ = proc.Kill()
		<-done
		return true
	}
}

// Up reports whether a GET of url answers 200 OK.
func Up(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// WaitReady waits until base/readyz answers 200, at most wait, and gives
// up early when p exits or ctx ends.
func WaitReady(ctx context.Context, base string, p *Process, wait time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(wait)
	for !Up(ctx, hc, base+"/readyz") {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v", p.name, wait)
		}
	}
	return nil
}

// MintToken runs the server binary's token command with env as its whole
// environment, which must hold JWT_SECRET (or the key files), and returns
// the token it prints. args are added to the command, such as "--ttl",
// "24h".
func MintToken(ctx context.Context, bin string, env []string, role, sub string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append([]string{"token", "--role", role, "--sub", sub}, args...)...)
	cmd.Env = env
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

// GoBuild builds the package pkg into the binary out with the go command,
// with flags (such as "-race") added; its error holds the command's output.
func GoBuild(ctx context.Context, out, pkg string, flags ...string) error {
	args := append([]string{"build", "-o", out}, flags...)
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, bytes.TrimSpace(output))
	}
	return nil
}
