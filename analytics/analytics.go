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

// DayDelta is a change of one calendar day's rollup: the sales paid that
// day in Zone, and each book's share of them.
type DayDelta struct {
	Zone     string // the time zone's name (time.Location.String)
	Day      string // YYYY-MM-DD in Zone
	Sales    int64  // +1 for a sale, -1 for a return
	Revenue  sales.Money
	Net      sales.Money
	Tax      sales.Money
	Discount sales.Money // sale discount plus line discounts
	Items    int64
	Books    []BookDay
}

// BookDay is one book's part of a DayDelta.
type BookDay struct {
	BookID uuid.UUID
	Units  int64
	Net    sales.Money
}

// Tx is what the projection needs inside a transaction.
type Tx interface {
	// AddBookStats adds each delta to its book's statistics, creating them
	// at zero; a store may write them in one round trip.
	AddBookStats(ctx context.Context, ds []Delta) error
	// AddDay adds d to its day's rollups, creating them at zero.
	AddDay(ctx context.Context, d DayDelta) error
}

// Store reads statistics.
type Store interface {
	// BookStats returns one book's statistics, or ErrNotFound.
	BookStats(ctx context.Context, bookID uuid.UUID) (BookStats, error)
	// AllBookStats returns one page of statistics ordered by book id and the count of all.
	AllBookStats(ctx context.Context, page, limit int) ([]BookStats, int64, error)
}

// ApplySale adds a completed sale to its books' statistics (units, net
// revenue after the discount split (sales.Sale.NetByBook), one sale each)
// and to the rollup of the day it was paid, in loc.
func ApplySale(ctx context.Context, tx Tx, s *sales.Sale, loc *time.Location) error {
	return ApplyBatch(ctx, tx, []Step{{Sale: s, Sign: 1}}, loc)
}

// ApplyReturn takes a cancelled completed sale back out of its books'
// statistics and its day's rollup. Apply it after ApplySale, with the same loc.
func ApplyReturn(ctx context.Context, tx Tx, s *sales.Sale, loc *time.Location) error {
	return ApplyBatch(ctx, tx, []Step{{Sale: s, Sign: -1}}, loc)
}

// Step is a sale added to the statistics (Sign 1) or taken out (-1).
type Step struct {
	Sale *sales.Sale
	Sign int64
}

// ApplyBatch applies steps as ApplySale and ApplyReturn do, all at once:
// one rollup change per day, with the books of all its steps, and one
// statistics change per step and book, ordered by book id. Every row is
// written in a fixed order (days, then books), so that two batches cannot
// deadlock whatever sales they hold.
func ApplyBatch(ctx context.Context, tx Tx, steps []Step, loc *time.Location) error {
	if len(steps) == 0 {
		return nil
	}
	var days []DayDelta
	var stats []Delta
	for _, st := range steps {
		s := st.Sale
		d := dayDelta(s, loc, st.Sign)
		if i := slices.IndexFunc(days, func(x DayDelta) bool { return x.Day == d.Day }); i >= 0 {
			days[i].add(d)
		} else {
			days = append(days, d)
		}
		for _, b := range d.Books { // the sale's books, signed, in id order
			delta := Delta{BookID: b.BookID, Units: b.Units, NetRevenue: b.Net, Sales: st.Sign}
			if st.Sign > 0 {
				delta.At = s.PaidAt
			}
			stats = append(stats, delta)
		}
	}
	slices.SortFunc(days, func(a, b DayDelta) int { return strings.Compare(a.Day, b.Day) })
	for _, d := range days {
		slices.SortFunc(d.Books, func(a, b BookDay) int { return sales.CompareIDs(a.BookID, b.BookID) })
		if err := tx.AddDay(ctx, d); err != nil {
			return fmt.Errorf("daily rollup of %s: %w", d.Day, err)
		}
	}
	// Stable: a book's changes keep the order of their steps.
	slices.SortStableFunc(stats, func(a, b Delta) int { return sales.CompareIDs(a.BookID, b.BookID) })
	if err := tx.AddBookStats(ctx, stats); err != nil {
		return fmt.Errorf("book statistics: %w", err)
	}
	return nil
}

// add adds o, a change of the same day and zone, to d; books new to d go
// at the end (ApplyBatch sorts them once).
func (d *DayDelta) add(o DayDelta) {
	d.Sales += o.Sales
	d.Revenue += o.Revenue
	d.Net += o.Net
	d.Tax += o.Tax
	d.Discount += o.Discount
	d.Items += o.Items
	for _, ob := range o.Books {
		if i := slices.IndexFunc(d.Books, func(b BookDay) bool { return b.BookID == ob.BookID }); i >= 0 {
			d.Books[i].Units += ob.Units
			d.Books[i].Net += ob.Net
		} else {
			d.Books = append(d.Books, ob)
		}
	}
}

// dayDelta is the sale's contribution to its paid day's rollup, times sign.
func dayDelta(s *sales.Sale, loc *time.Location, sign int64) DayDelta {
	m := sales.Money(sign)
	d := DayDelta{
		Zone: loc.String(), Day: s.PaidAt.In(loc).Format(time.DateOnly), Sales: sign,
		Revenue: m * s.Total, Net: m * (s.Subtotal - s.Discount), Tax: m * s.Tax, Discount: m * s.Discount,
	}
	for _, l := range s.Lines {
		d.Discount += m * l.Discount
		d.Items += sign * l.Quantity
	}
	nets := s.NetByBook()
	for _, id := range sales.LockOrder(nets) {
		d.Books = append(d.Books, BookDay{BookID: id, Units: sign * nets[id].Units, Net: m * nets[id].Net})
	}
	return d
}
