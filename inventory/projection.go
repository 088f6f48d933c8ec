package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/sales"
)

// MovementTx is what appending to the ledger needs inside a transaction.
// Its methods take several books at once so that a store can lock and
// write them in one round trip each.
type MovementTx interface {
	// LockLevels returns the stock of each book in bookIDs, in the order
	// of bookIDs, and keeps others from changing them until the
	// transaction ends. Rows are locked in ascending book-id order whatever
	// the order of bookIDs, so two transactions cannot deadlock on them. An
	// unknown book wraps ErrNotFound.
	LockLevels(ctx context.Context, bookIDs []uuid.UUID) ([]Level, error)
	// AddMovements appends each change's movement to the ledger, sets its
	// book's on hand to StockAfter and adds ReservedDelta to reserved, on
	// locked levels; it writes all of them or, with an error, loses the
	// transaction. The error may come back from the transaction's next
	// call or its commit instead (a store may send the writes with the
	// next statement), as sales.Tx's writes do. A second SALE or RETURN
	// movement for the same sale and book wraps ErrDuplicateMovement.
	AddMovements(ctx context.Context, cs []Change) error
}

// Change is a movement and what it does to its book's reserved units.
type Change struct {
	Movement
	ReservedDelta int64
}

// ApplySale turns a completed sale's reservation into stock leaving: for
// each book, reserved and on hand drop by the units sold, with one SALE
// movement. A second application for the same sale and book wraps
// ErrDuplicateMovement.
func ApplySale(ctx context.Context, tx MovementTx, s *sales.Sale, at time.Time) error {
	return ApplyBatch(ctx, tx, []Step{{Sale: s, Type: Sale}}, at)
}

// ApplyReturn puts a cancelled completed sale's units back on hand, with
// one RETURN movement per book. Apply it after ApplySale.
func ApplyReturn(ctx context.Context, tx MovementTx, s *sales.Sale, at time.Time) error {
	return ApplyBatch(ctx, tx, []Step{{Sale: s, Type: Return}}, at)
}

// Step is a sale's completion (Type Sale) or its return (Type Return).
type Step struct {
	Sale *sales.Sale
	Type MovementType // Sale or Return
}

// ApplyBatch applies steps in order, as ApplySale and ApplyReturn do, in
// two round trips whatever their number: it locks the stock levels of all
// their books at once, in book-id order (so that two batches cannot
// deadlock whatever sales they hold), and appends every movement at once.
func ApplyBatch(ctx context.Context, tx MovementTx, steps []Step, at time.Time) error {
	if len(steps) == 0 {
		return nil
	}
	// Each step's units per book, computed once; and every book once.
	units := make([]map[uuid.UUID]int64, len(steps))
	index := map[uuid.UUID]int{}
	var books []uuid.UUID
	for i, st := range steps {
		units[i] = st.Sale.Quantities()
		for b := range units[i] {
			if _, ok := index[b]; !ok {
				index[b] = len(books)
				books = append(books, b)
			}
		}
	}
	levels, err := tx.LockLevels(ctx, books) // locked in id order, whatever the order of books
	if err != nil {
		return err
	}
	var cs []Change
	for i, st := range steps {
		s := st.Sale
		for _, b := range sales.LockOrder(units[i]) {
			q := units[i][b]
			l := &levels[index[b]]
			var c Change
			var err error
			switch st.Type {
			case Sale:
				c, err = change(*l, Sale, -q, "", s.ID, -q, at)
			case Return:
				c, err = change(*l, Return, q, s.CancelReason, s.ID, 0, at)
			default:
				err = fmt.Errorf("a %s step", st.Type)
			}
			if err != nil {
				return fmt.Errorf("%s of sale %s: %w", st.Type, s.ID, err)
			}
			// The next step on this book starts from this one's result.
			l.OnHand, l.Reserved = c.StockAfter, l.Reserved+c.ReservedDelta
			cs = append(cs, c)
		}
	}
	return tx.AddMovements(ctx, cs)
}

// appendMovement locks the level and appends one movement.
func appendMovement(ctx context.Context, tx MovementTx, bookID uuid.UUID, typ MovementType, qty int64, reason string, saleID uuid.UUID, reservedDelta int64, now time.Time) (Movement, error) {
	ls, err := tx.LockLevels(ctx, []uuid.UUID{bookID})
	if err != nil {
		return Movement{}, err
	}
	c, err := change(ls[0], typ, qty, reason, saleID, reservedDelta, now)
	if err != nil {
		return Movement{}, err
	}
	if err := tx.AddMovements(ctx, []Change{c}); err != nil {
		return Movement{}, err
	}
	return c.Movement, nil
}

// change is the movement of qty units of a locked level; on hand may not
// fall below zero or below what stays reserved.
func change(l Level, typ MovementType, qty int64, reason string, saleID uuid.UUID, reservedDelta int64, now time.Time) (Change, error) {
	after := l.OnHand + qty
	if after < 0 || after < l.Reserved+reservedDelta || l.Reserved+reservedDelta < 0 {
		return Change{}, fmt.Errorf("book %s: %d on hand, %d reserved, change %d: %w", l.BookID, l.OnHand, l.Reserved, qty, ErrInsufficientStock)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Change{}, err
	}
	m := Movement{
		ID: id, BookID: l.BookID, Type: typ, Quantity: qty, StockBefore: l.OnHand, StockAfter: after,
		SaleID: saleID, Reason: reason, CreatedAt: now.UTC().Truncate(time.Microsecond),
	}
	return Change{Movement: m, ReservedDelta: reservedDelta}, nil
}
