package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// DefaultGroup is the consumer group the worker joins unless told otherwise.
const DefaultGroup = "analytics-group"

// DefaultBatch is the most events the worker applies in one transaction
// when a partition has a backlog, unless told otherwise (WithBatch).
const DefaultBatch = 64

// DefaultTransactions is how many transactions the worker runs at once
// unless told otherwise (WithTransactions). Fewer lanes put more events in
// a transaction, but an event waits longer behind its lane's transaction.
const DefaultTransactions = 4

// DefaultCreatedWait is how long a sale's creation that finds its lane
// idle waits to share a transaction unless told otherwise
// (WithCreatedWait).
const DefaultCreatedWait = 50 * time.Millisecond

// Topics returns the topics the worker consumes, each after prefix.
func Topics(prefix string) []string {
	out := make([]string, len(sales.EventTypes))
	for i, t := range sales.EventTypes {
		out[i] = prefix + t
	}
	return out
}

// Progress is how far the worker has brought one sale.
type Progress struct {
	SaleID   uuid.UUID
	Version  int64 // the highest version applied; 0 for a sale never seen
	Sold     bool  // the completion was applied
	Returned bool  // the return was applied
}

// Tx is what the worker needs in one transaction. storage/postgres's *Tx
// and storage/memory's *Tx provide it.
type Tx interface {
	eventbus.Deduper
	inventory.MovementTx
	analytics.Tx
	// LockProgress returns the progress of each sale in saleIDs (distinct
	// ids in ascending order), zero with Version 0 for a sale never seen,
	// and keeps other transactions from changing them until this one ends.
	LockProgress(ctx context.Context, saleIDs []uuid.UUID) ([]Progress, error)
	// SaveProgress stores the progress of sales locked by LockProgress.
	SaveProgress(ctx context.Context, ps []Progress) error
}

// Worker applies sale events. It is safe for concurrent use: events of
// different sales apply in parallel, those of one sale one at a time.
type Worker[T Tx] struct {
	inTx    func(context.Context, func(T) error) error
	lanes   []*combiner // none: every call in a transaction of its own
	group   string
	batch   int
	loc     *time.Location
	now     func() time.Time
	log     *slog.Logger
	applied atomic.Int64
	stale   atomic.Int64
}

// Option configures a Worker.
type Option func(*config) error

type config struct {
	group string
	batch int
	txs   int
	wait  time.Duration
	loc   *time.Location
	now   func() time.Time
	log   *slog.Logger
}

// WithGroup sets the consumer group recorded with processed events
// (default DefaultGroup).
func WithGroup(g string) Option {
	return func(c *config) error {
		if g == "" {
			return errors.New("worker: empty group")
		}
		c.group = g
		return nil
	}
}

// WithBatch sets the most events applied in one transaction when a
// partition has a backlog and the subscriber is an
// eventbus.BatchSubscriber (default DefaultBatch; 1 applies every event in
// a transaction of its own). Batches cut the commits, and the waits for
// them, that bound how fast one partition is applied.
func WithBatch(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("worker: batches of %d events", n)
		}
		c.batch = n
		return nil
	}
}

// WithTransactions sets how many transactions the worker's handlers run at
// once (default DefaultTransactions; 0 lets every call run its own). Each
// partition's deliveries go to one of n lanes (the partition number modulo
// n; a sale's events share a partition number in every topic when the
// topics have as many partitions), and a lane runs one transaction at a
// time: calls of Handler and BatchHandler that arrive while it is busy
// wait, and its next transaction applies all of them that fit in a batch
// (WithBatch). So a busy worker commits less often, and in an idle one a
// call waits for no other call (sales' creations wait for company, see
// WithCreatedWait). A shared transaction that fails applies nothing, and each
// call in it then runs alone, so an event that fails fails only its own
// call.
func WithTransactions(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("worker: %d transactions at once", n)
		}
		c.txs = n
		return nil
	}
}

// WithCreatedWait sets how long a handler call whose deliveries are all
// sale.created events, when it finds its lane idle, waits for a
// transaction that its lane runs for other calls, which takes it along if
// it fits in the batch (WithBatch), before its lane runs one for it
// (default DefaultCreatedWait; 0: it runs as any other call; at most a
// second). In a busy lane it queues as any call.
//
// A creation changes no projection (its stock was reserved in the sale's
// own transaction): the worker only records the event and the sale's
// version, so nobody waits for it, and a transaction of its own would cost
// most of what the worker spends on a sale at light load. The other calls
// never wait for it. Meanwhile its events are neither applied nor
// acknowledged, so a subscriber's shutdown or rebalance, which waits for
// the handlers in flight, may take up to the wait longer; and a partition
// whose creations come one call at a time with nothing else in their lane
// (a batch that failed, replayed one by one) handles one call per wait.
// It has no effect without lanes (WithTransactions(0)).
func WithCreatedWait(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > time.Second {
			return fmt.Errorf("worker: created wait %v: want 0 to 1s", d)
		}
		c.wait = d
		return nil
	}
}

