package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/worker"
)

// Store holds all data in memory.
type Store struct {
	mu        sync.RWMutex
	books     map[uuid.UUID]inventory.Book
	levels    map[uuid.UUID]inventory.Level
	sales     map[uuid.UUID]*sales.Sale
	movements []inventory.Movement
	saleMoves map[moveKey]bool
	outbox    []eventbus.OutboxRecord
	outboxIDs map[uuid.UUID]bool // the event ids in outbox
	published int                // outbox[:published] is all published
	seq       int64
	processed map[processedKey]time.Time // when the event was processed
	keys      map[scopedKey]keyEntry
	progress  map[uuid.UUID]worker.Progress
	stats     map[uuid.UUID]analytics.BookStats
	days      map[dayKey]*dayRollup
	now       func() time.Time

	wakeMu  sync.Mutex
	wakers  map[chan struct{}]bool
	leading chan struct{} // holds a token while no relay leads
}

type scopedKey struct{ scope, key string }

type dayKey struct{ zone, day string }

type dayRollup struct {
	sales.DaySales
	tax, discount sales.Money
	items         int64
	books         map[uuid.UUID]sales.BookSales
}

type keyEntry struct {
	hash      string
	claim     string // the request holding it
	claimedAt time.Time
	response  *sales.Response
}

type processedKey struct {
	group string
	event uuid.UUID
}

type moveKey struct {
	sale, book uuid.UUID
	typ        inventory.MovementType
}

// New returns an empty store.
func New() *Store {
	s := &Store{
		books:     map[uuid.UUID]inventory.Book{},
		levels:    map[uuid.UUID]inventory.Level{},
		sales:     map[uuid.UUID]*sales.Sale{},
		saleMoves: map[moveKey]bool{},
		outboxIDs: map[uuid.UUID]bool{},
		processed: map[processedKey]time.Time{},
		keys:      map[scopedKey]keyEntry{},
		progress:  map[uuid.UUID]worker.Progress{},
		stats:     map[uuid.UUID]analytics.BookStats{},
		days:      map[dayKey]*dayRollup{},
		now:       time.Now,
		wakers:    map[chan struct{}]bool{},
		leading:   make(chan struct{}, 1),
	}
	s.leading <- struct{}{}
	return s
}

// Sales returns the store as a sales.Store.
func (s *Store) Sales() sales.Store { return salesStore{s} }

// Inventory returns the store as an inventory.Store.
func (s *Store) Inventory() inventory.Store { return inventoryStore{s} }

// Outbox returns the store's outbox.
func (s *Store) Outbox() eventbus.Outbox { return outbox{s} }

// tx is one transaction: writes go straight to the store, each with an undo
// step that rollback runs in reverse.
type tx struct {
	s      *Store
	undo   []func()
	done   bool
	failed error // the first failed write: the transaction cannot commit
}

func (s *Store) inTx(ctx context.Context, fn func(*tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &tx{s: s}
	enqueued := len(s.outbox)
	defer func() {
		t.done = true
		if p := recover(); p != nil {
			t.rollback()
			panic(p)
		}
		if err != nil {
			t.rollback()
		} else if len(s.outbox) > enqueued {
			s.wake()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	if t.failed != nil {
		return t.failed
	}
	// A context cancelled while fn ran aborts the commit, as in PostgreSQL.
	return ctx.Err()
}

func (t *tx) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
}

// fails makes *err, when set, the transaction's failure: the writes that
// PostgreSQL sends with the next read or the commit (see sales.Tx) lose
// the transaction when they fail, there as here, whether or not the
// caller goes on.
func (t *tx) fails(err *error) {
	if *err != nil && t.failed == nil {
		t.failed = *err
	}
}

func (t *tx) check() error {
	if t.done {
		return fmt.Errorf("memory: transaction already ended")
	}
	return nil
}

// setLevel records the old level for rollback and writes l.
func (t *tx) setLevel(l inventory.Level) { put(t, t.s.levels, l.BookID, l) }

// put sets m[k] to v in t, restoring the old entry (or its absence) if t
// rolls back.
func put[K comparable, V any](t *tx, m map[K]V, k K, v V) {
	remember(t, m, k)
	m[k] = v
}

// remember makes a rollback of t restore m[k] as it is now.
func remember[K comparable, V any](t *tx, m map[K]V, k K) {
	old, had := m[k]
	t.undo = append(t.undo, func() {
		if had {
			m[k] = old
		} else {
			delete(m, k)
		}
	})
}

func copySale(s *sales.Sale) *sales.Sale {
	c := *s
	c.Lines = slices.Clone(s.Lines)
	return &c
}

// --- sales.Tx -------------------------------------------------------------

type salesStore struct{ s *Store }

func (a salesStore) InTx(ctx context.Context, fn func(sales.Tx) error) error {
	return a.s.inTx(ctx, func(t *tx) error { return fn(t) })
}

func (t *tx) Books(_ context.Context, ids []uuid.UUID) (map[uuid.UUID]sales.BookRef, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]sales.BookRef, len(ids))
	for _, id := range ids {
		if b, ok := t.s.books[id]; ok {
			out[id] = sales.BookRef{Price: b.Price, Available: b.Available}
		}
	}
	return out, nil
}

