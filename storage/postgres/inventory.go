package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres/internal/db"
)

// inventoryStore is a DB seen as an inventory.Store.
type inventoryStore struct{ d *DB }

var _ inventory.Store = inventoryStore{}

// InTx runs fn in a READ COMMITTED transaction; see inventory.Store.
func (s inventoryStore) InTx(ctx context.Context, fn func(inventory.Tx) error) error {
	return s.d.inTx(ctx, func(t *tx) error { return fn(t) })
}

// Book returns a book, or an error wrapping inventory.ErrNotFound.
func (s inventoryStore) Book(ctx context.Context, id uuid.UUID) (*inventory.Book, error) {
	row, err := s.d.q.Book(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("book %s: %w", id, inventory.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("book %s: %w", id, err)
	}
	return bookFromRow(row), nil
}

// Books returns one page of books ordered by title (byte order) then id,
// and the number of books. Zero Page or Limit mean 1 or
// inventory.DefaultLimit.
func (s inventoryStore) Books(ctx context.Context, p inventory.PageQuery) ([]*inventory.Book, int64, error) {
	limit, offset := bounds(p.Page, p.Limit, inventory.DefaultLimit)
	out := []*inventory.Book{}
	var total int64
	err := s.d.snapshot(ctx, func(q *db.Queries) error {
		var err error
		if total, err = q.CountBooks(ctx); err != nil {
			return err
		}
		rows, err := q.ListBooks(ctx, db.ListBooksParams{RowLimit: limit, RowOffset: offset})
		for _, r := range rows {
			out = append(out, bookFromRow(r))
		}
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list books: %w", err)
	}
	return out, total, nil
}

// Level returns a book's stock, or an error wrapping inventory.ErrNotFound.
func (s inventoryStore) Level(ctx context.Context, bookID uuid.UUID) (inventory.Level, error) {
	row, err := s.d.q.Level(ctx, bookID)
	if errors.Is(err, pgx.ErrNoRows) {
		return inventory.Level{}, fmt.Errorf("book %s: %w", bookID, inventory.ErrNotFound)
	}
	if err != nil {
		return inventory.Level{}, fmt.Errorf("stock of book %s: %w", bookID, err)
	}
	return levelFromRow(row), nil
}

// Levels returns one page of stock levels ordered by book id, and the
// number of books. Zero Page or Limit mean 1 or inventory.DefaultLimit.
func (s inventoryStore) Levels(ctx context.Context, p inventory.PageQuery) ([]inventory.Level, int64, error) {
	limit, offset := bounds(p.Page, p.Limit, inventory.DefaultLimit)
	out := []inventory.Level{}
	var total int64
	err := s.d.snapshot(ctx, func(q *db.Queries) error {
		var err error
		if total, err = q.CountLevels(ctx); err != nil {
			return err
		}
		rows, err := q.ListLevels(ctx, db.ListLevelsParams{RowLimit: limit, RowOffset: offset})
		for _, r := range rows {
			out = append(out, levelFromRow(r))
		}
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list stock levels: %w", err)
	}
	return out, total, nil
}

// Movements returns one page of the movements matching f in ledger order,
// oldest first, and the number matching f. Zero Page or Limit mean 1 or
// inventory.DefaultLimit.
func (s inventoryStore) Movements(ctx context.Context, f inventory.MovementFilter) ([]inventory.Movement, int64, error) {
	limit, offset := bounds(f.Page, f.Limit, inventory.DefaultLimit)
	if f.SaleID != uuid.Nil {
		return s.saleMovements(ctx, f, limit, offset)
	}
	filter := db.CountMovementsParams{
		BookID: nullable(f.BookID), Type: nullable(string(f.Type)), SaleID: nullable(f.SaleID),
	}
	out := []inventory.Movement{}
	var total int64
	err := s.d.snapshot(ctx, func(q *db.Queries) error {
		var err error
		if total, err = q.CountMovements(ctx, filter); err != nil {
			return err
		}
		rows, err := q.ListMovements(ctx, db.ListMovementsParams{
			BookID: filter.BookID, Type: filter.Type, SaleID: filter.SaleID,
			RowLimit: limit, RowOffset: offset,
		})
		for _, r := range rows {
			out = append(out, movementFromRow(r))
		}
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list movements: %w", err)
	}
	return out, total, nil
}

// saleMovements is Movements for one sale: one statement, planned once
// (see SaleMovements), reads them all, and the other filters and the page
// apply here.
func (s inventoryStore) saleMovements(ctx context.Context, f inventory.MovementFilter, limit, offset int64) ([]inventory.Movement, int64, error) {
	rows, err := s.d.q.SaleMovements(ctx, &f.SaleID)
	if err != nil {
		return nil, 0, fmt.Errorf("list movements of sale %s: %w", f.SaleID, err)
	}
	match := []inventory.Movement{}
	for _, r := range rows {
		m := movementFromRow(r)
		if (f.BookID == uuid.Nil || m.BookID == f.BookID) && (f.Type == "" || m.Type == f.Type) {
			match = append(match, m)
		}
	}
	total := int64(len(match))
	start := min(offset, total)
	return match[start : start+min(limit, total-start)], total, nil
}

func movementFromRow(r db.StockMovement) inventory.Movement {
	return inventory.Movement{
		ID: r.ID, BookID: r.BookID, Type: inventory.MovementType(r.Type), Quantity: r.Quantity,
		StockBefore: r.StockBefore, StockAfter: r.StockAfter, SaleID: value(r.SaleID),
		Reason: value(r.Reason), CreatedAt: r.CreatedAt.UTC(),
	}
}

func bookFromRow(r db.Book) *inventory.Book {
	return &inventory.Book{
		ID: r.ID, Title: r.Title, Author: r.Author, Price: sales.Money(r.Price), Available: r.Available,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func levelFromRow(r db.StockLevel) inventory.Level {
	return inventory.Level{BookID: r.BookID, OnHand: r.OnHand, Reserved: r.Reserved, MinStock: r.MinStock}
}