// WithLocation sets the time zone whose calendar days the daily rollups
// count (default UTC); it must be the zone the summary is asked in.
func WithLocation(loc *time.Location) Option {
	return func(c *config) error {
		if loc == nil {
			return errors.New("worker: nil location")
		}
		c.loc = loc
		return nil
	}
}

// WithClock sets the clock that stamps movements (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("worker: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("worker: nil logger")
		}
		c.log = l
		return nil
	}
}

// New returns a worker whose transactions run through inTx, such as
// (*postgres.DB).InTx or (*memory.Store).InTx.
func New[T Tx](inTx func(context.Context, func(T) error) error, opts ...Option) (*Worker[T], error) {
	if inTx == nil {
		return nil, errors.New("worker: nil transaction runner")
	}
	c := config{group: DefaultGroup, batch: DefaultBatch, txs: DefaultTransactions, wait: DefaultCreatedWait, loc: time.UTC, now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	w := &Worker[T]{inTx: inTx, group: c.group, batch: c.batch, loc: c.loc, now: c.now, log: c.log}
	if c.txs > 0 {
		for range c.txs {
			w.lanes = append(w.lanes, newCombiner(c.batch, c.wait, created, w.alone, w.batchTx, c.log))
		}
	}
	return w, nil
}

// Group returns the worker's consumer group.
func (w *Worker[T]) Group() string { return w.group }

// Applied returns how many events this worker's handler applied and
// committed (first deliveries of events that were not stale).
func (w *Worker[T]) Applied() int64 { return w.applied.Load() }

// Stale returns how many first deliveries were older than what was already
// applied for their sale, or than a newer event of the same sale in the
// same batch.
func (w *Worker[T]) Stale() int64 { return w.stale.Load() }

// Handler returns the subscriber handler: it decodes each delivery, skips
// events the group processed before, and applies the rest. A malformed
// event fails with an error wrapping eventbus.ErrMalformed. Concurrent
// calls of it and of BatchHandler share transactions when their lane is
// busy (see WithTransactions), and a call of creations alone waits for a
// transaction to share (see WithCreatedWait).
func (w *Worker[T]) Handler() eventbus.Handler {
	if len(w.lanes) == 0 {
		return w.single
	}
	return func(ctx context.Context, d eventbus.Delivery) error {
		return w.lane(d).do(ctx, []eventbus.Delivery{d})
	}
}

// BatchHandler returns the subscriber's batch handler: it applies the
// events of several deliveries in one transaction, each event once (see
// eventbus.IdempotentBatch) and each sale brought up to the newest version
// among them; a batch that fails applies nothing, and the subscriber then
// hands its deliveries to Handler one at a time.
func (w *Worker[T]) BatchHandler() eventbus.BatchHandler {
	if len(w.lanes) == 0 {
		return w.batchTx
	}
	return func(ctx context.Context, ds []eventbus.Delivery) error {
		return w.lane(ds[0]).do(ctx, ds)
	}
}

// created reports whether d is a sale.created event, which changes no
// projection: a creation is PENDING (sales.SaleFromEvent refuses any
// other), so it has no completion or return to apply.
func created(d eventbus.Delivery) bool {
	return d.Message.Headers.Get(eventbus.HeaderType) == sales.EventCreated
}

// lane returns the combiner of d's partition.
func (w *Worker[T]) lane(d eventbus.Delivery) *combiner {
	return w.lanes[uint32(d.Partition)%uint32(len(w.lanes))]
}

// alone handles one call's deliveries in a transaction of their own.
func (w *Worker[T]) alone(ctx context.Context, ds []eventbus.Delivery) error {
	if len(ds) == 1 {
		return w.single(ctx, ds[0])
	}
	return w.batchTx(ctx, ds)
}

// single applies one delivery in a transaction of its own.
func (w *Worker[T]) single(ctx context.Context, d eventbus.Delivery) error {
	var applied, stale, committed bool
	// With a store that records events without waiting
	// (eventbus.FirstMarker), a redelivery runs apply too, and the
	// store fails its transaction: count what committed.
	inTx := func(ctx context.Context, fn func(T) error) error {
		err := w.inTx(ctx, fn)
		committed = err == nil
		return err
	}
	h := eventbus.Idempotent(w.group, inTx, func(ctx context.Context, tx T, ev eventbus.Event) error {
		s, err := sales.SaleFromEvent(ev)
		if err != nil {
			return fmt.Errorf("event %s: %w", ev.ID, err)
		}
		stale, err = w.apply(ctx, tx, s)
		applied = err == nil && !stale
		return err
	})
	if err := h(ctx, d); err != nil {
		return err
	}
	if !committed {
		return nil // processed before
	}
	if applied {
		w.applied.Add(1)
	}
	if stale {
		w.stale.Add(1)
	}
	return nil
}

// batchTx applies several deliveries in one transaction.
func (w *Worker[T]) batchTx(ctx context.Context, ds []eventbus.Delivery) error {
	var applied, stale int
	h := eventbus.IdempotentBatch(w.group, w.inTx, func(ctx context.Context, tx T, evs []eventbus.Event) error {
		ss := make([]*sales.Sale, len(evs))
		for i, ev := range evs {
			s, err := sales.SaleFromEvent(ev)
			if err != nil {
				return fmt.Errorf("event %s: %w", ev.ID, err)
			}
			ss[i] = s
		}
		var err error
		applied, stale, err = w.applyBatch(ctx, tx, ss)
		return err
	})
	if err := h(ctx, ds); err != nil {
		return err
	}
	w.applied.Add(int64(applied))
	w.stale.Add(int64(stale))
	return nil
}

// Run consumes sub with the worker's handlers until ctx is done: in
// batches when sub is an eventbus.BatchSubscriber and the batch size is
// more than one, one event per transaction otherwise.
func (w *Worker[T]) Run(ctx context.Context, sub eventbus.Subscriber) error {
	return eventbus.Consume(ctx, sub, w.Handler(), w.BatchHandler(), w.batch)
}

// Apply brings the sale's projections up to s's version in tx.
func (w *Worker[T]) Apply(ctx context.Context, tx T, s *sales.Sale) error {
	_, err := w.apply(ctx, tx, s)
	return err
}

// apply is Apply, reporting whether s was older than what was applied.
func (w *Worker[T]) apply(ctx context.Context, tx T, s *sales.Sale) (stale bool, err error) {
	applied, _, err := w.applyBatch(ctx, tx, []*sales.Sale{s})
	return err == nil && applied == 0, err
}

// applyBatch brings each sale of ss up to the newest version ss holds for
// it, in tx, and says how many of ss it applied and how many were stale
// (older than what was applied, in the store or in ss). Rows are locked in
// a fixed order whatever ss holds: progress by sale id, then stock levels,
// day rollups and book statistics (see inventory.ApplyBatch and
// analytics.ApplyBatch), so that concurrent batches cannot deadlock.
func (w *Worker[T]) applyBatch(ctx context.Context, tx T, ss []*sales.Sale) (applied, stale int, err error) {
	newest := make(map[uuid.UUID]*sales.Sale, len(ss))
	for _, s := range ss {
		if n := newest[s.ID]; n == nil || s.Version > n.Version {
			newest[s.ID] = s
		}
	}
	ids := sales.LockOrder(newest)
	var (
		inv      []inventory.Step
		stats    []analytics.Step
		progress []Progress
	)
	ps, err := tx.LockProgress(ctx, ids)
	if err != nil {
		return 0, 0, err
	}
	for i, id := range ids {
		s, p := newest[id], ps[i]
		if s.Version <= p.Version {
			continue
		}
		completed := !s.PaidAt.IsZero() // it reached COMPLETED at or before this version
		if completed && !p.Sold {
			inv = append(inv, inventory.Step{Sale: s, Type: inventory.Sale})
			stats = append(stats, analytics.Step{Sale: s, Sign: 1})
			p.Sold = true
		}
		if completed && s.Status == sales.StatusCancelled && !p.Returned {
			inv = append(inv, inventory.Step{Sale: s, Type: inventory.Return})
			stats = append(stats, analytics.Step{Sale: s, Sign: -1})
			p.Returned = true
		}
		p.SaleID, p.Version = s.ID, s.Version
		progress = append(progress, p)
	}
	// The stock rows go last: the API waits for them (a sale's creation
	// reserves its books), so they are locked for the shortest time, from
	// LockLevels to the commit. The statistics and the progress, which only
	// workers write, are queued before and go with LockLevels.
	if err := analytics.ApplyBatch(ctx, tx, stats, w.loc); err != nil {
		return 0, 0, err
	}
	if len(progress) > 0 {
		if err := tx.SaveProgress(ctx, progress); err != nil {
			return 0, 0, err
		}
	}
	if err := inventory.ApplyBatch(ctx, tx, inv, w.now()); err != nil {
		return 0, 0, err
	}
	return len(progress), len(ss) - len(progress), nil
}
