package sales

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/eventbus"
)

// Store is the storage a Service needs. Implementations live in
// storage/postgres and storage/memory; testkit.RunStoreTests checks them.
type Store interface {
	// InTx runs fn in one transaction: all its writes commit together when
	// fn returns nil, and none do when it returns an error, which InTx returns.
	InTx(ctx context.Context, fn func(Tx) error) error
	// Sale returns a sale with its lines, or ErrNotFound.
	Sale(ctx context.Context, id uuid.UUID) (*Sale, error)
	// Sales returns one page of the sales matching f, newest first, and the
	// number of sales matching f in all.
	Sales(ctx context.Context, f Filter) ([]*Sale, int64, error)
	// Summary aggregates the completed sales paid in [q.From, q.To).
	Summary(ctx context.Context, q SummaryQuery) (Summary, error)
}

// Tx is what a Service does inside a transaction.
//
// A write that returns only an error (Reserve, Release, InsertSale,
// UpdateSale, Enqueue, SaveResponse) may be sent to the store later, with
// the transaction's next read or its commit, to save round trips: its error
// is then returned by that read, or by InTx. After any error the
// transaction is lost: return the error, and everything it wrote rolls
// back.
type Tx interface {
	// Books returns the price and availability of the books with the given
	// ids; unknown ids are absent from the map.
	Books(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]BookRef, error)
	// Reserve reserves, for each book of qty, that many units, all or
	// none: when a book has fewer available, no stock level, or a
	// quantity that is not positive, it returns a *StockError (which
	// errors.Is matches to ErrInsufficientStock) naming the first such
	// book in LockOrder, and changes nothing. Stores take the books' locks
	// in that order, so that two transactions cannot deadlock. No books
	// is nothing to do.
	Reserve(ctx context.Context, qty map[uuid.UUID]int64) error
	// Release returns, for each book of qty, that many reserved units to
	// available stock, all or none: releasing more than is reserved, or a
	// quantity that is not positive, is an error that changes nothing. No
	// books is nothing to do.
	Release(ctx context.Context, qty map[uuid.UUID]int64) error
	// InsertSale stores a new sale with its lines.
	InsertSale(ctx context.Context, s *Sale) error
	// LockSale returns a sale and keeps others from changing it until the
	// transaction ends, or returns ErrNotFound.
	LockSale(ctx context.Context, id uuid.UUID) (*Sale, error)
	// UpdateSale stores the status fields and version of a locked sale.
	UpdateSale(ctx context.Context, s *Sale) error
	// Enqueue writes an event to the outbox, to be published after commit.
	Enqueue(ctx context.Context, r eventbus.OutboxRecord) error
	KeyTx
}

// BookRef is what a sale needs to know of a book.
type BookRef struct {
	Price     Money
	Available bool // offered for sale
}

// Filter selects sales for List. Zero fields select everything.
type Filter struct {
	Status   Status    // empty for any
	SellerID string    // empty for any seller
	From, To time.Time // creation time in [From, To); zero for no bound
	Page     int       // from 1; 0 means 1
	Limit    int       // 1..100; 0 means DefaultLimit
}

// Paging defaults and bounds.
const (
	DefaultLimit = 10
	MaxLimit     = 100
)

// Page is one page of sales.
type Page struct {
	Sales      []*Sale
	Total      int64
	Page       int
	Limit      int
	TotalPages int64
}

// NewSale is what a client asks to buy. JSON names follow the seed's API.
type NewSale struct {
	CustomerName  string    `json:"customerName,omitempty"`
	CustomerEmail string    `json:"customerEmail,omitempty"`
	Items         []NewLine `json:"items"`
	Discount      Decimal   `json:"discount,omitzero"`
	Notes         string    `json:"notes,omitempty"`
}

// NewLine is one line of a NewSale.
type NewLine struct {
	BookID   uuid.UUID `json:"bookId"`
	Quantity int64     `json:"quantity"`
	Discount Decimal   `json:"discount,omitzero"`
}

// Payment completes a sale.
type Payment struct {
	Method    PaymentMethod
	Reference string // optional
}

// Limits on free-text fields, in characters.
const (
	MaxNameLen  = 200
	MaxEmailLen = 254
	MaxNotesLen = 2000
	MaxRefLen   = 200
)

