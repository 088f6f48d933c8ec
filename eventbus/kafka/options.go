package kafka

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salesflow/salesflow/eventbus"
)

// ErrInvalid means a constructor, Publish, CreateTopics or
// CreateTopicsWith was given an argument it cannot use; the error says
// which.
var ErrInvalid = errors.New("kafka: invalid argument")

// MaxMessageBytes is the max.message.bytes CreateTopics gives every topic
// (4 MiB), so that messages up to a few MiB fit. Publishers send batches of
// at most 1,000,012 bytes (Kafka's default) unless WithMaxMessageBytes
// raises the limit; raise it only for topics that accept it, such as those
// CreateTopics made. Subscribers dead-letter messages of up to
// MaxMessageBytes, and larger ones, or ones their dead-letter topic
// refuses, as stubs.
const MaxMessageBytes = 4 << 20

// defaultBatchBytes is franz-go's and Kafka's default record batch limit.
const defaultBatchBytes = 1_000_012

// minSubscriberMessageBytes is the least a subscriber's
// WithMaxMessageBytes takes: room for a dead-letter stub (about 1.3 KiB
// and the key) with a wide margin.
const minSubscriberMessageBytes = 16 << 10

// Option configures a Publisher, a Subscriber or CreateTopicsWith.
// Options that apply to only one of them (such as WithRetry) make the
// others fail with ErrInvalid.
type Option func(*config)

type role int

const (
	rolePublisher role = iota
	roleSubscriber
	roleAdmin // CreateTopicsWith
)

func (r role) String() string {
	switch r {
	case rolePublisher:
		return "publisher"
	case roleAdmin:
		return "admin"
	}
	return "subscriber"
}

type config struct {
	logger         *slog.Logger
	registerer     prometheus.Registerer
	metrics        bool // WithMetrics was given, even with a nil registerer
	clientOpts     []kgo.Opt
	retry          eventbus.RetryPolicy
	commitInterval time.Duration
	drainTimeout   time.Duration
	maxBatchBytes  int32

	subscriberOnly []string // names of subscriber-only options given
	clientOnly     []string // names of other options given that apply only to publishers and subscribers
	problems       []string
}

func newConfig(r role, opts []Option) (config, error) {
	c := config{
		logger:         slog.New(slog.DiscardHandler),
		retry:          eventbus.DefaultRetryPolicy,
		commitInterval: time.Second,
		drainTimeout:   30 * time.Second,
		maxBatchBytes:  defaultBatchBytes,
	}
	if r == roleSubscriber {
		c.maxBatchBytes = MaxMessageBytes
	}
	for _, o := range opts {
		if o == nil {
			c.problems = append(c.problems, "nil Option")
			continue
		}
		o(&c)
	}
	if r == roleSubscriber && c.maxBatchBytes < minSubscriberMessageBytes {
		c.problems = append(c.problems, fmt.Sprintf("WithMaxMessageBytes(%d): a subscriber needs 16 KiB at least, room for a dead-letter stub", c.maxBatchBytes))
	}
	if r == rolePublisher && len(c.subscriberOnly) > 0 {
		c.problems = append(c.problems, fmt.Sprintf("%v applies only to subscribers", c.subscriberOnly))
	}
	if notAdmin := slices.Concat(c.clientOnly, c.subscriberOnly); r == roleAdmin && len(notAdmin) > 0 {
		c.problems = append(c.problems, fmt.Sprintf("%v applies only to publishers and subscribers", notAdmin))
	}
	if c.logger == nil {
		c.problems = append(c.problems, "WithLogger(nil)")
	}
	if c.metrics && c.registerer == nil {
		c.problems = append(c.problems, "WithMetrics(nil)")
	}
	if len(c.problems) > 0 {
		return c, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(c.problems, "; "))
	}
	return c, nil
}

// WithLogger sets the logger for the bus's own events (retries,
// dead-lettered messages, commit failures) and for franz-go's client log,
// bridged with the kslog plugin at the levels the logger's handler enables.
// Default: discard. A nil logger is rejected.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithMetrics registers Prometheus metrics on reg: franz-go's client
// metrics through its kprom plugin (connections, bytes, request latencies,
// buffered records; namespace "salesflow_kafka", subsystem "publisher" or
// "subscriber"), and the bus's counters (messages published, handled,
// retried and dead-lettered, failed dead-letter tries, handler latency). A
// subscriber's metrics carry a constant "group" label. The metrics are
// unregistered on Close. One registerer holds the metrics of one publisher
// and one subscriber per group at a time; the constructor fails for a
// second one, so wrap reg with prometheus.WrapRegistererWith to tell more
// apart. Default: no metrics. A
// nil registerer is rejected.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(c *config) {
		c.clientOnly = append(c.clientOnly, "WithMetrics")
		c.registerer, c.metrics = reg, true
	}
}

// WithClientOptions adds franz-go client options after the ones the bus
// sets, so they take precedence (except a subscriber's rebalance
// callbacks, which it needs): TLS and SASL, client id, timeouts, a
// different balancer. Options that undo the bus's guarantees (such as
// kgo.DisableIdempotentWrite, kgo.RequiredAcks(kgo.LeaderAck()),
// kgo.DisableAutoCommit, or kgo.WithPools, see Subscriber) are the
// caller's responsibility; the constructor
// rejects options franz-go itself finds invalid or conflicting. Default:
// none.
func WithClientOptions(opts ...kgo.Opt) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// WithMaxMessageBytes sets the largest record batch, and so the largest
// message, the client produces: the publisher for Publish, the subscriber
// for dead-lettering. A larger message fails with kerr.MessageTooLarge
// before it is sent. n must not exceed the topics' max.message.bytes
// (MaxMessageBytes for topics made by CreateTopics), or the broker rejects
// large batches. Default: 1,000,012 bytes (Kafka's default) for a
// publisher, MaxMessageBytes for a subscriber, which dead-letters a message
// too large for its client or its dead-letter topic as a stub without the
// message's value (see the package documentation). n must be between 512
// bytes (16 KiB for a subscriber, so that a stub fits) and 1 GiB.
func WithMaxMessageBytes(n int32) Option {
	return func(c *config) {
		c.clientOnly = append(c.clientOnly, "WithMaxMessageBytes")
		if n < 512 || n > 1<<30 {
			c.problems = append(c.problems, fmt.Sprintf("WithMaxMessageBytes(%d): need 512 B to 1 GiB", n))
			return
		}
		c.maxBatchBytes = n
	}
}

// WithRetry sets how a subscriber retries a failing handler before it
// dead-letters the message; zero fields take eventbus.DefaultRetryPolicy's
// values (5 attempts, backoff 100 ms doubling to 5 s), which is also the
// default. Negative fields are rejected. Subscribers only.
func WithRetry(p eventbus.RetryPolicy) Option {
	return func(c *config) {
		c.subscriberOnly = append(c.subscriberOnly, "WithRetry")
		if p.MaxAttempts < 0 || p.MinBackoff < 0 || p.MaxBackoff < 0 {
			c.problems = append(c.problems, fmt.Sprintf("WithRetry(%+v): negative field", p))
			return
		}
		c.retry = p.WithDefaults()
	}
}

// WithCommitInterval sets how often a subscriber commits the offsets of the
// messages handled since the last commit. Offsets are also committed when
// partitions are revoked in a rebalance and when the subscriber stops, so
// the interval bounds only the redeliveries after a crash: what was
// handled in about the last interval and the 50 ms before it (a worker
// marks what it handled at least that often), and the message or batch
// being handled. Default 1 s; d must be at least 100 ms. Subscribers
// only.
func WithCommitInterval(d time.Duration) Option {
	return func(c *config) {
		c.subscriberOnly = append(c.subscriberOnly, "WithCommitInterval")
		if d < 100*time.Millisecond {
			c.problems = append(c.problems, fmt.Sprintf("WithCommitInterval(%v): need at least 100ms", d))
			return
		}
		c.commitInterval = d
	}
}

// WithDrainTimeout bounds how long Close, or a rebalance that takes
// partitions away, waits for work in flight before it cancels it: a
// subscriber's handlers (their context is canceled after d; what they did
// not finish is delivered again later; a dead-letter produce in flight is
// canceled, and its message delivered again, retried and dead-lettered
// anew, so that its dead-letter topic may get it twice) and a publisher's
// Publish calls (the client is closed, and they fail with
// eventbus.ErrClosed, also with a batch sent and not yet answered). A
// rebalance's commit shares d with the handlers (it gets a second at
// least): keep d below the rebalance timeout (kgo.RebalanceTimeout) by
// more than that, or the member is dropped from the group. Default 30 s;
// d must be positive.
func WithDrainTimeout(d time.Duration) Option {
	return func(c *config) {
		c.clientOnly = append(c.clientOnly, "WithDrainTimeout")
		if d <= 0 {
			c.problems = append(c.problems, fmt.Sprintf("WithDrainTimeout(%v): need > 0", d))
			return
		}
		c.drainTimeout = d
	}
}
