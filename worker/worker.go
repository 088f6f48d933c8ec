// Package worker applies sale events to inventory and analytics, each event
// exactly once and each sale's events in version order, whatever order and
// however often they arrive.
//
// For every event the worker runs one transaction that records the event as
// processed for its consumer group (eventbus.Idempotent) and applies its
// effects. Effects follow from the sale's state, not from the event alone:
// each event carries the whole sale at its version, and the worker keeps
// per sale the highest version applied and whether its completion (SALE
// movements, statistics added) and its return (RETURN movements,
// statistics reversed) were applied. An event newer than what was applied
// brings the sale up to that version at once, in order, so a cancellation
// that overtakes its completion applies both; an older one changes
// nothing. No event waits for a missing predecessor, so no sale blocks
// another.
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
	// LockProgress returns the sale's progress, zero with Version 0 when
	// the sale was never seen, and keeps other transactions from changing
	// it until this one ends.
	LockProgress(ctx context.Context, saleID uuid.UUID) (Progress, error)
	// SaveProgress stores the sale's progress.
	SaveProgress(ctx context.Context, p Progress) error
}

// Worker applies sale events. It is safe for concurrent use: events of
// different sales apply in parallel, those of one sale one at a time.
type Worker[T Tx] struct {
	inTx    func(context.Context, func(T) error) error
	group   string
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
	c := config{group: DefaultGroup, loc: time.UTC, now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	return &Worker[T]{inTx: inTx, group: c.group, loc: c.loc, now: c.now, log: c.log}, nil
}

// Group returns the worker's consumer group.
func (w *Worker[T]) Group() string { return w.group }

// Applied returns how many events this worker's handler applied and
// committed (first deliveries of events that were not stale).
func (w *Worker[T]) Applied() int64 { return w.applied.Load() }

// Stale returns how many first deliveries were older than what was already
// applied for their sale.
func (w *Worker[T]) Stale() int64 { return w.stale.Load() }

// Handler returns the subscriber handler: it decodes each delivery, skips
// events the group processed before, and applies the rest. A malformed
// event fails with an error wrapping eventbus.ErrMalformed.
func (w *Worker[T]) Handler() eventbus.Handler {
	return func(ctx context.Context, d eventbus.Delivery) error {
		var applied, stale bool
		h := eventbus.Idempotent(w.group, w.inTx, func(ctx context.Context, tx T, ev eventbus.Event) error {
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
		// Counted once the transaction committed.
		if applied {
			w.applied.Add(1)
		}
		if stale {
			w.stale.Add(1)
		}
		return nil
	}
}

// Run consumes sub with the worker's handler until ctx is done.
func (w *Worker[T]) Run(ctx context.Context, sub eventbus.Subscriber) error {
	return sub.Run(ctx, w.Handler())
}

// Apply brings the sale's projections up to s's version in tx.
func (w *Worker[T]) Apply(ctx context.Context, tx T, s *sales.Sale) error {
	_, err := w.apply(ctx, tx, s)
	return err
}

// apply is Apply, reporting whether s was older than what was applied.
func (w *Worker[T]) apply(ctx context.Context, tx T, s *sales.Sale) (stale bool, err error) {
	p, err := tx.LockProgress(ctx, s.ID)
	if err != nil {
		return false, err
	}
	if s.Version <= p.Version {
		return true, nil
	}
	now := w.now()
	completed := !s.PaidAt.IsZero() // it reached COMPLETED at or before this version
	if completed && !p.Sold {
		if err := inventory.ApplySale(ctx, tx, s, now); err != nil {
			return false, err
		}
		if err := analytics.ApplySale(ctx, tx, s, w.loc); err != nil {
			return false, err
		}
		p.Sold = true
	}
	if completed && s.Status == sales.StatusCancelled && !p.Returned {
		if err := inventory.ApplyReturn(ctx, tx, s, now); err != nil {
			return false, err
		}
		if err := analytics.ApplyReturn(ctx, tx, s, w.loc); err != nil {
			return false, err
		}
		p.Returned = true
	}
	p.SaleID, p.Version = s.ID, s.Version
	return false, tx.SaveProgress(ctx, p)
}
