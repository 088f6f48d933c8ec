package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres/internal/db"
)

// tx is one READ COMMITTED transaction, seen as a sales.Tx, an
// inventory.Tx or an eventbus.Deduper. It is valid only inside the function
// given to InTx.
type tx struct {
	q        *db.Queries
	p        *pipe
	enqueued bool       // relays are woken after the commit
	claims   []newClaim // idempotency keys claimed as new, to write (see ClaimNewKey)
}

// later runs fn, a write whose answer the caller does not wait for, queued:
// it is sent with the transaction's next statement that must be answered,
// or with its COMMIT, and check turns the server's error for any of its
// statements into the error to return (see pipe).
func (t *tx) later(fn func() error, check func(error) error) error {
	return t.p.collect(fn, check)
}

// unmet reports whether err is a guarded write's salesflow_expect failing:
// it matched fewer rows than it must.
func unmet(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "SF001"
}

var (
	_ sales.Tx         = (*tx)(nil)
	_ inventory.Tx     = (*tx)(nil)
	_ eventbus.Deduper = (*tx)(nil)
)

// Tx is one READ COMMITTED transaction that serves every domain at once: it
// is a sales.Tx, an inventory.Tx, an analytics.Tx, a worker.Tx, an
// eventbus.BatchDeduper and an eventbus.FirstMarker, for workers that
// apply an event's effects and record the event as processed together (see
// eventbus.Idempotent). It is valid only inside the function given to
// (*DB).InTx, and not safe for concurrent use.
type Tx struct{ *tx }

var (
	_ sales.Tx              = (*Tx)(nil)
	_ inventory.Tx          = (*Tx)(nil)
	_ eventbus.Deduper      = (*Tx)(nil)
	_ eventbus.BatchDeduper = (*Tx)(nil)
	_ eventbus.FirstMarker  = (*Tx)(nil)
)

// --- sales.Tx ---

// Books returns the price and availability of the books with the given ids,
// in one statement (BookRefs) that PostgreSQL plans once per connection.
func (t *tx) Books(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]sales.BookRef, error) {
	rows, err := t.q.BookRefs(ctx, pad(ids))
	if err != nil {
		return nil, fmt.Errorf("books: %w", err)
	}
	out := make(map[uuid.UUID]sales.BookRef, len(rows))
	for _, r := range rows {
		out[r.ID] = sales.BookRef{Price: sales.Money(r.Price), Available: r.Available}
	}
	return out, nil
}

// lockOrder returns ids distinct and in ascending order, the order in
// which every transaction locks the rows of a table keyed by them (stock
// levels, as sales.LockOrder; the worker's progress records).
func lockOrder(ids []uuid.UUID) []uuid.UUID {
	out := slices.Clone(ids)
	slices.SortFunc(out, sales.CompareIDs)
	return slices.Compact(out)
}

// genericArray is the number of elements PostgreSQL assumes for an array
// parameter when it costs a statement's generic plan.
const genericArray = 10

// pad returns s with its last element repeated up to genericArray
// elements. PostgreSQL costs a plan for the values of each call with the
// array's length and the generic plan it would keep with genericArray
// elements, so a shorter array always made the plan for the values look
// cheaper, and a statement was planned anew at every call: BookRefs at
// every sale (0.09 ms, 71 % of its time at full load, from
// pg_stat_statements in the twelfth session), LockProgress in every
// worker transaction (0.17 ms a plan, more than it ran, at half load in
// the thirteenth). The statements that take padded ids (BookRefs,
// LockLevels, LockProgress) look each id up by the primary key, a
// repeated one again, from pages just read, and their callers keep one
// row per id. None stays none.
func pad[T any](s []T) []T {
	if len(s) == 0 || len(s) >= genericArray {
		return s
	}
	out := make([]T, genericArray)
	copy(out, s)
	for i := len(s); i < genericArray; i++ {
		out[i] = s[len(s)-1]
	}
	return out
}

// Reserve reserves the units of qty's books in one guarded statement,
// queued (see tx.later), locking their levels in sales.LockOrder; when a
// book has fewer available (or no stock level, or its quantity is not
// positive) it, or the statement that sends it, returns a
// *sales.StockError naming the first such book in that order, and the
// transaction changes nothing.
func (t *tx) Reserve(ctx context.Context, qty map[uuid.UUID]int64) error {
	return t.addReserved(ctx, "reserve", qty, 1, sales.ErrInsufficientStock, func(id uuid.UUID, q int64) error {
		return &sales.StockError{BookID: id.String(), Requested: q}
	})
}