// Service creates sales and moves them through their statuses. Every change
// writes its event to the outbox in the same transaction. It is safe for
// concurrent use.
type Service struct {
	store       Store
	summarizer  Summarizer
	currency    Currency
	taxRate     Rate
	loc         *time.Location
	topicPrefix string
	source      string
	now         func() time.Time
	log         *slog.Logger
}

// Option configures a Service.
type Option func(*Service) error

// WithCurrency sets the deployment's currency (default USD).
func WithCurrency(c Currency) Option {
	return func(s *Service) error {
		if c.IsZero() {
			return errors.New("sales: zero currency")
		}
		s.currency = c
		return nil
	}
}

// WithTaxRate sets the tax rate (default 0).
func WithTaxRate(r Rate) Option {
	return func(s *Service) error { s.taxRate = r; return nil }
}

// WithLocation sets the time zone whose days the summary counts (default UTC).
func WithLocation(loc *time.Location) Option {
	return func(s *Service) error {
		if loc == nil {
			return errors.New("sales: nil location")
		}
		s.loc = loc
		return nil
	}
}

// Summarizer answers summary queries. A Store does, by aggregating the
// sales; so do the daily rollups the worker keeps (the stores' Rollups),
// which answer a long range without reading every sale but lag behind the
// sales by the worker's delay.
type Summarizer interface {
	Summary(ctx context.Context, q SummaryQuery) (Summary, error)
}

// WithSummarizer makes Summary answer from s (default: the Store).
func WithSummarizer(sum Summarizer) Option {
	return func(s *Service) error {
		if sum == nil {
			return errors.New("sales: nil summarizer")
		}
		s.summarizer = sum
		return nil
	}
}

// WithTopicPrefix puts prefix before each topic name (default none).
func WithTopicPrefix(prefix string) Option {
	return func(s *Service) error { s.topicPrefix = prefix; return nil }
}

// WithSource sets the CloudEvents source of events (default DefaultSource).
func WithSource(src string) Option {
	return func(s *Service) error {
		if src == "" {
			return errors.New("sales: empty event source")
		}
		s.source = src
		return nil
	}
}

// WithClock sets the clock (default time.Now), for tests.
func WithClock(now func() time.Time) Option {
	return func(s *Service) error {
		if now == nil {
			return errors.New("sales: nil clock")
		}
		s.now = now
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) error {
		if l == nil {
			return errors.New("sales: nil logger")
		}
		s.log = l
		return nil
	}
}

