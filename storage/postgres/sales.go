package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres/internal/db"
)

// salesStore is a DB seen as a sales.Store.
type salesStore struct{ d *DB }

var _ sales.Store = salesStore{}

// InTx runs fn in a READ COMMITTED transaction; see sales.Store.
func (s salesStore) InTx(ctx context.Context, fn func(sales.Tx) error) error {
	return s.d.inTx(ctx, func(t *tx) error { return fn(t) })
}

// Sale returns a sale with its lines, or an error wrapping sales.ErrNotFound.
func (s salesStore) Sale(ctx context.Context, id uuid.UUID) (*sales.Sale, error) {
	rows, err := s.d.q.SaleWithItems(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sale %s: %w", id, err)
	}
	parts := func(r db.SaleWithItemsRow) (db.Sale, db.SaleItem) { return r.Sale, r.SaleItem }
	return joined(id, rows, parts, func() (db.Sale, error) { return s.d.q.Sale(ctx, id) })
}

// Sales returns one page of the sales matching f, newest first (ties by id,
// descending), with their lines, and the number of sales matching f. A zero
// Page or Limit means 1 or sales.DefaultLimit.
func (s salesStore) Sales(ctx context.Context, f sales.Filter) ([]*sales.Sale, int64, error) {
	limit, offset := bounds(f.Page, f.Limit, sales.DefaultLimit)
	filter := db.CountSalesParams{
		Status: nullable(string(f.Status)), SellerID: nullable(f.SellerID),
		CreatedFrom: nullableTime(f.From), CreatedTo: nullableTime(f.To),
	}
	out := []*sales.Sale{}
	var total int64
	err := s.d.snapshot(ctx, func(q *db.Queries) error {
		var err error
		if total, err = q.CountSales(ctx, filter); err != nil {
			return err
		}
		rows, err := q.ListSales(ctx, db.ListSalesParams{
			Status: filter.Status, SellerID: filter.SellerID,
			CreatedFrom: filter.CreatedFrom, CreatedTo: filter.CreatedTo,
			RowLimit: limit, RowOffset: offset,
		})
		if err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]uuid.UUID, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		items, err := q.SaleItems(ctx, ids)
		if err != nil {
			return err
		}
		lines := make(map[uuid.UUID][]db.SaleItem, len(rows))
		for _, it := range items {
			lines[it.SaleID] = append(lines[it.SaleID], it)
		}
		for _, r := range rows {
			sale, err := saleFromRow(r, lines[r.ID])
			if err != nil {
				return err
			}
			out = append(out, sale)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list sales: %w", err)
	}
	return out, total, nil
}

// Summary aggregates the completed sales paid in [q.From, q.To) in one
// snapshot. Days are calendar days of q.Location (UTC when nil), in any
// location Go knows; the range may span at most sales.MaxSummaryDays+1
// days, else the error wraps sales.ErrInvalid.
func (s salesStore) Summary(ctx context.Context, q sales.SummaryQuery) (sales.Summary, error) {
	var sum sales.Summary
	if !q.To.After(q.From) {
		return sum, nil
	}
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	starts, err := dayStarts(q.From, q.To, loc)
	if err != nil {
		return sum, err
	}
	err = s.d.snapshot(ctx, func(qs *db.Queries) error {
		t, err := qs.SummaryTotals(ctx, db.SummaryTotalsParams{PaidFrom: q.From, PaidTo: q.To})
		if err != nil {
			return err
		}
		sum.TotalSales, sum.TotalItems = t.SalesCount, t.Items
		sum.TotalRevenue, sum.NetRevenue = sales.Money(t.Revenue), sales.Money(t.NetRevenue)
		sum.TotalTax, sum.TotalDiscount = sales.Money(t.Tax), sales.Money(t.SaleDiscount+t.LineDiscount)
		if t.SalesCount == 0 {
			return nil
		}
		days, err := qs.SalesByDay(ctx, db.SalesByDayParams{DayStarts: starts, PaidFrom: q.From, PaidTo: q.To})
		if err != nil {
			return err
		}
		for _, d := range days {
			sum.SalesByDay = append(sum.SalesByDay, sales.DaySales{
				// d.Day is the 1-based bucket; the range filter keeps it in bounds.
				Date:  starts[d.Day-1].In(loc).Format(time.DateOnly),
				Sales: d.SalesCount, Revenue: sales.Money(d.Revenue), NetRevenue: sales.Money(d.NetRevenue),
			})
		}
		if q.TopN <= 0 {
			return nil
		}
		books, err := qs.TopBooks(ctx, db.TopBooksParams{PaidFrom: q.From, PaidTo: q.To, TopN: int64(q.TopN)})
		if err != nil {
			return err
		}
		for _, b := range books {
			sum.TopBooks = append(sum.TopBooks, sales.BookSales{
				BookID: b.BookID, UnitsSold: b.UnitsSold, NetRevenue: sales.Money(b.NetRevenue),
			})
		}
		return nil
	})
	if err != nil {
		return sales.Summary{}, fmt.Errorf("summary: %w", err)
	}
	return sum, nil
}

// dayStarts returns the first instant of each calendar day of loc that
// overlaps [from, to), ascending.
func dayStarts(from, to time.Time, loc *time.Location) ([]time.Time, error) {
	f := from.In(loc)
	var starts []time.Time
	for i := 0; ; i++ {
		d := time.Date(f.Year(), f.Month(), f.Day()+i, 0, 0, 0, 0, loc)
		if !d.Before(to) {
			return starts, nil
		}
		if i > sales.MaxSummaryDays {
			return nil, &sales.InvalidError{Field: "endDate", Reason: fmt.Sprintf("range must be at most %d days", sales.MaxSummaryDays)}
		}
		starts = append(starts, d)
	}
}

// joined builds sale id from the rows of SaleWithItems or LockSale, one
// per line, whose sale and line parts returns. Without rows, it asks alone
// for the sale, which has no lines (only a store's direct user can insert
// one), or returns an error wrapping sales.ErrNotFound.
func joined[R any](id uuid.UUID, rows []R, parts func(R) (db.Sale, db.SaleItem), alone func() (db.Sale, error)) (*sales.Sale, error) {
	if len(rows) == 0 {
		row, err := alone()
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sale %s: %w", id, sales.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("sale %s: %w", id, err)
		}
		return saleFromRow(row, nil)
	}
	items := make([]db.SaleItem, len(rows))
	var row db.Sale
	for i, r := range rows {
		row, items[i] = parts(r)
	}
	return saleFromRow(row, items)
}

