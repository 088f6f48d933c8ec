package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/salesflow/salesflow/eventbus"
)

// maxPollRecords bounds one poll.
const maxPollRecords = 1000

// closeCommitTimeout bounds the commit of Close (and of the end of Run):
// offsets left uncommitted are delivered again to the next owner.
const closeCommitTimeout = 5 * time.Second

// minRevokeCommit is the least time a revoke's commit gets when the
// handlers took the whole drain timeout.
const minRevokeCommit = time.Second

// fetchMaxWait is how long a fetch waits for new data: the Java client's
// default, instead of franz-go's 5 s, so that a resumed partition waits
// little for the fetch in flight (see worker).
const fetchMaxWait = 500 * time.Millisecond

// fetchMaxBytes bounds what one fetch brings, in compressed bytes, over all
// partitions (franz-go's default: 50 MiB) and per partition (franz-go's
// default: 1 MiB already). A record batch larger than that still comes,
// alone. Smaller fetches let the handlers start on a backlog while the
// next fetch is on its way, rather than after one large response was read
// and decoded: on one kfake (a topic of 4 partitions), a new group reading
// 100,000 1 KiB records took 132 to 138 ms rather than 201 to 214 (medians
// of 12, three runs). The price, on a real cluster, is a backlog read at
// most 1 MiB a round trip per broker however many partitions it leads
// (not measured here); kgo.FetchMaxBytes raises it.
const fetchMaxBytes = 1 << 20

// Subscriber consumes topics as a member of a Kafka consumer group. Each
// assigned partition has its own goroutine, so partitions are handled
// concurrently and each one in order. It is safe for concurrent use.
//
// A delivered message's key, header values and value share the memory the
// client fetched them into, without a copy: a handler that keeps one of
// them keeps the fetched batch alive too (strings.Clone or bytes.Clone it
// to keep it alone), and must not change the value's bytes. Client
// options that recycle fetched memory (kgo.WithPools with
// Record.Recycle) would break this and are not supported.
type Subscriber struct {
	group   string
	topics  []string
	retry   eventbus.RetryPolicy
	drain   time.Duration
	log     *slog.Logger
	metrics *metrics
	kopts   []kgo.Opt // without the rebalance callbacks, which Run adds

	// dlqTurn lets one dead-letter produce at a time through to each
	// dead-letter topic (by source topic), so that an error is its own
	// record's: franz-go fails every record buffered for a partition with
	// the error of a batch it could not produce (such as another record's
	// kerr.MessageTooLarge).
	dlqTurn map[string]chan struct{}

	mu       sync.Mutex
	state    subState
	stopPoll context.CancelFunc // stops Run's poll loop
	runDone  chan struct{}      // closed when Run returns
	runErr   error
}

type subState int

const (
	subIdle subState = iota
	subRunning
	subClosed
)

type topicPartition struct {
	topic     string
	partition int32
}

// session is one Run: its handler and its partitions' workers. The
// rebalance callbacks are its methods.
type session struct {
	s       *Subscriber
	ctx     context.Context // Run's, for as long as Run runs: the parent of the handlers' contexts
	handler eventbus.Handler
	batch   eventbus.BatchHandler // nil: one message at a time
	max     int                   // the most messages a worker takes at once

	mu      sync.Mutex
	closing bool // Run is stopping: no new workers
	parts   map[topicPartition]*worker
}

var _ eventbus.BatchSubscriber = (*Subscriber)(nil)

