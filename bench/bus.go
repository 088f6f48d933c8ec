package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// BusResult is the median records per second of each eventbus/kafka
// benchmark, by name (such as "Publish/batch=1/bus"), and the bus/franz
// ratios.
type BusResult struct {
	RecordsPerSecond map[string]float64 `json:"recordsPerSecond"`
	Ratios           map[string]float64 `json:"ratios"`
}

var (
	reBench   = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s`)
	reRecords = regexp.MustCompile(`([0-9.e+]+) (?:(\S+)-)?records/s`)
)

// parseBench returns the records/s of one line of go test -bench output,
// by name: "Consume/records=N/bus" for a metric bus-records/s of
// Consume/records=N, and "Name" for a benchmark Name's plain records/s.
func parseBench(line string) map[string]float64 {
	m := reBench.FindStringSubmatch(line)
	if m == nil {
		return nil
	}
	out := map[string]float64{}
	for _, r := range reRecords.FindAllStringSubmatch(line, -1) {
		v, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			continue
		}
		name := m[1]
		if r[2] != "" {
			name += "/" + r[2]
		}
		out[name] = v
	}
	return out
}

// runBus runs the bus benchmarks of eventbus/kafka: the bus and plain
// franz-go on the same in-process kfake.
func (b *bench) runBus(ctx context.Context) (*BusResult, error) {
	var out strings.Builder
	for _, run := range []struct{ bench, benchtime string }{
		{"^BenchmarkPublish$", b.busPublishTime},
		{"^BenchmarkConsume$", b.busConsumeTime},
	} {
		args := []string{"test", "./eventbus/kafka", "-run", "^$", "-bench", run.bench,
			"-benchtime", run.benchtime, "-count", itoa(b.busCount)}
		b.logf("go %s", strings.Join(args, " "))
		o, err := b.command(ctx, "bus.log", "go", args...)
		if err != nil {
			return nil, fmt.Errorf("bus benchmarks: %w (see %s)", err, filepath.Join(b.out, "bus.log"))
		}
		out.WriteString(o)
	}
	res := busResult(out.String())
	if len(res.Ratios) == 0 {
		return nil, fmt.Errorf("bus benchmarks: no bus/franz pair in the output (see %s)", filepath.Join(b.out, "bus.log"))
	}
	names := make([]string, 0, len(res.Ratios))
	for n := range res.Ratios {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		bus := strings.SplitN(n, " vs ", 2)[0]
		b.logf("  %-45s %5.1f %%  (bus %.0f records/s)", n, 100*res.Ratios[n], res.RecordsPerSecond[bus])
	}
	return res, nil
}

// busResult reads go test -bench output: the median records/s of each
// benchmark, and each bus/franz ratio. Where one line holds both rates
// (BenchmarkPublish and BenchmarkConsume, whose variants take turns
// within each iteration), the ratio is the median of the lines' own
// ratios, so that a machine slower during one line slows both sides of
// its ratio; otherwise (separate benchmarks) it is the ratio of the
// medians.
func busResult(out string) *BusResult {
	samples := map[string][]float64{}
	paired := map[string][]float64{}
	for line := range strings.SplitSeq(out, "\n") {
		rates := parseBench(strings.TrimSpace(line))
		for name, v := range rates {
			samples[name] = append(samples[name], v)
			for ratio, ref := range busRefs(name) {
				if r, ok := rates[ref]; ok && r > 0 {
					paired[ratio] = append(paired[ratio], v/r)
				}
			}
		}
	}
	res := &BusResult{RecordsPerSecond: map[string]float64{}, Ratios: map[string]float64{}}
	for name, vs := range samples {
		res.RecordsPerSecond[name] = middle(vs)
	}
	for name, v := range res.RecordsPerSecond {
		for ratio, ref := range busRefs(name) {
			if rs, ok := paired[ratio]; ok {
				res.Ratios[ratio] = round3(middle(rs))
			} else if r, ok := res.RecordsPerSecond[ref]; ok && r > 0 {
				res.Ratios[ratio] = round3(v / r)
			}
		}
	}
	return res
}

// busRefs maps the ratios a bus benchmark's rate takes part in to the
// plain franz-go benchmarks it is compared with: Publish/batch=1/bus
// with Publish/batch=1/franz, Consume/records=N/bus with
// Consume/records=N/franz and .../franz+headers. It is empty for the
// others.
func busRefs(name string) map[string]string {
	if !strings.Contains(name, "/bus") {
		return nil
	}
	refs := map[string]string{}
	for _, other := range []string{"franz", "franz+headers"} {
		refs[name+" vs "+other] = strings.Replace(name, "/bus", "/"+other, 1)
	}
	return refs
}

// middle returns the median of vs (the upper one of an even count),
// sorting vs.
func middle(vs []float64) float64 {
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