// errReservedShort is Release's error when fewer units are reserved.
var errReservedShort = errors.New("fewer units reserved")

// Release returns the reserved units of qty's books to available stock in
// one statement, queued, locking as Reserve does. Releasing more than is
// reserved, or a quantity that is not positive, is an error that changes
// nothing.
func (t *tx) Release(ctx context.Context, qty map[uuid.UUID]int64) error {
	return t.addReserved(ctx, "release", qty, -1, errReservedShort, func(id uuid.UUID, q int64) error {
		return fmt.Errorf("release %d of book %s: %w", q, id, errReservedShort)
	})
}

// addReserved adds sign × the units of qty's books to their reserved
// stock in one queued statement (AddReserved), the books in
// sales.LockOrder. short is the error for the first book whose guard
// failed; unmetErr is wrapped when the server's error does not name it.
func (t *tx) addReserved(ctx context.Context, verb string, qty map[uuid.UUID]int64, sign int32, unmetErr error, short func(uuid.UUID, int64) error) error {
	ids := sales.LockOrder(qty)
	if len(ids) == 0 {
		return nil
	}
	qs := make([]int64, len(ids))
	for i, id := range ids {
		qs[i] = qty[id]
	}
	return t.later(func() error {
		return t.q.AddReserved(ctx, db.AddReservedParams{BookIds: ids, Qtys: qs, Sign: sign})
	}, func(err error) error {
		if !unmet(err) {
			return fmt.Errorf("%s %d books: %w", verb, len(ids), translate(err))
		}
		if i, ok := detailIndex(err, len(ids)); ok {
			return short(ids[i], qs[i])
		}
		return fmt.Errorf("%s %d books: %w", verb, len(ids), unmetErr)
	})
}

// detailIndex returns the index of the row that err's DETAIL names, a
// place from 1 to n, as the schema's functions that write n rows report
// the first they could not (salesflow_add_reserved,
// salesflow_save_progress, salesflow_movements_applied), and whether it
// names one.
func detailIndex(err error, n int) (int, bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return 0, false
	}
	i, perr := strconv.Atoi(pe.Detail)
	if perr != nil || i < 1 || i > n {
		return 0, false
	}
	return i - 1, true
}

// InsertSale stores a sale and its lines, each with its net revenue
// (sales.Sale.LineNets), in two queued statements. A line naming an unknown
// book wraps sales.ErrUnknownBook.
func (t *tx) InsertSale(ctx context.Context, s *sales.Sale) error {
	nets := s.LineNets()
	items := db.InsertSaleItemsParams{
		SaleID: s.ID, BookIds: make([]uuid.UUID, len(s.Lines)), Quantities: make([]int64, len(s.Lines)),
		UnitPrices: make([]int64, len(s.Lines)), Discounts: make([]int64, len(s.Lines)),
		Subtotals: make([]int64, len(s.Lines)), Nets: make([]int64, len(s.Lines)),
	}
	for i, l := range s.Lines {
		items.BookIds[i], items.Quantities[i], items.UnitPrices[i] = l.BookID, l.Quantity, int64(l.UnitPrice)
		items.Discounts[i], items.Subtotals[i], items.Nets[i] = int64(l.Discount), int64(l.Subtotal), int64(nets[i])
	}
	return t.later(func() error {
		err := t.q.InsertSale(ctx, db.InsertSaleParams{
			ID: s.ID, Status: string(s.Status), Version: s.Version, SellerID: s.SellerID,
			CustomerName: nullable(s.CustomerName), CustomerEmail: nullable(s.CustomerEmail), Notes: nullable(s.Notes),
			Subtotal: int64(s.Subtotal), Discount: int64(s.Discount), Tax: int64(s.Tax), Total: int64(s.Total),
			Currency:      s.Currency.Code(),
			PaymentMethod: nullable(string(s.PaymentMethod)), PaymentReference: nullable(s.PaymentReference),
			PaidAt: nullableTime(s.PaidAt), CancelledAt: nullableTime(s.CancelledAt), CancelReason: nullable(s.CancelReason),
			CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		})
		if err != nil {
			return err
		}
		return t.q.InsertSaleItems(ctx, items)
	}, func(err error) error {
		return fmt.Errorf("insert sale %s: %w", s.ID, translate(err))
	})
}

