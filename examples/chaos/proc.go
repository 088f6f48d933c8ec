package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/salesflow/salesflow/internal/harness"
)

// build compiles the server and the broker into dir, with -race when race
// is true, and returns their paths.
func build(ctx context.Context, dir string, race bool) (server, broker string, err error) {
	server, broker = filepath.Join(dir, "server"), filepath.Join(dir, "broker")
	var flags []string
	if race {
		flags = append(flags, "-race")
	}
	for _, b := range []struct{ out, pkg string }{
		{server, "github.com/salesflow/salesflow/examples/server"},
		{broker, "github.com/salesflow/salesflow/examples/kfake"},
	} {
		if err := harness.GoBuild(ctx, b.out, b.pkg, flags...); err != nil {
			return "", "", fmt.Errorf("%w\n(run chaos inside the salesflow module, or give -server-bin and -broker-bin)", err)
		}
	}
	return server, broker, nil
}

// exit is one way a process ended that the chaos run did not ask for.
type exit struct {
	At     time.Time
	Status string
	Tail   string // the last lines of its log
}

// proc is one supervised child process: the server, a worker or the
// broker. Like a process supervisor, it starts the process again a second
// after it exits on its own; a process the run kills stays down until
// start is called. Safe for concurrent use.
type proc struct {
	name    string
	bin     string
	args    []string
	env     []string
	port    int  // the port it listens on
	http    bool // port serves /healthz and /readyz
	logPath string

	mu         sync.Mutex
	log        *os.File
	cmd        *exec.Cmd
	done       chan struct{} // closed when cmd exits
	running    bool
	want       bool // restart after an exit the run did not cause
	killing    bool // the current exit is the run's doing
	starts     int
	lastStatus string // how the last run ended
	unexpected []exit
	onExit     func(p *proc, e exit) // called for each unexpected exit
}

func newProc(name, bin string, args, env []string, port int, isHTTP bool, dir string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &proc{name: name, bin: bin, args: args, env: env, port: port, http: isHTTP, logPath: logPath, log: f}, nil
}

// start starts the process, unless it runs.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want = true
	if p.running {
		return nil
	}
	return p.startLocked()
}

func (p *proc) startLocked() error {
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.log, p.log
	// The children die with the chaos run, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	fmt.Fprintf(p.log, "=== chaos %s: start #%d\n", time.Now().Format(time.RFC3339Nano), p.starts+1)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.starts++
	p.cmd, p.running, p.killing = cmd, true, false
	done := make(chan struct{})
	p.done = done
	go p.wait(cmd, done)
	return nil
}

func (p *proc) wait(cmd *exec.Cmd, done chan struct{}) {
	err := cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running = false
	close(done)
	status := "exit 0"
	if err != nil {
		status = err.Error()
	}
	p.lastStatus = status
	fmt.Fprintf(p.log, "=== chaos %s: %s\n", time.Now().Format(time.RFC3339Nano), status)
	if p.killing || !p.want {
		return
	}
	e := exit{At: time.Now(), Status: status, Tail: tail(p.logPath, 5)}
	p.unexpected = append(p.unexpected, e)
	if p.onExit != nil {
		p.onExit(p, e)
	}
	time.AfterFunc(time.Second, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.want && !p.running {
			if err := p.startLocked(); err != nil {
				fmt.Fprintf(p.log, "=== chaos: restart failed: %v\n", err)
			}
		}
	})
}

// stop sends sig and waits for the process to exit; after grace it sends
// SIGKILL. It returns how long the process took to exit, and whether it
// ran at all. The process stays down until start.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) (time.Duration, bool) {
	p.mu.Lock()
	p.want = false
	if !p.running {
		p.mu.Unlock()
		return 0, false
	}
	p.killing = true
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	start := time.Now()
	harness.Terminate(cmd.Process, sig, done, grace)
	return time.Since(start), true
}

// status returns how the last run of the process ended.
func (p *proc) status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastStatus
}

// isRunning reports whether the process runs.
func (p *proc) isRunning() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// exits returns the exits the run did not cause.
func (p *proc) exits() []exit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]exit(nil), p.unexpected...)
}

func (p *proc) close() {
	p.stop(syscall.SIGKILL, time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log.Close()
}

// waitUp waits until the process answers: /healthz (or /readyz when ready
// is true) with 200 for HTTP processes, a TCP connection for the broker.
func (p *proc) waitUp(ctx context.Context, ready bool, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if p.http {
			if harness.Up(ctx, client, fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path)) {
				return time.Since(start), nil
			}
		} else if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second); err == nil {
			c.Close()
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("%s not up after %v: %w", p.name, timeout, errors.Join(ctx.Err(), errors.New(tail(p.logPath, 40))))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logStats counts the log lines at level ERROR and the panics in the log
// at path.
func logStats(path string) (errorLines, panics int, samples []string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.Contains(line, []byte("level=ERROR")):
			errorLines++
			if len(samples) < 5 {
				samples = append(samples, truncate(string(line), 300))
			}
		case bytes.HasPrefix(line, []byte("panic:")), bytes.Contains(line, []byte("msg=panic")):
			panics++
			if len(samples) < 5 {
				samples = append(samples, truncate(string(line), 300))
			}
		}
	}
	return errorLines, panics, samples
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