// NewService returns a Service on store.
func NewService(store Store, opts ...Option) (*Service, error) {
	if store == nil {
		return nil, errors.New("sales: nil store")
	}
	s := &Service{
		store: store, currency: USD, loc: time.UTC, source: DefaultSource,
		now: time.Now, log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.summarizer == nil {
		s.summarizer = store
	}
	return s, nil
}

// Currency returns the service's currency.
func (svc *Service) Currency() Currency { return svc.currency }

// Create prices a new sale for seller, reserves its stock and stores it as
// PENDING with its sale.created event, all in one transaction. Errors wrap
// ErrInvalid, ErrUnknownBook, ErrBookUnavailable or ErrInsufficientStock;
// on any error nothing is written.
func (svc *Service) Create(ctx context.Context, sellerID string, in NewSale, opts ...CallOption) (*Sale, error) {
	if strings.TrimSpace(sellerID) == "" {
		return nil, invalid("sellerId", "is required")
	}
	if err := checkText("sellerId", sellerID, MaxNameLen); err != nil {
		return nil, err
	}
	if err := checkText("customerName", in.CustomerName, MaxNameLen); err != nil {
		return nil, err
	}
	if err := checkText("notes", in.Notes, MaxNotesLen); err != nil {
		return nil, err
	}
	if in.CustomerEmail != "" {
		if err := checkText("customerEmail", in.CustomerEmail, MaxEmailLen); err != nil {
			return nil, err
		}
		if a, err := mail.ParseAddress(in.CustomerEmail); err != nil || a.Address != in.CustomerEmail {
			return nil, invalid("customerEmail", "must be an email address such as ana@example.com")
		}
	}
	if len(in.Items) == 0 {
		return nil, invalid("items", "must hold at least one line")
	}
	if len(in.Items) > MaxLines {
		return nil, invalid("items", fmt.Sprintf("must hold at most %d lines", MaxLines))
	}
	discount, err := svc.money("discount", in.Discount)
	if err != nil {
		return nil, err
	}
	lineDiscounts := make([]Money, len(in.Items))
	qty := map[uuid.UUID]int64{}
	for i, it := range in.Items {
		field := fmt.Sprintf("items[%d]", i)
		if it.BookID == uuid.Nil {
			return nil, invalid(field+".bookId", "is required")
		}
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			return nil, invalid(field+".quantity", fmt.Sprintf("must be a whole number from 1 to %d", MaxQuantity))
		}
		if lineDiscounts[i], err = svc.money(field+".discount", it.Discount); err != nil {
			return nil, err
		}
		qty[it.BookID] += it.Quantity
	}
	ids := LockOrder(qty)

	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("sale id: %w", err)
	}
	return svc.change(ctx, opts, func(tx Tx) (*Sale, error) {
		books, err := tx.Books(ctx, ids)
		if err != nil {
			return nil, err
		}
		pl := make([]PriceLine, len(in.Items))
		for i, it := range in.Items {
			b, ok := books[it.BookID]
			switch {
			case !ok:
				return nil, fmt.Errorf("items[%d].bookId %s: %w", i, it.BookID, ErrUnknownBook)
			case !b.Available:
				return nil, fmt.Errorf("items[%d].bookId %s: %w", i, it.BookID, ErrBookUnavailable)
			}
			pl[i] = PriceLine{UnitPrice: b.Price, Quantity: it.Quantity, Discount: lineDiscounts[i]}
		}
		p, err := Price(pl, discount, svc.taxRate)
		if err != nil {
			return nil, err
		}
		if err := tx.Reserve(ctx, qty); err != nil {
			return nil, err
		}
		now := eventTime(svc.now())
		s := &Sale{
			ID: id, Status: StatusPending, Version: 1, SellerID: sellerID,
			CustomerName: in.CustomerName, CustomerEmail: in.CustomerEmail, Notes: in.Notes,
			Lines:    make([]Line, len(in.Items)),
			Subtotal: p.Subtotal, Discount: p.Discount, Tax: p.Tax, Total: p.Total,
			Currency: svc.currency, CreatedAt: now, UpdatedAt: now,
		}
		for i, it := range in.Items {
			s.Lines[i] = Line{
				BookID: it.BookID, Quantity: it.Quantity, UnitPrice: pl[i].UnitPrice,
				Discount: pl[i].Discount, Subtotal: p.Lines[i].Subtotal,
			}
		}
		if err := tx.InsertSale(ctx, s); err != nil {
			return nil, err
		}
		return s, svc.enqueue(ctx, tx, s)
	})
}

// Get returns a sale, or an error wrapping ErrNotFound.
func (svc *Service) Get(ctx context.Context, id uuid.UUID) (*Sale, error) {
	return svc.store.Sale(ctx, id)
}

// List returns one page of sales matching f, newest first. A page beyond
// the last is empty. Bad paging or an empty date range wraps ErrInvalid.
func (svc *Service) List(ctx context.Context, f Filter) (Page, error) {
	if f.Page == 0 {
		f.Page = 1
	}
	if f.Limit == 0 {
		f.Limit = DefaultLimit
	}
	switch {
	case f.Page < 1 || f.Page > 1_000_000:
		return Page{}, invalid("page", "must be from 1 to 1000000")
	case f.Limit < 1 || f.Limit > MaxLimit:
		return Page{}, invalid("limit", fmt.Sprintf("must be from 1 to %d", MaxLimit))
	case !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From):
		return Page{}, invalid("endDate", "must not be before startDate")
	}
	if f.Status != "" {
		if _, err := ParseStatus(string(f.Status)); err != nil {
			return Page{}, err
		}
	}
	if err := checkText("sellerId", f.SellerID, MaxNameLen); err != nil {
		return Page{}, err
	}
	list, total, err := svc.store.Sales(ctx, f)
	if err != nil {
		return Page{}, err
	}
	return Page{
		Sales: list, Total: total, Page: f.Page, Limit: f.Limit,
		TotalPages: (total + int64(f.Limit) - 1) / int64(f.Limit),
	}, nil
}

