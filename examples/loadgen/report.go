package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run measured; it is printed at the end and written as
// JSON with -json. Rates and latencies cover the measured window (after
// the warm-up); the event counts cover the whole load, warm-up included.
type Report struct {
	BaseURL   string    `json:"baseUrl"`
	StartedAt time.Time `json:"startedAt"`
	Config    RunConfig `json:"config"`

	// CatalogSeconds is how long creating the catalog took.
	CatalogSeconds float64 `json:"catalogSeconds"`
	// LoadSeconds is the measured window: from the end of the warm-up to
	// the moment the last client finished its lifecycle.
	LoadSeconds float64 `json:"loadSeconds"`
	// DrainSeconds is how long after the load the projections took to
	// catch up (outbox empty, every event handled), or the drain timeout.
	DrainSeconds float64 `json:"drainSeconds"`
	// Drained is false when the drain timed out.
	Drained bool `json:"drained"`

	Lifecycles LifecycleReport `json:"lifecycles"`
	// Totals counts the lifecycles of the whole load, warm-up included,
	// without rates: started = finished + failed once the load is over.
	Totals     LifecycleReport        `json:"totals"`
	Routes     map[string]RouteReport `json:"routes"`
	Projection ProjectionReport       `json:"projection"`
	Events     EventReport            `json:"events"`
	Server     ProcessReport          `json:"server"`
	Loadgen    ProcessReport          `json:"loadgen"`
	// Errors holds up to ten distinct failures, with their counts.
	Errors   map[string]int `json:"errors,omitempty"`
	Timeline []Second       `json:"timeline"`
}

// RunConfig is the part of the configuration that shapes the numbers.
type RunConfig struct {
	Clients        int     `json:"clients"`
	DurationSec    float64 `json:"durationSeconds"`
	WarmupSec      float64 `json:"warmupSeconds"`
	Count          int64   `json:"count"`
	Rate           float64 `json:"rate"` // lifecycles per second asked for; 0: as fast as the clients go
	Books          int     `json:"books"`
	CancelRate     float64 `json:"cancelRate"`
	ReturnRate     float64 `json:"returnRate"`
	SampleEvery    int     `json:"sampleEvery"`
	PollIntervalMs float64 `json:"pollIntervalMs"`
	Procs          int     `json:"procs"` // GOMAXPROCS of the load generator
}

// LifecycleReport counts sale lifecycles in the measured window. A
// lifecycle is a sale created and then completed, cancelled while pending,
// or completed and then returned; it is finished when its last status
// change was answered 200.
type LifecycleReport struct {
	Started   int64 `json:"started"`
	Created   int64 `json:"created"`
	Completed int64 `json:"completed"` // completions, returned sales included
	Cancelled int64 `json:"cancelled"` // cancelled while pending
	Returned  int64 `json:"returned"`  // completed, then cancelled
	Finished  int64 `json:"finished"`
	Failed    int64 `json:"failed"` // a create or a status change failed for good
	// CreateFailed and ChangeFailed split Failed: the sale was not
	// created, or a status change of the sale failed (it stays as it was).
	CreateFailed int64 `json:"createFailed"`
	ChangeFailed int64 `json:"changeFailed"`
	// Retries counts requests sent again with their idempotency key.
	Retries int64 `json:"retries"`

	PerSecond          float64 `json:"perSecond"`          // finished / load seconds
	CreatedPerSecond   float64 `json:"createdPerSecond"`   // sales created / load seconds
	CompletedPerSecond float64 `json:"completedPerSecond"` // completions / load seconds
	// ProjectedPerSecond is finished lifecycles over the load and the
	// drain: the rate at which lifecycles were created, changed and
	// projected by the worker.
	ProjectedPerSecond float64 `json:"projectedPerSecond"`
}

// ProjectionReport is the lag from a completion to its projection, on a
// sample of completions (every SampleEvery-th). Lag is measured by the load
// generator: from the completion's 200 answer to the first poll of
// GET /stock-movements?saleId= that shows the sale's SALE movements, so it
// is late by up to one poll and one wait between polls (PollInterval, or 5 % of
// the lag so far when that is longer, at most 100 ms). ServerLag is the
// server's own stamps: the movement's createdAt less the sale's paidAt,
// both taken inside their transactions.
type ProjectionReport struct {
	Sampled   int64     `json:"sampled"`
	Observed  int64     `json:"observed"`
	TimedOut  int64     `json:"timedOut"`
	Skipped   int64     `json:"skipped"` // too many polls in flight
	Polls     int64     `json:"polls"`
	Lag       Quantiles `json:"lag"`
	ServerLag Quantiles `json:"serverLag"`
}

