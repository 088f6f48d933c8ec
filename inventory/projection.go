package inventory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/sales"
)

// MovementTx is what appending to the ledger needs inside a transaction.
type MovementTx interface {
	LockLevel(ctx context.Context, bookID uuid.UUID) (Level, error)
	AddMovement(ctx context.Context, m Movement, reservedDelta int64) error
}

// ApplySale turns a completed sale's reservation into stock leaving: for
// each book, reserved and on hand drop by the units sold, with one SALE
// movement. A second application for the same sale and book wraps
// ErrDuplicateMovement.
func ApplySale(ctx context.Context, tx MovementTx, s *sales.Sale, at time.Time) error {
	for _, b := range sortedBooks(s) {
		q := s.Quantities()[b]
		if _, err := appendMovement(ctx, tx, b, Sale, -q, "", s.ID, -q, at); err != nil {
			return fmt.Errorf("sale %s: %w", s.ID, err)
		}
	}
	return nil
}

// ApplyReturn puts a cancelled completed sale's units back on hand, with
// one RETURN movement per book. Apply it after ApplySale.
func ApplyReturn(ctx context.Context, tx MovementTx, s *sales.Sale, at time.Time) error {
	for _, b := range sortedBooks(s) {
		q := s.Quantities()[b]
		if _, err := appendMovement(ctx, tx, b, Return, q, s.CancelReason, s.ID, 0, at); err != nil {
			return fmt.Errorf("return of sale %s: %w", s.ID, err)
		}
	}
	return nil
}

// sortedBooks returns the sale's books in a fixed order, so that two
// transactions lock levels in the same order and cannot deadlock.
func sortedBooks(s *sales.Sale) []uuid.UUID {
	var ids []uuid.UUID
	for id := range s.Quantities() {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return cmp.Compare(a.String(), b.String()) })
	return ids
}

// appendMovement locks the level and appends one movement; on hand may not
// fall below zero or below what stays reserved.
func appendMovement(ctx context.Context, tx MovementTx, bookID uuid.UUID, typ MovementType, qty int64, reason string, saleID uuid.UUID, reservedDelta int64, now time.Time) (Movement, error) {
	l, err := tx.LockLevel(ctx, bookID)
	if err != nil {
		return Movement{}, err
	}
	after := l.OnHand + qty
	if after < 0 || after < l.Reserved+reservedDelta || l.Reserved+reservedDelta < 0 {
		return Movement{}, fmt.Errorf("book %s: %d on hand, %d reserved, change %d: %w", bookID, l.OnHand, l.Reserved, qty, ErrInsufficientStock)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Movement{}, err
	}
	m := Movement{
		ID: id, BookID: bookID, Type: typ, Quantity: qty, StockBefore: l.OnHand, StockAfter: after,
		SaleID: saleID, Reason: reason, CreatedAt: now.UTC().Truncate(time.Microsecond),
	}
	if err := tx.AddMovement(ctx, m, reservedDelta); err != nil {
		return Movement{}, err
	}
	return m, nil
}