func (t *tx) Reserve(_ context.Context, qty map[uuid.UUID]int64) error {
	return t.addReserved(qty, 1, func(id uuid.UUID) error {
		return &sales.StockError{BookID: id.String(), Requested: qty[id]}
	})
}

func (t *tx) Release(_ context.Context, qty map[uuid.UUID]int64) error {
	return t.addReserved(qty, -1, func(id uuid.UUID) error {
		return fmt.Errorf("release %d of book %s: reservation too small", qty[id], id)
	})
}

// addReserved adds sign × the units of qty's books to their reserved
// stock, all or none: each quantity must be positive and each book's
// reserved stock stay from 0 to its on hand, or short is the error for
// the first book in sales.LockOrder that fails.
func (t *tx) addReserved(qty map[uuid.UUID]int64, sign int64, short func(uuid.UUID) error) (err error) {
	defer t.fails(&err)
	if err := t.check(); err != nil {
		return err
	}
	ids := sales.LockOrder(qty)
	for _, id := range ids {
		l, ok := t.s.levels[id]
		if r := l.Reserved + sign*qty[id]; !ok || qty[id] <= 0 || r < 0 || r > l.OnHand {
			return short(id)
		}
	}
	for _, id := range ids {
		l := t.s.levels[id]
		l.Reserved += sign * qty[id]
		t.setLevel(l)
	}
	return nil
}

func (t *tx) InsertSale(_ context.Context, s *sales.Sale) (err error) {
	defer t.fails(&err)
	if err := t.check(); err != nil {
		return err
	}
	if _, dup := t.s.sales[s.ID]; dup {
		return fmt.Errorf("insert sale %s: already exists", s.ID)
	}
	for _, l := range s.Lines {
		if _, ok := t.s.books[l.BookID]; !ok {
			return fmt.Errorf("insert sale %s: book %s: %w", s.ID, l.BookID, sales.ErrUnknownBook)
		}
	}
	t.s.sales[s.ID] = copySale(s)
	t.undo = append(t.undo, func() { delete(t.s.sales, s.ID) })
	return nil
}

func (t *tx) LockSale(_ context.Context, id uuid.UUID) (*sales.Sale, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	s, ok := t.s.sales[id]
	if !ok {
		return nil, fmt.Errorf("sale %s: %w", id, sales.ErrNotFound)
	}
	return copySale(s), nil
}

func (t *tx) UpdateSale(_ context.Context, s *sales.Sale) (err error) {
	defer t.fails(&err)
	if err := t.check(); err != nil {
		return err
	}
	old, ok := t.s.sales[s.ID]
	if !ok {
		return fmt.Errorf("update sale %s: %w", s.ID, sales.ErrNotFound)
	}
	t.s.sales[s.ID] = copySale(s)
	t.undo = append(t.undo, func() { t.s.sales[s.ID] = old })
	return nil
}

func (t *tx) Enqueue(_ context.Context, r eventbus.OutboxRecord) (err error) {
	defer t.fails(&err)
	if err := t.check(); err != nil {
		return err
	}
	if t.s.outboxIDs[r.EventID] {
		return fmt.Errorf("enqueue event %s: duplicate id", r.EventID)
	}
	t.s.outboxIDs[r.EventID] = true
	t.s.seq++
	r.Seq = t.s.seq
	r.PublishedAt = time.Time{}
	r.Message.Headers = slices.Clone(r.Message.Headers)
	r.Message.Value = slices.Clone(r.Message.Value)
	t.s.outbox = append(t.s.outbox, r)
	n := len(t.s.outbox)
	t.undo = append(t.undo, func() {
		t.s.outbox = t.s.outbox[:n-1]
		delete(t.s.outboxIDs, r.EventID)
	})
	return nil
}