// NewSubscriber returns a Subscriber that consumes topics as a member of
// the consumer group group through the cluster reached by brokers. A group
// without committed offsets starts at the earliest offset. It does not
// contact the brokers: the member joins the group when Run starts. It
// returns an error wrapping ErrInvalid for no brokers, an empty group, no
// or empty topics, or a bad option, including client options franz-go
// rejects.
//
// The topics, and their dead-letter twins, must exist (see CreateTopics).
func NewSubscriber(brokers []string, group string, topics []string, opts ...Option) (*Subscriber, error) {
	c, err := newConfig(roleSubscriber, opts)
	if err != nil {
		return nil, err
	}
	switch {
	case len(brokers) == 0:
		return nil, fmt.Errorf("%w: NewSubscriber: no brokers", ErrInvalid)
	case group == "":
		return nil, fmt.Errorf("%w: NewSubscriber: empty group", ErrInvalid)
	case len(topics) == 0:
		return nil, fmt.Errorf("%w: NewSubscriber: no topics", ErrInvalid)
	case slices.Contains(topics, ""):
		return nil, fmt.Errorf("%w: NewSubscriber: empty topic name", ErrInvalid)
	}
	s := &Subscriber{
		group:  group,
		topics: slices.Clone(topics),
		retry:  c.retry,
		drain:  c.drainTimeout,
		log:    c.logger.With("group", group),
	}
	s.dlqTurn = make(map[string]chan struct{}, len(s.topics))
	for _, t := range s.topics {
		s.dlqTurn[t] = make(chan struct{}, 1)
	}
	s.kopts = []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(s.topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.FetchMaxBytes(fetchMaxBytes),
		kgo.FetchMaxPartitionBytes(fetchMaxBytes),
		// Only offsets marked after a handler succeeded (or the message
		// was dead-lettered) are committed: periodically, when
		// partitions are revoked, and when Run stops.
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(c.commitInterval),
		// Rebalance callbacks (added by Run) run only between polls, so
		// a partition's worker exists before its records are polled and
		// is gone (its offsets committed) before the partition moves.
		kgo.BlockRebalanceOnPoll(),
		// Dead-lettering produces with the same guarantees as Publisher.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(c.maxBatchBytes),
		// A dead-letter produce in flight gives up when the worker's
		// context is canceled (Close's drain timeout) rather than wait
		// for a broker that does not answer; it may then be written
		// twice, which a dead-letter topic can take.
		kgo.AllowIdempotentProduceCancellation(),
		kgo.WithLogger(kslog.New(c.logger)),
	}
	s.kopts = append(s.kopts, c.clientOpts...)
	if err := kgo.ValidateOpts(s.kopts...); err != nil {
		return nil, fmt.Errorf("%w: NewSubscriber: %v", ErrInvalid, err)
	}
	if s.metrics, err = newMetrics(c.registerer, roleSubscriber, prometheus.Labels{"group": group}); err != nil {
		return nil, err
	}
	if h := s.metrics.hook(); h != nil {
		s.kopts = append(s.kopts, kgo.WithHooks(h))
	}
	return s, nil
}

// Run joins the group and calls h for each message of the partitions
// assigned to this member until ctx is done or Close is called; then it
// waits for the handlers in flight, commits what was handled, leaves the
// group and returns nil, or the error of that last commit.
//
// Messages of one partition are handled one at a time, in offset order;
// different partitions are handled concurrently. A handler error is retried
// with the RetryPolicy's backoff (see WithRetry); after the last attempt
// the message is produced to its topic's dead-letter topic with the DLQ
// headers of package eventbus, and the partition moves on. Dead-lettering
// is retried until it succeeds, so no message is skipped without a trace.
// A panicking handler counts as one returning an error. An offset is
// committed only after its handler returned nil or the message was
// dead-lettered; what was not committed is delivered again, to this member
// or the next owner of the partition.
//
// Handlers get a context derived from ctx, as the memory bus does: Close
// lets them finish (canceling their context only if they outlast the drain
// timeout, see WithDrainTimeout), canceling ctx asks them to stop. A
// message whose handler fails once its context is canceled or its
// partition is being revoked is neither retried nor dead-lettered: it stays
// uncommitted for the partition's next owner. The delivery's Value is the
// record's own buffer, which a dead-lettering sends as it is: the handler
// must not modify it. A handler must not call Close, which waits for it;
// it may cancel ctx.
//
// Run may be called once; it returns an error wrapping eventbus.ErrClosed
// when called after Close or after an earlier Run returned, and one
// wrapping ErrInvalid for a nil handler or while another Run is running.
func (s *Subscriber) Run(ctx context.Context, h eventbus.Handler) error {
	if h == nil {
		return fmt.Errorf("%w: run: nil handler", ErrInvalid)
	}
	return s.run(ctx, &session{s: s, ctx: ctx, handler: h, max: 1})
}

