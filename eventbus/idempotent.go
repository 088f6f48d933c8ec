package eventbus

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Deduper is what Idempotent needs of a transaction: a record of the events
// a consumer group has processed, written in the same transaction as the
// handler's effects.
type Deduper interface {
	// MarkProcessed records that group processed eventID and reports
	// whether it is the first time; false means it was processed before.
	MarkProcessed(ctx context.Context, group string, eventID uuid.UUID) (bool, error)
}

// BatchDeduper is a Deduper that records several events in one round trip.
// IdempotentBatch uses it when the transaction provides it.
type BatchDeduper interface {
	Deduper
	// MarkProcessedAll records that group processed eventIDs (distinct
	// ids) and reports for each whether it is the first time, as
	// MarkProcessed would one after the other.
	MarkProcessedAll(ctx context.Context, group string, eventIDs []uuid.UUID) ([]bool, error)
}

// FirstMarker is a Deduper that can record an event without waiting for
// the store's answer, so that the record goes to the store together with
// the handler's first statement: a round trip less per event. Idempotent
// uses it when the transaction provides it.
type FirstMarker interface {
	Deduper
	// MarkFirst records that group processed eventID, expecting it to be
	// the first time, and may return before the store answers. If group
	// processed eventID before (or another transaction that recorded it
	// commits meanwhile), the transaction is lost: MarkFirst, a later
	// call in the transaction or its commit fails with an error wrapping
	// a *ProcessedBeforeError for group and eventID.
	MarkFirst(ctx context.Context, group string, eventID uuid.UUID) error
}

// ErrProcessedBefore matches a *ProcessedBeforeError.
var ErrProcessedBefore = errors.New("eventbus: event processed before")

// ProcessedBeforeError is the failure of a transaction that recorded, with
// FirstMarker.MarkFirst, an event its consumer group had processed before.
// It names them, so that Idempotent acknowledges only its own event's.
type ProcessedBeforeError struct {
	Group   string
	EventID uuid.UUID
}

func (e *ProcessedBeforeError) Error() string {
	return fmt.Sprintf("eventbus: event %s processed before by group %q", e.EventID, e.Group)
}

// Is reports whether target is ErrProcessedBefore.
func (e *ProcessedBeforeError) Is(target error) bool { return target == ErrProcessedBefore }

// Idempotent turns h into a Handler that applies each event once per
// consumer group, however often it is delivered. For each delivery it
// decodes the CloudEvent, runs one transaction with inTx, records (group,
// event id) in it and calls h with the transaction, unless the event was
// processed before, in which case the delivery is acknowledged and h's
// effects do not happen. h's effects and the record commit together or not
// at all.
//
// With a plain Deduper, h is not called for an event processed before.
// When the transaction is a FirstMarker, the record is not waited for: h
// runs at once, and for an event processed before the store fails the
// transaction (a *ProcessedBeforeError naming this event and group), which
// Idempotent acknowledges. So h must act only through the transaction, as
// the guarantee needs anyway: what h does elsewhere is not undone when its
// transaction is. And an error h returns before the store has answered (h
// failing to decode the event, say) is h's error, retried as for a new
// event.
//
// A message that is not a valid CloudEvent fails with an error wrapping
// ErrMalformed (the subscriber dead-letters it after its retries).
func Idempotent[T Deduper](group string, inTx func(context.Context, func(T) error) error, h func(context.Context, T, Event) error) Handler {
	return func(ctx context.Context, d Delivery) error {
		ev, err := Decode(d.Message)
		if err != nil {
			return fmt.Errorf("%s[%d]@%d: %w", d.Topic, d.Partition, d.Offset, err)
		}
		err = inTx(ctx, func(tx T) error {
			if m, ok := any(tx).(FirstMarker); ok {
				if err := m.MarkFirst(ctx, group, ev.ID); err != nil {
					return err
				}
			} else if first, err := tx.MarkProcessed(ctx, group, ev.ID); err != nil || !first {
				return err
			}
			return h(ctx, tx, ev)
		})
		if pe := (*ProcessedBeforeError)(nil); errors.As(err, &pe) && pe.EventID == ev.ID && pe.Group == group {
			return nil // a redelivery: applied before, nothing changed now
		}
		return err
	}
}

// IdempotentBatch is Idempotent for a BatchHandler: it decodes every
// delivery, runs one transaction with inTx, records each event in it and
// calls h once with the transaction and the events that were not processed
// before, in delivery order (none: h is not called). A malformed message
// fails the batch, so the subscriber hands the messages one at a time to
// the single handler, which dead-letters that one; use Idempotent with the
// same group and h's per-event logic there.
func IdempotentBatch[T Deduper](group string, inTx func(context.Context, func(T) error) error, h func(context.Context, T, []Event) error) BatchHandler {
	return func(ctx context.Context, ds []Delivery) error {
		evs := make([]Event, len(ds))
		for i, d := range ds {
			ev, err := Decode(d.Message)
			if err != nil {
				return fmt.Errorf("%s[%d]@%d: %w", d.Topic, d.Partition, d.Offset, err)
			}
			evs[i] = ev
		}
		return inTx(ctx, func(tx T) error {
			firsts, err := markAll(ctx, tx, group, evs)
			if err != nil {
				return err
			}
			fresh := evs[:0:0]
			for i, ev := range evs {
				if firsts[i] {
					fresh = append(fresh, ev)
				}
			}
			if len(fresh) == 0 {
				return nil
			}
			return h(ctx, tx, fresh)
		})
	}
}

// markAll records evs as processed by group in tx and says for each
// whether it is the first time; an event repeated in evs is new at most
// once.
func markAll[T Deduper](ctx context.Context, tx T, group string, evs []Event) ([]bool, error) {
	fresh := make(map[uuid.UUID]bool, len(evs)) // per distinct id: recorded for the first time
	ids := make([]uuid.UUID, 0, len(evs))
	for _, ev := range evs {
		if _, ok := fresh[ev.ID]; !ok {
			fresh[ev.ID] = false
			ids = append(ids, ev.ID)
		}
	}
	if bd, ok := any(tx).(BatchDeduper); ok {
		fs, err := bd.MarkProcessedAll(ctx, group, ids)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			fresh[id] = fs[i]
		}
	} else {
		for _, id := range ids {
			first, err := tx.MarkProcessed(ctx, group, id)
			if err != nil {
				return nil, err
			}
			fresh[id] = first
		}
	}
	firsts := make([]bool, len(evs))
	for i, ev := range evs {
		firsts[i] = fresh[ev.ID]
		fresh[ev.ID] = false // a repeat in evs is not new
	}
	return firsts, nil
}