// LockSale returns a sale with its lines, in one statement, locking its
// row until the transaction ends, or an error wrapping sales.ErrNotFound.
func (t *tx) LockSale(ctx context.Context, id uuid.UUID) (*sales.Sale, error) {
	rows, err := t.q.LockSale(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("lock sale %s: %w", id, err)
	}
	parts := func(r db.LockSaleRow) (db.Sale, db.SaleItem) { return r.Sale, r.SaleItem }
	return joined(id, rows, parts, func() (db.Sale, error) { return t.q.LockSaleRow(ctx, id) })
}

// UpdateSale stores the status fields, version and update time of a sale,
// queued, or returns an error wrapping sales.ErrNotFound.
func (t *tx) UpdateSale(ctx context.Context, s *sales.Sale) error {
	return t.later(func() error {
		return t.q.UpdateSale(ctx, db.UpdateSaleParams{
			ID: s.ID, Status: string(s.Status), Version: s.Version,
			PaymentMethod: nullable(string(s.PaymentMethod)), PaymentReference: nullable(s.PaymentReference),
			PaidAt: nullableTime(s.PaidAt), CancelledAt: nullableTime(s.CancelledAt), CancelReason: nullable(s.CancelReason),
			UpdatedAt: s.UpdatedAt,
		})
	}, func(err error) error {
		if unmet(err) {
			return fmt.Errorf("update sale %s: %w", s.ID, sales.ErrNotFound)
		}
		return fmt.Errorf("update sale %s: %w", s.ID, translate(err))
	})
}

// Enqueue writes r to the outbox (headers as a JSON object, or an array of
// pairs when a key repeats; a zero CreatedAt means now) in one queued
// statement; relays are woken after the commit (see OutboxChannel).
func (t *tx) Enqueue(ctx context.Context, r eventbus.OutboxRecord) error {
	h, err := encodeHeaders(r.Message.Headers)
	if err != nil {
		return fmt.Errorf("enqueue event %s: %w", r.EventID, err)
	}
	value := r.Message.Value
	if value == nil {
		value = []byte{} // NOT NULL: nil would be sent as NULL
	}
	t.enqueued = true
	return t.later(func() error {
		return t.q.Enqueue(ctx, db.EnqueueParams{
			EventID: r.EventID, Topic: r.Message.Topic, Key: r.Message.Key,
			Headers: h, Value: value, CreatedAt: nullableTime(r.CreatedAt),
		})
	}, func(err error) error {
		return fmt.Errorf("enqueue event %s: %w", r.EventID, err)
	})
}

// --- eventbus.Deduper ---

// MarkProcessed records that group processed eventID in this transaction
// and reports whether it is the first time; see eventbus.Deduper. When
// another transaction has recorded the same pair and not yet ended,
// MarkProcessed waits for it: it reports false if that transaction commits,
// and true if it rolls back.
func (t *tx) MarkProcessed(ctx context.Context, group string, eventID uuid.UUID) (bool, error) {
	n, err := t.q.MarkProcessed(ctx, db.MarkProcessedParams{ConsumerGroup: group, EventID: eventID})
	if err != nil {
		return false, fmt.Errorf("mark event %s processed by %q: %w", eventID, group, err)
	}
	return n == 1, nil
}

// MarkFirst records that group processed eventID, which must be the first
// time, without waiting: the statement is queued (see tx.later), and when
// group processed eventID before, the next statement or the commit fails
// with an error wrapping an *eventbus.ProcessedBeforeError. A transaction that
// recorded the same pair and has not ended is waited for, as by
// MarkProcessed. See eventbus.FirstMarker.
func (t *tx) MarkFirst(ctx context.Context, group string, eventID uuid.UUID) error {
	return t.later(func() error {
		return t.q.MarkFirst(ctx, db.MarkFirstParams{ConsumerGroup: group, EventID: eventID})
	}, func(err error) error {
		if unmet(err) {
			return &eventbus.ProcessedBeforeError{Group: group, EventID: eventID}
		}
		return fmt.Errorf("mark event %s processed by %q: %w", eventID, group, err)
	})
}