// RunBatch is Run with batches: whenever more than one message of a
// partition is queued, up to max of them (and up to 4 MiB of keys and
// values, but at least one) go to batch at once, in offset order. When
// batch returns nil all of them are marked for commit; when it
// fails, each goes to h in turn, as in Run. See eventbus.BatchSubscriber.
// Batches do not wait for messages to accumulate: a partition that keeps
// up gets single messages, one with a backlog gets batches.
func (s *Subscriber) RunBatch(ctx context.Context, batch eventbus.BatchHandler, max int, h eventbus.Handler) error {
	switch {
	case h == nil || batch == nil:
		return fmt.Errorf("%w: run: nil handler", ErrInvalid)
	case max < 1:
		return fmt.Errorf("%w: run: batches of %d", ErrInvalid, max)
	}
	return s.run(ctx, &session{s: s, ctx: ctx, handler: h, batch: batch, max: max})
}

func (s *Subscriber) run(ctx context.Context, ss *session) error {
	s.mu.Lock()
	switch s.state {
	case subClosed:
		s.mu.Unlock()
		return fmt.Errorf("kafka: run: %w", eventbus.ErrClosed)
	case subRunning:
		s.mu.Unlock()
		return fmt.Errorf("%w: run: already running", ErrInvalid)
	}
	s.state = subRunning
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	s.stopPoll = stopPoll
	s.runDone = make(chan struct{})
	s.mu.Unlock()

	ss.parts = make(map[topicPartition]*worker)
	err := ss.run(pollCtx)

	s.mu.Lock()
	s.state = subClosed
	s.runErr = err
	close(s.runDone)
	s.mu.Unlock()
	s.metrics.unregister()
	return err
}

func (ss *session) run(ctx context.Context) error {
	s := ss.s
	if ctx.Err() != nil {
		return nil // nothing handled, nothing to commit
	}
	cl, err := kgo.NewClient(append(slices.Clip(s.kopts),
		kgo.OnPartitionsAssigned(ss.assigned),
		kgo.OnPartitionsRevoked(ss.revoked),
		kgo.OnPartitionsLost(ss.lost),
	)...)
	if err != nil {
		return fmt.Errorf("kafka: run: %w", err)
	}
	s.log.Debug("kafka: subscriber started", "topics", s.topics)
	for {
		fetches := cl.PollRecords(ctx, maxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			cl.AllowRebalance()
			break
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				s.log.Warn("kafka: fetch", "topic", topic, "partition", partition, "err", err)
			}
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			ss.mu.Lock()
			w := ss.parts[topicPartition{p.Topic, p.Partition}]
			ss.mu.Unlock()
			if w == nil {
				// Not reachable with BlockRebalanceOnPoll; the records
				// are not marked, so they come again.
				s.log.Error("kafka: records for a partition without worker", "topic", p.Topic, "partition", p.Partition)
				return
			}
			w.push(p.Records)
		})
		cl.AllowRebalance()
	}
	return ss.shutdown(cl)
}

