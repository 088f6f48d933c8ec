package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a chaos run found.
type Report struct {
	Seed        uint64  `json:"seed"`
	DurationSec float64 `json:"durationSec"`
	Clients     int     `json:"clients"`
	ElapsedSec  float64 `json:"elapsedSec"`
	Database    string  `json:"database"`
	WorkDir     string  `json:"workDir,omitempty"` // logs, kept when something failed

	Ops              map[string]*OpStats `json:"ops"`
	Totals           OpStats             `json:"totals"`
	RetryReasons     map[string]int64    `json:"retryReasons"`
	HTTPStatuses     map[string]int64    `json:"httpStatuses"`
	UnackedCommitted int                 `json:"unackedCommitted"` // sales committed whose creation no client saw answered

	Faults     []Fault            `json:"faults"`
	FaultTable []FaultRow         `json:"faultTable"`
	Exits      []ExitRecord       `json:"unexpectedExits"`
	Logs       map[string]LogStat `json:"logs"`

	Events Events  `json:"events"`
	Drain  Drain   `json:"drain"`
	Checks []Check `json:"checks"`
	Abuse  []Probe `json:"abuse,omitempty"`

	Violations int `json:"violations"`
}

// FaultRow is one line of the fault table.
type FaultRow struct {
	Kind     string `json:"kind"`
	Injected int    `json:"injected"`
	Did      string `json:"whatTheSystemDid"`
	DataLost string `json:"dataLost"`
}

// ExitRecord is a process exit the run did not cause.
type ExitRecord struct {
	Proc   string  `json:"proc"`
	AtSec  float64 `json:"atSec"`
	Status string  `json:"status"`
	Tail   string  `json:"tail"`
}

// LogStat counts a process's log lines at level ERROR, and its panics.
type LogStat struct {
	Starts  int      `json:"starts"`
	Errors  int      `json:"errorLines"`
	Panics  int      `json:"panics"`
	Samples []string `json:"samples,omitempty"`
}

// Failed reports whether the run broke anything.
func (r *Report) Failed() bool { return r.Violations > 0 }

// dataChecks are the checks whose failure means lost or corrupted data.
func dataCheck(name string) bool {
	return !strings.HasPrefix(name, "abuse") && !strings.HasPrefix(name, "graceful") && !strings.HasPrefix(name, "no unexpected")
}