// EventReport compares the events the run's writes made with what the
// server reports on /metrics (deltas over the run; whole load, warm-up
// included).
type EventReport struct {
	// Expected is the number of successful sale writes: each commits one event.
	Expected  int64   `json:"expected"`
	Published float64 `json:"published"` // salesflow_outbox_published_total
	Handled   float64 `json:"handled"`   // salesflow_events_handled_total
	Applied   float64 `json:"applied"`   // salesflow_events_applied_total
	Errors    float64 `json:"errors"`    // salesflow_event_errors_total

	BacklogMax       float64 `json:"outboxBacklogMax"`
	BacklogEnd       float64 `json:"outboxBacklogEnd"`
	OldestAgeMaxSec  float64 `json:"outboxOldestAgeMaxSeconds"`
	ConsumerLagMax   float64 `json:"consumerLagMax"` // published − handled, from /metrics
	ConsumerLagEnd   float64 `json:"consumerLagEnd"`
	CommittedLagMax  float64 `json:"committedLagMax,omitempty"` // the group's committed lag on the brokers (-kafka-brokers)
	CommittedLagEnd  float64 `json:"committedLagEnd,omitempty"`
	MetricsAvailable bool    `json:"metricsAvailable"`
}

// ProcessReport is a process's CPU and memory over the measured window.
type ProcessReport struct {
	PID int `json:"pid,omitempty"`
	// Source is "proc" (/proc/<pid>), "metrics" (the process collector on
	// /metrics) or "none".
	Source        string  `json:"source"`
	CPUPercentAvg float64 `json:"cpuPercentAvg"` // of one core
	CPUPercentMax float64 `json:"cpuPercentMax"` // over one-second intervals
	RSSMiBMax     float64 `json:"rssMiBMax"`     // sampled each second
	RSSMiBEnd     float64 `json:"rssMiBEnd"`
	PeakRSSMiB    float64 `json:"peakRssMiB,omitempty"` // VmHWM: the process's peak since it started
	Goroutines    float64 `json:"goroutinesMax,omitempty"`
}

// Second is one progress interval. T is the interval's end, in seconds
// since the measured window began (negative in the warm-up).
type Second struct {
	T          float64              `json:"t"`
	Phase      string               `json:"phase"` // warmup, load or drain
	Lifecycles float64              `json:"lifecyclesPerSecond"`
	Created    float64              `json:"createdPerSecond"`
	Completed  float64              `json:"completedPerSecond"`
	Routes     map[string]Quantiles `json:"routes"`
	Projection Quantiles            `json:"projectionLag"`
	Backlog    float64              `json:"outboxBacklog"`
	Lag        float64              `json:"consumerLag"`
	ServerCPU  float64              `json:"serverCpuPercent"`
	ServerRSS  float64              `json:"serverRssMiB"`
}