func (a salesStore) Sale(_ context.Context, id uuid.UUID) (*sales.Sale, error) {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	s, ok := a.s.sales[id]
	if !ok {
		return nil, fmt.Errorf("sale %s: %w", id, sales.ErrNotFound)
	}
	return copySale(s), nil
}

func (a salesStore) Sales(_ context.Context, f sales.Filter) ([]*sales.Sale, int64, error) {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	var match []*sales.Sale
	for _, s := range a.s.sales {
		switch {
		case f.Status != "" && s.Status != f.Status,
			f.SellerID != "" && s.SellerID != f.SellerID,
			!f.From.IsZero() && s.CreatedAt.Before(f.From),
			!f.To.IsZero() && !s.CreatedAt.Before(f.To):
			continue
		}
		match = append(match, s)
	}
	slices.SortFunc(match, func(x, y *sales.Sale) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID.String(), x.ID.String())
	})
	out := []*sales.Sale{}
	for _, s := range page(match, f.Page, f.Limit) {
		out = append(out, copySale(s))
	}
	return out, int64(len(match)), nil
}

// page returns page p of all; zeros mean page 1 and the domains' default
// limit, as in PostgreSQL.
func page[T any](all []T, p, limit int) []T {
	if p < 1 {
		p = 1
	}
	if limit <= 0 {
		limit = sales.DefaultLimit
	}
	start := (p - 1) * limit
	if start >= len(all) {
		return nil
	}
	return all[start:min(start+limit, len(all))]
}

func (a salesStore) Summary(_ context.Context, q sales.SummaryQuery) (sales.Summary, error) {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	var sum sales.Summary
	days := map[string]*sales.DaySales{}
	books := map[uuid.UUID]*sales.BookSales{}
	for _, s := range a.s.sales {
		if s.Status != sales.StatusCompleted || s.PaidAt.Before(q.From) || !s.PaidAt.Before(q.To) {
			continue
		}
		sum.TotalSales++
		sum.TotalRevenue += s.Total
		sum.NetRevenue += s.Subtotal - s.Discount
		sum.TotalTax += s.Tax
		sum.TotalDiscount += s.Discount
		for _, l := range s.Lines {
			sum.TotalDiscount += l.Discount
			sum.TotalItems += l.Quantity
		}
		date := s.PaidAt.In(loc).Format(time.DateOnly)
		d := days[date]
		if d == nil {
			d = &sales.DaySales{Date: date}
			days[date] = d
		}
		d.Sales++
		d.Revenue += s.Total
		d.NetRevenue += s.Subtotal - s.Discount
		for id, n := range s.NetByBook() {
			b := books[id]
			if b == nil {
				b = &sales.BookSales{BookID: id}
				books[id] = b
			}
			b.UnitsSold += n.Units
			b.NetRevenue += n.Net
		}
	}
	for _, d := range days {
		sum.SalesByDay = append(sum.SalesByDay, *d)
	}
	slices.SortFunc(sum.SalesByDay, func(x, y sales.DaySales) int { return strings.Compare(x.Date, y.Date) })
	sum.TopBooks = topBooks(books, q.TopN)
	return sum, nil
}

// --- inventory.Tx ---------------------------------------------------------

type inventoryStore struct{ s *Store }

func (a inventoryStore) InTx(ctx context.Context, fn func(inventory.Tx) error) error {
	return a.s.inTx(ctx, func(t *tx) error { return fn(t) })
}

func (t *tx) InsertBook(_ context.Context, b *inventory.Book, minStock int64) error {
	if err := t.check(); err != nil {
		return err
	}
	if _, dup := t.s.books[b.ID]; dup {
		return fmt.Errorf("insert book %s: already exists", b.ID)
	}
	if b.Price < 0 || minStock < 0 {
		return fmt.Errorf("insert book %s: negative price or minimum stock", b.ID)
	}
	t.s.books[b.ID] = *b
	t.undo = append(t.undo, func() { delete(t.s.books, b.ID) })
	t.setLevel(inventory.Level{BookID: b.ID, MinStock: minStock})
	return nil
}

