package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/eventbus/kafka"
	"github.com/salesflow/salesflow/testkit"
)

// testPartitions is the partition count of the topics the tests create.
const testPartitions = 4

// testOpts make franz-go react quickly in tests: short retry backoff and
// heartbeats, so rebalances and fault recovery take milliseconds, not
// seconds. KAFKA_TEST_LOG=debug (or info, warn) logs to stderr.
func testOpts(extra ...kgo.Opt) []kafka.Option {
	kopts := append([]kgo.Opt{
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.MetadataMinAge(50 * time.Millisecond),
	}, extra...)
	opts := []kafka.Option{kafka.WithClientOptions(kopts...), kafka.WithDrainTimeout(10 * time.Second)}
	if lvl := os.Getenv("KAFKA_TEST_LOG"); lvl != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(lvl)); err == nil {
			opts = append(opts, kafka.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))))
		}
	}
	return opts
}

// newCluster starts an in-process kfake cluster that t closes.
func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake.NewCluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// newClusterWith returns a new kfake cluster with topics created (see
// createTopics), and its brokers.
func newClusterWith(t testing.TB, topics ...string) (*kfake.Cluster, []string) {
	t.Helper()
	c := newCluster(t)
	createTopics(t, c.ListenAddrs(), topics...)
	return c, c.ListenAddrs()
}

// harness runs testkit's bus suite against a cluster.
type harness struct {
	brokers     []string
	replication int16
	maxWait     time.Duration // 0: testkit's default
}

func (h harness) Partitions() int { return testPartitions }

// MaxWait bounds the suite's waits: kfake answers in milliseconds, so a
// broken bus fails fast; a real broker gets testkit's default.
func (h harness) MaxWait() time.Duration { return h.maxWait }

func (h harness) CreateTopics(t *testing.T, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := kafka.CreateTopics(ctx, h.brokers, testPartitions, h.replication, topics...); err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
}

