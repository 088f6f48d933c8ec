package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// Goal is one of issue 6's goals, as measured in the run.
type Goal struct {
	Name     string  `json:"name"`
	Measured string  `json:"measured"`
	Value    float64 `json:"value"`
	Target   string  `json:"target"`
	Met      *bool   `json:"met"` // nil when not measured
}

func met(ok bool) *bool { return &ok }

// medianRatio is the median of the rounds' ratios (the mean of the two
// middle ones for an even count).
func medianRatio(rounds []Round) float64 {
	rs := make([]float64, len(rounds))
	for i, r := range rounds {
		rs[i] = r.Ratio
	}
	slices.Sort(rs)
	n := len(rs)
	if n%2 == 1 {
		return rs[n/2]
	}
	return (rs[n/2-1] + rs[n/2]) / 2
}

// goals computes the goals from the results there are.
func goals(r *Result) []Goal {
	var out []Goal
	if r.Pgbench != nil && r.Full != nil {
		l := r.Full.Loadgen.Lifecycles.PerSecond
		ratio := l / r.Pgbench.TPS
		g := Goal{
			Name: fmt.Sprintf("lifecycles/s vs pgbench TPS at %d clients", r.Clients),
			Measured: fmt.Sprintf("%.1f / %.0f txn/s = %.1f %% (of pgbench's %.0f lifecycles/s: %.1f %%)",
				l, r.Pgbench.TPS, 100*ratio, r.Pgbench.Lifecycles, 100*l/r.Pgbench.Lifecycles),
		}
		if len(r.Rounds) > 1 {
			ratio = medianRatio(r.Rounds)
			rounds := make([]string, len(r.Rounds))
			for i, rd := range r.Rounds {
				rounds[i] = fmt.Sprintf("%.1f / %.0f = %.1f %%", rd.Lifecycles, rd.PgbenchTPS, 100*rd.Ratio)
			}
			g.Measured = fmt.Sprintf("median of %d rounds %.1f %% (%s; the last: of pgbench's %.0f lifecycles/s: %.1f %%)",
				len(r.Rounds), 100*ratio, strings.Join(rounds, "; "), r.Pgbench.Lifecycles, 100*l/r.Pgbench.Lifecycles)
			l = r.Rounds[0].Lifecycles // the round of the references
		}
		g.Value, g.Target, g.Met = round3(ratio), "≥ 20 %", met(ratio >= 0.20)
		out = append(out, g)
		round := ""
		if len(r.Rounds) > 1 {
			round = " (round 1)"
		}
		for _, name := range slices.Sorted(maps.Keys(r.References)) {
			p := r.References[name]
			ratio := l / p.TPS
			out = append(out, Goal{
				Name:     "  the same vs the baseline's script " + references[name].about + round,
				Measured: fmt.Sprintf("%.1f / %.0f txn/s = %.1f %%", l, p.TPS, 100*ratio),
				Value:    round3(ratio), Target: "(reference)",
			})
		}
	}
	if r.Bus != nil {
		names := make([]string, 0, len(r.Bus.Ratios))
		for n := range r.Bus.Ratios {
			if strings.HasSuffix(n, " vs franz") {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			v := r.Bus.Ratios[n]
			m := fmt.Sprintf("%.1f %%", 100*v)
			if h, ok := r.Bus.Ratios[strings.TrimSuffix(n, " vs franz")+" vs franz+headers"]; ok {
				m += fmt.Sprintf(" (%.1f %% of franz+headers)", 100*h)
			}
			out = append(out, Goal{Name: "bus " + strings.TrimSuffix(n, " vs franz") + " vs plain franz-go", Measured: m, Value: v, Target: "≥ 90 %", Met: met(v >= 0.90)})
		}
	}
	if h := r.Half; h != nil {
		last := halfRound(h)
		parts := []string{}
		for _, route := range []string{routeCreateSale, routeStatus, routeMovements} {
			if q, ok := h.Loadgen.Routes[route]; ok {
				parts = append(parts, fmt.Sprintf("%s %.1f", route, q.P99Ms))
			}
		}
		api := Goal{
			Name:     fmt.Sprintf("API p99 at half load (%.1f lifecycles/s)", h.Rate),
			Measured: fmt.Sprintf("%.1f ms (%s); ms by route: %s", last.APIP99Ms, last.APIRoute, strings.Join(parts, ", ")),
			Value:    last.APIP99Ms, Target: "< 25 ms", Met: met(last.APIP99Ms < 25),
		}
		p := h.Loadgen.Projection
		proj := Goal{
			Name: "completion→projection p99 at half load",
			Measured: fmt.Sprintf("%.1f ms (p50 %.1f; server stamps p99 %.1f; %d of %d sampled seen)",
				p.Lag.P99Ms, p.Lag.P50Ms, p.ServerLag.P99Ms, p.Observed, p.Sampled),
			Value: p.Lag.P99Ms, Target: "< 100 ms", Met: met(last.ProjectionComplete && p.Lag.P99Ms < 100),
		}
		// With rounds, each round's half load counts, as its full load
		// does for the throughput: the median decides (the upper one of
		// an even count, the higher of two), so that one slow phase of the
		// machine does not. A round whose projections were not all seen
		// fails the projection goal.
		if hs := roundHalves(r.Rounds); len(hs) > 1 {
			apis, projs := make([]float64, len(hs)), make([]float64, len(hs))
			apiList, projList, rates, incomplete := make([]string, len(hs)), make([]string, len(hs)), make([]string, len(hs)), []string{}
			for i, hr := range hs {
				apis[i], projs[i] = hr.APIP99Ms, hr.ProjectionP99Ms
				method := "?"
				if f := strings.Fields(hr.APIRoute); len(f) > 0 {
					method = f[0]
				}
				apiList[i] = fmt.Sprintf("%.1f %s", hr.APIP99Ms, method)
				projList[i] = fmt.Sprintf("%.1f", hr.ProjectionP99Ms)
				rates[i] = fmt.Sprintf("%.1f", hr.Rate)
				if !hr.ProjectionComplete {
					incomplete = append(incomplete, fmt.Sprintf("round %d", i+1))
				}
			}
			api.Name = fmt.Sprintf("API p99 at half load (%s lifecycles/s)", strings.Join(rates, ", "))
			api.Value = middle(apis)
			api.Measured = fmt.Sprintf("median of %d rounds %.1f ms (%s); the last: %s", len(hs), api.Value, strings.Join(apiList, ", "), api.Measured)
			api.Met = met(api.Value < 25)
			proj.Value = middle(projs)
			proj.Measured = fmt.Sprintf("median of %d rounds %.1f ms (%s); the last: %s", len(hs), proj.Value, strings.Join(projList, ", "), proj.Measured)
			if len(incomplete) > 0 {
				proj.Measured += "; not every sampled completion seen projected in " + strings.Join(incomplete, ", ")
			}
			proj.Met = met(len(incomplete) == 0 && proj.Value < 100)
		}
		out = append(out, api, proj)
	}
	if s := r.Summary; s != nil {
		out = append(out, Goal{
			Name: fmt.Sprintf("summary of 30 days over %d sales: rollups vs plain aggregate", s.Sales),
			Measured: fmt.Sprintf("%.0f× (%.2f ms over HTTP vs %.1f ms in the database; totals agree: %v)",
				s.Speedup, s.RollupsMs, s.PlainMs, s.RollupsAgree),
			Value: s.Speedup, Target: "≥ 20×", Met: met(s.Speedup >= 20 && s.RollupsAgree),
		})
	}
	if f := r.Full; f != nil {
		rss := f.Loadgen.Server.RSSMiBMax
		out = append(out, Goal{
			Name:     "server RSS at full load",
			Measured: fmt.Sprintf("%.1f MiB max (peak since start %.1f MiB)", rss, f.Loadgen.Server.PeakRSSMiB),
			Value:    rss, Target: "< 150 MiB", Met: met(rss > 0 && rss < 150),
		})
	}
	return out
}

func printGoals(w io.Writer, r *Result) {
	fmt.Fprintln(w, "\nIssue 6's goals, measured in this run:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "goal\ttarget\tmet\tmeasured")
	for _, g := range r.Goals {
		ok := "-"
		if g.Met != nil {
			ok = map[bool]string{true: "yes", false: "NO"}[*g.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Name, g.Target, ok, g.Measured)
	}
	tw.Flush()
	if f := r.Full; f != nil {
		l := f.Loadgen
		fmt.Fprintf(w, "\nfull load: %.1f lifecycles/s (projected %.1f/s, drain %.1f s), POST /sales p99 %.1f ms, PATCH p99 %.1f ms, projection p99 %.1f ms, consumer lag max %.0f, outbox backlog max %.0f, server CPU %.0f %% of one core\n",
			l.Lifecycles.PerSecond, l.Lifecycles.ProjectedPerSecond, l.DrainSeconds, l.Routes[routeCreateSale].P99Ms, l.Routes[routeStatus].P99Ms,
			l.Projection.Lag.P99Ms, l.Events.ConsumerLagMax, l.Events.BacklogMax, l.Server.CPUPercentAvg)
		if f.CPU != nil {
			fmt.Fprintf(w, "           machine CPU %.0f %% busy; %% of one core: %s\n", f.CPU.BusyPercent, f.CPU.describe())
		}
	}
	if p := r.Pgbench; p != nil {
		fmt.Fprintf(w, "baseline:  pgbench %.0f scripts/s (create + complete) = %.0f transactions/s at %d clients, %.1f ms per script\n",
			p.Scripts, p.TPS, p.Clients, p.Latency)
	}
	for _, name := range slices.Sorted(maps.Keys(r.References)) {
		p := r.References[name]
		fmt.Fprintf(w, "           %s: %.0f scripts/s = %.0f transactions/s, %.1f ms per script\n", references[name].about, p.Scripts, p.TPS, p.Latency)
	}
	if m := r.MachineRef; m != nil {
		fmt.Fprintf(w, "machine:   pgbench's built-in TPC-B-like script, scale %d, %d clients, %s: %.0f transactions/s, %.1f ms each (issue 6's machine: about 5,000 to 6,000 such small write transactions/s at 8 to 32 clients; this one does %.0f to %.0f %% of that over this connection)\n",
			m.Scale, m.Clients, m.Connection, m.TPS, m.Latency, 100*m.TPS/6000, 100*m.TPS/5000)
	}
}

// roundHalves returns the rounds' half loads, none unless every round
// has one.
func roundHalves(rounds []Round) []*HalfRound {
	out := make([]*HalfRound, 0, len(rounds))
	for _, rd := range rounds {
		if rd.Half == nil {
			return nil
		}
		out = append(out, rd.Half)
	}
	return out
}
