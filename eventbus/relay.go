package eventbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Leader elects the one relay that may publish at a time.
type Leader interface {
	// Lead blocks until the caller leads or ctx is done. It returns a context
	// that is cancelled when leadership is lost, and a function that gives
	// leadership up; the caller must call it.
	Lead(ctx context.Context) (context.Context, func(), error)
}

// Waker tells the relay that new outbox records may be waiting.
type Waker interface {
	// Wake returns a channel that receives a value when records were
	// enqueued. Wakes may be coalesced or lost: the relay also polls.
	Wake(ctx context.Context) (<-chan struct{}, error)
}

// Relay publishes committed outbox records in order and marks them
// published. A record is marked only after the publisher accepted it, so a
// crash between publishing and marking publishes it again: consumers
// deduplicate on the event id. Run it with a Leader so that only one relay
// publishes at a time. Its methods are safe for concurrent use, but a
// Flush beside a running Run may publish records twice (harmless, as
// consumers deduplicate).
type Relay struct {
	outbox Outbox
	pub    Publisher
	leader Leader
	waker  Waker
	batch  int
	poll   time.Duration
	linger time.Duration
	retry  RetryPolicy
	log    *slog.Logger

	mu        sync.Mutex
	published int64
}

// RelayOption configures a Relay.
type RelayOption func(*Relay) error

// WithLeader makes the relay publish only while it leads (default: always,
// for a single process).
func WithLeader(l Leader) RelayOption {
	return func(r *Relay) error {
		if l == nil {
			return errors.New("eventbus: nil leader")
		}
		r.leader = l
		return nil
	}
}

// WithWaker wakes the relay when records are enqueued (default: polling only).
func WithWaker(w Waker) RelayOption {
	return func(r *Relay) error {
		if w == nil {
			return errors.New("eventbus: nil waker")
		}
		r.waker = w
		return nil
	}
}

// WithBatchSize sets how many records one pass publishes at most (default 256).
func WithBatchSize(n int) RelayOption {
	return func(r *Relay) error {
		if n < 1 {
			return fmt.Errorf("eventbus: batch size %d below 1", n)
		}
		r.batch = n
		return nil
	}
}

// WithPollInterval sets how often the relay looks for records when nothing
// wakes it (default 500 ms).
func WithPollInterval(d time.Duration) RelayOption {
	return func(r *Relay) error {
		if d <= 0 {
			return fmt.Errorf("eventbus: poll interval %v not positive", d)
		}
		r.poll = d
		return nil
	}
}

// WithLinger makes the relay wait d after a wake-up before it reads the
// outbox, so that the records committed meanwhile share the pass (default
// 0: at once). Each pass costs a read, a publish and a mark whatever its
// size, and the consumers a fetch and, in the worker, a transaction: where
// commits come about d apart or closer, a linger cuts that work by as many
// times as records share a pass, and each record waits up to d longer to
// be published. A pass that found a full batch goes on at once.
func WithLinger(d time.Duration) RelayOption {
	return func(r *Relay) error {
		if d < 0 {
			return fmt.Errorf("eventbus: linger %v is negative", d)
		}
		r.linger = d
		return nil
	}
}

// WithRelayRetry sets the backoff after a failed pass (default DefaultRetryPolicy's backoff; attempts are unbounded).
func WithRelayRetry(p RetryPolicy) RelayOption {
	return func(r *Relay) error {
		if p.MinBackoff < 0 || p.MaxBackoff < 0 {
			return errors.New("eventbus: negative backoff")
		}
		r.retry = p.WithDefaults()
		return nil
	}
}

// WithRelayLogger sets the logger (default: discard).
func WithRelayLogger(l *slog.Logger) RelayOption {
	return func(r *Relay) error {
		if l == nil {
			return errors.New("eventbus: nil logger")
		}
		r.log = l
		return nil
	}
}

// NewRelay returns a relay from outbox to pub.
func NewRelay(outbox Outbox, pub Publisher, opts ...RelayOption) (*Relay, error) {
	if outbox == nil || pub == nil {
		return nil, errors.New("eventbus: relay needs an outbox and a publisher")
	}
	r := &Relay{
		outbox: outbox, pub: pub, batch: 256, poll: 500 * time.Millisecond,
		retry: DefaultRetryPolicy, log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Backlog returns how many outbox records wait to be published and when
// the oldest was written (zero when none waits).
func (r *Relay) Backlog(ctx context.Context) (int64, time.Time, error) {
	return r.outbox.Backlog(ctx)
}

// Published returns how many records this relay has published.
func (r *Relay) Published() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.published
}

// Flush publishes and marks waiting records until none is left, and returns
// how many it published. It does not take leadership: use it in tests or
// from a process that already leads.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := r.pass(ctx)
		total += n
		if err != nil || n < r.batch {
			return total, err
		}
	}
}

// pass publishes one batch of records and marks them.
func (r *Relay) pass(ctx context.Context) (int, error) {
	recs, err := r.outbox.Pending(ctx, r.batch)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	msgs := make([]Message, len(recs))
	seqs := make([]int64, len(recs))
	for i, rec := range recs {
		msgs[i], seqs[i] = rec.Message, rec.Seq
	}
	if err := r.pub.Publish(ctx, msgs...); err != nil {
		return 0, fmt.Errorf("publish %d outbox records from seq %d: %w", len(recs), seqs[0], err)
	}
	// Mark even if ctx ended after a successful publish: a record marked
	// late is one duplicate fewer, and marking twice is harmless.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.outbox.MarkPublished(mctx, seqs); err != nil {
		return 0, fmt.Errorf("mark %d outbox records published: %w", len(recs), err)
	}
	r.mu.Lock()
	r.published += int64(len(recs))
	r.mu.Unlock()
	return len(recs), nil
}

// Run relays until ctx is done, then returns nil. Without a Leader it
// publishes at once; with one it waits to lead, publishes while it leads,
// and stands by again when it loses leadership. Failed passes are logged
// and retried with backoff; nothing is skipped.
//
// Leadership can overlap briefly (a leader cut off by a silent network
// failure publishes until it notices), so a key's events may reach the
// broker more than once and out of order; consumers deduplicate on the
// event id and order by the entity's version.
func (r *Relay) Run(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		lctx, release := ctx, func() {}
		if r.leader != nil {
			var err error
			lctx, release, err = r.leader.Lead(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				failures++
				r.log.Warn("relay: leader election failed", "err", err, "failures", failures)
				sleep(ctx, r.retry.Backoff(failures))
				continue
			}
			failures = 0
			r.log.Info("relay: leading")
		}
		r.lead(lctx)
		release()
	}
	return nil
}

// lead publishes until ctx is done.
func (r *Relay) lead(ctx context.Context) {
	var wake <-chan struct{}
	if r.waker != nil {
		w, err := r.waker.Wake(ctx)
		if err != nil {
			r.log.Warn("relay: no wake-ups, polling only", "err", err)
		}
		wake = w
	}
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if r.linger > 0 {
				sleep(ctx, r.linger)
				if ctx.Err() != nil {
					return
				}
				// The pass will read what the commits that woke the
				// relay meanwhile wrote: their wake-up is spent.
				select {
				case <-wake:
				default:
				}
			}
		case <-timer.C:
		}
		n, err := r.Flush(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			r.log.Warn("relay: pass failed", "err", err, "published", n, "failures", failures)
			timer.Reset(r.retry.Backoff(failures))
			continue
		case err == nil:
			failures = 0
		}
		timer.Reset(r.poll)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
