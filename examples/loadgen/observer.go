package main

import (
	"context"
	"fmt"
	"time"

	"github.com/salesflow/salesflow/internal/harness"
)

// observer samples the server (metrics, /proc), the load generator's own
// process and the counters, once a second and at the run's milestones.
type observer struct {
	r        *run
	last     obsPoint // the latest sample
	tickPrev obsPoint // the sample of the previous progress line

	backlogMax, oldestMax, lagMax, committedMax float64
	serverCPUMax, serverRSSMax, goroutinesMax   float64
	selfCPUMax, selfRSSMax                      float64
	metricsErr                                  error
}

// obsPoint is one sample.
type obsPoint struct {
	at           time.Time
	m            harness.Metrics // nil when /metrics could not be read
	server       harness.ProcSample
	serverOK     bool
	self         harness.ProcSample
	selfOK       bool
	committedLag float64
	committedOK  bool
	counters     snapshot
}

func newObserver(r *run) *observer { return &observer{r: r} }

// sample takes a sample into o.last. It does not stop for ctx's
// cancellation (each read has its own timeout), so that an interrupted
// run still reports.
func (o *observer) sample(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	p := obsPoint{at: time.Now(), counters: o.r.snapshot()}
	m, err := harness.ScrapeMetrics(ctx, o.r.api.hc, o.r.cfg.BaseURL)
	if err == nil {
		p.m = m
	} else if o.metricsErr == nil {
		o.metricsErr = err
		fmt.Fprintf(o.r.out, "loadgen: no metrics: %v\n", err)
	}
	if o.r.pid > 0 {
		p.server, err = harness.ReadProc(o.r.pid)
		p.serverOK = err == nil
	}
	p.self, err = harness.ReadProc(osPID)
	p.selfOK = err == nil
	// The committed lag: the server's own metric when it has one (a Kafka
	// deployment of this release), else asked of the brokers, so that a
	// scrape does not make the server and the load generator both ask.
	if p.m != nil && p.m[mLagUp] == 1 {
		p.committedLag, p.committedOK = p.m[mLag], true
	} else if o.r.kadm != nil {
		kctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		lags, err := o.r.kadm.Lag(kctx, o.r.cfg.ConsumerGroup)
		cancel()
		if err == nil {
			if l, ok := lags[o.r.cfg.ConsumerGroup]; ok && l.Error() == nil {
				p.committedLag, p.committedOK = float64(l.Lag.Total()), true
			}
		}
	}
	o.last = p
	if p.m != nil {
		o.backlogMax = max(o.backlogMax, p.m[mBacklog])
		o.oldestMax = max(o.oldestMax, p.m[mOldest])
		o.lagMax = max(o.lagMax, consumerLag(p.m))
	}
	if p.committedOK {
		o.committedMax = max(o.committedMax, p.committedLag)
	}
}

// consumerLag is the events published and not yet handled by the worker.
func consumerLag(m harness.Metrics) float64 { return max(0, m[mPublished]-m[mHandled]) }

// second samples, prints the progress line and returns the interval.
func (o *observer) second(ctx context.Context, phase string, measureStart time.Time) Second {
	o.sample(ctx)
	p, prev := o.last, o.tickPrev
	if prev.at.IsZero() {
		prev = obsPoint{at: p.at.Add(-time.Second)}
	}
	o.tickPrev = p
	dt := p.at.Sub(prev.at).Seconds()
	s := Second{
		T: round2(p.at.Sub(measureStart).Seconds()), Phase: phase, Routes: map[string]Quantiles{},
	}
	if dt > 0 {
		d := p.counters.minus(prev.counters)
		s.Lifecycles = round2(float64(d.finished) / dt)
		s.Created = round2(float64(d.created) / dt)
		s.Completed = round2(float64(d.completed) / dt)
	}
	for route, h := range o.r.api.rec.takeWindow() {
		s.Routes[route] = h.quantiles()
	}
	lag := o.r.takeLagWindow()
	s.Projection = lag.quantiles()
	if p.m != nil {
		s.Backlog, s.Lag = p.m[mBacklog], consumerLag(p.m)
	}
	if cpu, rss, ok := serverUse(prev, p); ok {
		s.ServerCPU, s.ServerRSS = round2(cpu), mib(rss)
	}
	if phase == "load" {
		o.serverCPUMax = max(o.serverCPUMax, s.ServerCPU)
		o.serverRSSMax = max(o.serverRSSMax, s.ServerRSS)
		if p.m != nil {
			o.goroutinesMax = max(o.goroutinesMax, p.m[mGoroutine])
		}
		if p.selfOK && prev.selfOK && dt > 0 {
			o.selfCPUMax = max(o.selfCPUMax, (p.self.CPU-prev.self.CPU).Seconds()/dt*100)
			o.selfRSSMax = max(o.selfRSSMax, mib(float64(p.self.RSS)))
		}
	}
	o.r.errMu.Lock()
	errs := 0
	for _, n := range o.r.errors {
		errs += n
	}
	o.r.errMu.Unlock()
	fmt.Fprintln(o.r.out, progressLine(s, p.counters.finished, errs))
	return s
}

