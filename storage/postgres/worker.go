package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres/internal/db"
	"github.com/salesflow/salesflow/worker"
)

var (
	_ worker.Tx    = (*Tx)(nil)
	_ analytics.Tx = (*tx)(nil)
)

// LockProgress returns how far the worker brought each sale, creating
// missing records at version 0, and locks them (in sale-id order) until the
// transaction ends, in one round trip: a queued insert of the missing
// records, and a SELECT ... FOR UPDATE. See worker.Tx.
func (t *tx) LockProgress(ctx context.Context, saleIDs []uuid.UUID) ([]worker.Progress, error) {
	if len(saleIDs) == 0 {
		return nil, nil
	}
	err := t.later(func() error { return t.q.AddProgress(ctx, saleIDs) }, func(err error) error {
		return fmt.Errorf("add missing progress records: %w", translate(err))
	})
	if err != nil {
		return nil, err
	}
	rows, err := t.q.LockProgress(ctx, pad(lockOrder(saleIDs)))
	if err != nil {
		return nil, fmt.Errorf("progress of %d sales: %w", len(saleIDs), translate(err))
	}
	byID := rowsByID(rows, func(r db.SaleProgress) uuid.UUID { return r.SaleID })
	out := make([]worker.Progress, len(saleIDs))
	for i, id := range saleIDs {
		r, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("progress of sale %s: no record returned", id)
		}
		out[i] = worker.Progress(r)
	}
	return out, nil
}

// SaveProgress stores the progress of sales in one queued statement; a version
// below the stored one, or a sale without a record, is an error.
func (t *tx) SaveProgress(ctx context.Context, ps []worker.Progress) error {
	if len(ps) == 0 {
		return nil
	}
	arg := db.SaveProgressParams{
		SaleIds: make([]uuid.UUID, len(ps)), Versions: make([]int64, len(ps)),
		Sold: make([]bool, len(ps)), Returned: make([]bool, len(ps)),
	}
	for i, p := range ps {
		arg.SaleIds[i], arg.Versions[i], arg.Sold[i], arg.Returned[i] = p.SaleID, p.Version, p.Sold, p.Returned
	}
	return t.later(func() error {
		return t.q.SaveProgress(ctx, arg)
	}, func(err error) error {
		if unmet(err) {
			if i, ok := detailIndex(err, len(ps)); ok {
				return fmt.Errorf("save progress of sale %s: its version is behind, or its record is missing", ps[i].SaleID)
			}
		}
		return fmt.Errorf("save progress of %d sales: %w", len(ps), err)
	})
}

// AddBookStats adds the deltas to their books' statistics in one
// statement, queued (see tx.later); see analytics.Tx.
func (t *tx) AddBookStats(ctx context.Context, ds []analytics.Delta) error {
	if len(ds) == 0 {
		return nil
	}
	p := db.AddBookStatsParams{
		BookIds: make([]uuid.UUID, len(ds)), Units: make([]int64, len(ds)), NetRevenues: make([]int64, len(ds)),
		Sales: make([]int64, len(ds)), Ats: make([]time.Time, len(ds)),
	}
	for i, d := range ds {
		p.BookIds[i], p.Units[i], p.NetRevenues[i], p.Sales[i], p.Ats[i] = d.BookID, d.Units, int64(d.NetRevenue), d.Sales, d.At
	}
	return t.later(func() error {
		return t.q.AddBookStats(ctx, p)
	}, func(err error) error {
		return fmt.Errorf("book statistics: %w", translate(err))
	})
}

// Analytics returns the database as an analytics.Store.
func (d *DB) Analytics() analytics.Store { return analyticsStore{d} }

type analyticsStore struct{ d *DB }

var _ analytics.Store = analyticsStore{}

// BookStats returns one book's statistics, or an error wrapping
// analytics.ErrNotFound.
func (s analyticsStore) BookStats(ctx context.Context, bookID uuid.UUID) (analytics.BookStats, error) {
	row, err := s.d.q.BookStats(ctx, bookID)
	if errors.Is(err, pgx.ErrNoRows) {
		return analytics.BookStats{}, fmt.Errorf("book %s: %w", bookID, analytics.ErrNotFound)
	}
	if err != nil {
		return analytics.BookStats{}, fmt.Errorf("statistics of book %s: %w", bookID, err)
	}
	return bookStats(row), nil
}

// AllBookStats returns one page of statistics ordered by book id, and the
// number of books with statistics; zeros mean page 1 and the default limit.
func (s analyticsStore) AllBookStats(ctx context.Context, page, limit int) ([]analytics.BookStats, int64, error) {
	page, limit = max(page, 1), cmpOr(limit, 10)
	var out []analytics.BookStats
	var total int64
	err := s.d.snapshot(ctx, func(q *db.Queries) error {
		rows, err := q.AllBookStats(ctx, db.AllBookStatsParams{Lim: int32(limit), Off: int32((page - 1) * limit)})
		if err != nil {
			return err
		}
		out = make([]analytics.BookStats, len(rows))
		for i, r := range rows {
			out[i] = bookStats(r)
		}
		total, err = q.CountBookStats(ctx)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("statistics: %w", err)
	}
	return out, total, nil
}

func bookStats(r db.BookStat) analytics.BookStats {
	st := analytics.BookStats{
		BookID: r.BookID, UnitsSold: r.UnitsSold, NetRevenue: sales.Money(r.NetRevenue), SalesCount: r.SalesCount,
	}
	if r.FirstSaleAt != nil {
		st.FirstSaleAt = r.FirstSaleAt.UTC()
	}
	if r.LastSaleAt != nil {
		st.LastSaleAt = r.LastSaleAt.UTC()
	}
	return st
}

// Progress returns how far the worker brought a sale, zero when never seen.
func (d *DB) Progress(ctx context.Context, saleID uuid.UUID) (worker.Progress, error) {
	row, err := d.q.ReadProgress(ctx, saleID)
	if errors.Is(err, pgx.ErrNoRows) {
		return worker.Progress{SaleID: saleID}, nil
	}
	if err != nil {
		return worker.Progress{}, fmt.Errorf("progress of sale %s: %w", saleID, err)
	}
	return worker.Progress(row), nil
}

func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
