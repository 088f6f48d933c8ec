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
// benchmark, by name (such as "Publish/bus/batch=1"), and the bus/franz
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
// by name: "Publish/bus/batch=1" for a benchmark's records/s, and
// "Consume/records=N/bus" for a metric bus-records/s of
// Consume/records=N.
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
	samples := map[string][]float64{}
	for _, run := range []struct{ bench, benchtime string }{
		{"^BenchmarkPublish$", b.busPublishTime},
		{"^BenchmarkConsume$", b.busConsumeTime},
	} {
		args := []string{"test", "./eventbus/kafka", "-run", "^$", "-bench", run.bench,
			"-benchtime", run.benchtime, "-count", itoa(b.busCount)}
		b.logf("go %s", strings.Join(args, " "))
		out, err := b.command(ctx, "bus.log", "go", args...)
		if err != nil {
			return nil, fmt.Errorf("bus benchmarks: %w (see %s)", err, filepath.Join(b.out, "bus.log"))
		}
		for line := range strings.SplitSeq(out, "\n") {
			for name, v := range parseBench(strings.TrimSpace(line)) {
				samples[name] = append(samples[name], v)
			}
		}
	}
	res := &BusResult{RecordsPerSecond: map[string]float64{}, Ratios: map[string]float64{}}
	for name, vs := range samples {
		slices.Sort(vs)
		res.RecordsPerSecond[name] = vs[len(vs)/2]
	}
	for name, v := range res.RecordsPerSecond {
		// Publish/bus/batch=1 against Publish/franz/batch=1;
		// Consume/records=N/bus against .../franz and .../franz+headers.
		if !strings.Contains(name, "/bus") {
			continue
		}
		for _, other := range []string{"franz", "franz+headers"} {
			ref := strings.Replace(name, "/bus", "/"+other, 1)
			if r, ok := res.RecordsPerSecond[ref]; ok && r > 0 {
				res.Ratios[name+" vs "+other] = round3(v / r)
			}
		}
	}
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

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
