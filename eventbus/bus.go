package eventbus

import (
	"context"
	"errors"
	"time"
)

// Publisher sends messages to topics.
type Publisher interface {
	// Publish sends msgs and returns once the broker has durably accepted
	// every one of them (for Kafka: acknowledged by all in-sync replicas),
	// or returns an error; on error some of msgs may have been sent, and
	// sending them again is safe because consumers deduplicate. Messages
	// with the same topic and key are delivered in the order they are
	// published. Publish is safe for concurrent use; after Close it returns
	// an error wrapping ErrClosed.
	Publish(ctx context.Context, msgs ...Message) error
	// Close flushes what is in flight and releases the publisher. Calling
	// it again returns nil.
	Close() error
}

// Delivery is a message as a subscriber hands it to its handler.
type Delivery struct {
	Message
	Partition int32
	Offset    int64
	Attempt   int // 1 for the first try of this delivery, 2 for the first retry, ...
}

// Handler processes one delivery. Returning nil acknowledges it. Returning
// an error asks for it again: the subscriber retries with backoff up to its
// RetryPolicy's MaxAttempts, then sends it to the dead-letter topic (the
// original topic plus DeadLetterSuffix) with the error in the DLQ headers,
// and moves on. Delivery is at least once: a handler must tolerate a
// message it has already acknowledged (see the idempotent-consumer helper).
type Handler func(ctx context.Context, d Delivery) error

// Subscriber consumes its topics as a member of a consumer group: each
// message reaches one member of the group, and every group gets every
// message. A new group starts at the earliest offset.
type Subscriber interface {
	// Run calls h for each message until ctx is done or Close is called,
	// then returns nil once the offsets of what was handled are committed.
	// Messages of one partition are handled one at a time, in order;
	// different partitions may be handled concurrently. An offset is
	// committed only after its handler returned nil or the message went to
	// the dead-letter topic. Run may be called once; it returns an error
	// wrapping ErrClosed when called after Close.
	//
	// Handlers get a context derived from ctx: cancelling ctx asks them to
	// stop, and a handler that fails after that is neither retried nor
	// dead-lettered: its message stays uncommitted for the next member.
	// When a partition moves to another member, Attempt starts again at 1.
	Run(ctx context.Context, h Handler) error
	// Close stops Run, waiting for the handlers in flight to return and
	// their offsets to be committed; it does not cancel their context.
	// Calling it again returns nil. Calling it from a handler deadlocks.
	Close() error
}

// BatchHandler processes several deliveries of one partition at once, in
// offset order, typically in one transaction. Returning nil acknowledges
// all of them. Returning an error acknowledges none: the subscriber then
// hands each to the Handler it was given with the batch handler, one at a
// time, with that handler's retries and dead-lettering, so that one bad
// message costs its batch a retry and nothing else. A batch handler must
// therefore have applied nothing when it fails (roll back).
type BatchHandler func(ctx context.Context, ds []Delivery) error

// BatchSubscriber is a Subscriber that can hand the messages queued for a
// partition to a BatchHandler several at a time: fewer transactions, and
// fewer commits to wait for, when a partition has a backlog.
type BatchSubscriber interface {
	Subscriber
	// RunBatch is Run, except that when more than one message of a
	// partition is waiting, up to max of them go to batch at once (each
	// with Attempt 1); see BatchHandler for what happens when it fails. A
	// message that is alone goes to h. Everything Run promises holds:
	// order per partition, commits only after success or dead-lettering.
	RunBatch(ctx context.Context, batch BatchHandler, max int, h Handler) error
}

// Consume runs sub with h until ctx is done or sub is closed, as
// Subscriber.Run; when sub is a BatchSubscriber and max is more than one,
// it runs RunBatch with batch and h instead.
func Consume(ctx context.Context, sub Subscriber, h Handler, batch BatchHandler, max int) error {
	if bs, ok := sub.(BatchSubscriber); ok && batch != nil && max > 1 {
		return bs.RunBatch(ctx, batch, max, h)
	}
	return sub.Run(ctx, h)
}

// ErrClosed means the publisher or subscriber was closed.
var ErrClosed = errors.New("eventbus: closed")

// Dead-letter topic and the headers a dead-lettered message carries, in
// addition to its original headers (which a stub, see HeaderDLQOmitted,
// leaves out).
const (
	DeadLetterSuffix       = ".dlq"
	HeaderDLQError         = "dlq_error"     // the handler's last error text
	HeaderDLQTopic         = "dlq_topic"     // the original topic
	HeaderDLQPartition     = "dlq_partition" // the original partition
	HeaderDLQOffset        = "dlq_offset"    // the original offset
	HeaderDLQAttempts      = "dlq_attempts"  // how many times the handler was called
	HeaderDLQConsumerGroup = "dlq_group"     // the consumer group that gave up
	// HeaderDLQOmitted is set on a stub: a dead letter of a message too
	// large to be dead-lettered whole (for the dead-letter topic or the
	// Kafka subscriber's limit; only the Kafka subscriber makes stubs).
	// Its value and original headers were left out; this header holds,
	// in decimal, the value's length plus the lengths of the left-out
	// headers' keys and values. The message itself is still at dlq_topic,
	// dlq_partition and dlq_offset until the topic's retention removes
	// it.
	HeaderDLQOmitted = "dlq_omitted"
)

// RetryPolicy bounds how a subscriber retries a failing handler before it
// dead-letters the message.
type RetryPolicy struct {
	MaxAttempts int           // handler calls per message, at least 1; 0 means DefaultRetryPolicy's
	MinBackoff  time.Duration // wait after the first failure; doubles up to MaxBackoff
	MaxBackoff  time.Duration
}

// DefaultRetryPolicy is used where a RetryPolicy is left zero: 5 attempts,
// backoff from 100 ms doubling to 5 s.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 5, MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}

// WithDefaults returns p with its zero fields taken from DefaultRetryPolicy.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetryPolicy.MaxAttempts
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = DefaultRetryPolicy.MinBackoff
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = max(DefaultRetryPolicy.MaxBackoff, p.MinBackoff)
	}
	return p
}

// Backoff returns the wait before attempt n+1 after attempt n failed.
func (p RetryPolicy) Backoff(n int) time.Duration {
	d := p.MinBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}
