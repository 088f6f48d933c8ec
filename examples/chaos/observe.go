package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salesflow/salesflow/internal/harness"
)

// The metrics the scraper keeps, summed over their labels.
var scraped = []string{
	"salesflow_events_handled_total",                // deliveries the worker acknowledged, redeliveries included
	"salesflow_events_applied_total",                // first deliveries applied and committed
	"salesflow_event_errors_total",                  // handler calls that failed
	"salesflow_kafka_subscriber_dead_letters_total", // messages dead-lettered
	"salesflow_kafka_subscriber_messages_handled_total",
	"salesflow_outbox_published_total",
}

// scraper reads /metrics of every process each second and keeps the last
// values of each process run: counters of a killed process stand at its
// last scrape, so totals are lower bounds.
type scraper struct {
	client *http.Client
	mu     sync.Mutex
	last   map[string]map[string]float64 // "name#run" -> metric -> value
}

func newScraper() *scraper {
	return &scraper{client: &http.Client{Timeout: 2 * time.Second}, last: map[string]map[string]float64{}}
}

func (s *scraper) run(ctx context.Context, procs func() []*proc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.scrapeAll(ctx, procs())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *scraper) scrapeAll(ctx context.Context, ps []*proc) {
	var wg sync.WaitGroup
	for _, p := range ps {
		if !p.http {
			continue
		}
		p.mu.Lock()
		run, running := fmt.Sprintf("%s#%d", p.name, p.starts), p.running
		p.mu.Unlock()
		if !running {
			continue
		}
		wg.Go(func() {
			m, err := s.scrape(ctx, fmt.Sprintf("http://127.0.0.1:%d", p.port))
			if err != nil {
				return
			}
			s.mu.Lock()
			s.last[run] = m
			s.mu.Unlock()
		})
	}
	wg.Wait()
}

// scrape reads base's /metrics and keeps the scraped metrics.
func (s *scraper) scrape(ctx context.Context, base string) (map[string]float64, error) {
	all, err := harness.ScrapeMetrics(ctx, s.client, base)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, name := range scraped {
		if v, ok := all[name]; ok {
			m[name] = v
		}
	}
	return m, nil
}

// total sums a metric over every process run scraped.
func (s *scraper) total(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t float64
	for _, m := range s.last {
		t += m[name]
	}
	return int64(t)
}

// topicCounts reads every record of topics and counts them by their
// CloudEvents id.
func topicCounts(ctx context.Context, brokers []string, topics []string) (byID map[string]int, total int, err error) {
	byID = map[string]int{}
	err = readAll(ctx, brokers, topics, func(r *kgo.Record) {
		total++
		if id := header(r, "ce_id"); id != "" {
			byID[id]++
		}
	})
	return byID, total, err
}

// deadLetters describes every record of the dead-letter topics.
func deadLetters(ctx context.Context, brokers []string, topics []string) ([]string, error) {
	var out []string
	err := readAll(ctx, brokers, topics, func(r *kgo.Record) {
		out = append(out, fmt.Sprintf("%s[%s]@%s (sale %s, event %s) after %s attempts: %s", header(r, "dlq_topic"),
			header(r, "dlq_partition"), header(r, "dlq_offset"), header(r, "ce_subject"), header(r, "ce_id"),
			header(r, "dlq_attempts"), header(r, "dlq_error")))
	})
	return out, err
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// readAll calls fn for every record topics hold now.
func readAll(ctx context.Context, brokers []string, topics []string, fn func(*kgo.Record)) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return err
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return err
	}
	want := map[string]map[int32]kgo.Offset{}
	remaining := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		s, ok := starts.Lookup(o.Topic, o.Partition)
		if !ok || o.Err != nil || s.Err != nil || o.Offset <= s.Offset {
			return
		}
		if want[o.Topic] == nil {
			want[o.Topic], remaining[o.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		want[o.Topic][o.Partition] = kgo.NewOffset().At(s.Offset)
		remaining[o.Topic][o.Partition] = o.Offset
	})
	if len(want) == 0 {
		return nil
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(want))
	if err != nil {
		return err
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for len(remaining) > 0 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("read topics: %w", ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			fn(r)
			if ps := remaining[r.Topic]; ps != nil && r.Offset+1 >= ps[r.Partition] {
				delete(ps, r.Partition)
				if len(ps) == 0 {
					delete(remaining, r.Topic)
				}
			}
		})
	}
	return nil
}

// recordCount returns how many records topics hold.
func recordCount(ctx context.Context, brokers []string, topics []string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return 0, err
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > s.Offset {
			n += o.Offset - s.Offset
		}
	})
	return n, nil
}

// groupLag returns the consumer group's total lag, and its state and
// members for the log.
func groupLag(ctx context.Context, adm *kadm.Client, group string) (lag int64, state string, err error) {
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		return 0, "", err
	}
	l, ok := lags[group]
	if !ok {
		return 0, "", fmt.Errorf("group %s not described", group)
	}
	if l.DescribeErr != nil {
		return 0, "", l.DescribeErr
	}
	if l.FetchErr != nil {
		return 0, "", l.FetchErr
	}
	var ms []string
	for _, m := range l.Members {
		ms = append(ms, m.ClientHost+"/"+strings.TrimPrefix(m.MemberID, "kgo-")[:8])
	}
	state = fmt.Sprintf("%s, %d members %v", l.State, len(l.Members), ms)
	for _, ps := range l.Lag {
		for _, p := range ps {
			if p.Err != nil {
				return 0, state, p.Err
			}
			lag += max(p.Lag, 0)
		}
	}
	return lag, state, nil
}
