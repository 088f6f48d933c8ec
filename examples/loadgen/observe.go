package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The server's side of the run comes from two places: its /metrics page
// (outbox backlog, events published, handled and applied, and the process
// collector's CPU and memory) and, when the load generator knows the
// server's pid, /proc/<pid>/stat and /proc/<pid>/status, which also work for
// a server without the process collector.

// Metric names the report reads from /metrics.
const (
	mBacklog   = "salesflow_outbox_backlog"
	mOldest    = "salesflow_outbox_oldest_age_seconds"
	mPublished = "salesflow_outbox_published_total"
	mHandled   = "salesflow_events_handled_total"
	mApplied   = "salesflow_events_applied_total"
	mEventErrs = "salesflow_event_errors_total"
	mLag       = "salesflow_consumer_lag"    // per topic: summed
	mLagUp     = "salesflow_consumer_lag_up" // 1 when the server could read it
	mCPU       = "process_cpu_seconds_total"
	mRSS       = "process_resident_memory_bytes"
	mGoroutine = "go_goroutines"
	mHeapInuse = "go_memstats_heap_inuse_bytes"
)

// scrape is one reading of /metrics: each sample's value summed over its
// labels, by metric name.
type scrape map[string]float64

// has reports whether the metric was on the page.
func (s scrape) has(name string) bool {
	_, ok := s[name]
	return ok
}

// parseMetrics reads the Prometheus text format, summing each metric's
// samples over their labels; histogram and summary series keep their
// _bucket, _sum and _count suffixes as names of their own.
func parseMetrics(r io.Reader) (scrape, error) {
	out := scrape{}
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

// scrapeMetrics fetches and parses base's /metrics.
func scrapeMetrics(ctx context.Context, hc *http.Client, base string) (scrape, error) {
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
	return parseMetrics(resp.Body)
}

// procSample is one reading of a process's CPU time and memory.
type procSample struct {
	at      time.Time
	cpu     time.Duration // user + system
	rss     int64         // bytes
	peakRSS int64         // bytes, VmHWM; 0 when unknown
}

// errNoProc means the process's /proc entries cannot be read.
var errNoProc = errors.New("no /proc entry")

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("pid %d: %w: %v", pid, errNoProc, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields counted after it start with the state (field 3).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("pid %d: malformed stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("pid %d: short stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return s, fmt.Errorf("pid %d: stat: %w", pid, err)
	}
	s.cpu = time.Duration(utime+stime) * time.Second / time.Duration(clockTicks())

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("pid %d: %w: %v", pid, errNoProc, err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return s, fmt.Errorf("pid %d: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			s.rss = kb << 10
		} else {
			s.peakRSS = kb << 10
		}
	}
	return s, nil
}

var (
	clkTckOnce sync.Once
	clkTck     int64
)

// clockTicks returns the kernel's USER_HZ from the auxiliary vector
// (AT_CLKTCK), which is what sysconf(_SC_CLK_TCK) returns; 100 if unknown.
func clockTicks() int64 {
	clkTckOnce.Do(func() {
		clkTck = 100
		b, err := os.ReadFile("/proc/self/auxv")
		if err != nil {
			return
		}
		const atClkTck = 17
		for i := 0; i+16 <= len(b); i += 16 {
			k := binary.NativeEndian.Uint64(b[i:])
			v := binary.NativeEndian.Uint64(b[i+8:])
			if k == atClkTck && v > 0 {
				clkTck = int64(v)
				return
			}
		}
	})
	return clkTck
}
