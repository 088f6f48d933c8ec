package eventbus

import (
	"context"
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

// Idempotent turns h into a Handler that applies each event once per
// consumer group, however often it is delivered. For each delivery it
// decodes the CloudEvent, runs one transaction with inTx, records (group,
// event id) in it and calls h with the transaction, unless the event was
// processed before, in which case the delivery is acknowledged and h is not
// called. h's effects and the record commit together or not at all.
//
// A message that is not a valid CloudEvent fails with an error wrapping
// ErrMalformed (the subscriber dead-letters it after its retries).
func Idempotent[T Deduper](group string, inTx func(context.Context, func(T) error) error, h func(context.Context, T, Event) error) Handler {
	return func(ctx context.Context, d Delivery) error {
		ev, err := Decode(d.Message)
		if err != nil {
			return fmt.Errorf("%s[%d]@%d: %w", d.Topic, d.Partition, d.Offset, err)
		}
		return inTx(ctx, func(tx T) error {
			first, err := tx.MarkProcessed(ctx, group, ev.ID)
			if err != nil || !first {
				return err
			}
			return h(ctx, tx, ev)
		})
	}
}