// saleFromRow builds a sale from its row and its lines in line order.
func saleFromRow(r db.Sale, items []db.SaleItem) (*sales.Sale, error) {
	cur, err := sales.ParseCurrency(r.Currency)
	if err != nil {
		return nil, fmt.Errorf("sale %s: stored currency %q: %w", r.ID, r.Currency, err)
	}
	s := &sales.Sale{
		ID: r.ID, Status: sales.Status(r.Status), Version: r.Version, SellerID: r.SellerID,
		CustomerName: value(r.CustomerName), CustomerEmail: value(r.CustomerEmail), Notes: value(r.Notes),
		Lines:    make([]sales.Line, len(items)),
		Subtotal: sales.Money(r.Subtotal), Discount: sales.Money(r.Discount),
		Tax: sales.Money(r.Tax), Total: sales.Money(r.Total), Currency: cur,
		PaymentMethod:    sales.PaymentMethod(value(r.PaymentMethod)),
		PaymentReference: value(r.PaymentReference),
		PaidAt:           utc(r.PaidAt), CancelledAt: utc(r.CancelledAt), CancelReason: value(r.CancelReason),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	for i, it := range items {
		s.Lines[i] = sales.Line{
			BookID: it.BookID, Quantity: it.Quantity, UnitPrice: sales.Money(it.UnitPrice),
			Discount: sales.Money(it.Discount), Subtotal: sales.Money(it.Subtotal),
		}
	}
	return s, nil
}

// bounds returns the LIMIT and OFFSET of page (from 1) of limit rows; zeros
// mean page 1 and def rows.
func bounds(page, limit, def int) (int64, int64) {
	if page < 1 {
		page = 1
	}
	if limit < 1 {
		limit = def
	}
	return int64(limit), int64(page-1) * int64(limit)
}
