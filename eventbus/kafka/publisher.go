package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/salesflow/salesflow/eventbus"
)

// Publisher publishes messages with an idempotent franz-go producer that
// waits for all in-sync replicas (acks=all), so a retried produce is never
// written twice within the producer's session and an acknowledged message
// survives the loss of its leader. It is safe for concurrent use.
type Publisher struct {
	cl      *kgo.Client
	log     *slog.Logger
	metrics *metrics
	drain   time.Duration

	// closeClient closes cl once: when Close is done waiting for the
	// Publish calls, or gives up (its drain timeout), which fails theirs.
	closeClient func()

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

var _ eventbus.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher for the cluster reached through brokers
// (host:port seeds; the rest of the cluster is discovered). It does not
// contact the brokers: connection problems surface in Publish. It returns
// an error wrapping ErrInvalid for no brokers or a bad option, including
// client options franz-go rejects.
func NewPublisher(brokers []string, opts ...Option) (*Publisher, error) {
	c, err := newConfig(rolePublisher, opts)
	if err != nil {
		return nil, err
	}
	if len(brokers) == 0 {
		return nil, fmt.Errorf("%w: NewPublisher: no brokers", ErrInvalid)
	}
	kopts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		// Idempotence is franz-go's default; acks=all is required for it.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Publish waits for the acknowledgement, so lingering would only
		// add latency; records buffered while a request is in flight are
		// still batched together.
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(c.maxBatchBytes),
		// A batch in flight gives up when Publish's context is canceled
		// rather than wait for a broker that does not answer; publishing
		// it again may then write it twice, which consumers that
		// deduplicate by event id take.
		kgo.AllowIdempotentProduceCancellation(),
		kgo.WithLogger(kslog.New(c.logger)),
	}
	kopts = append(kopts, c.clientOpts...)
	if err := kgo.ValidateOpts(kopts...); err != nil {
		return nil, fmt.Errorf("%w: NewPublisher: %v", ErrInvalid, err)
	}
	m, err := newMetrics(c.registerer, rolePublisher, nil)
	if err != nil {
		return nil, err
	}
	if h := m.hook(); h != nil {
		kopts = append(kopts, kgo.WithHooks(h))
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		m.unregister()
		return nil, fmt.Errorf("%w: NewPublisher: %v", ErrInvalid, err)
	}
	return &Publisher{cl: cl, log: c.logger, metrics: m, drain: c.drainTimeout, closeClient: sync.OnceFunc(cl.Close)}, nil
}

// Publish produces msgs and returns once every one is acknowledged by all
// in-sync replicas, or returns an error saying how many failed and why the
// first did. Messages of one Publish call keep their order per topic and
// key; on error some of them may have been written, and publishing them
// again is safe. Publish returns an error wrapping ErrInvalid, before
// producing anything, when a message has no topic; one wrapping
// eventbus.ErrClosed after Close, or when Close ended it (see Close); and
// one wrapping ctx's error when ctx is done before every message was
// acknowledged, sent or not. franz-go cancels a partition's buffered and
// in-flight batches together, so a canceled call can make a concurrent
// call's messages to the same partitions fail too, with its context's
// error; publishing them again is safe. A message larger than the batch
// limit (see WithMaxMessageBytes) fails with kerr.MessageTooLarge, and one
// for a topic that does not exist with kerr.UnknownTopicOrPartition after
// the client's retries. The publisher does not copy the values; the caller
// must not change them until Publish returns.
func (p *Publisher) Publish(ctx context.Context, msgs ...eventbus.Message) error {
	for i, m := range msgs {
		if m.Topic == "" {
			return fmt.Errorf("%w: publish: message %d has no topic", ErrInvalid, i)
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("kafka: publish: %w", eventbus.ErrClosed)
	}
	p.inflight.Add(1)
	p.mu.Unlock()
	defer p.inflight.Done()
	if len(msgs) == 0 {
		return nil
	}

	// ctx goes to franz-go as it is: a context that cannot be canceled
	// (one without Done) spares the client watching it on each request's
	// write and read, about 5 % of a one-message call. Close does not need
	// a context to end the calls: closing the client fails what it holds.
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	wg.Add(len(msgs))
	for i := range msgs {
		p.cl.Produce(ctx, toRecord(msgs[i]), func(_ *kgo.Record, err error) {
			errs[i] = err
			wg.Done()
		})
	}
	wg.Wait()

	var first error
	var firstTopic string
	failed, closed := 0, false
	for i, err := range errs {
		p.metrics.publishDone(msgs[i].Topic, err)
		if err != nil {
			if failed == 0 {
				first, firstTopic = err, msgs[i].Topic
			}
			failed++
			closed = closed || errors.Is(err, kgo.ErrClientClosed) // Close gave up waiting
		}
	}
	if failed > 0 {
		if closed && !errors.Is(first, kgo.ErrClientClosed) {
			first = fmt.Errorf("%w (and the client was closed: %w)", first, eventbus.ErrClosed)
		} else if closed {
			first = fmt.Errorf("%w: %w", eventbus.ErrClosed, first)
		}
		return fmt.Errorf("kafka: publish: %d of %d messages failed, first to %s: %w", failed, len(msgs), firstTopic, first)
	}
	return nil
}

// Close waits for the Publish calls in flight and releases the client. If
// they take longer than the drain timeout (see WithDrainTimeout), it closes
// the client, and their messages not yet acknowledged fail with an error
// wrapping eventbus.ErrClosed: at once, or within a second where the
// brokers take franz-go's client metrics (KIP-714), whose last push the
// client waits for first. Such a batch fails even when it was already sent
// and its answer has not come (a broker that does not answer cannot hold
// Close): the broker may have written it, so publishing it again may write
// it twice. Later Publish calls fail with eventbus.ErrClosed. Calling Close
// again returns nil. It always returns nil.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()

	t := time.AfterFunc(p.drain, p.closeClient)
	p.inflight.Wait()
	t.Stop()
	p.closeClient()
	p.metrics.unregister()
	return nil
}
