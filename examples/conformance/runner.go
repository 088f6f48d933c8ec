package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/salesflow/salesflow/testkit"
)

// caseT runs one case outside the testing package: it implements
// testkit.TB the way *testing.T does, ending the case's goroutine with
// runtime.Goexit on Fatalf and Skipf.
type caseT struct {
	name   string
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	failed   bool
	skipped  bool
	log      []string
	cleanups []func()
}

var _ testkit.TB = (*caseT)(nil)

func (t *caseT) Helper()                  {}
func (t *caseT) Name() string             { return t.name }
func (t *caseT) Context() context.Context { return t.ctx }

func (t *caseT) Logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log = append(t.log, fmt.Sprintf(format, args...))
}

func (t *caseT) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
	t.log = append(t.log, fmt.Sprintf(format, args...))
}

func (t *caseT) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

func (t *caseT) Skipf(format string, args ...any) {
	t.mu.Lock()
	t.skipped = true
	t.log = append(t.log, fmt.Sprintf(format, args...))
	t.mu.Unlock()
	runtime.Goexit()
}

func (t *caseT) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *caseT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// outcome is how a case ended.
type outcome string

const (
	pass outcome = "PASS"
	fail outcome = "FAIL"
	skip outcome = "SKIP"
)

// result is one case's outcome and log.
type result struct {
	name    string
	outcome outcome
	elapsed time.Duration
	log     []string
}

// runCase runs c on its own goroutine, as testing runs a test: a panic
// fails the case, and the cleanups run last, newest first, after the
// case's context is cancelled.
func runCase(ctx context.Context, c testkit.APICase) result {
	t := &caseT{name: c.Name}
	t.ctx, t.cancel = context.WithCancel(ctx)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.finish()
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		c.Run(t)
	}()
	<-done
	t.mu.Lock()
	defer t.mu.Unlock()
	r := result{name: c.Name, outcome: pass, elapsed: time.Since(start), log: t.log}
	switch {
	case t.failed:
		r.outcome = fail
	case t.skipped:
		r.outcome = skip
	}
	return r
}

// finish cancels the case's context and runs its cleanups.
func (t *caseT) finish() {
	t.cancel()
	t.mu.Lock()
	cleanups := t.cleanups
	t.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("panic in cleanup: %v", r)
				}
			}()
			cleanups[i]()
		}()
	}
}

// tally counts outcomes.
type tally struct{ passed, failed, skipped int }

func (n tally) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", n.passed, n.failed, n.skipped)
}

// runCases runs the exclusive cases one at a time, then the others at most
// parallel at once, and prints each outcome to out as it comes: its log
// is printed when it failed or was skipped, or always when verbose.
func runCases(ctx context.Context, cases []testkit.APICase, parallel int, verbose bool, out io.Writer) tally {
	var (
		mu sync.Mutex
		n  tally
	)
	report := func(r result) {
		mu.Lock()
		defer mu.Unlock()
		switch r.outcome {
		case pass:
			n.passed++
		case fail:
			n.failed++
		case skip:
			n.skipped++
		}
		fmt.Fprintf(out, "--- %s  %s (%.2fs)\n", r.outcome, r.name, r.elapsed.Seconds())
		if r.outcome != pass || verbose {
			for _, l := range r.log {
				fmt.Fprintf(out, "        %s\n", strings.ReplaceAll(strings.TrimRight(l, "\n"), "\n", "\n        "))
			}
		}
	}
	var rest []testkit.APICase
	for _, c := range cases {
		if c.Exclusive {
			report(runCase(ctx, c))
		} else {
			rest = append(rest, c)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(parallel, 1))
	for _, c := range rest {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			report(runCase(ctx, c))
		})
	}
	wg.Wait()
	return n
}