// shutdown stops every worker, commits and leaves the group.
func (ss *session) shutdown(cl *kgo.Client) error {
	s := ss.s
	ss.mu.Lock()
	ss.closing = true
	// The workers stay in parts while they stop, so that a rebalance
	// meanwhile (revoked) waits for those of the partitions it takes, as
	// it does while Run runs, rather than hand over partitions whose
	// handlers still run.
	ws := slices.Collect(maps.Values(ss.parts))
	ss.mu.Unlock()
	ss.stopWorkers(ws)
	ss.mu.Lock()
	clear(ss.parts) // leaving the group revokes them: nothing to wait for
	ss.mu.Unlock()

	// A group that is rebalancing refuses commits until every member has
	// rejoined; a member that died is waited for until its session
	// times out. Leaving rather than waiting for that costs redeliveries
	// (which consumers deduplicate), not a stalled shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), min(s.drain, closeCommitTimeout))
	defer cancel()
	err := commit(ctx, cl)
	cl.Close() // leaves the group
	if err != nil {
		return fmt.Errorf("kafka: commit on close: %w", err)
	}
	s.log.Debug("kafka: subscriber stopped")
	return nil
}

// Close stops Run, waiting for the handlers in flight to return and their
// offsets to be committed, and returns Run's result. The commit is tried
// for at most 5 seconds (less with a shorter WithDrainTimeout): a group
// rebalancing because a member died refuses commits until that member's
// session times out, and the uncommitted messages are delivered again
// rather than the shutdown stalled; a rebalance while Close waits for the
// handlers commits the partitions it takes before they move, for at most 5
// seconds more. Closing a Subscriber whose Run was not called just
// releases it. Calling Close again returns nil.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	switch s.state {
	case subIdle:
		s.state = subClosed
		s.mu.Unlock()
		s.metrics.unregister()
		return nil
	case subClosed:
		s.mu.Unlock()
		return nil
	}
	stop, done := s.stopPoll, s.runDone
	s.mu.Unlock()
	stop()
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.runErr
	s.runErr = nil
	return err
}

// assigned starts a worker per newly assigned partition.
func (ss *session) assigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return
	}
	for topic, partitions := range assigned {
		for _, p := range partitions {
			k := topicPartition{topic, p}
			if ss.parts[k] != nil {
				continue
			}
			w := newWorker(ss, cl, k)
			ss.parts[k] = w
			go w.run()
		}
	}
	ss.s.log.Debug("kafka: partitions assigned", "partitions", assigned)
}

// revoked stops the workers of the revoked partitions, letting their
// handlers in flight finish, and commits before the partitions move.
func (ss *session) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	// The handlers' drain and the commit share the drain timeout, so that
	// the member rejoins within about it (the commit gets a second at
	// least); a rebalance timeout longer than the drain timeout and that
	// second keeps the member in the group.
	deadline := time.Now().Add(ss.s.drain)
	ws := ss.take(revoked)
	ss.stopWorkers(ws)
	ss.mu.Lock()
	closing := ss.closing
	ss.mu.Unlock()
	timeout := max(time.Until(deadline), minRevokeCommit)
	if closing {
		if len(ws) == 0 {
			// Leaving the group revokes everything after shutdown
			// committed (or gave up committing) what was handled;
			// trying again would stall Close on a group that refuses
			// commits.
			return
		}
		// A rebalance while Close waits for the handlers: commit what
		// they did before the partitions move, within Close's bound.
		timeout = min(timeout, closeCommitTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := commit(ctx, cl); err != nil {
		ss.s.log.Error("kafka: commit on revoke", "err", err)
	}
	ss.s.log.Debug("kafka: partitions revoked", "partitions", revoked)
}

// lost stops the workers of partitions the member lost without a clean
// rebalance; their offsets can no longer be committed, so the messages
// handled since the last commit come again to the next owner.
func (ss *session) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	ss.stopWorkers(ss.take(lost))
	ss.s.log.Warn("kafka: partitions lost", "partitions", lost)
}

