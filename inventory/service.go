package inventory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/sales"
)

// Store is the storage a Service needs; storage/postgres and storage/memory
// implement it.
type Store interface {
	// InTx runs fn in one transaction, committed when fn returns nil.
	InTx(ctx context.Context, fn func(Tx) error) error
	// Book returns a book, or ErrNotFound.
	Book(ctx context.Context, id uuid.UUID) (*Book, error)
	// Books returns one page of books ordered by title then id, and the count of all.
	Books(ctx context.Context, p PageQuery) ([]*Book, int64, error)
	// Level returns a book's stock, or ErrNotFound.
	Level(ctx context.Context, bookID uuid.UUID) (Level, error)
	// Levels returns one page of stock levels ordered by book id, and the count of all.
	Levels(ctx context.Context, p PageQuery) ([]Level, int64, error)
	// Movements returns one page of movements matching f, oldest first, and the count of all matching.
	Movements(ctx context.Context, f MovementFilter) ([]Movement, int64, error)
}

// Tx is what a Service does inside a transaction.
type Tx interface {
	// InsertBook stores a new book with its (empty) stock level.
	InsertBook(ctx context.Context, b *Book, minStock int64) error
	// LockBook returns a book and keeps others from changing it until the
	// transaction ends, or returns ErrNotFound.
	LockBook(ctx context.Context, id uuid.UUID) (*Book, error)
	// UpdateBook stores a locked book's fields.
	UpdateBook(ctx context.Context, b *Book) error
	// SetMinStock sets the restock threshold of a locked book's stock
	// level.
	SetMinStock(ctx context.Context, bookID uuid.UUID, minStock int64) error
	// MovementTx locks stock levels and appends movements.
	MovementTx
}

// PageQuery is a page of a list: Page from 1, Limit 1..100 (0s mean 1 and DefaultLimit).
type PageQuery struct {
	Page, Limit int
}

// MovementFilter selects movements. Zero fields select everything.
type MovementFilter struct {
	BookID uuid.UUID
	Type   MovementType
	SaleID uuid.UUID
	PageQuery
}

// NewBook is a book to add to the catalog.
type NewBook struct {
	Title     string        `json:"title"`
	Author    string        `json:"author"`
	Price     sales.Decimal `json:"price"`
	Available *bool         `json:"available,omitempty"` // default true
	Stock     int64         `json:"stock,omitempty"`     // initial on-hand units, recorded as a PURCHASE
	MinStock  int64         `json:"minStock,omitempty"`
}

// BookPatch changes some fields of a book; nil fields stay as they are.
type BookPatch struct {
	Title     *string        `json:"title,omitempty"`
	Author    *string        `json:"author,omitempty"`
	Price     *sales.Decimal `json:"price,omitempty"`
	Available *bool          `json:"available,omitempty"`
	MinStock  *int64         `json:"minStock,omitempty"` // the stock level's restock threshold
}

// NewMovement is a manual stock movement: PURCHASE (positive), ADJUSTMENT
// (either sign, not zero), DAMAGE or LOSS (negative).
type NewMovement struct {
	Type     MovementType `json:"type"`
	Quantity int64        `json:"quantity"`
	Reason   string       `json:"reason,omitempty"`
}

// Bounds on inputs.
const (
	MaxTitleLen  = 300
	MaxReasonLen = 2000
	MaxUnits     = 1_000_000_000
	DefaultLimit = 10
	MaxLimit     = 100
)

// Service manages the catalog and the stock ledger. It is safe for
// concurrent use.
type Service struct {
	store    Store
	currency sales.Currency
	now      func() time.Time
}

// Option configures a Service.
type Option func(*Service) error

// WithCurrency sets the currency prices are in (default USD).
func WithCurrency(c sales.Currency) Option {
	return func(s *Service) error {
		if c.IsZero() {
			return errors.New("inventory: zero currency")
		}
		s.currency = c
		return nil
	}
}

// WithClock sets the clock (default time.Now), for tests.
func WithClock(now func() time.Time) Option {
	return func(s *Service) error {
		if now == nil {
			return errors.New("inventory: nil clock")
		}
		s.now = now
		return nil
	}
}