func (h harness) NewPublisher(t *testing.T) eventbus.Publisher {
	t.Helper()
	p, err := kafka.NewPublisher(h.brokers, append(testOpts(), kafka.WithMaxMessageBytes(kafka.MaxMessageBytes))...)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func (h harness) NewSubscriber(t *testing.T, group string, topics []string, retry eventbus.RetryPolicy) eventbus.Subscriber {
	t.Helper()
	s, err := kafka.NewSubscriber(h.brokers, group, topics, append(testOpts(), kafka.WithRetry(retry))...)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestBusConformance(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	testkit.RunBusTests(t, harness{brokers: c.ListenAddrs(), replication: 1, maxWait: 10 * time.Second})
}

// TestBusConformanceRealBroker runs the suite against a real broker: the
// brokers in KAFKA_BROKERS, or Redpanda on Docker (testkit.RealKafka). It
// is an extra to the kfake run above, which always runs; it skips where
// neither is available.
func TestBusConformanceRealBroker(t *testing.T) {
	brokers := testkit.RealKafka(t)
	t.Parallel()
	testkit.RunBusTests(t, harness{brokers: brokers, replication: -1})
}

func TestOptionsValidated(t *testing.T) {
	t.Parallel()
	brokers := []string{"127.0.0.1:1"}
	tests := []struct {
		name string
		new  func() error
	}{
		{"publisher without brokers", func() error { _, err := kafka.NewPublisher(nil); return err }},
		{"publisher with subscriber option", func() error {
			_, err := kafka.NewPublisher(brokers, kafka.WithRetry(eventbus.RetryPolicy{}))
			return err
		}},
		{"nil logger", func() error { _, err := kafka.NewPublisher(brokers, kafka.WithLogger(nil)); return err }},
		{"nil registerer", func() error { _, err := kafka.NewPublisher(brokers, kafka.WithMetrics(nil)); return err }},
		{"nil option", func() error { _, err := kafka.NewPublisher(brokers, nil); return err }},
		{"tiny max message", func() error { _, err := kafka.NewPublisher(brokers, kafka.WithMaxMessageBytes(10)); return err }},
		{"subscriber max message below a stub's room", func() error {
			_, err := kafka.NewSubscriber(brokers, "g", []string{"t"}, kafka.WithMaxMessageBytes(16<<10-1))
			return err
		}},
		{"zero drain timeout", func() error { _, err := kafka.NewPublisher(brokers, kafka.WithDrainTimeout(0)); return err }},
		{"conflicting client options", func() error {
			_, err := kafka.NewSubscriber(brokers, "g", []string{"t"}, kafka.WithClientOptions(kgo.DisableAutoCommit()))
			return err
		}},
		{"subscriber without group", func() error { _, err := kafka.NewSubscriber(brokers, "", []string{"t"}); return err }},
		{"subscriber without topics", func() error { _, err := kafka.NewSubscriber(brokers, "g", nil); return err }},
		{"subscriber with empty topic", func() error { _, err := kafka.NewSubscriber(brokers, "g", []string{""}); return err }},
		{"negative retry", func() error {
			_, err := kafka.NewSubscriber(brokers, "g", []string{"t"}, kafka.WithRetry(eventbus.RetryPolicy{MaxAttempts: -1}))
			return err
		}},
		{"zero commit interval", func() error {
			_, err := kafka.NewSubscriber(brokers, "g", []string{"t"}, kafka.WithCommitInterval(0))
			return err
		}},
		{"create topics without topics", func() error { return kafka.CreateTopics(t.Context(), brokers, 1, 1) }},
		{"create topics with 0 partitions", func() error { return kafka.CreateTopics(t.Context(), brokers, 0, 1, "t") }},
		{"create topics with replication 0", func() error { return kafka.CreateTopics(t.Context(), brokers, 1, 0, "t") }},
		{"publish without topic", func() error {
			p, err := kafka.NewPublisher(brokers)
			if err != nil {
				return err
			}
			defer p.Close()
			return p.Publish(t.Context(), eventbus.Message{Key: "k"})
		}},
		{"run without handler", func() error {
			s, err := kafka.NewSubscriber(brokers, "g", []string{"t"})
			if err != nil {
				return err
			}
			defer s.Close()
			return s.Run(t.Context(), nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.new(); !errors.Is(err, kafka.ErrInvalid) {
				t.Errorf("got %v; want an error wrapping ErrInvalid", err)
			}
		})
	}
	// The least limits each takes.
	if p, err := kafka.NewPublisher(brokers, kafka.WithMaxMessageBytes(512)); err != nil {
		t.Errorf("NewPublisher with a 512 B limit: %v", err)
	} else {
		p.Close()
	}
	if s, err := kafka.NewSubscriber(brokers, "g", []string{"t"}, kafka.WithMaxMessageBytes(16<<10)); err != nil {
		t.Errorf("NewSubscriber with a 16 KiB limit: %v", err)
	} else {
		s.Close()
	}
}

// collector is a handler that records what it was given, safe for
// concurrent use.
type collector struct {
	mu    sync.Mutex
	seen  map[string]int // value → deliveries
	order map[string][]string
	got   chan struct{} // signalled on each new value
}

func newCollector() *collector {
	return &collector{seen: map[string]int{}, order: map[string][]string{}, got: make(chan struct{}, 1)}
}

func (c *collector) handle(_ context.Context, d eventbus.Delivery) error {
	c.mu.Lock()
	c.seen[string(d.Value)]++
	c.order[d.Key] = append(c.order[d.Key], string(d.Value))
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
	return nil
}

// wait waits until every value in want was handled.
func (c *collector) wait(t testing.TB, want []string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		missing := 0
		for _, v := range want {
			if c.seen[v] == 0 {
				missing++
			}
		}
		c.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-c.got:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d of %d messages not handled after 30s", missing, len(want))
		}
	}
}

func (c *collector) duplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.seen {
		n += k - 1
	}
	return n
}

// run runs s with h until the test ends or stop is called; stop returns
// Run's result.
func run(t testing.TB, s *kafka.Subscriber, h eventbus.Handler) (stop func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			_ = s.Close()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Run did not return within 30s of Close")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return stop
}