// Complete moves a PENDING sale to COMPLETED, paid with p, and writes its
// sale.completed event. Errors wrap ErrNotFound, ErrInvalid or
// ErrIllegalTransition; on any error nothing is written.
func (svc *Service) Complete(ctx context.Context, id uuid.UUID, p Payment, opts ...CallOption) (*Sale, error) {
	if _, err := ParsePaymentMethod(string(p.Method)); err != nil {
		return nil, err
	}
	if err := checkText("paymentReference", p.Reference, MaxRefLen); err != nil {
		return nil, err
	}
	return svc.move(ctx, id, StatusCompleted, func(_ Tx, s *Sale, now time.Time) error {
		s.PaymentMethod, s.PaymentReference, s.PaidAt = p.Method, p.Reference, now
		return nil
	}, opts)
}

// Cancel cancels a PENDING sale, releasing its reservation in the same
// transaction, or a COMPLETED one (a return: the worker puts the stock
// back). It writes the sale.cancelled event. Errors wrap ErrNotFound,
// ErrInvalid or ErrIllegalTransition; on any error nothing is written.
func (svc *Service) Cancel(ctx context.Context, id uuid.UUID, reason string, opts ...CallOption) (*Sale, error) {
	if err := checkText("reason", reason, MaxNotesLen); err != nil {
		return nil, err
	}
	return svc.move(ctx, id, StatusCancelled, func(tx Tx, s *Sale, now time.Time) error {
		if s.Status == StatusPending {
			if err := tx.Release(ctx, s.Quantities()); err != nil {
				return err
			}
		}
		s.CancelledAt, s.CancelReason = now, reason
		return nil
	}, opts)
}

// move applies the status change to next, with change's own effects, in
// one transaction.
func (svc *Service) move(ctx context.Context, id uuid.UUID, next Status, change func(Tx, *Sale, time.Time) error, opts []CallOption) (*Sale, error) {
	return svc.change(ctx, opts, func(tx Tx) (*Sale, error) {
		s, err := tx.LockSale(ctx, id)
		if err != nil {
			return nil, err
		}
		if !s.Status.CanMoveTo(next) {
			return nil, fmt.Errorf("sale %s from %s to %s: %w", id, s.Status, next, ErrIllegalTransition)
		}
		now := eventTime(svc.now())
		if err := change(tx, s, now); err != nil {
			return nil, err
		}
		s.Status, s.Version, s.UpdatedAt = next, s.Version+1, now
		if err := tx.UpdateSale(ctx, s); err != nil {
			return nil, err
		}
		return s, svc.enqueue(ctx, tx, s)
	})
}

func (svc *Service) enqueue(ctx context.Context, tx Tx, s *Sale) error {
	rec, err := svc.newEvent(s, eventbus.TraceParent(ctx))
	if err != nil {
		return err
	}
	return tx.Enqueue(ctx, rec)
}

func (svc *Service) money(field string, d Decimal) (Money, error) {
	m, err := d.Minor(svc.currency)
	if err != nil {
		return 0, atField(err, field)
	}
	if m < 0 {
		return 0, invalid(field, "must not be negative")
	}
	return m, nil
}

func checkText(field, s string, max int) error {
	switch {
	case !utf8.ValidString(s):
		return invalid(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		return invalid(field, fmt.Sprintf("must be at most %d characters", max))
	case strings.ContainsRune(s, 0):
		return invalid(field, "must not contain NUL characters")
	}
	return nil
}

// LockOrder returns the keys of m (books, or sales) in the order of their
// ids' text, the one order in which every transaction locks the rows they
// key, so that two of them cannot deadlock (see Tx.Reserve).
func LockOrder[V any](m map[uuid.UUID]V) []uuid.UUID {
	return slices.SortedFunc(maps.Keys(m), CompareIDs)
}

// CompareIDs orders ids as their text sorts, and as PostgreSQL sorts
// uuids: byte by byte.
func CompareIDs(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }
