package memory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/salesflow/salesflow/eventbus"
)

// SubscriberOption configures a Subscriber.
type SubscriberOption func(*subConfig)

type subConfig struct {
	retry eventbus.RetryPolicy
}

// WithRetry sets how many times a failing handler is called for one message
// and how long to wait between calls before the message is dead-lettered.
// Zero fields take eventbus.DefaultRetryPolicy's (the default: 5 attempts,
// 100 ms doubling to 5 s). Negative fields, or a non-zero MaxBackoff below
// MinBackoff, make Subscriber fail.
func WithRetry(p eventbus.RetryPolicy) SubscriberOption {
	return func(c *subConfig) { c.retry = p }
}

// Subscriber is one member of a consumer group on a Bus. See the package
// documentation for how partitions are shared and retried. Its methods are
// safe for concurrent use; Close must not be called from a handler.
type Subscriber struct {
	b      *Bus
	group  string
	topics []string
	retry  eventbus.RetryPolicy

	mu        sync.Mutex
	started   bool
	closed    bool
	closing   chan struct{} // closed by Close
	done      chan struct{} // closed when Run returns
	closeOnce sync.Once

	// Set by Run before the member joins its group, read by its workers.
	ctx     context.Context
	h       eventbus.Handler
	batch   eventbus.BatchHandler // nil: one message at a time
	max     int
	workers sync.WaitGroup
}

var _ eventbus.BatchSubscriber = (*Subscriber)(nil)

// group is a consumer group: its running members and, per topic it was
// ever subscribed to, the state of each partition. It outlives its members,
// which is how a new member resumes where the group left off.
type group struct {
	members []*Subscriber // running members, in join order
	claims  map[string][]*claim
}

// claim is one partition as a group sees it.
type claim struct {
	part      *partition
	partition int32
	committed int64       // the next offset to handle
	owner     *Subscriber // the member assigned this partition; nil when none
	// active is the worker handling this partition. After a rebalance it
	// may still be the previous owner's, finishing its handler; the new
	// owner's worker starts when it exits, so that a partition is handled
	// by one member at a time.
	active *worker
}

// worker handles one claim for one member, in offset order.
type worker struct {
	s       *Subscriber
	c       *claim
	topic   string
	stop    chan struct{} // closed on revoke
	revoked bool          // guarded by Bus.mu
}

