package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/salesflow/salesflow/eventbus"
)

// DefaultPartitions is the number of partitions of every topic when
// WithPartitions is not given.
const DefaultPartitions = 4

// ErrInvalid means a constructor or Publish was given an argument it cannot
// use; the error says which.
var ErrInvalid = errors.New("memory: invalid argument")

// Option configures a Bus.
type Option func(*config)

type config struct {
	partitions int
	logger     *slog.Logger
}

// WithPartitions sets how many partitions every topic has (default
// DefaultPartitions). n must be at least 1.
func WithPartitions(n int) Option { return func(c *config) { c.partitions = n } }

// WithLogger sets the logger the bus reports dead-lettered messages to
// (default: discard). A nil logger is rejected by New.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Bus is an in-process message broker: topics split into partitions, and
// consumer groups whose committed offsets live in the Bus, so a Subscriber
// of an existing group resumes where the group left off. The zero value is
// not usable; call New. A Bus is safe for concurrent use. It keeps every
// message for its lifetime (no retention) and needs no closing: close the
// publishers and subscribers made from it.
type Bus struct {
	partitions int
	log        *slog.Logger

	mu     sync.Mutex
	seq    uint64 // publish order across topics, for Messages
	topics map[string]*topic
	groups map[string]*group
}

// topic is a named set of partition logs. Its partitions slice never changes
// after creation.
type topic struct {
	name       string
	partitions []*partition
}

// partition is an append-only log. Offsets are indexes into recs.
type partition struct {
	recs []record
	// wake, when not nil, is closed and cleared by the next append; workers
	// waiting for a message at the end of the log select on it.
	wake chan struct{}
}

type record struct {
	msg eventbus.Message
	seq uint64
}

// New returns an empty Bus. It returns an error wrapping ErrInvalid when an
// option is out of range.
func New(opts ...Option) (*Bus, error) {
	c := config{partitions: DefaultPartitions, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&c)
	}
	if c.partitions < 1 {
		return nil, fmt.Errorf("%w: WithPartitions(%d): need at least 1", ErrInvalid, c.partitions)
	}
	if c.logger == nil {
		return nil, fmt.Errorf("%w: WithLogger(nil)", ErrInvalid)
	}
	return &Bus{
		partitions: c.partitions,
		log:        c.logger,
		topics:     make(map[string]*topic),
		groups:     make(map[string]*group),
	}, nil
}

// Partitions returns how many partitions each topic has.
func (b *Bus) Partitions() int { return b.partitions }

// Partition returns the partition that messages with key go to: the Kafka
// default partitioner's choice (murmur2 of the key, sign bit cleared,
// modulo the partition count), so keys land where they would on a Kafka
// topic with as many partitions. An empty key is hashed like any other.
func (b *Bus) Partition(key string) int32 { return partitionFor(key, b.partitions) }

// topicLocked returns the topic called name, creating it on first use.
func (b *Bus) topicLocked(name string) *topic {
	t := b.topics[name]
	if t == nil {
		t = &topic{name: name, partitions: make([]*partition, b.partitions)}
		for i := range t.partitions {
			t.partitions[i] = &partition{}
		}
		b.topics[name] = t
	}
	return t
}

// appendLocked adds m to its topic and wakes the workers waiting on its
// partition. m must already be a private copy.
func (b *Bus) appendLocked(m eventbus.Message) (part int32, off int64) {
	part = partitionFor(m.Key, b.partitions)
	p := b.topicLocked(m.Topic).partitions[part]
	b.seq++
	p.recs = append(p.recs, record{msg: m, seq: b.seq})
	if p.wake != nil {
		close(p.wake)
		p.wake = nil
	}
	return part, int64(len(p.recs) - 1)
}

// Messages returns a copy of every message published to topic so far, in
// publish order (which is offset order within each partition). Dead-lettered
// messages are on topic + eventbus.DeadLetterSuffix. It returns nil for a
// topic never used. Meant for tests and inspection: it copies the whole
// topic.
func (b *Bus) Messages(topic string) []eventbus.Message {
	b.mu.Lock()
	t := b.topics[topic]
	var recs []record
	if t != nil {
		for _, p := range t.partitions {
			recs = append(recs, p.recs...)
		}
	}
	b.mu.Unlock()
	slices.SortFunc(recs, func(a, b record) int { return cmp.Compare(a.seq, b.seq) })
	var out []eventbus.Message
	for _, r := range recs {
		out = append(out, cloneMessage(r.msg))
	}
	return out
}

// Publisher returns a new Publisher on b. Each has its own Close.
func (b *Bus) Publisher() *Publisher { return &Publisher{b: b} }

// Publisher appends messages to the topics of a Bus. It is safe for
// concurrent use.
type Publisher struct {
	b      *Bus
	closed atomic.Bool
}

var _ eventbus.Publisher = (*Publisher)(nil)

// Publish appends msgs to their topics, creating a topic on first use, and
// returns once every one is visible to subscribers. It is all or nothing:
// it returns an error wrapping ErrInvalid, and publishes none, when a
// message has no topic. It returns an error wrapping eventbus.ErrClosed
// after Close, and ctx's error when ctx is done. Publish copies the keys,
// headers and values, so the caller may reuse them.
func (p *Publisher) Publish(ctx context.Context, msgs ...eventbus.Message) error {
	if p.closed.Load() {
		return fmt.Errorf("memory: publish: %w", eventbus.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: publish: %w", err)
	}
	copies := make([]eventbus.Message, len(msgs))
	for i, m := range msgs {
		if m.Topic == "" {
			return fmt.Errorf("%w: publish: message %d has no topic", ErrInvalid, i)
		}
		copies[i] = cloneMessage(m)
	}
	b := p.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range copies {
		b.appendLocked(m)
	}
	return nil
}

// Close makes later Publish calls fail with eventbus.ErrClosed. Publish
// calls already past the check complete. It always returns nil.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	return nil
}

// cloneMessage returns m with its own headers and value, so neither the
// publisher nor a handler can change what the bus holds.
func cloneMessage(m eventbus.Message) eventbus.Message {
	if len(m.Headers) == 0 {
		m.Headers = nil
	} else {
		m.Headers = slices.Clone(m.Headers)
	}
	if m.Value != nil {
		m.Value = slices.Clone(m.Value)
	}
	return m
}