// commit commits the marked offsets, retrying errors that may pass (a
// coordinator moving or loading, a timeout, a broken connection) until ctx
// is done.
func commit(ctx context.Context, cl *kgo.Client) error {
	for try := 1; ; try++ {
		err := cl.CommitMarkedOffsets(ctx)
		if err == nil || !kerr.IsRetriable(err) && !kgo.IsRetryableBrokerErr(err) {
			return err
		}
		t := time.NewTimer(min(time.Duration(try)*50*time.Millisecond, time.Second))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

func (ss *session) take(tps map[string][]int32) []*worker {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var ws []*worker
	for topic, partitions := range tps {
		for _, p := range partitions {
			k := topicPartition{topic, p}
			if w := ss.parts[k]; w != nil {
				ws = append(ws, w)
				delete(ss.parts, k)
			}
		}
	}
	return ws
}

// stopWorkers asks ws to stop, cancels their handlers after the drain
// timeout, and waits for them.
func (ss *session) stopWorkers(ws []*worker) {
	for _, w := range ws {
		w.stop(ss.s.drain)
	}
	for _, w := range ws {
		w.wait()
	}
}

// handle delivers r, as d, until the handler succeeds or r is
// dead-lettered, and reports whether r is done with; false means the
// worker is stopping and r must not be marked.
func (ss *session) handle(w *worker, r *kgo.Record, d eventbus.Delivery) bool {
	s := ss.s
	var err error
	for d.Attempt = 1; ; d.Attempt++ {
		err = ss.call(w.ctx, d)
		if err == nil {
			return true
		}
		if w.stopping() || w.ctx.Err() != nil {
			return false
		}
		if d.Attempt >= s.retry.MaxAttempts {
			break
		}
		wait := s.retry.Backoff(d.Attempt)
		s.log.Warn("kafka: handler failed, retrying", "topic", r.Topic, "partition", r.Partition,
			"offset", r.Offset, "attempt", d.Attempt, "backoff", wait, "err", err)
		if !w.sleep(wait) {
			return false
		}
	}
	return ss.deadLetter(w, r, d.Attempt, err)
}

// handleBatch hands rs (more than one record of w's partition, in order),
// as ds, to the batch handler once and reports whether it succeeded.
func (ss *session) handleBatch(w *worker, rs []*kgo.Record, ds []eventbus.Delivery) bool {
	err := ss.callBatch(w.ctx, ds)
	if err != nil && !w.stopping() && w.ctx.Err() == nil {
		first, last := rs[0], rs[len(rs)-1]
		ss.s.log.Warn("kafka: batch failed, handling its messages one at a time", "topic", first.Topic, "partition", first.Partition,
			"offsets", fmt.Sprintf("%d-%d", first.Offset, last.Offset), "err", err)
	}
	return err == nil
}

// callBatch runs the batch handler, turning a panic into an error; a
// batch that succeeds counts in the metrics as its deliveries (one that
// fails goes on to the single handler, which counts them).
func (ss *session) callBatch(ctx context.Context, ds []eventbus.Delivery) error {
	m := ss.s.metrics
	var start time.Time
	if m != nil {
		start = time.Now()
	}
	err := ss.guard(&ds[0], "batch handler", func() error { return ss.batch(ctx, ds) })
	if m != nil && err == nil {
		each := time.Since(start) / time.Duration(len(ds))
		for _, d := range ds {
			m.handlerDone(d.Topic, each, nil)
		}
	}
	return err
}

// call runs the handler, turning a panic into an error.
func (ss *session) call(ctx context.Context, d eventbus.Delivery) error {
	m := ss.s.metrics
	var start time.Time
	if m != nil {
		start = time.Now()
	}
	err := ss.guard(&d, "handler", func() error { return ss.handler(ctx, d) })
	if m != nil {
		m.handlerDone(d.Topic, time.Since(start), err)
	}
	return err
}

// guard runs fn, turning a panic into an error, logged with the delivery
// being handled (the first of a batch).
func (ss *session) guard(d *eventbus.Delivery, what string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			ss.s.log.Error("kafka: "+what+" panicked", "topic", d.Topic, "partition", d.Partition,
				"offset", d.Offset, "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("kafka: %s panicked: %v", what, v)
		}
	}()
	return fn()
}

// deadLetterSlow is how long a dead-letter produce may take before it is
// logged as an error and counted in dead_letter_errors_total (and again
// each time as long): franz-go retries a produce that fails for a while (a
// leader missing, replicas short, a broker that does not answer) inside
// the call, which then returns no error to log until it is through.
const deadLetterSlow = 10 * time.Second

// deadLetter produces r to its dead-letter topic, retrying until it
// succeeds or the worker stops. A record too large for the dead-letter
// topic (for the client's WithMaxMessageBytes or the topic's
// max.message.bytes) will never fit, so it is dead-lettered as a stub
// without its value and original headers (see deadLetterStub). What else
// fails (a stub too large as well, a dead-letter topic missing or not
// writable) is retried with backoff: the partition waits, logging an error
// and counting dead_letter_errors_total for each try, and for each
// deadLetterSlow a try takes, until the topic takes it.
func (ss *session) deadLetter(w *worker, r *kgo.Record, attempts int, cause error) bool {
	s := ss.s
	dl := deadLetterRecord(r, s.group, attempts, cause)
	stub := false
	for try := 1; ; try++ {
		ok, err := s.produceDeadLetter(w, r.Topic, dl)
		if !ok {
			return false
		}
		if err == nil {
			s.metrics.deadLettered(r.Topic)
			s.log.Warn("kafka: message dead-lettered", "topic", r.Topic, "partition", r.Partition,
				"offset", r.Offset, "attempts", attempts, "stub", stub, "err", cause)
			return true
		}
		if w.stopping() || w.ctx.Err() != nil {
			return false
		}
		if tooLarge(err) && !stub {
			s.log.Warn("kafka: message too large for its dead-letter topic, dead-lettering a stub without its value and headers",
				"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			dl, stub = deadLetterStub(r, s.group, attempts, cause), true
			continue
		}
		s.metrics.deadLetterFailed(r.Topic)
		wait := s.retry.Backoff(try)
		s.log.Error("kafka: dead-lettering failed, retrying", "topic", r.Topic, "partition", r.Partition,
			"offset", r.Offset, "dlq", r.Topic+eventbus.DeadLetterSuffix, "stub", stub, "backoff", wait, "err", err)
		if !w.sleep(wait) {
			return false
		}
	}
}

// produceDeadLetter produces dl, a dead letter of a record of topic, when
// it is topic's turn; ok is false when w stops while it waits for the
// turn. A produce under way is not abandoned: once w's context is
// canceled (the drain timeout of a stop), franz-go fails it. The client
// consumes s.topics by name, so every record's topic has its turn.
func (s *Subscriber) produceDeadLetter(w *worker, topic string, dl *kgo.Record) (ok bool, err error) {
	turn := s.dlqTurn[topic]
	select {
	case turn <- struct{}{}:
	case <-w.quit:
		return false, nil
	case <-w.ctx.Done():
		return false, nil
	}
	defer func() { <-turn }()
	done := make(chan error, 1)
	w.cl.Produce(w.ctx, dl, func(_ *kgo.Record, err error) { done <- err })
	slow := time.NewTicker(deadLetterSlow)
	defer slow.Stop()
	for waited := deadLetterSlow; ; waited += deadLetterSlow {
		select {
		case err := <-done:
			return true, err
		case <-slow.C:
			s.metrics.deadLetterFailed(topic)
			s.log.Error("kafka: dead-lettering is taking long, still waiting", "topic", topic,
				"dlq", dl.Topic, "waited", waited)
		}
	}
}

// tooLarge reports whether a produce failed for the record's size, which
// no retry changes: franz-go fails a record larger than
// ProducerBatchMaxBytes with kerr.MessageTooLarge before sending it, and
// brokers refuse a batch larger than the topic's max.message.bytes with it.
func tooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
}
