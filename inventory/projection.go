package inventory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
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
	// locked levels; it writes all of them or, with an error, leaves the
	// transaction to be rolled back. A second SALE or RETURN movement for
	// the same sale and book wraps ErrDuplicateMovement.
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
	if err := applyAll(ctx, tx, s, Sale, -1, at); err != nil {
		return fmt.Errorf("sale %s: %w", s.ID, err)
	}
	return nil
}

// ApplyReturn puts a cancelled completed sale's units back on hand, with
// one RETURN movement per book. Apply it after ApplySale.
func ApplyReturn(ctx context.Context, tx MovementTx, s *sales.Sale, at time.Time) error {
	if err := applyAll(ctx, tx, s, Return, 1, at); err != nil {
		return fmt.Errorf("return of sale %s: %w", s.ID, err)
	}
	return nil
}

// applyAll locks the levels of the sale's books and appends one movement
// of typ per book: sign times its units on hand, and for a SALE as many
// fewer reserved.
func applyAll(ctx context.Context, tx MovementTx, s *sales.Sale, typ MovementType, sign int64, at time.Time) error {
	books := sortedBooks(s)
	levels, err := tx.LockLevels(ctx, books)
	if err != nil {
		return err
	}
	qs := s.Quantities()
	cs := make([]Change, len(books))
	for i, b := range books {
		var reason string
		var reservedDelta int64
		if typ == Sale {
			reservedDelta = -qs[b]
		} else {
			reason = s.CancelReason
		}
		cs[i], err = change(levels[i], typ, sign*qs[b], reason, s.ID, reservedDelta, at)
		if err != nil {
			return err
		}
	}
	return tx.AddMovements(ctx, cs)
}

// sortedBooks returns the sale's books in ascending id order, the order
// in which every transaction locks stock levels.
func sortedBooks(s *sales.Sale) []uuid.UUID {
	qs := s.Quantities()
	ids := make([]uuid.UUID, 0, len(qs))
	for id := range qs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return ids
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
