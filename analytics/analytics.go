package analytics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/sales"
)

// ErrNotFound means no statistics exist for the book: it has no sales.
var ErrNotFound = errors.New("no statistics for book")

// BookStats are one book's sales statistics: completed sales that were not
// cancelled since.
type BookStats struct {
	BookID      uuid.UUID
	UnitsSold   int64
	NetRevenue  sales.Money // after line discounts and the book's share of sale discounts
	SalesCount  int64
	FirstSaleAt time.Time // the first completed sale applied; returns do not move it
	LastSaleAt  time.Time // the last completed sale applied; returns do not move it
}

// Delta is a change of one book's statistics.
type Delta struct {
	BookID     uuid.UUID
	Units      int64
	NetRevenue sales.Money
	Sales      int64     // +1 for a sale, -1 for a return
	At         time.Time // when the sale was paid; widens FirstSaleAt/LastSaleAt on a sale
}

// Tx is what the projection needs inside a transaction.
type Tx interface {
	// AddBookStats adds d to the book's statistics, creating them at zero.
	AddBookStats(ctx context.Context, d Delta) error
}

// Store reads statistics.
type Store interface {
	// BookStats returns one book's statistics, or ErrNotFound.
	BookStats(ctx context.Context, bookID uuid.UUID) (BookStats, error)
	// AllBookStats returns one page of statistics ordered by book id and the count of all.
	AllBookStats(ctx context.Context, page, limit int) ([]BookStats, int64, error)
}

// ApplySale adds a completed sale to its books' statistics: units, net
// revenue after the discount split (sales.Sale.NetByBook), one sale each.
func ApplySale(ctx context.Context, tx Tx, s *sales.Sale) error {
	return apply(ctx, tx, s, 1)
}

// ApplyReturn takes a cancelled completed sale back out of its books'
// statistics. Apply it after ApplySale.
func ApplyReturn(ctx context.Context, tx Tx, s *sales.Sale) error {
	return apply(ctx, tx, s, -1)
}

func apply(ctx context.Context, tx Tx, s *sales.Sale, sign int64) error {
	nets := s.NetByBook()
	ids := make([]uuid.UUID, 0, len(nets))
	for id := range nets {
		ids = append(ids, id)
	}
	// A fixed order of row locks keeps two workers from deadlocking.
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	for _, id := range ids {
		n := nets[id]
		d := Delta{BookID: id, Units: sign * n.Units, NetRevenue: sales.Money(sign) * n.Net, Sales: sign}
		if sign > 0 {
			d.At = s.PaidAt
		}
		if err := tx.AddBookStats(ctx, d); err != nil {
			return fmt.Errorf("statistics of book %s for sale %s: %w", id, s.ID, err)
		}
	}
	return nil
}