func (t *tx) LockBook(_ context.Context, id uuid.UUID) (*inventory.Book, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	b, ok := t.s.books[id]
	if !ok {
		return nil, fmt.Errorf("book %s: %w", id, inventory.ErrNotFound)
	}
	return &b, nil
}

func (t *tx) UpdateBook(_ context.Context, b *inventory.Book) error {
	if err := t.check(); err != nil {
		return err
	}
	old, ok := t.s.books[b.ID]
	if !ok {
		return fmt.Errorf("book %s: %w", b.ID, inventory.ErrNotFound)
	}
	t.s.books[b.ID] = *b
	t.undo = append(t.undo, func() { t.s.books[b.ID] = old })
	return nil
}

// SetMinStock sets the restock threshold of a book's stock level. As in
// PostgreSQL, where it is not queued, an unknown book leaves the
// transaction usable.
func (t *tx) SetMinStock(_ context.Context, bookID uuid.UUID, minStock int64) error {
	if err := t.check(); err != nil {
		return err
	}
	l, ok := t.s.levels[bookID]
	if !ok {
		return fmt.Errorf("book %s: %w", bookID, inventory.ErrNotFound)
	}
	if minStock < 0 {
		return fmt.Errorf("min stock %d: %w", minStock, inventory.ErrInvalid)
	}
	l.MinStock = minStock
	t.setLevel(l)
	return nil
}

// LockLevels returns the books' stock; see inventory.MovementTx. The
// store's transactions run one at a time, so there is nothing to lock.
func (t *tx) LockLevels(_ context.Context, bookIDs []uuid.UUID) ([]inventory.Level, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make([]inventory.Level, len(bookIDs))
	for i, id := range bookIDs {
		l, ok := t.s.levels[id]
		if !ok {
			return nil, fmt.Errorf("book %s: %w", id, inventory.ErrNotFound)
		}
		out[i] = l
	}
	return out, nil
}

// AddMovements appends the movements in order; see inventory.MovementTx.
func (t *tx) AddMovements(_ context.Context, cs []inventory.Change) (err error) {
	defer t.fails(&err)
	for _, c := range cs {
		if err := t.addMovement(c.Movement, c.ReservedDelta); err != nil {
			return err
		}
	}
	return nil
}

// addMovement enforces what the PostgreSQL schema's constraints enforce.
func (t *tx) addMovement(m inventory.Movement, reservedDelta int64) error {
	if err := t.check(); err != nil {
		return err
	}
	l, ok := t.s.levels[m.BookID]
	if !ok {
		return fmt.Errorf("movement for book %s: %w", m.BookID, inventory.ErrNotFound)
	}
	if m.Quantity == 0 || m.StockAfter != m.StockBefore+m.Quantity || m.StockBefore != l.OnHand {
		return fmt.Errorf("movement for book %s: inconsistent stock before/after", m.BookID)
	}
	saleMove := m.Type == inventory.Sale || m.Type == inventory.Return
	if saleMove != (m.SaleID != uuid.Nil) {
		return fmt.Errorf("movement for book %s: a sale id goes with SALE and RETURN only", m.BookID)
	}
	if saleMove {
		if _, ok := t.s.sales[m.SaleID]; !ok {
			return fmt.Errorf("movement for sale %s: %w", m.SaleID, sales.ErrNotFound)
		}
	}
	l.OnHand = m.StockAfter
	l.Reserved += reservedDelta
	if l.OnHand < 0 || l.Reserved < 0 || l.Reserved > l.OnHand {
		return fmt.Errorf("movement for book %s: %w", m.BookID, inventory.ErrInsufficientStock)
	}
	k := moveKey{m.SaleID, m.BookID, m.Type}
	if saleMove {
		if t.s.saleMoves[k] {
			return fmt.Errorf("%s movement for sale %s, book %s: %w", m.Type, m.SaleID, m.BookID, inventory.ErrDuplicateMovement)
		}
		t.s.saleMoves[k] = true
		t.undo = append(t.undo, func() { delete(t.s.saleMoves, k) })
	}
	t.setLevel(l)
	t.s.movements = append(t.s.movements, m)
	n := len(t.s.movements)
	t.undo = append(t.undo, func() { t.s.movements = t.s.movements[:n-1] })
	return nil
}