func (r *Report) fill(d *deployment, w *workload, f *faulter, checks []Check, ev Events, t0, workloadEnd time.Time) {
	w.mu.Lock()
	r.Ops = w.ops
	r.RetryReasons = maps.Clone(w.reasons)
	r.HTTPStatuses = map[string]int64{}
	for s, n := range w.statuses {
		r.HTTPStatuses[strconv.Itoa(s)] = n
	}
	for _, st := range w.ops {
		r.Totals.Attempted += st.Attempted
		r.Totals.Acknowledged += st.Acknowledged
		r.Totals.Abandoned += st.Abandoned
		r.Totals.Requests += st.Requests
		r.Totals.Retries += st.Retries
		r.Totals.Replayed += st.Replayed
		r.Totals.MaxLatencyMS = max(r.Totals.MaxLatencyMS, st.MaxLatencyMS)
	}
	events, spans := slices.Clone(w.events), slices.Clone(w.spans)
	w.mu.Unlock()
	r.UnackedCommitted = d.unackedCommitted
	r.Events = ev
	r.Checks = checks
	for _, c := range checks {
		r.Violations += c.Failures
	}

	d.exitsMu.Lock()
	exits := slices.Clone(d.exitTimes)
	d.exitsMu.Unlock()
	for _, e := range exits {
		r.Exits = append(r.Exits, ExitRecord{Proc: e.proc, AtSec: e.At.Sub(t0).Seconds(), Status: e.Status, Tail: e.Tail})
	}
	r.Logs = map[string]LogStat{}
	for _, p := range d.procs() {
		errs, panics, samples := logStats(p.logPath)
		p.mu.Lock()
		r.Logs[p.name] = LogStat{Starts: p.starts, Errors: errs, Panics: panics, Samples: samples}
		p.mu.Unlock()
	}

	f.mu.Lock()
	r.Faults = slices.Clone(f.faults)
	f.mu.Unlock()
	lost := "none"
	for _, c := range checks {
		if c.Failures > 0 && dataCheck(c.Name) {
			lost = "SEE VIOLATIONS"
		}
	}
	byKind := map[string][]Fault{}
	for _, ft := range r.Faults {
		byKind[ft.Kind] = append(byKind[ft.Kind], ft)
	}
	for _, kind := range slices.Sorted(maps.Keys(byKind)) {
		fs := byKind[kind]
		var down, rec []int64
		reasons := map[string]int{}
		retries := 0
		var longest time.Duration
		exitsIn := map[string]int{}
		var errs []string
		for _, ft := range fs {
			down, rec = append(down, ft.DownMS), append(rec, ft.RecoveryMS)
			from, to := ft.start, ft.end.Add(2*time.Second)
			for _, e := range events {
				if !e.At.Before(from) && !e.At.After(to) {
					retries++
					reasons[e.Reason]++
				}
			}
			for _, s := range spans {
				if !s.Start.After(to) && !s.End.Before(from) {
					longest = max(longest, s.End.Sub(s.Start))
				}
			}
			for _, e := range exits {
				if !e.At.Before(from) && !e.At.After(ft.end.Add(5*time.Second)) {
					exitsIn[e.proc]++
				}
			}
			if ft.Err != "" {
				errs = append(errs, ft.Err)
			}
		}
		var did []string
		if kind != faultPGTerminate && kind != faultWorkerPair {
			did = append(did, "down "+msRange(down))
		}
		did = append(did, "server ready again "+msRange(rec)+" after")
		did = append(did, fmt.Sprintf("clients retried %d requests%s, longest operation %.1f s", retries, topReasons(reasons), longest.Seconds()))
		for _, p := range slices.Sorted(maps.Keys(exitsIn)) {
			did = append(did, fmt.Sprintf("%s exited on its own %d× and was restarted by the supervisor", p, exitsIn[p]))
		}
		if len(errs) > 0 {
			did = append(did, "injection errors: "+strings.Join(errs, "; "))
		}
		r.FaultTable = append(r.FaultTable, FaultRow{Kind: kind, Injected: len(fs), Did: strings.Join(did, "; "), DataLost: lost})
	}
}

func msRange(ms []int64) string {
	if len(ms) == 0 {
		return "-"
	}
	var sum, hi int64
	for _, m := range ms {
		sum += m
		hi = max(hi, m)
	}
	return fmt.Sprintf("%.1f s avg (max %.1f s)", float64(sum)/float64(len(ms))/1000, float64(hi)/1000)
}