// serverUse is the server's CPU (percent of one core) between two samples
// and its RSS (bytes) at the second, from /proc or else from /metrics.
func serverUse(a, b obsPoint) (cpu, rss float64, ok bool) {
	dt := b.at.Sub(a.at).Seconds()
	switch {
	case a.serverOK && b.serverOK && dt > 0:
		return (b.server.CPU - a.server.CPU).Seconds() / dt * 100, float64(b.server.RSS), true
	case a.m != nil && b.m != nil && b.m.Has(mCPU) && dt > 0:
		return (b.m[mCPU] - a.m[mCPU]) / dt * 100, b.m[mRSS], true
	}
	return 0, 0, false
}

// caughtUp reports whether the server has published and handled every
// event the run's writes made since before.
func (o *observer) caughtUp(before obsPoint, expected int64) bool {
	p := o.last
	if p.m == nil || before.m == nil {
		return true // nothing to wait on
	}
	published := p.m[mPublished] - before.m[mPublished]
	if p.m[mBacklog] > 0 || published < float64(expected) {
		return false
	}
	// A separate worker process handles the events: this process never
	// counts them.
	if !p.m.Has(mHandled) {
		return true
	}
	return p.m[mHandled]-before.m[mHandled] >= published
}

func (o *observer) events(before, after obsPoint, expected int64) EventReport {
	e := EventReport{Expected: expected, CommittedLagMax: o.committedMax}
	if before.m == nil || after.m == nil {
		return e
	}
	d := func(name string) float64 { return after.m[name] - before.m[name] }
	e.MetricsAvailable = true
	e.Published, e.Handled, e.Applied, e.Errors = d(mPublished), d(mHandled), d(mApplied), d(mEventErrs)
	e.BacklogMax, e.BacklogEnd = o.backlogMax, after.m[mBacklog]
	e.OldestAgeMaxSec = round2(o.oldestMax)
	e.ConsumerLagMax, e.ConsumerLagEnd = o.lagMax, consumerLag(after.m)
	if after.committedOK {
		e.CommittedLagEnd = after.committedLag
	}
	return e
}

// process reports the server's (or the load generator's) CPU and memory
// over [from, to].
func (o *observer) process(from, to obsPoint, server bool) ProcessReport {
	var rep ProcessReport
	dt := to.at.Sub(from.at).Seconds()
	if !server {
		rep.PID, rep.Source = osPID, "none"
		if from.selfOK && to.selfOK && dt > 0 {
			rep.Source = "proc"
			rep.CPUPercentAvg = round2((to.self.CPU - from.self.CPU).Seconds() / dt * 100)
			rep.CPUPercentMax = round2(max(o.selfCPUMax, rep.CPUPercentAvg))
			rep.RSSMiBEnd = mib(float64(to.self.RSS))
			rep.RSSMiBMax = max(o.selfRSSMax, rep.RSSMiBEnd)
			rep.PeakRSSMiB = mib(float64(to.self.PeakRSS))
		}
		return rep
	}
	rep.PID, rep.Source = o.r.pid, "none"
	cpu, rss, ok := serverUse(from, to)
	if !ok {
		return rep
	}
	rep.Source = "metrics"
	if from.serverOK && to.serverOK {
		rep.Source = "proc"
		rep.PeakRSSMiB = mib(float64(to.server.PeakRSS))
	}
	rep.CPUPercentAvg = round2(cpu)
	rep.CPUPercentMax = round2(max(o.serverCPUMax, cpu))
	rep.RSSMiBEnd = mib(rss)
	rep.RSSMiBMax = max(o.serverRSSMax, rep.RSSMiBEnd)
	if to.m != nil {
		rep.Goroutines = max(o.goroutinesMax, to.m[mGoroutine])
	}
	return rep
}