// MarkProcessedAll records that group processed eventIDs in one statement
// and reports for each whether it is the first time; see
// eventbus.BatchDeduper and MarkProcessed.
func (t *tx) MarkProcessedAll(ctx context.Context, group string, eventIDs []uuid.UUID) ([]bool, error) {
	if len(eventIDs) == 0 {
		return nil, nil
	}
	ids, err := t.q.MarkProcessedAll(ctx, db.MarkProcessedAllParams{ConsumerGroup: group, EventIds: eventIDs})
	if err != nil {
		return nil, fmt.Errorf("mark %d events processed by %q: %w", len(eventIDs), group, err)
	}
	recorded := rowsByID(ids, func(id uuid.UUID) uuid.UUID { return id })
	out := make([]bool, len(eventIDs))
	for i, id := range eventIDs {
		_, out[i] = recorded[id]
	}
	return out, nil
}

// --- inventory.Tx ---

// InsertBook stores a new book and its empty stock level in one statement.
// A negative price or minimum stock violates the schema and is an error.
func (t *tx) InsertBook(ctx context.Context, b *inventory.Book, minStock int64) error {
	err := t.q.InsertBook(ctx, db.InsertBookParams{
		ID: b.ID, Title: b.Title, Author: b.Author, Price: int64(b.Price), Available: b.Available,
		CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt, MinStock: minStock,
	})
	if err != nil {
		return fmt.Errorf("insert book %s: %w", b.ID, translate(err))
	}
	return nil
}

// LockBook returns a book, locking its row until the transaction ends, or
// an error wrapping inventory.ErrNotFound.
func (t *tx) LockBook(ctx context.Context, id uuid.UUID) (*inventory.Book, error) {
	row, err := t.q.LockBook(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("book %s: %w", id, inventory.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lock book %s: %w", id, err)
	}
	return bookFromRow(row), nil
}

// UpdateBook stores a book's fields, or returns an error wrapping
// inventory.ErrNotFound.
func (t *tx) UpdateBook(ctx context.Context, b *inventory.Book) error {
	n, err := t.q.UpdateBook(ctx, db.UpdateBookParams{
		ID: b.ID, Title: b.Title, Author: b.Author, Price: int64(b.Price), Available: b.Available,
		UpdatedAt: b.UpdatedAt,
	})
	if err != nil {
		return fmt.Errorf("update book %s: %w", b.ID, translate(err))
	}
	if n == 0 {
		return fmt.Errorf("update book %s: %w", b.ID, inventory.ErrNotFound)
	}
	return nil
}

// SetMinStock sets the restock threshold of a book's stock level, or
// returns an error wrapping inventory.ErrNotFound; a negative one violates
// the schema.
func (t *tx) SetMinStock(ctx context.Context, bookID uuid.UUID, minStock int64) error {
	n, err := t.q.SetMinStock(ctx, db.SetMinStockParams{BookID: bookID, MinStock: minStock})
	if err != nil {
		return fmt.Errorf("min stock of book %s: %w", bookID, translate(err))
	}
	if n == 0 {
		return fmt.Errorf("book %s: %w", bookID, inventory.ErrNotFound)
	}
	return nil
}

// LockLevels returns the books' stock in the order of bookIDs, locking
// their rows in ascending book-id order in one statement, or an error
// wrapping inventory.ErrNotFound naming a book without a level.
func (t *tx) LockLevels(ctx context.Context, bookIDs []uuid.UUID) ([]inventory.Level, error) {
	if len(bookIDs) == 0 {
		return nil, nil
	}
	rows, err := t.q.LockLevels(ctx, pad(lockOrder(bookIDs)))
	if err != nil {
		return nil, fmt.Errorf("lock stock levels: %w", err)
	}
	byID := rowsByID(rows, func(r db.StockLevel) uuid.UUID { return r.BookID })
	out := make([]inventory.Level, len(bookIDs))
	for i, id := range bookIDs {
		r, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("book %s: %w", id, inventory.ErrNotFound)
		}
		out[i] = levelFromRow(r)
	}
	return out, nil
}