func topReasons(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return cmp.Or(m[b]-m[a], strings.Compare(a, b)) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// Write prints the report as text.
func (r *Report) Write(out io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("")
	p("== salesflow chaos report")
	p("seed %d, workload %.0f s, %d clients, run %.0f s, database %s", r.Seed, r.DurationSec, r.Clients, r.ElapsedSec, r.Database)
	p("")
	p("-- operations (through HTTP, retried with the same Idempotency-Key)")
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "op\tattempted\tacknowledged\trejected (4xx)\tabandoned\trequests\tretries\treplayed\tmax latency")
	row := func(name string, s *OpStats) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%.1f s\n", name, s.Attempted, s.Acknowledged, rejected(s.Rejected),
			s.Abandoned, s.Requests, s.Retries, s.Replayed, float64(s.MaxLatencyMS)/1000)
	}
	for _, n := range opNames {
		if s := r.Ops[n]; s != nil {
			row(n, s)
		}
	}
	all := r.Totals
	all.Rejected = map[string]int64{}
	for _, s := range r.Ops {
		for k, v := range s.Rejected {
			all.Rejected[k] += v
		}
	}
	row("total", &all)
	tw.Flush()
	p("retries by reason: %s", kv(r.RetryReasons))
	p("HTTP statuses: %s", kv(r.HTTPStatuses))
	p("sales committed without an acknowledged answer (client gave up or never saw the answer): %d", r.UnackedCommitted)
	p("")
	p("-- faults (%d)", len(r.Faults))
	counts := map[string]int{}
	for _, f := range r.Faults {
		counts[f.Kind]++
	}
	p("by kind: %s", kvInt(counts))
	for _, f := range r.Faults {
		p("  t=%6.1fs %-12s down %6d ms, ready again after %6d ms %s%s", f.AtSec, f.Kind, f.DownMS, f.RecoveryMS, f.Detail, errSuffix(f.Err))
	}
	if len(r.Exits) > 0 {
		p("processes that exited on their own (restarted by the supervisor):")
		for _, e := range r.Exits {
			p("  t=%6.1fs %s: %s: %s", e.AtSec, e.Proc, e.Status, strings.ReplaceAll(truncate(e.Tail, 300), "\n", " | "))
		}
	}
	p("process logs:")
	for _, n := range slices.Sorted(maps.Keys(r.Logs)) {
		l := r.Logs[n]
		p("  %-10s starts %d, ERROR lines %d, panics %d", n, l.Starts, l.Errors, l.Panics)
		for _, s := range l.Samples {
			p("      %s", s)
		}
	}
	p("")
	p("-- events")
	e := r.Events
	p("outbox %d, processed %d, records in topics %d, duplicates published %d, deliveries handled ≥%d, duplicates skipped ≥%d, handler errors ≥%d, dead letters %d",
		e.Outbox, e.Processed, e.InTopics, e.DuplicatesPublished, e.DeliveriesHandled, e.DuplicatesSkipped, e.HandlerErrors, e.DeadLetters)
	p("drained %t: %.1f s after the last fault, %.1f s after the workload (backlog %d, unapplied %d, lag %d)",
		r.Drain.Drained, float64(r.Drain.AfterLastFaultMS)/1000, float64(r.Drain.AfterWorkloadMS)/1000, r.Drain.Backlog, r.Drain.Unapplied, r.Drain.Lag)
	for _, n := range r.Drain.BrokerRecoveries {
		p("INFRASTRUCTURE: %s (test broker, not the system under test)", n)
	}
	p("")
	p("-- invariants")
	for _, c := range r.Checks {
		mark := "ok  "
		if c.Failures > 0 {
			mark = "FAIL"
		}
		p("%s %s (%d checked, %d violations)", mark, c.Name, c.Checked, c.Failures)
		for _, v := range c.Violations {
			p("       %s", v)
		}
	}
	if len(r.Abuse) > 0 {
		p("")
		p("-- abuse probes")
		for _, pr := range r.Abuse {
			mark := "ok  "
			if !pr.OK {
				mark = "FAIL"
			}
			p("%s %-34s %s", mark, pr.Name, pr.Result)
		}
	}
	p("")
	p("-- fault table")
	tw = tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\tinjected\twhat the system did\tdata lost")
	for _, row := range r.FaultTable {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", row.Kind, row.Injected, row.Did, row.DataLost)
	}
	tw.Flush()
	p("")
	if r.Violations > 0 {
		p("RESULT: %d VIOLATIONS (seed %d; logs in %s)", r.Violations, r.Seed, r.WorkDir)
	} else {
		p("RESULT: no violations (seed %d)", r.Seed)
	}
}

func rejected(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func kv(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func kvInt(m map[string]int) string {
	c := map[string]int64{}
	for k, v := range m {
		c[k] = int64(v)
	}
	return kv(c)
}