// Subscriber returns a member of consumer group that will consume topics
// once Run is called. Topics are created on first use. A group seen for the
// first time starts at the earliest offset of each partition; otherwise the
// member resumes from the group's committed offsets. It returns an error
// wrapping ErrInvalid when group is empty, topics is empty or holds an
// empty or repeated name, or the retry policy is invalid (see WithRetry).
func (b *Bus) Subscriber(group string, topics []string, opts ...SubscriberOption) (*Subscriber, error) {
	if group == "" {
		return nil, fmt.Errorf("%w: subscriber: empty group", ErrInvalid)
	}
	if len(topics) == 0 {
		return nil, fmt.Errorf("%w: subscriber %s: no topics", ErrInvalid, group)
	}
	for i, t := range topics {
		if t == "" {
			return nil, fmt.Errorf("%w: subscriber %s: topic %d is empty", ErrInvalid, group, i)
		}
		if slices.Contains(topics[:i], t) {
			return nil, fmt.Errorf("%w: subscriber %s: topic %q listed twice", ErrInvalid, group, t)
		}
	}
	var c subConfig
	for _, o := range opts {
		o(&c)
	}
	p := c.retry
	switch {
	case p.MaxAttempts < 0:
		return nil, fmt.Errorf("%w: WithRetry: MaxAttempts %d is negative", ErrInvalid, p.MaxAttempts)
	case p.MinBackoff < 0 || p.MaxBackoff < 0:
		return nil, fmt.Errorf("%w: WithRetry: negative backoff %v..%v", ErrInvalid, p.MinBackoff, p.MaxBackoff)
	case p.MaxBackoff != 0 && p.MaxBackoff < p.MinBackoff:
		return nil, fmt.Errorf("%w: WithRetry: MaxBackoff %v below MinBackoff %v", ErrInvalid, p.MaxBackoff, p.MinBackoff)
	}
	return &Subscriber{
		b:       b,
		group:   group,
		topics:  slices.Clone(topics),
		retry:   p.WithDefaults(),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// Run joins the group, which rebalances the partitions of its topics over
// the running members, and calls h for each message of the partitions
// assigned to this member: one message at a time per partition, in offset
// order, partitions concurrently. A message's offset is committed to the
// group when h returns nil, or when h has failed the retry policy's
// MaxAttempts times and the message has been written to the dead-letter
// topic. When ctx is done or Close is called, Run stops handing out
// messages, waits for the handlers in flight, leaves the group and returns
// nil. Handlers get ctx itself: Close lets them finish, cancelling ctx asks
// them to stop, and a message whose handler fails after that is not
// retried nor dead-lettered but left for the next owner of its partition.
//
// Run may be called once. It returns an error wrapping eventbus.ErrClosed
// after Close, and an error wrapping ErrInvalid when h is nil or Run was
// already called.
func (s *Subscriber) Run(ctx context.Context, h eventbus.Handler) error {
	if h == nil {
		return fmt.Errorf("%w: run %s: nil handler", ErrInvalid, s.group)
	}
	return s.run(ctx, nil, 1, h)
}

// RunBatch is Run with batches: when more than one message of a partition
// is waiting, up to max of them go to batch at once; when it fails, each
// goes to h in turn, as in Run. See eventbus.BatchSubscriber.
func (s *Subscriber) RunBatch(ctx context.Context, batch eventbus.BatchHandler, max int, h eventbus.Handler) error {
	switch {
	case h == nil || batch == nil:
		return fmt.Errorf("%w: run %s: nil handler", ErrInvalid, s.group)
	case max < 1:
		return fmt.Errorf("%w: run %s: batches of %d", ErrInvalid, s.group, max)
	}
	return s.run(ctx, batch, max, h)
}

func (s *Subscriber) run(ctx context.Context, batch eventbus.BatchHandler, max int, h eventbus.Handler) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("memory: run %s: %w", s.group, eventbus.ErrClosed)
	}
	if s.started {
		s.mu.Unlock()
		return fmt.Errorf("%w: run %s: Run called twice", ErrInvalid, s.group)
	}
	s.started = true
	s.mu.Unlock()

	s.ctx, s.h, s.batch, s.max = ctx, h, batch, max
	b := s.b
	b.mu.Lock()
	b.joinLocked(s)
	b.mu.Unlock()
	b.log.Debug("eventbus/memory: joined", "group", s.group, "topics", s.topics)

	select {
	case <-ctx.Done():
	case <-s.closing:
	}

	b.mu.Lock()
	b.leaveLocked(s)
	b.mu.Unlock()
	s.workers.Wait()
	b.log.Debug("eventbus/memory: left", "group", s.group)
	close(s.done)
	return nil
}

// Close stops Run and waits until it has returned: handlers in flight
// finish and their offsets are committed. Before Run it only makes Run fail.
// It always returns nil; calling it again returns nil at once, or once the
// first call is done.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		started := s.started
		s.mu.Unlock()
		close(s.closing)
		if started {
			<-s.done
		}
	})
	return nil
}

func (b *Bus) joinLocked(s *Subscriber) {
	g := b.groups[s.group]
	if g == nil {
		g = &group{claims: make(map[string][]*claim)}
		b.groups[s.group] = g
	}
	for _, name := range s.topics {
		if g.claims[name] != nil {
			continue
		}
		t := b.topicLocked(name)
		cs := make([]*claim, len(t.partitions))
		for i, p := range t.partitions {
			cs[i] = &claim{part: p, partition: int32(i)}
		}
		g.claims[name] = cs
	}
	g.members = append(g.members, s)
	b.rebalanceLocked(g)
}

func (b *Bus) leaveLocked(s *Subscriber) {
	g := b.groups[s.group]
	g.members = slices.DeleteFunc(g.members, func(m *Subscriber) bool { return m == s })
	b.rebalanceLocked(g)
}

// rebalanceLocked deals each topic's partitions round-robin over the members
// subscribed to it, in join order. A partition that changes owner is revoked
// from its worker, which finishes its handler in flight first.
func (b *Bus) rebalanceLocked(g *group) {
	var subs []*Subscriber
	for name, cs := range g.claims {
		subs = subs[:0]
		for _, m := range g.members {
			if slices.Contains(m.topics, name) {
				subs = append(subs, m)
			}
		}
		for i, c := range cs {
			var owner *Subscriber
			if len(subs) > 0 {
				owner = subs[i%len(subs)]
			}
			if c.owner == owner {
				continue
			}
			c.owner = owner
			if c.active != nil && c.active.s != owner {
				c.active.revokeLocked()
			}
			b.startLocked(c, name)
		}
	}
}

// startLocked starts the owner's worker for c unless a worker is active or
// the owner is stopping (it is about to leave, which rebalances again).
func (b *Bus) startLocked(c *claim, topic string) {
	if c.active != nil || c.owner == nil || c.owner.ctx.Err() != nil {
		return
	}
	w := &worker{s: c.owner, c: c, topic: topic, stop: make(chan struct{})}
	c.active = w
	c.owner.workers.Add(1)
	go w.run()
}