// writeJSON writes r to path, indented.
func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// print writes the human summary.
func (r *Report) print(w io.Writer) {
	l := r.Lifecycles
	fmt.Fprintf(w, "\nloadgen: %d clients against %s, %.1f s measured", r.Config.Clients, r.BaseURL, r.LoadSeconds)
	if r.Config.WarmupSec > 0 {
		fmt.Fprintf(w, " after %.0f s of warm-up", r.Config.WarmupSec)
	}
	if r.Config.Rate > 0 {
		fmt.Fprintf(w, ", paced at %.1f lifecycles/s", r.Config.Rate)
	}
	fmt.Fprintf(w, "; catalog of %d books in %.1f s\n", r.Config.Books, r.CatalogSeconds)
	fmt.Fprintf(w, "lifecycles  %.1f/s finished (%d), created %.1f/s, completed %.1f/s, projected %.1f/s (drain %.2f s%s)\n",
		l.PerSecond, l.Finished, l.CreatedPerSecond, l.CompletedPerSecond, l.ProjectedPerSecond, r.DrainSeconds, map[bool]string{true: "", false: ", TIMED OUT"}[r.Drained])
	fmt.Fprintf(w, "            %d created, %d completed, %d cancelled pending, %d returned, %d failed, %d retries\n",
		l.Created, l.Completed, l.Cancelled, l.Returned, l.Failed, l.Retries)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "route\tcalls\terrors\tmean ms\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	for _, route := range sortedRoutes(r.Routes) {
		q := r.Routes[route]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t\n", route, q.Count, q.Errors, q.MeanMs, q.P50Ms, q.P95Ms, q.P99Ms, q.MaxMs)
	}
	tw.Flush()

	p := r.Projection
	fmt.Fprintf(w, "projection  completion→projection p50 %.1f ms, p99 %.1f ms, max %.1f ms (server stamps p50 %.1f ms, p99 %.1f ms); %d sampled, %d observed, %d timed out, %d skipped\n",
		p.Lag.P50Ms, p.Lag.P99Ms, p.Lag.MaxMs, p.ServerLag.P50Ms, p.ServerLag.P99Ms, p.Sampled, p.Observed, p.TimedOut, p.Skipped)
	e := r.Events
	if e.MetricsAvailable {
		fmt.Fprintf(w, "events      %d expected, %.0f published, %.0f handled, %.0f applied, %.0f errors; outbox backlog max %.0f (oldest %.2f s), consumer lag max %.0f, end %.0f",
			e.Expected, e.Published, e.Handled, e.Applied, e.Errors, e.BacklogMax, e.OldestAgeMaxSec, e.ConsumerLagMax, e.ConsumerLagEnd)
		if e.CommittedLagMax > 0 || e.CommittedLagEnd > 0 {
			fmt.Fprintf(w, ", committed lag max %.0f", e.CommittedLagMax)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "events      %d expected; /metrics not available\n", e.Expected)
	}
	for _, pr := range []struct {
		name string
		r    ProcessReport
	}{{"server", r.Server}, {"loadgen", r.Loadgen}} {
		if pr.r.Source == "none" {
			fmt.Fprintf(w, "%-11s CPU and memory unknown (give -server-pid, or serve process_* metrics)\n", pr.name)
			continue
		}
		fmt.Fprintf(w, "%-11s CPU %.0f %% avg, %.0f %% max (of one core); RSS max %.1f MiB, end %.1f MiB", pr.name,
			pr.r.CPUPercentAvg, pr.r.CPUPercentMax, pr.r.RSSMiBMax, pr.r.RSSMiBEnd)
		if pr.r.PeakRSSMiB > 0 {
			fmt.Fprintf(w, ", peak %.1f MiB", pr.r.PeakRSSMiB)
		}
		fmt.Fprintf(w, " (%s)\n", pr.r.Source)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "errors:")
		for _, msg := range sortedErrors(r.Errors) {
			fmt.Fprintf(w, "  %6d  %s\n", r.Errors[msg], msg)
		}
	}
}

// progressLine is the line printed each second.
func progressLine(s Second, total int64, errs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%6.1fs %-6s] %7d lifecycles %6.1f/s", s.T, s.Phase, total, s.Lifecycles)
	for _, route := range []string{routeCreateSale, routeStatus} {
		if q, ok := s.Routes[route]; ok {
			name := strings.Fields(route)[0]
			fmt.Fprintf(&b, " | %s p50 %.1f p99 %.1f ms", name, q.P50Ms, q.P99Ms)
		}
	}
	if s.Projection.Count > 0 {
		fmt.Fprintf(&b, " | projection p99 %.1f ms", s.Projection.P99Ms)
	}
	fmt.Fprintf(&b, " | backlog %.0f lag %.0f", s.Backlog, s.Lag)
	if s.ServerRSS > 0 {
		fmt.Fprintf(&b, " | server %.0f%% %.0f MiB", s.ServerCPU, s.ServerRSS)
	}
	if errs > 0 {
		fmt.Fprintf(&b, " | errors %d", errs)
	}
	return b.String()
}

func mib(bytes float64) float64 { return math.Round(bytes/(1<<20)*10) / 10 }

func round2(v float64) float64 { return math.Round(v*100) / 100 }
