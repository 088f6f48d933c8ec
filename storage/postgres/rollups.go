package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres/internal/db"
)

// AddDay adds d to its day's rollups, the day's totals and each book's
// part, in one statement queued (see tx.later);
// see analytics.Tx.
func (t *tx) AddDay(ctx context.Context, d analytics.DayDelta) error {
	day, err := time.Parse(time.DateOnly, d.Day)
	if err != nil {
		return fmt.Errorf("daily rollup: day %q: %w", d.Day, err)
	}
	p := db.AddDayParams{
		Zone: d.Zone, Day: day, Sales: d.Sales, Revenue: int64(d.Revenue), NetRevenue: int64(d.Net),
		Tax: int64(d.Tax), Discount: int64(d.Discount), Items: d.Items,
		BookIds: make([]uuid.UUID, len(d.Books)), BookUnits: make([]int64, len(d.Books)), BookNetRevenues: make([]int64, len(d.Books)),
	}
	for i, b := range d.Books {
		p.BookIds[i], p.BookUnits[i], p.BookNetRevenues[i] = b.BookID, b.Units, int64(b.Net)
	}
	return t.later(func() error {
		return t.q.AddDay(ctx, p)
	}, func(err error) error {
		return fmt.Errorf("daily rollup of %s: %w", d.Day, translate(err))
	})
}

// Rollups returns the summary as the worker's daily rollups answer it: a
// row per day and per book and day instead of every sale, behind the sales
// by the worker's delay. Ask it in the time zone the worker counts days in.
func (d *DB) Rollups() sales.Summarizer { return rollups{d} }

type rollups struct{ d *DB }

// Summary reads the rollups of the days in [q.From, q.To), in q.Location.
func (r rollups) Summary(ctx context.Context, q sales.SummaryQuery) (sales.Summary, error) {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	zone := loc.String()
	day := func(t time.Time) time.Time {
		y, m, dd := t.In(loc).Date()
		return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
	}
	from, to := day(q.From), day(q.To)
	var sum sales.Summary
	err := r.d.snapshot(ctx, func(qs *db.Queries) error {
		t, err := qs.RollupTotals(ctx, db.RollupTotalsParams{Zone: zone, FromDay: from, ToDay: to})
		if err != nil {
			return err
		}
		sum.TotalSales, sum.TotalItems = t.Sales, t.Items
		sum.TotalRevenue, sum.NetRevenue = sales.Money(t.Revenue), sales.Money(t.NetRevenue)
		sum.TotalTax, sum.TotalDiscount = sales.Money(t.Tax), sales.Money(t.Discount)
		days, err := qs.RollupDays(ctx, db.RollupDaysParams{Zone: zone, FromDay: from, ToDay: to})
		if err != nil {
			return err
		}
		for _, dd := range days {
			sum.SalesByDay = append(sum.SalesByDay, sales.DaySales{
				Date: dd.Day.Format(time.DateOnly), Sales: dd.Sales,
				Revenue: sales.Money(dd.Revenue), NetRevenue: sales.Money(dd.NetRevenue),
			})
		}
		books, err := qs.RollupTopBooks(ctx, db.RollupTopBooksParams{Zone: zone, FromDay: from, ToDay: to, TopN: int32(q.TopN)})
		if err != nil {
			return err
		}
		for _, b := range books {
			sum.TopBooks = append(sum.TopBooks, sales.BookSales{BookID: b.BookID, UnitsSold: b.Units, NetRevenue: sales.Money(b.NetRevenue)})
		}
		return nil
	})
	if err != nil {
		return sales.Summary{}, fmt.Errorf("summary from rollups: %w", err)
	}
	return sum, nil
}