func (w *worker) revokeLocked() {
	if !w.revoked {
		w.revoked = true
		close(w.stop)
	}
}

// stopping reports whether the worker should hand out nothing more.
func (w *worker) stopping() bool {
	if w.s.ctx.Err() != nil {
		return true
	}
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

func (w *worker) run() {
	s, c := w.s, w.c
	b := s.b
	defer s.workers.Done()
	defer func() {
		b.mu.Lock()
		c.active = nil
		b.startLocked(c, w.topic)
		b.mu.Unlock()
	}()
	for {
		b.mu.Lock()
		if w.revoked {
			b.mu.Unlock()
			return
		}
		off := c.committed
		if off >= int64(len(c.part.recs)) {
			if c.part.wake == nil {
				c.part.wake = make(chan struct{})
			}
			wake := c.part.wake
			b.mu.Unlock()
			select {
			case <-wake:
			case <-w.stop:
				return
			case <-s.ctx.Done():
				return
			}
			continue
		}
		end := min(off+int64(s.max), int64(len(c.part.recs)))
		ms := make([]eventbus.Message, 0, end-off)
		for _, r := range c.part.recs[off:end] {
			ms = append(ms, r.msg)
		}
		b.mu.Unlock()
		if len(ms) > 1 && w.handleBatch(ms, off) {
			continue
		}
		for i, m := range ms {
			if i > 0 && w.stopping() || !w.handle(m, off+int64(i)) {
				return
			}
		}
	}
}

// handleBatch hands ms, the messages from offset off on, to the batch
// handler once and commits them if it succeeds.
func (w *worker) handleBatch(ms []eventbus.Message, off int64) bool {
	s := w.s
	ds := make([]eventbus.Delivery, len(ms))
	for i, m := range ms {
		ds[i] = eventbus.Delivery{Message: cloneMessage(m), Partition: w.c.partition, Offset: off + int64(i), Attempt: 1}
	}
	if err := s.batch(s.ctx, ds); err != nil {
		return false
	}
	s.b.mu.Lock()
	w.c.committed = off + int64(len(ms))
	s.b.mu.Unlock()
	return true
}

// handle calls the handler for the message at off until it succeeds or the
// retry policy gives up, and commits. It returns false, without committing,
// when the worker was revoked or ctx was cancelled first.
func (w *worker) handle(m eventbus.Message, off int64) bool {
	s := w.s
	for attempt := 1; ; attempt++ {
		err := s.h(s.ctx, eventbus.Delivery{
			Message:   cloneMessage(m),
			Partition: w.c.partition,
			Offset:    off,
			Attempt:   attempt,
		})
		if err == nil {
			s.b.mu.Lock()
			w.c.committed = off + 1
			s.b.mu.Unlock()
			return true
		}
		if w.stopping() {
			return false
		}
		if attempt >= s.retry.MaxAttempts {
			w.deadLetter(m, off, attempt, err)
			return true
		}
		t := time.NewTimer(s.retry.Backoff(attempt))
		select {
		case <-t.C:
		case <-w.stop:
			t.Stop()
			return false
		case <-s.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// deadLetter writes m to its dead-letter topic and commits its offset, in one
// step.
func (w *worker) deadLetter(m eventbus.Message, off int64, attempts int, err error) {
	s := w.s
	h := slices.Grow(slices.Clone(m.Headers), 6)
	h.Set(eventbus.HeaderDLQError, err.Error())
	h.Set(eventbus.HeaderDLQTopic, m.Topic)
	h.Set(eventbus.HeaderDLQPartition, strconv.Itoa(int(w.c.partition)))
	h.Set(eventbus.HeaderDLQOffset, strconv.FormatInt(off, 10))
	h.Set(eventbus.HeaderDLQAttempts, strconv.Itoa(attempts))
	h.Set(eventbus.HeaderDLQConsumerGroup, s.group)
	h.Del(eventbus.HeaderDLQOmitted) // from an earlier dead-lettering; m is whole
	dl := eventbus.Message{Topic: m.Topic + eventbus.DeadLetterSuffix, Key: m.Key, Headers: h, Value: slices.Clone(m.Value)}

	s.b.mu.Lock()
	part, dlOff := s.b.appendLocked(dl)
	w.c.committed = off + 1
	s.b.mu.Unlock()
	s.b.log.Warn("eventbus/memory: message dead-lettered",
		"group", s.group, "topic", m.Topic, "partition", w.c.partition, "offset", off,
		"attempts", attempts, "error", err, "dlq_partition", part, "dlq_offset", dlOff)
}
