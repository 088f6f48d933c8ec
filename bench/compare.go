package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// -compare measures a proposed change: server A (as the tree builds it,
// with -overlay, -db-params and -server-env) against server B (with
// -b-overlay, -b-db-params and -b-server-env), each at full load (or paced
// at -rate lifecycles/s) on a fresh database and a fresh kfake,
// alternately (A B, B A, ...) -repeat times, and prints the medians and
// B's ratio to A. The alternation and the per-lifecycle CPU keep the
// machine's noise out of the ratio as far as one run can.

// CompareResult is the outcome of -compare; compare.json holds it.
type CompareResult struct {
	A      VariantStats       `json:"a"`
	B      VariantStats       `json:"b"`
	Ratios map[string]float64 `json:"ratiosBtoA"`
}

// VariantStats are one server's runs and their medians.
type VariantStats struct {
	Overlay  string             `json:"overlay,omitempty"`
	DBParams string             `json:"dbParams,omitempty"`
	Env      []string           `json:"env,omitempty"`
	Loadgen  []string           `json:"loadgenArgs,omitempty"` // added to the load generator's flags
	Runs     []*LoadResult      `json:"runs"`
	Median   map[string]float64 `json:"median"`
}

// compareMetrics are the numbers compared, with how each is read.
var compareMetrics = []struct {
	name string
	get  func(*LoadResult) float64
}{
	{"lifecycles/s", func(r *LoadResult) float64 { return r.Loadgen.Lifecycles.PerSecond }},
	{"projected/s", func(r *LoadResult) float64 { return r.Loadgen.Lifecycles.ProjectedPerSecond }},
	{"POST /sales p99 ms", func(r *LoadResult) float64 { return r.Loadgen.Routes[routeCreateSale].P99Ms }},
	{"PATCH p99 ms", func(r *LoadResult) float64 { return r.Loadgen.Routes[routeStatus].P99Ms }},
	{"projection p99 ms", func(r *LoadResult) float64 { return r.Loadgen.Projection.Lag.P99Ms }},
	{"consumer lag max", func(r *LoadResult) float64 { return r.Loadgen.Events.ConsumerLagMax }},
	{"server CPU ms/lifecycle", func(r *LoadResult) float64 { return r.ServerCPUMs }},
	{"postgres CPU ms/lifecycle", func(r *LoadResult) float64 { return r.PostgresCPUMs }},
	{"commits/lifecycle", func(r *LoadResult) float64 { return r.Commits }},
	{"server RSS MiB", func(r *LoadResult) float64 { return r.Loadgen.Server.RSSMiBMax }},
	{"machine CPU busy %", func(r *LoadResult) float64 {
		if r.CPU == nil {
			return 0
		}
		return r.CPU.BusyPercent
	}},
}

// variants are the servers -compare runs, with their settings: A is the
// one the four phases run (serverVariant).
func (b *bench) variants() (a, bv variant) {
	bv = variant{name: "B", server: b.bins.serverB, env: settings(b.bServerEnv), dbParams: b.bDBParams, loadgen: strings.Fields(b.bLoadgenArgs)}
	return b.serverVariant("A"), bv
}

func (b *bench) runCompare(ctx context.Context) error {
	a, bv := b.variants()
	res := CompareResult{
		A: VariantStats{Overlay: b.overlay, DBParams: a.dbParams, Env: a.env, Loadgen: a.loadgen},
		B: VariantStats{Overlay: b.bOverlay, DBParams: bv.dbParams, Env: bv.env, Loadgen: bv.loadgen},
	}
	for i := 1; i <= b.repeat; i++ {
		order := []variant{a, bv}
		if i%2 == 0 {
			order = []variant{bv, a}
		}
		for _, v := range order {
			b.phase("compare round %d of %d: server %s", i, b.repeat, v.name)
			tag := fmt.Sprintf("%s%d-full", v.name, i)
			if b.rate > 0 {
				tag = fmt.Sprintf("%s%d-paced", v.name, i)
			}
			full, _, err := b.runSystem(ctx, v, tag, false, b.profile && i == 1, b.rate)
			if err != nil {
				return err
			}
			if v.name == "A" {
				res.A.Runs = append(res.A.Runs, full)
			} else {
				res.B.Runs = append(res.B.Runs, full)
			}
		}
	}
	res.Ratios = map[string]float64{}
	res.A.Median, res.B.Median = map[string]float64{}, map[string]float64{}
	for _, m := range compareMetrics {
		res.A.Median[m.name] = median(res.A.Runs, m.get)
		res.B.Median[m.name] = median(res.B.Runs, m.get)
		if av := res.A.Median[m.name]; av != 0 {
			res.Ratios[m.name] = round3(res.B.Median[m.name] / av)
		}
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.out, "compare.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	for _, w := range []*os.File{os.Stdout, b.log} {
		fmt.Fprintf(w, "\nA: %s %s %v loadgen %v\nB: %s %s %v loadgen %v\n", cmp.Or(b.overlay, "(tree)"), a.dbParams, a.env, a.loadgen,
			cmp.Or(b.bOverlay, "(tree)"), bv.dbParams, bv.env, bv.loadgen)
		if b.rate > 0 {
			fmt.Fprintf(w, "both paced at %g lifecycles/s\n", b.rate)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "metric\t")
		for i := range res.A.Runs {
			fmt.Fprintf(tw, "A%d\t", i+1)
		}
		for i := range res.B.Runs {
			fmt.Fprintf(tw, "B%d\t", i+1)
		}
		fmt.Fprintln(tw, "median A\tmedian B\tB/A\t")
		for _, m := range compareMetrics {
			fmt.Fprintf(tw, "%s\t", m.name)
			for _, r := range res.A.Runs {
				fmt.Fprintf(tw, "%.2f\t", m.get(r))
			}
			for _, r := range res.B.Runs {
				fmt.Fprintf(tw, "%.2f\t", m.get(r))
			}
			fmt.Fprintf(tw, "%.2f\t%.2f\t%.3f\t\n", res.A.Median[m.name], res.B.Median[m.name], res.Ratios[m.name])
		}
		tw.Flush()
	}
	return nil
}

func median(runs []*LoadResult, get func(*LoadResult) float64) float64 {
	vs := make([]float64, 0, len(runs))
	for _, r := range runs {
		vs = append(vs, get(r))
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}