// NewService returns a Service on store.
func NewService(store Store, opts ...Option) (*Service, error) {
	if store == nil {
		return nil, errors.New("inventory: nil store")
	}
	s := &Service{store: store, currency: sales.USD, now: time.Now}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Currency returns the currency of prices.
func (svc *Service) Currency() sales.Currency { return svc.currency }

func (svc *Service) clock() time.Time { return svc.now().UTC().Truncate(time.Microsecond) }

func invalid(field, reason string) error { return &sales.InvalidError{Field: field, Reason: reason} }

func checkText(field, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return invalid(field, "must be valid UTF-8 text")
	case n < min || strings.TrimSpace(s) == "" && min > 0:
		return invalid(field, "is required")
	case n > max:
		return invalid(field, fmt.Sprintf("must be at most %d characters", max))
	}
	return nil
}

func (svc *Service) price(d sales.Decimal) (sales.Money, error) {
	m, err := d.Minor(svc.currency)
	if err != nil {
		var ie *sales.InvalidError
		if errors.As(err, &ie) {
			return 0, invalid("price", ie.Reason)
		}
		return 0, err
	}
	if m < 0 || m > sales.MaxPrice {
		return 0, invalid("price", "must be from 0 to "+sales.MaxPrice.Format(svc.currency))
	}
	return m, nil
}