func (a inventoryStore) Book(_ context.Context, id uuid.UUID) (*inventory.Book, error) {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	b, ok := a.s.books[id]
	if !ok {
		return nil, fmt.Errorf("book %s: %w", id, inventory.ErrNotFound)
	}
	return &b, nil
}

func (a inventoryStore) Books(_ context.Context, p inventory.PageQuery) ([]*inventory.Book, int64, error) {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	all := make([]*inventory.Book, 0, len(a.s.books))
	for _, b := range a.s.books {
		all = append(all, &b)
	}
	slices.SortFunc(all, func(x, y *inventory.Book) int {
		return cmp.Or(strings.Compare(x.Title, y.Title), strings.Compare(x.ID.String(), y.ID.String()))
	})
	return append([]*inventory.Book{}, page(all, p.Page, p.Limit)...), int64(len(all)), nil
}

func (a inventoryStore) Level(_ context.Context, bookID uuid.UUID) (inventory.Level, error) {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	l, ok := a.s.levels[bookID]
	if !ok {
		return inventory.Level{}, fmt.Errorf("book %s: %w", bookID, inventory.ErrNotFound)
	}
	return l, nil
}

func (a inventoryStore) Levels(_ context.Context, p inventory.PageQuery) ([]inventory.Level, int64, error) {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	all := make([]inventory.Level, 0, len(a.s.levels))
	for _, l := range a.s.levels {
		all = append(all, l)
	}
	slices.SortFunc(all, func(x, y inventory.Level) int { return strings.Compare(x.BookID.String(), y.BookID.String()) })
	return append([]inventory.Level{}, page(all, p.Page, p.Limit)...), int64(len(all)), nil
}

func (a inventoryStore) Movements(_ context.Context, f inventory.MovementFilter) ([]inventory.Movement, int64, error) {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	var match []inventory.Movement
	for _, m := range a.s.movements {
		switch {
		case f.BookID != uuid.Nil && m.BookID != f.BookID,
			f.Type != "" && m.Type != f.Type,
			f.SaleID != uuid.Nil && m.SaleID != f.SaleID:
			continue
		}
		match = append(match, m)
	}
	return append([]inventory.Movement{}, page(match, f.Page, f.Limit)...), int64(len(match)), nil
}

// --- eventbus.Outbox ------------------------------------------------------

type outbox struct{ s *Store }

func (o outbox) Pending(_ context.Context, limit int) ([]eventbus.OutboxRecord, error) {
	o.s.mu.RLock()
	defer o.s.mu.RUnlock()
	var out []eventbus.OutboxRecord
	for _, r := range o.s.outbox[o.s.published:] {
		if len(out) >= limit {
			break
		}
		if r.PublishedAt.IsZero() {
			r.Message.Headers = slices.Clone(r.Message.Headers)
			out = append(out, r)
		}
	}
	return out, nil
}

func (o outbox) MarkPublished(_ context.Context, seqs []int64) error {
	o.s.mu.Lock()
	defer o.s.mu.Unlock()
	now := o.s.now().UTC()
	for _, seq := range seqs {
		i, ok := slices.BinarySearchFunc(o.s.outbox, seq, func(r eventbus.OutboxRecord, seq int64) int { return cmp.Compare(r.Seq, seq) })
		if ok && o.s.outbox[i].PublishedAt.IsZero() {
			o.s.outbox[i].PublishedAt = now
		}
	}
	o.s.advancePublished()
	return nil
}

func (o outbox) Backlog(_ context.Context) (int64, time.Time, error) {
	o.s.mu.RLock()
	defer o.s.mu.RUnlock()
	var n int64
	var oldest time.Time
	for _, r := range o.s.outbox[o.s.published:] {
		if r.PublishedAt.IsZero() {
			if n == 0 {
				oldest = r.CreatedAt
			}
			n++
		}
	}
	return n, oldest, nil
}

// MarkProcessed records that group processed eventID in this transaction;
// see eventbus.Deduper.
func (t *tx) MarkProcessed(_ context.Context, group string, eventID uuid.UUID) (bool, error) {
	if err := t.check(); err != nil {
		return false, err
	}
	k := processedKey{group, eventID}
	if _, ok := t.s.processed[k]; ok {
		return false, nil
	}
	put(t, t.s.processed, k, t.s.now().UTC())
	return true, nil
}

