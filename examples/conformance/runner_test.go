package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesflow/salesflow/testkit"
)

// The runner is tested with cases of its own; the suite itself is tested
// against the real server in conformance_test.go.

func TestRunCase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		run     func(testkit.TB)
		want    outcome
		wantLog []string
	}{
		{"pass", func(t testkit.TB) { t.Logf("note") }, pass, []string{"note"}},
		{"error continues", func(t testkit.TB) {
			t.Errorf("first")
			t.Errorf("second")
		}, fail, []string{"first", "second"}},
		{"fatal stops", func(t testkit.TB) {
			t.Fatalf("stop")
			t.Errorf("unreachable")
		}, fail, []string{"stop"}},
		{"skip stops", func(t testkit.TB) {
			t.Skipf("no second user")
			t.Errorf("unreachable")
		}, skip, []string{"no second user"}},
		{"error then skip fails", func(t testkit.TB) {
			t.Errorf("broken")
			t.Skipf("later")
		}, fail, []string{"broken", "later"}},
		{"errors from goroutines", func(t testkit.TB) {
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() { t.Errorf("g") })
			}
			wg.Wait()
		}, fail, slices.Repeat([]string{"g"}, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCase(t.Context(), testkit.APICase{Name: tt.name, Run: tt.run})
			if r.outcome != tt.want || !slices.Equal(r.log, tt.wantLog) {
				t.Errorf("got %s %q, want %s %q", r.outcome, r.log, tt.want, tt.wantLog)
			}
		})
	}
}

func TestRunCasePanic(t *testing.T) {
	t.Parallel()
	r := runCase(t.Context(), testkit.APICase{Name: "p", Run: func(testkit.TB) { panic("boom") }})
	if r.outcome != fail || len(r.log) != 1 || !strings.HasPrefix(r.log[0], "panic: boom") {
		t.Errorf("got %s %q, want a failure logging the panic", r.outcome, r.log)
	}
}

func TestRunCaseCleanup(t *testing.T) {
	t.Parallel()
	var order []string
	var ctxDone bool
	r := runCase(t.Context(), testkit.APICase{Name: "c", Run: func(tb testkit.TB) {
		tb.Cleanup(func() { order = append(order, "first") })
		tb.Cleanup(func() {
			ctxDone = tb.Context().Err() != nil
			order = append(order, "second")
		})
		tb.Fatalf("stop")
	}})
	if r.outcome != fail || !slices.Equal(order, []string{"second", "first"}) || !ctxDone {
		t.Errorf("got %s, cleanups %v, context cancelled %v; want FAIL, [second first], true", r.outcome, order, ctxDone)
	}
}

func TestRunCases(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []string
	record := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	cases := []testkit.APICase{
		{Name: "A", Run: func(testkit.TB) { record("A") }},
		{Name: "Exclusive", Exclusive: true, Run: func(testkit.TB) {
			record("exclusive starts")
			time.Sleep(10 * time.Millisecond)
			record("exclusive ends")
		}},
		{Name: "B", Run: func(t testkit.TB) { t.Errorf("line 1\nline 2") }},
		{Name: "C", Run: func(t testkit.TB) { t.Skipf("why") }},
	}
	var out bytes.Buffer
	n := runCases(context.Background(), cases, 2, false, &out)
	if n != (tally{passed: 2, failed: 1, skipped: 1}) {
		t.Errorf("got %+v, want 2 passed, 1 failed, 1 skipped", n)
	}
	if len(events) != 3 || events[0] != "exclusive starts" || events[1] != "exclusive ends" {
		t.Errorf("events %q: the exclusive case must run first and alone", events)
	}
	for _, want := range []string{
		`(?m)^--- PASS  Exclusive \(`, `(?m)^--- FAIL  B \(`, `(?m)^        line 1\n        line 2$`,
		`(?m)^--- SKIP  C \(`, `(?m)^        why$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	if got := n.String(); got != "2 passed, 1 failed, 1 skipped" {
		t.Errorf("summary %q", got)
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"no tokens", nil, nil, "missing -admin-token (ADMIN_TOKEN) and -user-token (USER_TOKEN)"},
		{"no user token", []string{"-admin-token", "a"}, nil, "missing -user-token"},
		{"tokens from env, bad -run", []string{"-run", "("}, map[string]string{"ADMIN_TOKEN": "a", "USER_TOKEN": "u"}, "-run: error parsing regexp"},
		{"stray argument", []string{"x"}, nil, `unexpected arguments ["x"]`},
		{"unreachable", []string{"-url", "http://127.0.0.1:1", "-admin-token", "a", "-user-token", "u"}, nil, "is not reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), tt.args, env(tt.env), &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.wantErr)
			}
		})
	}
}