// AddMovements appends each movement to the ledger and sets its level to
// on hand StockAfter and reserved plus ReservedDelta, in one statement per
// movement that writes both or neither (from listFrom movements on, one
// statement for all), queued (see tx.later): the error of the
// first change that fails comes back from the transaction's next statement
// or its commit, and the transaction is lost. Errors:
// inventory.ErrNotFound for an unknown book; inventory.ErrDuplicateMovement
// for a second SALE or RETURN of one sale and book;
// inventory.ErrInsufficientStock when stock would go negative or below
// what is reserved; sales.ErrNotFound for an unknown sale; a plain error
// when on hand is not StockBefore (the level was not locked) or a movement
// breaks another rule of the ledger.
func (t *tx) AddMovements(ctx context.Context, cs []inventory.Change) error {
	if len(cs) >= listFrom {
		return t.addMovementList(ctx, cs)
	}
	for _, c := range cs {
		m := c.Movement
		p := db.AddMovementsParams{
			ID: m.ID, BookID: m.BookID, Type: string(m.Type), Quantity: m.Quantity,
			StockBefore: m.StockBefore, StockAfter: m.StockAfter,
			SaleID: nullable(m.SaleID), Reason: nullable(m.Reason), CreatedAt: m.CreatedAt,
			ReservedDelta: c.ReservedDelta,
		}
		err := t.later(func() error {
			return t.q.AddMovements(ctx, p)
		}, func(err error) error {
			return movementError(m, err)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// listFrom is the fewest movements AddMovements writes in one statement
// (AddMovementList). It was chosen when that statement was planned anew
// at every run (0.8 ms), so that the movements of one or two sales, as a
// worker that is not busy applies them, went one statement each. The
// statement is now planned once per connection; a threshold of 2,
// measured since at 120 lifecycles/s (where most worker transactions
// hold one sale), changed nothing (PostgreSQL CPU per lifecycle ×1.00).
const listFrom = 7

// addMovementList is AddMovements for several changes, in one statement;
// a book's level moves once, to its last movement's StockAfter.
func (t *tx) addMovementList(ctx context.Context, cs []inventory.Change) error {
	n := len(cs)
	p := db.AddMovementListParams{
		Ids: make([]uuid.UUID, n), BookIds: make([]uuid.UUID, n), Types: make([]string, n),
		Quantities: make([]int64, n), StockBefores: make([]int64, n), StockAfters: make([]int64, n),
		SaleIds: make([]uuid.UUID, n), Reasons: make([]string, n), CreatedAts: make([]time.Time, n),
		ReservedDeltas: make([]int64, n),
	}
	for i, c := range cs {
		m := c.Movement
		p.Ids[i], p.BookIds[i], p.Types[i], p.Quantities[i] = m.ID, m.BookID, string(m.Type), m.Quantity
		p.StockBefores[i], p.StockAfters[i], p.SaleIds[i], p.Reasons[i] = m.StockBefore, m.StockAfter, m.SaleID, m.Reason
		p.CreatedAts[i], p.ReservedDeltas[i] = m.CreatedAt, c.ReservedDelta
	}
	return t.later(func() error {
		return t.q.AddMovementList(ctx, p)
	}, func(err error) error {
		// salesflow_movements_applied names the movement in its DETAIL;
		// a constraint names none, and the first one stands for all.
		if i, ok := detailIndex(err, n); ok {
			return movementError(cs[i].Movement, err)
		}
		return fmt.Errorf("%d movements, the first of book %s: %w", n, cs[0].BookID, translate(err))
	})
}

// movementError turns the failure of m's AddMovements statement into the
// error to return: salesflow_movement_applied's SQLSTATE (migration 00009)
// says why a movement was not applied.
func movementError(m inventory.Movement, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "SF002":
			return fmt.Errorf("%s movement: book %s: %w", m.Type, m.BookID, inventory.ErrNotFound)
		case "SF003":
			return fmt.Errorf("%s movement for sale %s, book %s: %w", m.Type, m.SaleID, m.BookID, inventory.ErrDuplicateMovement)
		case "SF004":
			return fmt.Errorf("%s movement %s: id already used", m.Type, m.ID)
		case "SF005":
			return fmt.Errorf("%s movement of book %s: on hand is not %d; lock the level first", m.Type, m.BookID, m.StockBefore)
		}
	}
	return fmt.Errorf("%s movement of book %s: %w", m.Type, m.BookID, translate(err))
}

// rowsByID indexes rows by the id key returns, to answer a query over
// several ids in the order they were asked in.
func rowsByID[R any](rows []R, key func(R) uuid.UUID) map[uuid.UUID]R {
	m := make(map[uuid.UUID]R, len(rows))
	for _, r := range rows {
		m[key(r)] = r
	}
	return m
}

// nullable returns nil for the zero value, which the schema stores as NULL.
func nullable[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// value returns *p, or the zero value for nil.
func value[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

func nullableTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// utc returns *p in UTC, or the zero time for nil.
func utc(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.UTC()
}