// advancePublished moves the index of the first unpublished record past
// the published records before it.
func (s *Store) advancePublished() {
	for s.published < len(s.outbox) && !s.outbox[s.published].PublishedAt.IsZero() {
		s.published++
	}
}

// PruneEvents deletes the outbox records published before cutoff and the
// processed-event records written before it, and returns how many of each
// it deleted; unpublished records stay. See (*postgres.DB).PruneEvents.
func (s *Store) PruneEvents(_ context.Context, cutoff time.Time) (outbox, processed int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.outbox[:0]
	for _, r := range s.outbox {
		if !r.PublishedAt.IsZero() && r.PublishedAt.Before(cutoff) {
			delete(s.outboxIDs, r.EventID)
			outbox++
			continue
		}
		kept = append(kept, r)
	}
	clear(s.outbox[len(kept):])
	s.outbox = kept
	s.published = 0
	s.advancePublished()
	for k, at := range s.processed {
		if at.Before(cutoff) {
			delete(s.processed, k)
			processed++
		}
	}
	return outbox, processed, nil
}

// InTx runs fn in one transaction whose Tx serves every domain at once
// (sales.Tx, inventory.Tx, analytics.Tx, worker.Tx and eventbus.Deduper),
// for workers that apply an event's effects and record it together.
func (s *Store) InTx(ctx context.Context, fn func(*Tx) error) error {
	return s.inTx(ctx, func(t *tx) error { return fn(&Tx{t}) })
}

// Tx is a transaction of the store, valid only inside the function given
// to InTx.
type Tx struct{ *tx }

// Leader returns the store's relay leadership: one holder at a time within
// the process. See eventbus.Leader.
func (s *Store) Leader() eventbus.Leader { return leader{s} }

type leader struct{ s *Store }

func (l leader) Lead(ctx context.Context) (context.Context, func(), error) {
	select {
	case <-l.s.leading:
		lctx, cancel := context.WithCancel(ctx)
		var once sync.Once
		return lctx, func() { once.Do(func() { cancel(); l.s.leading <- struct{}{} }) }, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// Waker returns wake-ups for the relay, sent when a transaction that
// enqueued records commits. See eventbus.Waker.
func (s *Store) Waker() eventbus.Waker { return waker{s} }

type waker struct{ s *Store }

func (w waker) Wake(ctx context.Context) (<-chan struct{}, error) {
	ch := make(chan struct{}, 1)
	w.s.wakeMu.Lock()
	w.s.wakers[ch] = true
	w.s.wakeMu.Unlock()
	context.AfterFunc(ctx, func() {
		w.s.wakeMu.Lock()
		delete(w.s.wakers, ch)
		w.s.wakeMu.Unlock()
	})
	return ch, nil
}

func (s *Store) wake() {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	for ch := range s.wakers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// --- sales.KeyTx ----------------------------------------------------------

func (t *tx) setKey(k scopedKey, e *keyEntry) {
	remember(t, t.s.keys, k)
	if e == nil {
		delete(t.s.keys, k)
	} else {
		t.s.keys[k] = *e
	}
}

func (t *tx) ClaimNewKey(_ context.Context, k sales.IdempotencyKey, now time.Time) (err error) {
	defer t.fails(&err)
	if err := t.check(); err != nil {
		return err
	}
	sk := scopedKey{k.Scope, k.Key}
	if _, ok := t.s.keys[sk]; ok {
		return fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyExists)
	}
	t.setKey(sk, &keyEntry{hash: k.Hash, claim: k.Claim, claimedAt: now})
	return nil
}

func (t *tx) ClaimKey(_ context.Context, k sales.IdempotencyKey, now time.Time) (*sales.Response, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	sk := scopedKey{k.Scope, k.Key}
	e, ok := t.s.keys[sk]
	switch {
	case !ok,
		e.response != nil && !e.claimedAt.After(now.Add(-sales.KeyTTL)),
		e.response == nil && !e.claimedAt.After(now.Add(-sales.KeyStaleAfter)) && e.hash == k.Hash:
		t.setKey(sk, &keyEntry{hash: k.Hash, claim: k.Claim, claimedAt: now})
		return nil, nil
	case e.hash != k.Hash:
		return nil, fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyReused)
	case e.response == nil:
		return nil, fmt.Errorf("key %q: %w", k.Key, sales.ErrKeyInFlight)
	}
	r := *e.response
	r.Body = slices.Clone(r.Body)
	return &r, nil
}

func (t *tx) SaveResponse(_ context.Context, k sales.IdempotencyKey, r sales.Response, _ time.Time) (err error) {
	defer t.fails(&err)
	if err := t.check(); err != nil {
		return err
	}
	sk := scopedKey{k.Scope, k.Key}
	e, ok := t.s.keys[sk]
	if !ok || e.hash != k.Hash || e.claim != k.Claim || e.response != nil {
		return fmt.Errorf("save response for key %q: this request no longer holds the claim, or a response was stored: %w", k.Key, sales.ErrKeyInFlight)
	}
	r.Body = slices.Clone(r.Body)
	e.response = &r
	t.setKey(sk, &e)
	return nil
}

func (t *tx) ReleaseKey(_ context.Context, k sales.IdempotencyKey) error {
	if err := t.check(); err != nil {
		return err
	}
	sk := scopedKey{k.Scope, k.Key}
	if e, ok := t.s.keys[sk]; ok && e.response == nil && e.hash == k.Hash && e.claim == k.Claim {
		t.setKey(sk, nil)
	}
	return nil
}

func (t *tx) SweepKeys(_ context.Context, cutoff time.Time) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	var n int64
	for k, e := range t.s.keys {
		if e.claimedAt.Before(cutoff) {
			t.setKey(k, nil)
			n++
		}
	}
	return n, nil
}

