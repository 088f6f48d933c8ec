package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// Sources are what Check reads.
type Sources struct {
	Sales     sales.Store
	Inventory inventory.Store
	Analytics analytics.Store
	// Progress returns how far the worker brought a sale, zero when never seen.
	Progress func(ctx context.Context, saleID uuid.UUID) (Progress, error)
}

// Violation is one broken invariant.
type Violation struct {
	Invariant int    // the number of the invariant in DESIGN.md §6
	Subject   string // the book or sale concerned
	Detail    string
}

func (v Violation) String() string {
	return fmt.Sprintf("invariant %d: %s: %s", v.Invariant, v.Subject, v.Detail)
}

// Check reads every stock level, movement, sale and statistic and reports
// each violation of the invariants of DESIGN.md §6:
//
//  1. on hand, reserved and available are never negative;
//  2. on hand is the sum of the book's movements, each movement's stock
//     after is the previous one's plus its quantity;
//  3. reserved is the units of PENDING sales plus those of completed sales
//     whose completion the worker has not applied;
//  4. each (sale, book) has at most one SALE and one RETURN movement, and
//     they match what the worker applied;
//  5. each book's units sold, net revenue and sales count equal a
//     recomputation from the sales (completed and not cancelled), and
//     their sum equals the summary's net revenue;
//  6. the worker applied every sale's latest version.
//
// Invariants 5 and 6 hold once the worker has drained its events; check
// them after a scenario settles. Check reads page by page without a
// snapshot, so run it on a quiet store.
func Check(ctx context.Context, src Sources) ([]Violation, error) {
	var out []Violation
	bad := func(inv int, subject fmt.Stringer, format string, args ...any) {
		out = append(out, Violation{Invariant: inv, Subject: subject.String(), Detail: fmt.Sprintf(format, args...)})
	}
	levels, err := all(func(p int) ([]inventory.Level, int64, error) {
		return src.Inventory.Levels(ctx, inventory.PageQuery{Page: p, Limit: inventory.MaxLimit})
	})
	if err != nil {
		return nil, fmt.Errorf("levels: %w", err)
	}
	moves, err := all(func(p int) ([]inventory.Movement, int64, error) {
		return src.Inventory.Movements(ctx, inventory.MovementFilter{PageQuery: inventory.PageQuery{Page: p, Limit: inventory.MaxLimit}})
	})
	if err != nil {
		return nil, fmt.Errorf("movements: %w", err)
	}
	list, err := all(func(p int) ([]*sales.Sale, int64, error) {
		return src.Sales.Sales(ctx, sales.Filter{Page: p, Limit: sales.MaxLimit})
	})
	if err != nil {
		return nil, fmt.Errorf("sales: %w", err)
	}
	stats, err := all(func(p int) ([]analytics.BookStats, int64, error) {
		return src.Analytics.AllBookStats(ctx, p, 100)
	})
	if err != nil {
		return nil, fmt.Errorf("statistics: %w", err)
	}

	// Invariants 1 and 2.
	onHand := map[uuid.UUID]int64{}
	last := map[uuid.UUID]int64{}
	for _, m := range moves {
		if m.StockBefore != last[m.BookID] || m.StockAfter != m.StockBefore+m.Quantity {
			bad(2, m.BookID, "movement %s: %d%+d=%d after stock %d", m.ID, m.StockBefore, m.Quantity, m.StockAfter, last[m.BookID])
		}
		last[m.BookID] = m.StockAfter
		onHand[m.BookID] += m.Quantity
	}
	for _, l := range levels {
		if l.OnHand < 0 || l.Reserved < 0 || l.Available() < 0 {
			bad(1, l.BookID, "on hand %d, reserved %d, available %d", l.OnHand, l.Reserved, l.Available())
		}
		if onHand[l.BookID] != l.OnHand {
			bad(2, l.BookID, "on hand %d, movements add up to %d", l.OnHand, onHand[l.BookID])
		}
	}

	// Invariants 3, 4, 5 and 6, from the sales.
	reserved := map[uuid.UUID]int64{}
	type key struct {
		sale, book uuid.UUID
		typ        inventory.MovementType
	}
	saleMoves := map[key]int64{}
	for _, m := range moves {
		if m.Type == inventory.Sale || m.Type == inventory.Return {
			k := key{m.SaleID, m.BookID, m.Type}
			if _, dup := saleMoves[k]; dup {
				bad(4, m.SaleID, "a second %s movement for book %s", m.Type, m.BookID)
			}
			saleMoves[k] += m.Quantity
		}
	}
	type tally struct {
		units, count int64
		net          sales.Money
	}
	want := map[uuid.UUID]*tally{}
	var netTotal sales.Money
	var firstPaid, lastPaid time.Time
	for _, s := range list {
		p, err := src.Progress(ctx, s.ID)
		if err != nil {
			return nil, fmt.Errorf("progress of sale %s: %w", s.ID, err)
		}
		if p.Version != s.Version {
			bad(6, s.ID, "at version %d, the worker applied version %d", s.Version, p.Version)
		}
		completed := !s.PaidAt.IsZero()
		for b, q := range s.Quantities() {
			if s.Status == sales.StatusPending || (completed && !p.Sold) {
				reserved[b] += q
			}
			if got, want := saleMoves[key{s.ID, b, inventory.Sale}], map[bool]int64{true: -q}[p.Sold]; got != want {
				bad(4, s.ID, "book %s: SALE movements of %d units; want %d", b, got, want)
			}
			if got, want := saleMoves[key{s.ID, b, inventory.Return}], map[bool]int64{true: q}[p.Returned]; got != want {
				bad(4, s.ID, "book %s: RETURN movements of %d units; want %d", b, got, want)
			}
		}
		if s.Status != sales.StatusCompleted {
			continue
		}
		netTotal += s.Subtotal - s.Discount
		if firstPaid.IsZero() || s.PaidAt.Before(firstPaid) {
			firstPaid = s.PaidAt
		}
		if s.PaidAt.After(lastPaid) {
			lastPaid = s.PaidAt
		}
		for b, n := range s.NetByBook() {
			t := want[b]
			if t == nil {
				t = &tally{}
				want[b] = t
			}
			t.units += n.Units
			t.net += n.Net
			t.count++
		}
	}
	for _, l := range levels {
		if l.Reserved != reserved[l.BookID] {
			bad(3, l.BookID, "reserved %d, sales account for %d", l.Reserved, reserved[l.BookID])
		}
	}
	var statsNet sales.Money
	seen := map[uuid.UUID]bool{}
	for _, st := range stats {
		seen[st.BookID] = true
		statsNet += st.NetRevenue
		w := want[st.BookID]
		if w == nil {
			w = &tally{}
		}
		if st.UnitsSold != w.units || st.NetRevenue != w.net || st.SalesCount != w.count {
			bad(5, st.BookID, "statistics %d units, %d net, %d sales; sales give %d, %d, %d",
				st.UnitsSold, st.NetRevenue, st.SalesCount, w.units, w.net, w.count)
		}
	}
	for b, w := range want {
		if !seen[b] {
			bad(5, b, "no statistics; sales give %d units, %d net", w.units, w.net)
		}
	}
	if statsNet != netTotal {
		bad(5, uuid.Nil, "statistics add up to %d net; completed sales to %d", statsNet, netTotal)
	}
	if !firstPaid.IsZero() && lastPaid.Sub(firstPaid) < (sales.MaxSummaryDays-2)*24*time.Hour {
		sum, err := src.Sales.Summary(ctx, sales.SummaryQuery{From: firstPaid, To: lastPaid.Add(time.Microsecond), Location: time.UTC, TopN: 1})
		if err != nil {
			return nil, fmt.Errorf("summary: %w", err)
		}
		if sum.NetRevenue != netTotal {
			bad(5, uuid.Nil, "summary net revenue %d; completed sales give %d", sum.NetRevenue, netTotal)
		}
	}
	return out, nil
}

// all reads every page of a list.
func all[T any](page func(p int) ([]T, int64, error)) ([]T, error) {
	var out []T
	for p := 1; ; p++ {
		items, total, err := page(p)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if len(items) == 0 || int64(len(out)) >= total {
			return out, nil
		}
	}
}