// CreateBook adds a book; a positive Stock is recorded as a PURCHASE
// movement in the same transaction. Bad input wraps ErrInvalid.
func (svc *Service) CreateBook(ctx context.Context, in NewBook) (*Book, error) {
	if err := checkText("title", in.Title, 1, MaxTitleLen); err != nil {
		return nil, err
	}
	if err := checkText("author", in.Author, 1, MaxTitleLen); err != nil {
		return nil, err
	}
	price, err := svc.price(in.Price)
	if err != nil {
		return nil, err
	}
	if in.Stock < 0 || in.Stock > MaxUnits {
		return nil, invalid("stock", fmt.Sprintf("must be from 0 to %d", MaxUnits))
	}
	if in.MinStock < 0 || in.MinStock > MaxUnits {
		return nil, invalid("minStock", fmt.Sprintf("must be from 0 to %d", MaxUnits))
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	now := svc.clock()
	b := &Book{ID: id, Title: in.Title, Author: in.Author, Price: price, Available: true, CreatedAt: now, UpdatedAt: now}
	if in.Available != nil {
		b.Available = *in.Available
	}
	err = svc.store.InTx(ctx, func(tx Tx) error {
		if err := tx.InsertBook(ctx, b, in.MinStock); err != nil {
			return err
		}
		if in.Stock == 0 {
			return nil
		}
		_, err := svc.record(ctx, tx, b.ID, Purchase, in.Stock, "initial stock", uuid.Nil, 0, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Book returns a book, or an error wrapping ErrNotFound.
func (svc *Service) Book(ctx context.Context, id uuid.UUID) (*Book, error) {
	return svc.store.Book(ctx, id)
}

// Books returns one page of the catalog and the number of books.
func (svc *Service) Books(ctx context.Context, p PageQuery) ([]*Book, int64, error) {
	p, err := checkPage(p)
	if err != nil {
		return nil, 0, err
	}
	return svc.store.Books(ctx, p)
}

// UpdateBook changes the fields of a book that patch sets. Errors wrap
// ErrNotFound or ErrInvalid.
func (svc *Service) UpdateBook(ctx context.Context, id uuid.UUID, patch BookPatch) (*Book, error) {
	if patch.Title != nil {
		if err := checkText("title", *patch.Title, 1, MaxTitleLen); err != nil {
			return nil, err
		}
	}
	if patch.Author != nil {
		if err := checkText("author", *patch.Author, 1, MaxTitleLen); err != nil {
			return nil, err
		}
	}
	var price sales.Money
	if patch.Price != nil {
		var err error
		if price, err = svc.price(*patch.Price); err != nil {
			return nil, err
		}
	}
	if patch.MinStock != nil && (*patch.MinStock < 0 || *patch.MinStock > MaxUnits) {
		return nil, invalid("minStock", fmt.Sprintf("must be from 0 to %d", MaxUnits))
	}
	var out *Book
	err := svc.store.InTx(ctx, func(tx Tx) error {
		b, err := tx.LockBook(ctx, id)
		if err != nil {
			return err
		}
		if patch.Title != nil {
			b.Title = *patch.Title
		}
		if patch.Author != nil {
			b.Author = *patch.Author
		}
		if patch.Price != nil {
			b.Price = price
		}
		if patch.Available != nil {
			b.Available = *patch.Available
		}
		b.UpdatedAt = svc.clock()
		out = b
		if err := tx.UpdateBook(ctx, b); err != nil {
			return err
		}
		if patch.MinStock != nil {
			return tx.SetMinStock(ctx, id, *patch.MinStock)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Level returns a book's stock, or an error wrapping ErrNotFound.
func (svc *Service) Level(ctx context.Context, bookID uuid.UUID) (Level, error) {
	return svc.store.Level(ctx, bookID)
}

// Levels returns one page of stock levels and the number of books.
func (svc *Service) Levels(ctx context.Context, p PageQuery) ([]Level, int64, error) {
	p, err := checkPage(p)
	if err != nil {
		return nil, 0, err
	}
	return svc.store.Levels(ctx, p)
}

// Movements returns one page of the ledger, oldest first.
func (svc *Service) Movements(ctx context.Context, f MovementFilter) ([]Movement, int64, error) {
	p, err := checkPage(f.PageQuery)
	if err != nil {
		return nil, 0, err
	}
	f.PageQuery = p
	if f.Type != "" {
		if _, err := ParseMovementType(string(f.Type)); err != nil {
			return nil, 0, err
		}
	}
	return svc.store.Movements(ctx, f)
}

// Record appends a manual movement (PURCHASE, ADJUSTMENT, DAMAGE, LOSS) to
// a book's ledger. On-hand stock may not fall below zero or below what is
// reserved (ErrInsufficientStock). Errors wrap ErrNotFound, ErrInvalid or
// ErrInsufficientStock; on any error nothing is written.
func (svc *Service) Record(ctx context.Context, bookID uuid.UUID, in NewMovement) (Movement, error) {
	switch in.Type {
	case Purchase:
		if in.Quantity <= 0 {
			return Movement{}, invalid("quantity", "must be positive for PURCHASE")
		}
	case Damage, Loss:
		if in.Quantity >= 0 {
			return Movement{}, invalid("quantity", "must be negative for "+string(in.Type))
		}
	case Adjustment:
		if in.Quantity == 0 {
			return Movement{}, invalid("quantity", "must not be zero")
		}
	case Sale, Return:
		return Movement{}, invalid("type", "SALE and RETURN movements come from sales")
	default:
		return Movement{}, invalid("type", "must be one of PURCHASE, ADJUSTMENT, DAMAGE, LOSS")
	}
	if in.Quantity > MaxUnits || in.Quantity < -MaxUnits {
		return Movement{}, invalid("quantity", fmt.Sprintf("must be from -%d to %d", MaxUnits, MaxUnits))
	}
	if err := checkText("reason", in.Reason, 0, MaxReasonLen); err != nil {
		return Movement{}, err
	}
	var out Movement
	err := svc.store.InTx(ctx, func(tx Tx) error {
		m, err := svc.record(ctx, tx, bookID, in.Type, in.Quantity, in.Reason, uuid.Nil, 0, svc.clock())
		out = m
		return err
	})
	return out, err
}

// record appends one movement in tx.
func (svc *Service) record(ctx context.Context, tx Tx, bookID uuid.UUID, typ MovementType, qty int64, reason string, saleID uuid.UUID, reservedDelta int64, now time.Time) (Movement, error) {
	return appendMovement(ctx, tx, bookID, typ, qty, reason, saleID, reservedDelta, now)
}

func checkPage(p PageQuery) (PageQuery, error) {
	if p.Page == 0 {
		p.Page = 1
	}
	if p.Limit == 0 {
		p.Limit = DefaultLimit
	}
	if p.Page < 1 || p.Page > 1_000_000 {
		return p, invalid("page", "must be from 1 to 1000000")
	}
	if p.Limit < 1 || p.Limit > MaxLimit {
		return p, invalid("limit", fmt.Sprintf("must be from 1 to %d", MaxLimit))
	}
	return p, nil
}