// --- worker.Tx and analytics ----------------------------------------------

var _ worker.Tx = (*Tx)(nil)

// LockProgress returns the sales' progress; see worker.Tx.
func (t *tx) LockProgress(_ context.Context, saleIDs []uuid.UUID) ([]worker.Progress, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make([]worker.Progress, len(saleIDs))
	for i, id := range saleIDs {
		p, ok := t.s.progress[id]
		if !ok {
			p = worker.Progress{SaleID: id}
		}
		out[i] = p
	}
	return out, nil
}

// SaveProgress stores the sales' progress; see worker.Tx.
func (t *tx) SaveProgress(_ context.Context, ps []worker.Progress) (err error) {
	defer t.fails(&err)
	if err := t.check(); err != nil {
		return err
	}
	for _, p := range ps {
		if err := t.saveProgress(p); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) saveProgress(p worker.Progress) error {
	if old, had := t.s.progress[p.SaleID]; had && p.Version < old.Version {
		return fmt.Errorf("progress of sale %s: version %d below %d", p.SaleID, p.Version, old.Version)
	}
	put(t, t.s.progress, p.SaleID, p)
	return nil
}

// AddBookStats adds each delta in order; see analytics.Tx.
func (t *tx) AddBookStats(_ context.Context, ds []analytics.Delta) (err error) {
	defer t.fails(&err)
	if err := t.check(); err != nil {
		return err
	}
	for _, d := range ds {
		if err := t.addBookStats(d); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) addBookStats(d analytics.Delta) error {
	if _, ok := t.s.books[d.BookID]; !ok {
		return fmt.Errorf("statistics of book %s: %w", d.BookID, inventory.ErrNotFound)
	}
	st := t.s.stats[d.BookID]
	st.BookID = d.BookID
	st.UnitsSold += d.Units
	st.NetRevenue += d.NetRevenue
	st.SalesCount += d.Sales
	if st.UnitsSold < 0 || st.SalesCount < 0 {
		return fmt.Errorf("statistics of book %s would go negative", d.BookID)
	}
	if !d.At.IsZero() {
		if st.FirstSaleAt.IsZero() || d.At.Before(st.FirstSaleAt) {
			st.FirstSaleAt = d.At
		}
		if d.At.After(st.LastSaleAt) {
			st.LastSaleAt = d.At
		}
	}
	put(t, t.s.stats, d.BookID, st)
	return nil
}

// Analytics returns the store as an analytics.Store.
func (s *Store) Analytics() analytics.Store { return analyticsStore{s} }

type analyticsStore struct{ s *Store }

func (a analyticsStore) BookStats(_ context.Context, bookID uuid.UUID) (analytics.BookStats, error) {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	st, ok := a.s.stats[bookID]
	if !ok {
		return analytics.BookStats{}, fmt.Errorf("book %s: %w", bookID, analytics.ErrNotFound)
	}
	return st, nil
}

func (a analyticsStore) AllBookStats(_ context.Context, p, limit int) ([]analytics.BookStats, int64, error) {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	all := make([]analytics.BookStats, 0, len(a.s.stats))
	for _, st := range a.s.stats {
		all = append(all, st)
	}
	slices.SortFunc(all, func(x, y analytics.BookStats) int { return strings.Compare(x.BookID.String(), y.BookID.String()) })
	return append([]analytics.BookStats{}, page(all, p, limit)...), int64(len(all)), nil
}

// Progress returns how far the worker brought a sale (zero when never seen).
func (s *Store) Progress(_ context.Context, saleID uuid.UUID) (worker.Progress, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.progress[saleID]
	if !ok {
		p = worker.Progress{SaleID: saleID}
	}
	return p, nil
}

// AddDay adds d to its day's rollup; see analytics.Tx.
func (t *tx) AddDay(_ context.Context, d analytics.DayDelta) (err error) {
	defer t.fails(&err)
	if err := t.check(); err != nil {
		return err
	}
	k := dayKey{d.Zone, d.Day}
	old, had := t.s.days[k]
	r := &dayRollup{DaySales: sales.DaySales{Date: d.Day}, books: map[uuid.UUID]sales.BookSales{}}
	if had {
		*r = *old
		r.books = maps.Clone(old.books)
	}
	r.Sales += d.Sales
	r.Revenue += d.Revenue
	r.NetRevenue += d.Net
	r.tax += d.Tax
	r.discount += d.Discount
	r.items += d.Items
	for _, b := range d.Books {
		bs := r.books[b.BookID]
		bs.BookID = b.BookID
		bs.UnitsSold += b.Units
		bs.NetRevenue += b.Net
		r.books[b.BookID] = bs
	}
	put(t, t.s.days, k, r)
	return nil
}

// Rollups returns the summary as the worker's daily rollups answer it:
// without reading the sales, behind them by the worker's delay.
func (s *Store) Rollups() sales.Summarizer { return rollups{s} }

type rollups struct{ s *Store }

func (r rollups) Summary(_ context.Context, q sales.SummaryQuery) (sales.Summary, error) {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	from, to := q.From.In(loc).Format(time.DateOnly), q.To.In(loc).Format(time.DateOnly)
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	var sum sales.Summary
	books := map[uuid.UUID]*sales.BookSales{}
	for k, d := range r.s.days {
		if k.zone != loc.String() || k.day < from || k.day >= to {
			continue
		}
		sum.TotalSales += d.Sales
		sum.TotalRevenue += d.Revenue
		sum.NetRevenue += d.NetRevenue
		sum.TotalTax += d.tax
		sum.TotalDiscount += d.discount
		sum.TotalItems += d.items
		if d.Sales != 0 {
			sum.SalesByDay = append(sum.SalesByDay, d.DaySales)
		}
		for id, b := range d.books {
			acc := books[id]
			if acc == nil {
				acc = &sales.BookSales{BookID: id}
				books[id] = acc
			}
			acc.UnitsSold += b.UnitsSold
			acc.NetRevenue += b.NetRevenue
		}
	}
	slices.SortFunc(sum.SalesByDay, func(x, y sales.DaySales) int { return strings.Compare(x.Date, y.Date) })
	sum.TopBooks = topBooks(books, q.TopN)
	return sum, nil
}

// topBooks ranks books by units, then net revenue, then id, leaving out
// books with nothing sold.
func topBooks(books map[uuid.UUID]*sales.BookSales, n int) []sales.BookSales {
	var out []sales.BookSales
	for _, b := range books {
		if b.UnitsSold != 0 {
			out = append(out, *b)
		}
	}
	slices.SortFunc(out, func(x, y sales.BookSales) int {
		return cmp.Or(cmp.Compare(y.UnitsSold, x.UnitsSold), cmp.Compare(y.NetRevenue, x.NetRevenue),
			strings.Compare(x.BookID.String(), y.BookID.String()))
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
