package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metrics is one reading of a /metrics page: each sample's value summed
// over its labels, by metric name.
type Metrics map[string]float64

// Has reports whether the metric was on the page.
func (m Metrics) Has(name string) bool {
	_, ok := m[name]
	return ok
}

// ParseMetrics reads the Prometheus text format, summing each metric's
// samples over their labels; histogram and summary series keep their
// _bucket, _sum and _count suffixes as names of their own.
func ParseMetrics(r io.Reader) (Metrics, error) {
	out := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			// Label values may hold spaces and braces, but not an
			// unescaped quote followed by "}" other than at the end.
			j := strings.LastIndex(rest, "}")
			if j < 0 {
				return nil, fmt.Errorf("metrics: bad line %q", line)
			}
			rest = rest[j+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: value of %q: %w", line, err)
		}
		out[name] += v
	}
	return out, sc.Err()
}

// ScrapeMetrics fetches and parses base's /metrics, within 5 seconds.
func ScrapeMetrics(ctx context.Context, hc *http.Client, base string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return ParseMetrics(resp.Body)
}
