package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// Stores is one empty store, seen through each domain's interface.
type Stores struct {
	Sales     sales.Store
	Inventory inventory.Store
	Outbox    eventbus.Outbox
}

// StoreHarness returns a new, empty store for one test. It is called once per
// subtest, possibly from parallel subtests; release resources with t.Cleanup.
type StoreHarness func(t *testing.T) Stores

// RunStoreTests checks that the stores returned by newStores behave as the
// sales, inventory and outbox contracts say: atomic reservations under
// concurrency, all-or-nothing writes, typed errors, lists, the summary and
// the outbox. Each case is a named subtest.
func RunStoreTests(t *testing.T, newStores StoreHarness) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(*testing.T, *fixture)
	}{
		{"Books", testBooks},
		{"CreateReserves", testCreateReserves},
		{"SameBookLinesSummed", testSameBookLinesSummed},
		{"CreateAllOrNothing", testCreateAllOrNothing},
		{"ReserveReleaseAllOrNone", testReserveReleaseAllOrNone},
		{"LastUnitsRace", testLastUnitsRace},
		{"MultiBookRaceNoDeadlock", testMultiBookRace},
		{"LockLevelsNoDeadlock", testLockLevelsRace},
		{"BadInputWritesNothing", testBadInput},
		{"Complete", testComplete},
		{"CancelPendingReleases", testCancelPending},
		{"CancelCompleted", testCancelCompleted},
		{"IllegalTransitions", testIllegalTransitions},
		{"NotFound", testNotFound},
		{"List", testList},
		{"Summary", testSummary},
		{"ManualMovements", testManualMovements},
		{"SaleMovementsUnique", testSaleMovementsUnique},
		{"SaleMovementsFiltered", testSaleMovementsFiltered},
		{"TxRollback", testTxRollback},
		{"Outbox", testOutbox},
		{"IdempotencyKeys", testIdempotencyKeys},
		{"ClaimNewKey", testClaimNewKey},
		{"ClaimNewKeyInOneTx", testClaimNewKeyInOneTx},
		{"IdempotentCompleteRace", testIdempotentCompleteRace},
		{"IdempotentChange", testIdempotentChange},
		{"StaleClaimTakenOver", testStaleClaimTakenOver},
		{"IdempotencyRace", testIdempotencyRace},
		{"IdempotentInTx", testIdempotentInTx},
		{"IdempotentInTxRace", testIdempotentInTxRace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newFixture(t, newStores(t)))
		})
	}
}

// fixture wires services over one store with a controllable clock.
type fixture struct {
	Stores
	sales *sales.Service
	inv   *inventory.Service
	clock *Clock
}

// Clock is a manual clock for tests: it returns its time and moves only
// when told. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time and moves it on by a microsecond, so that
// successive events are ordered.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Microsecond)
	return c.t
}

// Set sets the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func newFixture(t *testing.T, st Stores) *fixture {
	t.Helper()
	clock := NewClock(time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC))
	ss, err := sales.NewService(st.Sales, sales.WithClock(clock.Now), sales.WithTaxRate(mustRate("0.19")))
	if err != nil {
		t.Fatal(err)
	}
	is, err := inventory.NewService(st.Inventory, inventory.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{Stores: st, sales: ss, inv: is, clock: clock}
}

func mustRate(s string) sales.Rate {
	r, err := sales.ParseRate(s)
	if err != nil {
		panic(err)
	}
	return r
}

func (f *fixture) book(t *testing.T, price string, stock int64) *inventory.Book {
	t.Helper()
	b, err := f.inv.CreateBook(t.Context(), inventory.NewBook{
		Title: "Book " + price, Author: "Ana", Price: sales.MustDecimal(price), Stock: stock,
	})
	if err != nil {
		t.Fatalf("create book: %v", err)
	}
	return b
}

func (f *fixture) level(t *testing.T, id uuid.UUID) inventory.Level {
	t.Helper()
	l, err := f.inv.Level(t.Context(), id)
	if err != nil {
		t.Fatalf("level %s: %v", id, err)
	}
	return l
}

func (f *fixture) wantLevel(t *testing.T, id uuid.UUID, onHand, reserved int64) {
	t.Helper()
	l := f.level(t, id)
	if l.OnHand != onHand || l.Reserved != reserved || l.Available() != onHand-reserved {
		t.Errorf("book %s: on hand %d, reserved %d, available %d; want %d, %d, %d",
			id, l.OnHand, l.Reserved, l.Available(), onHand, reserved, onHand-reserved)
	}
}

func (f *fixture) buy(t *testing.T, b *inventory.Book, qty int64) *sales.Sale {
	t.Helper()
	s, err := f.sales.Create(t.Context(), "seller-1", sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: qty}}})
	if err != nil {
		t.Fatalf("create sale: %v", err)
	}
	return s
}

func (f *fixture) pending(t *testing.T) []eventbus.OutboxRecord {
	t.Helper()
	recs, err := f.Outbox.Pending(t.Context(), 100000)
	if err != nil {
		t.Fatalf("outbox: %v", err)
	}
	return recs
}

func (f *fixture) saleCount(t *testing.T) int64 {
	t.Helper()
	p, err := f.sales.List(t.Context(), sales.Filter{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return p.Total
}

func testBooks(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "29.99", 5)
	if b.Price != 2999 || !b.Available {
		t.Errorf("created book price %d available %v; want 2999 true", b.Price, b.Available)
	}
	got, err := f.inv.Book(ctx, b.ID)
	if err != nil || got.Title != b.Title || got.Price != b.Price || !got.CreatedAt.Equal(b.CreatedAt) {
		t.Errorf("Book = %+v, %v; want %+v", got, err, b)
	}
	f.wantLevel(t, b.ID, 5, 0)
	moves, n, err := f.inv.Movements(ctx, inventory.MovementFilter{BookID: b.ID})
	if err != nil || n != 1 || len(moves) != 1 || moves[0].Type != inventory.Purchase || moves[0].Quantity != 5 || moves[0].StockAfter != 5 {
		t.Errorf("initial stock movements = %+v (%d), %v; want one PURCHASE of 5", moves, n, err)
	}
	title, price, off := "Renamed", sales.MustDecimal("10"), false
	up, err := f.inv.UpdateBook(ctx, b.ID, inventory.BookPatch{Title: &title, Price: &price, Available: &off})
	if err != nil || up.Title != "Renamed" || up.Price != 1000 || up.Available || up.Author != "Ana" {
		t.Errorf("UpdateBook = %+v, %v", up, err)
	}
	if got, _ := f.inv.Book(ctx, b.ID); got == nil || got.Title != "Renamed" || got.Available {
		t.Errorf("after update Book = %+v", got)
	}
	// The restock threshold lives with the stock level; a patch without
	// it keeps it, a bad one changes nothing.
	five, negative := int64(5), int64(-1)
	if _, err := f.inv.UpdateBook(ctx, b.ID, inventory.BookPatch{MinStock: &five}); err != nil {
		t.Errorf("UpdateBook minStock 5: %v", err)
	}
	if _, err := f.inv.UpdateBook(ctx, b.ID, inventory.BookPatch{Title: &title, MinStock: &negative}); !errors.Is(err, inventory.ErrInvalid) {
		t.Errorf("UpdateBook minStock -1 = %v; want ErrInvalid", err)
	}
	if _, err := f.inv.UpdateBook(ctx, uuid.New(), inventory.BookPatch{MinStock: &five}); !errors.Is(err, inventory.ErrNotFound) {
		t.Errorf("UpdateBook minStock of an unknown book = %v; want ErrNotFound", err)
	}
	if l, err := f.inv.Level(ctx, b.ID); err != nil || l.MinStock != 5 || l.OnHand != 5 {
		t.Errorf("level after minStock 5 = %+v, %v", l, err)
	}
	f.book(t, "1.00", 0)
	list, total, err := f.inv.Books(ctx, inventory.PageQuery{Page: 1, Limit: 1})
	if err != nil || total != 2 || len(list) != 1 || list[0].Title != "Book 1.00" {
		t.Errorf("Books page 1 limit 1 = %v (%d), %v; want [Book 1.00] of 2", list, total, err)
	}
	levels, total, err := f.inv.Levels(ctx, inventory.PageQuery{})
	if err != nil || total != 2 || len(levels) != 2 {
		t.Errorf("Levels = %v (%d), %v; want 2", levels, total, err)
	}
	for _, in := range []inventory.NewBook{
		{Title: "", Author: "A", Price: sales.MustDecimal("1")},
		{Title: "T", Author: "A", Price: sales.MustDecimal("-1")},
		{Title: "T", Author: "A", Price: sales.MustDecimal("1.001")},
		{Title: "T", Author: "A", Price: sales.MustDecimal("1"), Stock: -1},
	} {
		if _, err := f.inv.CreateBook(ctx, in); !errors.Is(err, inventory.ErrInvalid) {
			t.Errorf("CreateBook(%+v) error = %v; want ErrInvalid", in, err)
		}
	}
	if _, total, _ := f.inv.Books(ctx, inventory.PageQuery{}); total != 2 {
		t.Errorf("after rejected creates, %d books; want 2", total)
	}
}

func testCreateReserves(t *testing.T, f *fixture) {
	ctx := t.Context()
	a, b := f.book(t, "10.00", 10), f.book(t, "5.50", 3)
	s, err := f.sales.Create(ctx, "seller-1", sales.NewSale{
		CustomerName: "Ana", CustomerEmail: "ana@example.com", Notes: "gift",
		Items: []sales.NewLine{
			{BookID: a.ID, Quantity: 2, Discount: sales.MustDecimal("1.00")},
			{BookID: b.ID, Quantity: 1},
		},
		Discount: sales.MustDecimal("2.00"),
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	// 2*10-1 + 5.50 = 24.50; -2.00 = 22.50; tax 19 % = 4.275 -> 4.28; total 26.78
	if s.Status != sales.StatusPending || s.Version != 1 || s.Subtotal != 2450 || s.Discount != 200 || s.Tax != 428 || s.Total != 2678 {
		t.Errorf("sale = status %s v%d subtotal %d discount %d tax %d total %d; want PENDING v1 2450 200 428 2678",
			s.Status, s.Version, s.Subtotal, s.Discount, s.Tax, s.Total)
	}
	if len(s.Lines) != 2 || s.Lines[0].UnitPrice != 1000 || s.Lines[0].Subtotal != 1900 || s.Lines[1].Subtotal != 550 {
		t.Errorf("lines = %+v", s.Lines)
	}
	f.wantLevel(t, a.ID, 10, 2)
	f.wantLevel(t, b.ID, 3, 1)
	got, err := f.sales.Get(ctx, s.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(s)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("Get = %s\nwant %s", gotJSON, wantJSON)
	}
	recs := f.pending(t)
	if len(recs) != 1 {
		t.Fatalf("outbox holds %d records; want 1", len(recs))
	}
	ev, es, err := sales.DecodeEvent(recs[0].Message)
	if err != nil {
		t.Fatalf("outbox record does not decode: %v", err)
	}
	if ev.Type != sales.EventCreated || recs[0].Message.Topic != sales.EventCreated || recs[0].Message.Key != s.ID.String() ||
		ev.Subject != s.ID.String() || ev.ID != recs[0].EventID || es.Version != 1 {
		t.Errorf("event = %+v topic %q key %q; want sale.created for %s", ev, recs[0].Message.Topic, recs[0].Message.Key, s.ID)
	}
	if evJSON, _ := json.Marshal(es); string(evJSON) != string(wantJSON) {
		t.Errorf("event value = %s\nwant %s", evJSON, wantJSON)
	}
}

func testSameBookLinesSummed(t *testing.T, f *fixture) {
	ctx := t.Context()
	a := f.book(t, "1.00", 5)
	_, err := f.sales.Create(ctx, "s", sales.NewSale{Items: []sales.NewLine{{BookID: a.ID, Quantity: 3}, {BookID: a.ID, Quantity: 3}}})
	if !errors.Is(err, sales.ErrInsufficientStock) {
		t.Errorf("3+3 of 5 units: error %v; want ErrInsufficientStock", err)
	}
	f.wantLevel(t, a.ID, 5, 0)
	if _, err := f.sales.Create(ctx, "s", sales.NewSale{Items: []sales.NewLine{{BookID: a.ID, Quantity: 2}, {BookID: a.ID, Quantity: 3}}}); err != nil {
		t.Fatalf("2+3 of 5 units: %v", err)
	}
	f.wantLevel(t, a.ID, 5, 5)
}

func testCreateAllOrNothing(t *testing.T, f *fixture) {
	ctx := t.Context()
	// b's id sorts after or before a's; both orders must leave nothing behind.
	a, b := f.book(t, "1.00", 5), f.book(t, "2.00", 1)
	for _, items := range [][]sales.NewLine{
		{{BookID: a.ID, Quantity: 2}, {BookID: b.ID, Quantity: 2}},
		{{BookID: b.ID, Quantity: 2}, {BookID: a.ID, Quantity: 2}},
	} {
		_, err := f.sales.Create(ctx, "s", sales.NewSale{Items: items})
		var se *sales.StockError
		if !errors.As(err, &se) || se.BookID != b.ID.String() {
			t.Errorf("error = %v; want a StockError for book %s", err, b.ID)
		}
	}
	f.wantLevel(t, a.ID, 5, 0)
	f.wantLevel(t, b.ID, 1, 0)
	if n := f.saleCount(t); n != 0 {
		t.Errorf("%d sales stored; want 0", n)
	}
	if recs := f.pending(t); len(recs) != 0 {
		t.Errorf("%d outbox records; want 0", len(recs))
	}
}

// testReserveReleaseAllOrNone checks sales.Tx's Reserve and Release of
// several books: all or none, and a StockError naming the first short
// book in sales.LockOrder, whatever the order the map is built in.
func testReserveReleaseAllOrNone(t *testing.T, f *fixture) {
	ctx := t.Context()
	a, b, c := f.book(t, "1.00", 5), f.book(t, "1.00", 3), f.book(t, "1.00", 2)
	inTx := func(fn func(sales.Tx) error) error { return f.Sales.InTx(ctx, fn) }
	levels := func(want ...int64) {
		t.Helper()
		for i, bk := range []*inventory.Book{a, b, c} {
			f.wantLevel(t, bk.ID, want[2*i], want[2*i+1])
		}
	}

	// b and c are both short: the error names the one whose id sorts first.
	short := map[uuid.UUID]int64{a.ID: 5, b.ID: 4, c.ID: 3}
	first := sales.LockOrder(map[uuid.UUID]int64{b.ID: 1, c.ID: 1})[0]
	err := inTx(func(tx sales.Tx) error { return tx.Reserve(ctx, short) })
	var se *sales.StockError
	if !errors.As(err, &se) || se.BookID != first.String() || se.Requested != short[first] {
		t.Errorf("Reserve with two books short = %v; want a StockError for book %s, %d units", err, first, short[first])
	}
	levels(5, 0, 3, 0, 2, 0)
	for _, bad := range []map[uuid.UUID]int64{
		{a.ID: 1, b.ID: 0}, {a.ID: 1, c.ID: -1}, {a.ID: 1, uuid.New(): 1},
	} {
		if err := inTx(func(tx sales.Tx) error { return tx.Reserve(ctx, bad) }); !errors.Is(err, sales.ErrInsufficientStock) {
			t.Errorf("Reserve(%v) = %v; want ErrInsufficientStock", bad, err)
		}
	}
	levels(5, 0, 3, 0, 2, 0)
	if err := inTx(func(tx sales.Tx) error { return tx.Reserve(ctx, nil) }); err != nil {
		t.Errorf("Reserve of no books = %v; want nil", err)
	}

	if err := inTx(func(tx sales.Tx) error { return tx.Reserve(ctx, map[uuid.UUID]int64{a.ID: 5, b.ID: 3, c.ID: 1}) }); err != nil {
		t.Fatalf("Reserve of all that is there: %v", err)
	}
	levels(5, 5, 3, 3, 2, 1)
	for _, bad := range []map[uuid.UUID]int64{
		{a.ID: 1, c.ID: 2}, {a.ID: 1, b.ID: 0}, {a.ID: 1, uuid.New(): 1},
	} {
		if err := inTx(func(tx sales.Tx) error { return tx.Release(ctx, bad) }); err == nil {
			t.Errorf("Release(%v) succeeded; want an error", bad)
		}
	}
	levels(5, 5, 3, 3, 2, 1)
	if err := inTx(func(tx sales.Tx) error { return tx.Release(ctx, map[uuid.UUID]int64{a.ID: 2, b.ID: 3, c.ID: 1}) }); err != nil {
		t.Fatalf("Release: %v", err)
	}
	levels(5, 3, 3, 0, 2, 0)
}

func testLastUnitsRace(t *testing.T, f *fixture) {
	const buyers, units = 64, 10
	b := f.book(t, "9.99", units)
	var ok, short atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range buyers {
		wg.Go(func() {
			<-start
			_, err := f.sales.Create(context.Background(), "racer", sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: 1}}})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, sales.ErrInsufficientStock):
				short.Add(1)
			default:
				t.Errorf("buyer: unexpected error %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != units || short.Load() != buyers-units {
		t.Errorf("%d sold, %d refused; want %d sold, %d refused", ok.Load(), short.Load(), units, buyers-units)
	}
	f.wantLevel(t, b.ID, units, units)
	if n := f.saleCount(t); n != units {
		t.Errorf("%d sales stored; want %d", n, units)
	}
	if recs := f.pending(t); len(recs) != units {
		t.Errorf("%d outbox records; want %d", len(recs), units)
	}
}

func testMultiBookRace(t *testing.T, f *fixture) {
	a, b := f.book(t, "1.00", 100), f.book(t, "1.00", 100)
	var wg sync.WaitGroup
	var sold atomic.Int64
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for i := range 16 {
		wg.Go(func() {
			for range 10 {
				items := []sales.NewLine{{BookID: a.ID, Quantity: 1}, {BookID: b.ID, Quantity: 1}}
				if i%2 == 1 {
					items[0], items[1] = items[1], items[0]
				}
				_, err := f.sales.Create(ctx, "s", sales.NewSale{Items: items})
				switch {
				case err == nil:
					sold.Add(1)
				case !errors.Is(err, sales.ErrInsufficientStock):
					t.Errorf("create: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if sold.Load() != 100 {
		t.Errorf("%d two-book sales; want 100", sold.Load())
	}
	f.wantLevel(t, a.ID, 100, 100)
	f.wantLevel(t, b.ID, 100, 100)
}

// testLockLevelsRace checks that inventory.Tx's LockLevels locks the
// levels in one order whatever the order of the books it is given, as the
// worker's transactions rely on: transactions that lock two books in
// opposite orders, and hold them a moment, never deadlock.
func testLockLevelsRace(t *testing.T, f *fixture) {
	a, b := f.book(t, "1.00", 10), f.book(t, "1.00", 10)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for range 20 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, books := range [][]uuid.UUID{{a.ID, b.ID}, {b.ID, a.ID}} {
			wg.Go(func() {
				<-start
				err := f.Inventory.InTx(ctx, func(tx inventory.Tx) error {
					ls, err := tx.LockLevels(ctx, books)
					if err != nil {
						return err
					}
					if len(ls) != 2 || ls[0].BookID != books[0] || ls[1].BookID != books[1] {
						t.Errorf("LockLevels(%v) = %+v; want the two levels in the order asked", books, ls)
					}
					time.Sleep(2 * time.Millisecond)
					return nil
				})
				if err != nil {
					t.Errorf("LockLevels(%v): %v", books, err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
}

func testBadInput(t *testing.T, f *fixture) {
	ctx := t.Context()
	a := f.book(t, "10.00", 10)
	off := false
	hidden, err := f.inv.CreateBook(ctx, inventory.NewBook{Title: "Hidden", Author: "X", Price: sales.MustDecimal("1"), Stock: 5, Available: &off})
	if err != nil {
		t.Fatal(err)
	}
	line := func(q int64, disc string) sales.NewLine {
		return sales.NewLine{BookID: a.ID, Quantity: q, Discount: sales.MustDecimal(disc)}
	}
	cases := []struct {
		name   string
		seller string
		in     sales.NewSale
		want   error
	}{
		{"no lines", "s", sales.NewSale{}, sales.ErrInvalid},
		{"zero quantity", "s", sales.NewSale{Items: []sales.NewLine{line(0, "0")}}, sales.ErrInvalid},
		{"negative quantity", "s", sales.NewSale{Items: []sales.NewLine{line(-1, "0")}}, sales.ErrInvalid},
		{"huge quantity", "s", sales.NewSale{Items: []sales.NewLine{line(sales.MaxQuantity+1, "0")}}, sales.ErrInvalid},
		{"nil book", "s", sales.NewSale{Items: []sales.NewLine{{Quantity: 1}}}, sales.ErrInvalid},
		{"unknown book", "s", sales.NewSale{Items: []sales.NewLine{{BookID: uuid.New(), Quantity: 1}}}, sales.ErrUnknownBook},
		{"unavailable book", "s", sales.NewSale{Items: []sales.NewLine{{BookID: hidden.ID, Quantity: 1}}}, sales.ErrBookUnavailable},
		{"line discount above base", "s", sales.NewSale{Items: []sales.NewLine{line(1, "10.01")}}, sales.ErrInvalid},
		{"negative line discount", "s", sales.NewSale{Items: []sales.NewLine{line(1, "-1")}}, sales.ErrInvalid},
		{"too many decimals", "s", sales.NewSale{Items: []sales.NewLine{line(1, "0.001")}}, sales.ErrInvalid},
		{"sale discount above subtotal", "s", sales.NewSale{Items: []sales.NewLine{line(1, "5")}, Discount: sales.MustDecimal("5.01")}, sales.ErrInvalid},
		{"negative sale discount", "s", sales.NewSale{Items: []sales.NewLine{line(1, "0")}, Discount: sales.MustDecimal("-0.01")}, sales.ErrInvalid},
		{"no seller", "", sales.NewSale{Items: []sales.NewLine{line(1, "0")}}, sales.ErrInvalid},
		{"bad email", "s", sales.NewSale{CustomerEmail: "not an email", Items: []sales.NewLine{line(1, "0")}}, sales.ErrInvalid},
		{"more than available", "s", sales.NewSale{Items: []sales.NewLine{line(11, "0")}}, sales.ErrInsufficientStock},
	}
	for _, c := range cases {
		_, err := f.sales.Create(ctx, c.seller, c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error = %v; want %v", c.name, err, c.want)
		}
	}
	f.wantLevel(t, a.ID, 10, 0)
	if n := f.saleCount(t); n != 0 {
		t.Errorf("%d sales stored after bad input; want 0", n)
	}
	if recs := f.pending(t); len(recs) != 0 {
		t.Errorf("%d outbox records after bad input; want 0", len(recs))
	}
	s := f.buy(t, a, 1)
	for _, p := range []sales.Payment{{}, {Method: "BITCOIN"}} {
		if _, err := f.sales.Complete(ctx, s.ID, p); !errors.Is(err, sales.ErrInvalid) {
			t.Errorf("Complete(%+v) error = %v; want ErrInvalid", p, err)
		}
	}
	if got, _ := f.sales.Get(ctx, s.ID); got.Status != sales.StatusPending || got.Version != 1 {
		t.Errorf("after rejected completes: %s v%d; want PENDING v1", got.Status, got.Version)
	}
}

func testComplete(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "3.00", 4)
	s := f.buy(t, b, 3)
	done, err := f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCreditCard, Reference: "ch_1"})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if done.Status != sales.StatusCompleted || done.Version != 2 || done.PaidAt.IsZero() ||
		done.PaymentMethod != sales.PaymentCreditCard || done.PaymentReference != "ch_1" || !done.UpdatedAt.After(s.UpdatedAt) {
		t.Errorf("completed sale = %+v", done)
	}
	got, _ := f.sales.Get(ctx, s.ID)
	if got == nil || got.Status != sales.StatusCompleted || got.Version != 2 || !got.PaidAt.Equal(done.PaidAt) {
		t.Errorf("Get after complete = %+v", got)
	}
	// The stock leaves on hand when the worker applies the completion.
	f.wantLevel(t, b.ID, 4, 3)
	recs := f.pending(t)
	if len(recs) != 2 || recs[1].Message.Topic != sales.EventCompleted || recs[0].Seq >= recs[1].Seq {
		t.Fatalf("outbox = %+v; want created then completed", recs)
	}
	if _, es, err := sales.DecodeEvent(recs[1].Message); err != nil || es.Version != 2 || es.PaymentMethod != sales.PaymentCreditCard {
		t.Errorf("completed event sale = %+v, %v", es, err)
	}
}

func testCancelPending(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "3.00", 4)
	s := f.buy(t, b, 3)
	f.wantLevel(t, b.ID, 4, 3)
	c, err := f.sales.Cancel(ctx, s.ID, "changed mind")
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if c.Status != sales.StatusCancelled || c.Version != 2 || c.CancelReason != "changed mind" || c.CancelledAt.IsZero() {
		t.Errorf("cancelled sale = %+v", c)
	}
	f.wantLevel(t, b.ID, 4, 0)
	recs := f.pending(t)
	if len(recs) != 2 || recs[1].Message.Topic != sales.EventCancelled {
		t.Errorf("outbox = %+v; want created then cancelled", recs)
	}
}

func testCancelCompleted(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "3.00", 4)
	s := f.buy(t, b, 2)
	if _, err := f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash}); err != nil {
		t.Fatal(err)
	}
	c, err := f.sales.Cancel(ctx, s.ID, "returned")
	if err != nil {
		t.Fatalf("Cancel completed: %v", err)
	}
	if c.Status != sales.StatusCancelled || c.Version != 3 || c.PaidAt.IsZero() {
		t.Errorf("returned sale = %+v", c)
	}
	// The reservation stays until the worker applies completion and return.
	f.wantLevel(t, b.ID, 4, 2)
	if recs := f.pending(t); len(recs) != 3 {
		t.Errorf("%d outbox records; want 3", len(recs))
	}
}

func testIllegalTransitions(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "1.00", 10)
	completed, cancelled := f.buy(t, b, 1), f.buy(t, b, 1)
	if _, err := f.sales.Complete(ctx, completed.ID, sales.Payment{Method: sales.PaymentCash}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sales.Cancel(ctx, cancelled.ID, ""); err != nil {
		t.Fatal(err)
	}
	before := len(f.pending(t))
	for _, c := range []struct {
		name string
		do   func() error
	}{
		{"complete twice", func() error {
			_, err := f.sales.Complete(ctx, completed.ID, sales.Payment{Method: sales.PaymentCash})
			return err
		}},
		{"complete cancelled", func() error {
			_, err := f.sales.Complete(ctx, cancelled.ID, sales.Payment{Method: sales.PaymentCash})
			return err
		}},
		{"cancel cancelled", func() error { _, err := f.sales.Cancel(ctx, cancelled.ID, ""); return err }},
	} {
		if err := c.do(); !errors.Is(err, sales.ErrIllegalTransition) {
			t.Errorf("%s: error = %v; want ErrIllegalTransition", c.name, err)
		}
	}
	if after := len(f.pending(t)); after != before {
		t.Errorf("illegal moves wrote %d outbox records", after-before)
	}
	for id, want := range map[uuid.UUID]int64{completed.ID: 2, cancelled.ID: 2} {
		if s, _ := f.sales.Get(ctx, id); s.Version != want {
			t.Errorf("sale %s at version %d; want %d", id, s.Version, want)
		}
	}
	f.wantLevel(t, b.ID, 10, 1)
}

func testNotFound(t *testing.T, f *fixture) {
	ctx := t.Context()
	id := uuid.New()
	if _, err := f.sales.Get(ctx, id); !errors.Is(err, sales.ErrNotFound) {
		t.Errorf("Get: %v; want ErrNotFound", err)
	}
	if _, err := f.sales.Complete(ctx, id, sales.Payment{Method: sales.PaymentCash}); !errors.Is(err, sales.ErrNotFound) {
		t.Errorf("Complete: %v; want ErrNotFound", err)
	}
	if _, err := f.sales.Cancel(ctx, id, ""); !errors.Is(err, sales.ErrNotFound) {
		t.Errorf("Cancel: %v; want ErrNotFound", err)
	}
	if _, err := f.inv.Book(ctx, id); !errors.Is(err, inventory.ErrNotFound) {
		t.Errorf("Book: %v; want ErrNotFound", err)
	}
	if _, err := f.inv.Level(ctx, id); !errors.Is(err, inventory.ErrNotFound) {
		t.Errorf("Level: %v; want ErrNotFound", err)
	}
	if _, err := f.inv.Record(ctx, id, inventory.NewMovement{Type: inventory.Purchase, Quantity: 1}); !errors.Is(err, inventory.ErrNotFound) {
		t.Errorf("Record: %v; want ErrNotFound", err)
	}
	if _, err := f.inv.UpdateBook(ctx, id, inventory.BookPatch{}); !errors.Is(err, inventory.ErrNotFound) {
		t.Errorf("UpdateBook: %v; want ErrNotFound", err)
	}
}

func testList(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "1.00", 100)
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	var made []*sales.Sale
	for i := range 6 {
		f.clock.Set(day.Add(time.Duration(i) * 24 * time.Hour))
		seller := "alice"
		if i%2 == 1 {
			seller = "bob"
		}
		s, err := f.sales.Create(ctx, seller, sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, s)
	}
	if _, err := f.sales.Complete(ctx, made[0].ID, sales.Payment{Method: sales.PaymentCash}); err != nil {
		t.Fatal(err)
	}
	ids := func(p sales.Page) (out []uuid.UUID) {
		for _, s := range p.Sales {
			out = append(out, s.ID)
		}
		return out
	}
	cases := []struct {
		name      string
		f         sales.Filter
		want      []int
		total     int64
		pages     int64
		wantError bool
	}{
		{"all newest first", sales.Filter{}, []int{5, 4, 3, 2, 1, 0}, 6, 1, false},
		{"page 2 of 2", sales.Filter{Page: 2, Limit: 4}, []int{1, 0}, 6, 2, false},
		{"past the end", sales.Filter{Page: 5, Limit: 4}, nil, 6, 2, false},
		{"by seller", sales.Filter{SellerID: "bob"}, []int{5, 3, 1}, 3, 1, false},
		{"by status", sales.Filter{Status: sales.StatusCompleted}, []int{0}, 1, 1, false},
		{"by date", sales.Filter{From: day.AddDate(0, 0, 1), To: day.AddDate(0, 0, 3)}, []int{2, 1}, 2, 1, false},
		{"limit above max", sales.Filter{Limit: 101}, nil, 0, 0, true},
		{"bad page", sales.Filter{Page: -1}, nil, 0, 0, true},
		{"bad status", sales.Filter{Status: "LOST"}, nil, 0, 0, true},
		{"empty range", sales.Filter{From: day, To: day}, nil, 0, 0, true},
		{"NUL in seller", sales.Filter{SellerID: "a\x00b"}, nil, 0, 0, true},
		{"seller not UTF-8", sales.Filter{SellerID: "\xff"}, nil, 0, 0, true},
	}
	for _, c := range cases {
		p, err := f.sales.List(ctx, c.f)
		if c.wantError {
			if !errors.Is(err, sales.ErrInvalid) {
				t.Errorf("%s: error = %v; want ErrInvalid", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var want []uuid.UUID
		for _, i := range c.want {
			want = append(want, made[i].ID)
		}
		if got := ids(p); fmt.Sprint(got) != fmt.Sprint(want) || p.Total != c.total || p.TotalPages != c.pages {
			t.Errorf("%s: got %v total %d pages %d; want %v total %d pages %d", c.name, got, p.Total, p.TotalPages, want, c.total, c.pages)
		}
		for _, s := range p.Sales {
			if len(s.Lines) != 1 {
				t.Errorf("%s: listed sale has %d lines; want 1", c.name, len(s.Lines))
			}
		}
	}
}

func testSummary(t *testing.T, f *fixture) {
	ctx := t.Context()
	a, b := f.book(t, "10.00", 100), f.book(t, "3.00", 100)
	// Paid at 23:30 UTC on the 14th and 00:30 UTC on the 15th.
	pay := func(at time.Time, items []sales.NewLine, discount string) *sales.Sale {
		t.Helper()
		s, err := f.sales.Create(ctx, "s", sales.NewSale{Items: items, Discount: sales.MustDecimal(discount)})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Set(at)
		s, err = f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	d14 := time.Date(2026, 3, 14, 23, 30, 0, 0, time.UTC)
	s1 := pay(d14, []sales.NewLine{{BookID: a.ID, Quantity: 2}, {BookID: b.ID, Quantity: 1, Discount: sales.MustDecimal("1")}}, "3.00")
	s2 := pay(d14.Add(time.Hour), []sales.NewLine{{BookID: b.ID, Quantity: 4}}, "0")
	returned := pay(d14.Add(2*time.Hour), []sales.NewLine{{BookID: a.ID, Quantity: 5}}, "0")
	if _, err := f.sales.Cancel(ctx, returned.ID, "return"); err != nil {
		t.Fatal(err)
	}
	f.buy(t, a, 7)                                                                                        // pending: not counted
	pay(time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC), []sales.NewLine{{BookID: a.ID, Quantity: 1}}, "0") // outside the range

	sum, err := f.sales.Summary(ctx, time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("Summary: %v", err)
	}
	net := (s1.Subtotal - s1.Discount) + (s2.Subtotal - s2.Discount)
	if sum.TotalSales != 2 || sum.TotalRevenue != s1.Total+s2.Total || sum.NetRevenue != net ||
		sum.TotalTax != s1.Tax+s2.Tax || sum.TotalDiscount != 300+100 || sum.TotalItems != 7 {
		t.Errorf("summary totals = %+v; want 2 sales, revenue %d, net %d", sum, s1.Total+s2.Total, net)
	}
	if want := (s1.Total + s2.Total + 1) / 2; sum.AverageOrderValue != want {
		t.Errorf("average order value %d; want %d", sum.AverageOrderValue, want)
	}
	if len(sum.SalesByDay) != 2 || sum.SalesByDay[0].Date != "2026-03-14" || sum.SalesByDay[1].Date != "2026-03-15" ||
		sum.SalesByDay[0].Sales != 1 || sum.SalesByDay[0].Revenue != s1.Total {
		t.Errorf("sales by day = %+v", sum.SalesByDay)
	}
	var booksNet sales.Money
	for _, bs := range sum.TopBooks {
		booksNet += bs.NetRevenue
	}
	if len(sum.TopBooks) != 2 || sum.TopBooks[0].BookID != b.ID || sum.TopBooks[0].UnitsSold != 5 || booksNet != net {
		t.Errorf("top books = %+v; want b (5 units) first, nets adding to %d", sum.TopBooks, net)
	}
	if _, err := f.sales.Summary(ctx, d14, d14.AddDate(0, 0, -1)); !errors.Is(err, sales.ErrInvalid) {
		t.Errorf("end before start: %v; want ErrInvalid", err)
	}
	empty, err := f.sales.Summary(ctx, d14.AddDate(1, 0, 0), d14.AddDate(1, 0, 0))
	if err != nil || empty.TotalSales != 0 || empty.SalesByDay == nil || empty.TopBooks == nil {
		t.Errorf("empty summary = %+v, %v", empty, err)
	}
}

func testManualMovements(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "1.00", 5)
	f.buy(t, b, 3)
	cases := []struct {
		in   inventory.NewMovement
		want error
	}{
		{inventory.NewMovement{Type: inventory.Purchase, Quantity: 10, Reason: "restock"}, nil},
		{inventory.NewMovement{Type: inventory.Damage, Quantity: -2}, nil},
		{inventory.NewMovement{Type: inventory.Adjustment, Quantity: -9}, nil}, // 13 -> 4, reserved 3
		{inventory.NewMovement{Type: inventory.Loss, Quantity: -2}, inventory.ErrInsufficientStock},
		{inventory.NewMovement{Type: inventory.Purchase, Quantity: -1}, inventory.ErrInvalid},
		{inventory.NewMovement{Type: inventory.Damage, Quantity: 1}, inventory.ErrInvalid},
		{inventory.NewMovement{Type: inventory.Adjustment, Quantity: 0}, inventory.ErrInvalid},
		{inventory.NewMovement{Type: inventory.Sale, Quantity: -1}, inventory.ErrInvalid},
		{inventory.NewMovement{Type: "THEFT", Quantity: -1}, inventory.ErrInvalid},
	}
	for _, c := range cases {
		_, err := f.inv.Record(ctx, b.ID, c.in)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("Record(%+v) error = %v; want %v", c.in, err, c.want)
		}
	}
	f.wantLevel(t, b.ID, 4, 3)
	moves, total, err := f.inv.Movements(ctx, inventory.MovementFilter{BookID: b.ID})
	if err != nil || total != 4 {
		t.Fatalf("Movements = %d, %v; want 4", total, err)
	}
	var onHand int64
	for i, m := range moves {
		if m.StockBefore != onHand || m.StockAfter != onHand+m.Quantity {
			t.Errorf("movement %d: %d%+d=%d after %d; ledger broken", i, m.StockBefore, m.Quantity, m.StockAfter, onHand)
		}
		onHand = m.StockAfter
	}
	if onHand != 4 {
		t.Errorf("ledger sums to %d; on hand 4", onHand)
	}
	if dmg, n, _ := f.inv.Movements(ctx, inventory.MovementFilter{Type: inventory.Damage}); n != 1 || dmg[0].Quantity != -2 {
		t.Errorf("DAMAGE movements = %+v", dmg)
	}
}

// testSaleMovementsFiltered checks the movements of one sale, which a
// store may read apart from the others (the ledger of a busy book is long,
// a sale's is short): with the other filters, in ledger order, by page.
func testSaleMovementsFiltered(t *testing.T, f *fixture) {
	ctx := t.Context()
	b1, b2 := f.book(t, "1.00", 10), f.book(t, "2.00", 10)
	s, err := f.sales.Create(ctx, "seller-1", sales.NewSale{Items: []sales.NewLine{{BookID: b1.ID, Quantity: 2}, {BookID: b2.ID, Quantity: 1}}})
	if err != nil {
		t.Fatalf("create sale: %v", err)
	}
	other := f.buy(t, b1, 1)
	move := func(sale uuid.UUID, b *inventory.Book, typ inventory.MovementType, qty, reserved int64) {
		t.Helper()
		err := f.Inventory.InTx(ctx, func(tx inventory.Tx) error {
			ls, err := tx.LockLevels(ctx, []uuid.UUID{b.ID})
			if err != nil {
				return err
			}
			return tx.AddMovements(ctx, []inventory.Change{{Movement: inventory.Movement{
				ID: uuid.New(), BookID: b.ID, Type: typ, Quantity: qty, StockBefore: ls[0].OnHand, StockAfter: ls[0].OnHand + qty,
				SaleID: sale, CreatedAt: f.clock.Now().UTC().Truncate(time.Microsecond),
			}, ReservedDelta: reserved}})
		})
		if err != nil {
			t.Fatalf("%s movement of %d: %v", typ, qty, err)
		}
	}
	move(s.ID, b1, inventory.Sale, -2, -2)
	move(other.ID, b1, inventory.Sale, -1, -1)
	move(s.ID, b2, inventory.Sale, -1, -1)
	move(uuid.Nil, b1, inventory.Purchase, 5, 0)
	move(s.ID, b1, inventory.Return, 2, 0)
	move(s.ID, b2, inventory.Return, 1, 0)
	type mv struct {
		book uuid.UUID
		typ  inventory.MovementType
	}
	sale1, sale2 := mv{b1.ID, inventory.Sale}, mv{b2.ID, inventory.Sale}
	ret1, ret2 := mv{b1.ID, inventory.Return}, mv{b2.ID, inventory.Return}
	page := func(p, l int) inventory.PageQuery { return inventory.PageQuery{Page: p, Limit: l} }
	cases := []struct {
		f     inventory.MovementFilter
		want  []mv
		total int64
	}{
		{inventory.MovementFilter{SaleID: s.ID}, []mv{sale1, sale2, ret1, ret2}, 4},
		{inventory.MovementFilter{SaleID: s.ID, Type: inventory.Return}, []mv{ret1, ret2}, 2},
		{inventory.MovementFilter{SaleID: s.ID, BookID: b2.ID}, []mv{sale2, ret2}, 2},
		{inventory.MovementFilter{SaleID: s.ID, BookID: b1.ID, Type: inventory.Sale}, []mv{sale1}, 1},
		{inventory.MovementFilter{SaleID: s.ID, Type: inventory.Purchase}, []mv{}, 0},
		{inventory.MovementFilter{SaleID: s.ID, PageQuery: page(1, 3)}, []mv{sale1, sale2, ret1}, 4},
		{inventory.MovementFilter{SaleID: s.ID, PageQuery: page(2, 3)}, []mv{ret2}, 4},
		{inventory.MovementFilter{SaleID: s.ID, PageQuery: page(3, 3)}, []mv{}, 4},
		{inventory.MovementFilter{SaleID: uuid.New()}, []mv{}, 0},
	}
	for _, c := range cases {
		ms, total, err := f.inv.Movements(ctx, c.f)
		if err != nil {
			t.Errorf("Movements(%+v): %v", c.f, err)
			continue
		}
		got := []mv{}
		for _, m := range ms {
			if m.SaleID != c.f.SaleID {
				t.Errorf("Movements(%+v): a movement of sale %s", c.f, m.SaleID)
			}
			got = append(got, mv{m.BookID, m.Type})
		}
		if ms == nil || total != c.total || !slices.Equal(got, c.want) {
			t.Errorf("Movements(%+v) = %v (nil %t), total %d; want %v, total %d", c.f, got, ms == nil, total, c.want, c.total)
		}
	}
}

func testSaleMovementsUnique(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "1.00", 5)
	s := f.buy(t, b, 2)
	add := func() error {
		return f.Inventory.InTx(ctx, func(tx inventory.Tx) error {
			ls, err := tx.LockLevels(ctx, []uuid.UUID{b.ID})
			if err != nil {
				return err
			}
			return tx.AddMovements(ctx, []inventory.Change{{Movement: inventory.Movement{
				ID: uuid.New(), BookID: b.ID, Type: inventory.Sale, Quantity: -2,
				StockBefore: ls[0].OnHand, StockAfter: ls[0].OnHand - 2, SaleID: s.ID, CreatedAt: f.clock.Now().UTC().Truncate(time.Microsecond),
			}, ReservedDelta: -2}})
		})
	}
	if err := add(); err != nil {
		t.Fatalf("first SALE movement: %v", err)
	}
	f.wantLevel(t, b.ID, 3, 0)
	if err := add(); !errors.Is(err, inventory.ErrDuplicateMovement) && !errors.Is(err, inventory.ErrInsufficientStock) {
		t.Errorf("second SALE movement: %v; want ErrDuplicateMovement", err)
	}
	f.wantLevel(t, b.ID, 3, 0)
}

func testTxRollback(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "1.00", 5)
	boom := errors.New("boom")
	err := f.Sales.InTx(ctx, func(tx sales.Tx) error {
		if err := tx.Reserve(ctx, map[uuid.UUID]int64{b.ID: 2}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("InTx error = %v; want the function's error", err)
	}
	f.wantLevel(t, b.ID, 5, 0)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.sales.Create(cctx, "s", sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: 1}}}); err == nil {
		t.Error("Create with a cancelled context succeeded")
	}
	f.wantLevel(t, b.ID, 5, 0)

	// A failed write loses the transaction even when the function goes on
	// and returns nil: stores may send writes late (see sales.Tx).
	err = f.Sales.InTx(ctx, func(tx sales.Tx) error {
		_ = tx.Reserve(ctx, map[uuid.UUID]int64{b.ID: 9})
		if err := tx.Reserve(ctx, map[uuid.UUID]int64{b.ID: 1}); err != nil && !errors.Is(err, sales.ErrInsufficientStock) {
			return err
		}
		_, _ = tx.Books(ctx, []uuid.UUID{b.ID})
		return nil
	})
	if !errors.Is(err, sales.ErrInsufficientStock) {
		t.Errorf("InTx after an ignored failed Reserve = %v; want ErrInsufficientStock", err)
	}
	f.wantLevel(t, b.ID, 5, 0)
}

func testOutbox(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "1.00", 5)
	for range 3 {
		f.buy(t, b, 1)
	}
	n, oldest, err := f.Outbox.Backlog(ctx)
	if err != nil || n != 3 || oldest.IsZero() {
		t.Errorf("Backlog = %d, %v, %v; want 3 and a time", n, oldest, err)
	}
	first, err := f.Outbox.Pending(ctx, 2)
	if err != nil || len(first) != 2 || first[0].Seq >= first[1].Seq {
		t.Fatalf("Pending(2) = %+v, %v", first, err)
	}
	if err := f.Outbox.MarkPublished(ctx, []int64{first[0].Seq, first[1].Seq, first[0].Seq}); err != nil {
		t.Fatalf("MarkPublished: %v", err)
	}
	rest, err := f.Outbox.Pending(ctx, 10)
	if err != nil || len(rest) != 1 || rest[0].Seq <= first[1].Seq {
		t.Errorf("Pending after marking = %+v, %v; want the third record", rest, err)
	}
	if n, _, _ := f.Outbox.Backlog(ctx); n != 1 {
		t.Errorf("Backlog after marking = %d; want 1", n)
	}
	if err := f.Outbox.MarkPublished(ctx, []int64{rest[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if n, oldest, _ := f.Outbox.Backlog(ctx); n != 0 || !oldest.IsZero() {
		t.Errorf("empty Backlog = %d, %v; want 0 and zero time", n, oldest)
	}
}

func testIdempotencyKeys(t *testing.T, f *fixture) {
	ctx := t.Context()
	k := sales.IdempotencyKey{Scope: "user-1", Key: "key-1", Hash: "h1"}
	if r, err := f.sales.ClaimKey(ctx, k); r != nil || err != nil {
		t.Fatalf("first claim = %v, %v; want nil, nil", r, err)
	}
	if _, err := f.sales.ClaimKey(ctx, k); !errors.Is(err, sales.ErrKeyInFlight) {
		t.Errorf("claim while in flight: %v; want ErrKeyInFlight", err)
	}
	other := k
	other.Hash = "h2"
	if _, err := f.sales.ClaimKey(ctx, other); !errors.Is(err, sales.ErrKeyReused) {
		t.Errorf("claim with another request: %v; want ErrKeyReused", err)
	}
	otherScope := k
	otherScope.Scope = "user-2"
	if r, err := f.sales.ClaimKey(ctx, otherScope); r != nil || err != nil {
		t.Errorf("same key of another caller = %v, %v; want a fresh claim", r, err)
	}
	if err := f.sales.SaveResponse(ctx, other, sales.Response{Status: 201, Body: []byte("x")}); err == nil {
		t.Error("saved a response for a request that does not hold the claim")
	}
	if err := f.sales.SaveResponse(ctx, k, sales.Response{Status: 422, Body: []byte(`{"title":"bad"}`)}); err != nil {
		t.Fatalf("SaveResponse: %v", err)
	}
	r, err := f.sales.ClaimKey(ctx, k)
	if err != nil || r == nil || r.Status != 422 || string(r.Body) != `{"title":"bad"}` {
		t.Errorf("replay = %+v, %v; want the stored 422", r, err)
	}
	if err := f.sales.SaveResponse(ctx, k, sales.Response{Status: 201, Body: []byte("y")}); err == nil {
		t.Error("overwrote a stored response")
	}
	// A claim without a response can be released, and then claimed again.
	k2 := sales.IdempotencyKey{Scope: "user-1", Key: "key-2", Hash: "h"}
	if _, err := f.sales.ClaimKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	if err := f.sales.ReleaseKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	if r, err := f.sales.ClaimKey(ctx, k2); r != nil || err != nil {
		t.Errorf("claim after release = %v, %v; want a fresh claim", r, err)
	}
	// An abandoned claim can be taken over after KeyStaleAfter; a stored
	// response expires after KeyTTL.
	f.clock.Set(f.clock.Now().Add(sales.KeyStaleAfter + time.Second))
	if r, err := f.sales.ClaimKey(ctx, k2); r != nil || err != nil {
		t.Errorf("claim of a stale key = %v, %v; want a fresh claim", r, err)
	}
	f.clock.Set(f.clock.Now().Add(sales.KeyTTL))
	if r, err := f.sales.ClaimKey(ctx, other); r != nil || err != nil {
		t.Errorf("claim after the response expired = %v, %v; want a fresh claim", r, err)
	}
	n, err := f.sales.SweepKeys(ctx)
	if err != nil || n != 2 { // otherScope and k2; other was just claimed
		t.Errorf("SweepKeys = %d, %v; want 2", n, err)
	}
	for _, bad := range []string{"", "with space", string(make([]byte, sales.MaxKeyLen+1))} {
		if _, err := f.sales.ClaimKey(ctx, sales.IdempotencyKey{Scope: "u", Key: bad, Hash: "h"}); !errors.Is(err, sales.ErrInvalid) {
			t.Errorf("key %q: %v; want ErrInvalid", bad, err)
		}
	}
}

// testStaleClaimTakenOver: a request whose claim went stale and was taken
// over by a retry (another Claim) can neither release the retry's claim
// nor store a response, and its change rolls back; the retry's answer is
// the one replayed, and the key made one sale.
func testStaleClaimTakenOver(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "2.00", 5)
	first := sales.IdempotencyKey{Scope: "user-1", Key: "slow-1", Hash: "h", Claim: "request-1"}
	if _, err := f.sales.ClaimKey(ctx, first); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(f.clock.Now().Add(sales.KeyStaleAfter + time.Second))
	retry := first
	retry.Claim = "request-2"
	if r, err := f.sales.ClaimKey(ctx, retry); r != nil || err != nil {
		t.Fatalf("retry's claim of the stale key = %v, %v; want a fresh claim", r, err)
	}
	// The first request fails late: its release must not free the retry's claim.
	if err := f.sales.ReleaseKey(ctx, first); err != nil {
		t.Fatal(err)
	}
	third := first
	third.Claim = "request-3"
	if _, err := f.sales.ClaimKey(ctx, third); !errors.Is(err, sales.ErrKeyInFlight) {
		t.Fatalf("claim after the first request's late release: %v; want ErrKeyInFlight (the retry holds it)", err)
	}
	encode := func(s *sales.Sale) (sales.Response, error) {
		body, err := json.Marshal(s)
		return sales.Response{Status: 201, Body: body}, err
	}
	order := sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: 1}}}
	if _, err := f.sales.Create(ctx, "user-1", order, sales.Remember(first, encode)); !errors.Is(err, sales.ErrKeyInFlight) {
		t.Fatalf("the first request's late create: %v; want ErrKeyInFlight and no sale", err)
	}
	if err := f.sales.SaveResponse(ctx, first, sales.Response{Status: 422, Body: []byte("{}")}); !errors.Is(err, sales.ErrKeyInFlight) {
		t.Errorf("the first request's late response: %v; want ErrKeyInFlight", err)
	}
	s, err := f.sales.Create(ctx, "user-1", order, sales.Remember(retry, encode))
	if err != nil {
		t.Fatalf("the retry's create: %v", err)
	}
	r, err := f.sales.ClaimKey(ctx, third)
	want, _ := json.Marshal(s)
	if err != nil || r == nil || string(r.Body) != string(want) {
		t.Fatalf("replay = %+v, %v; want the retry's sale", r, err)
	}
	if p, err := f.sales.List(ctx, sales.Filter{SellerID: "user-1"}); err != nil || p.Total != 1 {
		t.Errorf("sales of the key = %+v, %v; want 1", p, err)
	}
	f.wantLevel(t, b.ID, 5, 1)
}

func testIdempotentChange(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "2.00", 5)
	k := sales.IdempotencyKey{Scope: "user-1", Key: "create-1", Hash: "h"}
	if _, err := f.sales.ClaimKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	encode := func(s *sales.Sale) (sales.Response, error) {
		body, err := json.Marshal(s)
		return sales.Response{Status: 201, Body: body}, err
	}
	s, err := f.sales.Create(ctx, "user-1", sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: 2}}}, sales.Remember(k, encode))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	r, err := f.sales.ClaimKey(ctx, k)
	want, _ := json.Marshal(s)
	if err != nil || r == nil || r.Status != 201 || string(r.Body) != string(want) {
		t.Fatalf("replay after create = %+v, %v; want the created sale", r, err)
	}
	// A change that fails stores nothing: the key stays claimed for the
	// caller to store its error response or release.
	k2 := sales.IdempotencyKey{Scope: "user-1", Key: "create-2", Hash: "h"}
	if _, err := f.sales.ClaimKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	_, err = f.sales.Create(ctx, "user-1", sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: 9}}}, sales.Remember(k2, encode))
	if !errors.Is(err, sales.ErrInsufficientStock) {
		t.Fatalf("oversold create: %v", err)
	}
	if _, err := f.sales.ClaimKey(ctx, k2); !errors.Is(err, sales.ErrKeyInFlight) {
		t.Errorf("key of a failed create: %v; want still in flight", err)
	}
	// A failing encoder rolls the change back.
	k3 := sales.IdempotencyKey{Scope: "user-1", Key: "complete-1", Hash: "h"}
	if _, err := f.sales.ClaimKey(ctx, k3); err != nil {
		t.Fatal(err)
	}
	boom := func(*sales.Sale) (sales.Response, error) { return sales.Response{}, errors.New("boom") }
	if _, err := f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash}, sales.Remember(k3, boom)); err == nil {
		t.Fatal("Complete succeeded although its response could not be stored")
	}
	if got, _ := f.sales.Get(ctx, s.ID); got.Status != sales.StatusPending {
		t.Errorf("sale %s after a rolled-back completion; want PENDING", got.Status)
	}
	done, err := f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash}, sales.Remember(k3, encode))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := f.sales.ClaimKey(ctx, k3); r == nil || !strings.Contains(string(r.Body), `"version":2`) || done.Version != 2 {
		t.Errorf("replay after complete = %+v", r)
	}
}

// testClaimNewKeyInOneTx checks the other key methods on a key that the
// same transaction claimed as new and gave no response: it is in flight
// (or reused, with another hash), and released or swept keys are free
// once the transaction commits.
func testClaimNewKeyInOneTx(t *testing.T, f *fixture) {
	ctx := t.Context()
	key := func(name string) sales.IdempotencyKey {
		return sales.IdempotencyKey{Scope: "seller-1", Key: name, Hash: "h-" + name, Claim: "c-" + name}
	}
	inTx := func(name string, fn func(tx sales.Tx, k sales.IdempotencyKey, now time.Time) error) {
		t.Helper()
		now := f.clock.Now()
		err := f.Sales.InTx(ctx, func(tx sales.Tx) error {
			if err := tx.ClaimNewKey(ctx, key(name), now); err != nil {
				return err
			}
			return fn(tx, key(name), now)
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A second claim fails, at once or with the transaction.
	err := f.Sales.InTx(ctx, func(tx sales.Tx) error {
		now := f.clock.Now()
		if err := tx.ClaimNewKey(ctx, key("twice"), now); err != nil {
			return err
		}
		return tx.ClaimNewKey(ctx, key("twice"), now)
	})
	if !errors.Is(err, sales.ErrKeyExists) {
		t.Errorf("ClaimNewKey twice in a transaction: %v; want ErrKeyExists", err)
	}
	inTx("claimed", func(tx sales.Tx, k sales.IdempotencyKey, now time.Time) error {
		if _, err := tx.ClaimKey(ctx, k, now); !errors.Is(err, sales.ErrKeyInFlight) {
			t.Errorf("ClaimKey of the key claimed in the transaction: %v; want ErrKeyInFlight", err)
		}
		other := k
		other.Hash, other.Claim = "h-other", "c-other"
		if _, err := tx.ClaimKey(ctx, other, now); !errors.Is(err, sales.ErrKeyReused) {
			t.Errorf("ClaimKey of the key with another hash: %v; want ErrKeyReused", err)
		}
		return nil
	})
	inTx("released", func(tx sales.Tx, k sales.IdempotencyKey, _ time.Time) error {
		return tx.ReleaseKey(ctx, k)
	})
	if r, err := f.sales.ClaimKey(ctx, key("released")); r != nil || err != nil {
		t.Errorf("ClaimKey(released in its transaction) = %+v, %v; want it free", r, err)
	}
	f.clock.Set(f.clock.Now().Add(time.Hour))
	inTx("swept", func(tx sales.Tx, k sales.IdempotencyKey, now time.Time) error {
		n, err := tx.SweepKeys(ctx, now.Add(time.Second))
		if err != nil || n < 1 {
			t.Errorf("SweepKeys after the claim = %d, %v; want it counted", n, err)
		}
		return err
	})
	if r, err := f.sales.ClaimKey(ctx, key("swept")); r != nil || err != nil {
		t.Errorf("ClaimKey(swept in its transaction) = %+v, %v; want it free", r, err)
	}
}

// testIdempotentCompleteRace completes pending sales, each with one key
// from several clients at once that retry while the key is in flight, as
// clients do: exactly one call changes each sale, and every other one gets
// its answer replayed, never an error of the change itself (a sale already
// completed, for a retry that ran the change again after the first
// committed).
func testIdempotentCompleteRace(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "1.00", 1_000_000)
	encode := func(s *sales.Sale) (sales.Response, error) {
		return sales.Response{Status: 200, Body: fmt.Appendf(nil, `{"version":%d}`, s.Version)}, nil
	}
	const rounds, clients = 60, 6
	var changed, replayed atomic.Int64
	for i := range rounds {
		s := f.buy(t, b, 1)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for c := range clients {
			k := sales.IdempotencyKey{Scope: "seller-1", Key: fmt.Sprintf("k-%d", i), Hash: "h", Claim: fmt.Sprintf("c-%d-%d", i, c)}
			wg.Go(func() {
				<-start
				for {
					_, err := f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash}, sales.Idempotent(k, encode))
					var rp *sales.Replay
					switch {
					case errors.Is(err, sales.ErrKeyInFlight):
						continue
					case err == nil:
						changed.Add(1)
					case errors.As(err, &rp):
						replayed.Add(1)
					default:
						t.Errorf("round %d: %v; want the change or its replay", i, err)
					}
					return
				}
			})
		}
		close(start)
		wg.Wait()
	}
	if changed.Load() != rounds || replayed.Load() != rounds*(clients-1) {
		t.Errorf("%d changes and %d replays; want %d and %d", changed.Load(), replayed.Load(), rounds, rounds*(clients-1))
	}
}

// testClaimNewKey checks KeyTx.ClaimNewKey in a transaction: a key
// claimed as new and committed with its response is answered; one
// committed without a response is in flight; one whose transaction rolled
// back is free; and a key that exists cannot be claimed as new again.
func testClaimNewKey(t *testing.T, f *fixture) {
	ctx := t.Context()
	errBoom := errors.New("boom")
	claim := func(k sales.IdempotencyKey, r *sales.Response, fail bool) error {
		now := f.clock.Now()
		return f.Sales.InTx(ctx, func(tx sales.Tx) error {
			if err := tx.ClaimNewKey(ctx, k, now); err != nil {
				return err
			}
			if r != nil {
				if err := tx.SaveResponse(ctx, k, *r, now); err != nil {
					return err
				}
			}
			if fail {
				return errBoom
			}
			return nil
		})
	}
	key := func(name string) sales.IdempotencyKey {
		return sales.IdempotencyKey{Scope: "seller-1", Key: name, Hash: "h-" + name, Claim: "c-" + name}
	}
	answered, inFlight, rolledBack := key("answered"), key("in-flight"), key("rolled-back")
	if err := claim(answered, &sales.Response{Status: 201, Body: []byte(`{"id":"1"}`)}, false); err != nil {
		t.Fatalf("claim with a response: %v", err)
	}
	if err := claim(inFlight, nil, false); err != nil {
		t.Fatalf("claim without a response: %v", err)
	}
	if err := claim(rolledBack, &sales.Response{Status: 201, Body: []byte(`{}`)}, true); !errors.Is(err, errBoom) {
		t.Fatalf("claim in a failing transaction: %v", err)
	}
	for _, k := range []sales.IdempotencyKey{answered, inFlight} {
		if err := claim(k, nil, false); !errors.Is(err, sales.ErrKeyExists) {
			t.Errorf("second claim of %s as new: %v; want ErrKeyExists", k.Key, err)
		}
	}
	if r, err := f.sales.ClaimKey(ctx, answered); err != nil || r == nil || r.Status != 201 || string(r.Body) != `{"id":"1"}` {
		t.Errorf("ClaimKey(answered) = %+v, %v; want the stored 201", r, err)
	}
	if _, err := f.sales.ClaimKey(ctx, inFlight); !errors.Is(err, sales.ErrKeyInFlight) {
		t.Errorf("ClaimKey(in flight) = %v; want ErrKeyInFlight", err)
	}
	if r, err := f.sales.ClaimKey(ctx, rolledBack); r != nil || err != nil {
		t.Errorf("ClaimKey(rolled back) = %+v, %v; want it free", r, err)
	}
}

// testIdempotentInTx checks sales.Idempotent: the key is claimed in the
// change's transaction, and a known key replays, conflicts or is in flight.
func testIdempotentInTx(t *testing.T, f *fixture) {
	ctx := t.Context()
	b := f.book(t, "2.00", 5)
	encode := func(s *sales.Sale) (sales.Response, error) {
		body, err := json.Marshal(s)
		return sales.Response{Status: 201, Body: body}, err
	}
	k := sales.IdempotencyKey{Scope: "user-1", Key: "once-1", Hash: "h", Claim: "c1"}
	buy := func(k sales.IdempotencyKey, qty int64) (*sales.Sale, error) {
		return f.sales.Create(ctx, "user-1", sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: qty}}}, sales.Idempotent(k, encode))
	}
	s, err := buy(k, 2)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	want, _ := json.Marshal(s)
	retry := k
	retry.Claim = "c2"
	var rp *sales.Replay
	if _, err := buy(retry, 2); !errors.As(err, &rp) || rp.Response.Status != 201 || string(rp.Response.Body) != string(want) {
		t.Fatalf("retry = %v; want a *sales.Replay of the created sale", err)
	}
	other := retry
	other.Hash = "h2"
	if _, err := buy(other, 1); !errors.Is(err, sales.ErrKeyReused) {
		t.Errorf("same key, other request = %v; want ErrKeyReused", err)
	}
	if p, err := f.sales.List(ctx, sales.Filter{SellerID: "user-1"}); err != nil || p.Total != 1 {
		t.Errorf("sales = %+v, %v; want the one", p, err)
	}
	f.wantLevel(t, b.ID, 5, 2)

	// A change that fails leaves its key unclaimed.
	k2 := sales.IdempotencyKey{Scope: "user-1", Key: "once-2", Hash: "h"}
	if _, err := buy(k2, 9); !errors.Is(err, sales.ErrInsufficientStock) {
		t.Fatalf("oversold create: %v", err)
	}
	if r, err := f.sales.ClaimKey(ctx, k2); err != nil || r != nil {
		t.Errorf("key of a failed create = %v, %v; want free", r, err)
	}
	// A key claimed by a running request is in flight: the change is not made.
	if _, err := buy(k2, 1); !errors.Is(err, sales.ErrKeyInFlight) {
		t.Errorf("key of a running request = %v; want ErrKeyInFlight", err)
	}
	f.wantLevel(t, b.ID, 5, 2)
	if _, err := buy(sales.IdempotencyKey{Scope: "user-1", Key: "bad key", Hash: "h"}, 1); !errors.Is(err, sales.ErrInvalid) {
		t.Errorf("malformed key = %v; want ErrInvalid", err)
	}

	// A status change replays too, and moves the sale once.
	k3 := sales.IdempotencyKey{Scope: "admin", Key: "complete-1", Hash: "h"}
	for i := range 2 {
		done, err := f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash}, sales.Idempotent(k3, encode))
		switch {
		case i == 0 && (err != nil || done.Version != 2):
			t.Fatalf("Complete = %+v, %v", done, err)
		case i == 1 && !errors.As(err, &rp):
			t.Fatalf("Complete again = %v; want a *sales.Replay", err)
		}
	}
	if got, err := f.sales.Get(ctx, s.ID); err != nil || got.Version != 2 {
		t.Errorf("sale after a replayed completion = %+v, %v; want version 2", got, err)
	}
}

// testIdempotentInTxRace sends one new key's change 16 times at once: one
// sale, and every other call replays it or finds the key in flight.
func testIdempotentInTxRace(t *testing.T, f *fixture) {
	b := f.book(t, "1.00", 100)
	k := sales.IdempotencyKey{Scope: "user-1", Key: "race-in-tx", Hash: "h"}
	encode := func(s *sales.Sale) (sales.Response, error) {
		return sales.Response{Status: 201, Body: []byte(s.ID.String())}, nil
	}
	var created, replayed, inFlight atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 16 {
		wg.Go(func() {
			<-start
			_, err := f.sales.Create(context.Background(), "user-1",
				sales.NewSale{Items: []sales.NewLine{{BookID: b.ID, Quantity: 1}}}, sales.Idempotent(k, encode))
			var rp *sales.Replay
			switch {
			case err == nil:
				created.Add(1)
			case errors.As(err, &rp):
				replayed.Add(1)
			case errors.Is(err, sales.ErrKeyInFlight):
				inFlight.Add(1)
			default:
				t.Errorf("Create: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if created.Load() != 1 || replayed.Load()+inFlight.Load() != 15 {
		t.Errorf("%d created, %d replayed, %d in flight; want 1 created", created.Load(), replayed.Load(), inFlight.Load())
	}
	f.wantLevel(t, b.ID, 100, 1)
}

func testIdempotencyRace(t *testing.T, f *fixture) {
	k := sales.IdempotencyKey{Scope: "user-1", Key: "race", Hash: "h"}
	var owners, inFlight atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 16 {
		wg.Go(func() {
			<-start
			r, err := f.sales.ClaimKey(context.Background(), k)
			switch {
			case err == nil && r == nil:
				owners.Add(1)
			case errors.Is(err, sales.ErrKeyInFlight):
				inFlight.Add(1)
			default:
				t.Errorf("claim: %v, %v", r, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if owners.Load() != 1 || inFlight.Load() != 15 {
		t.Errorf("%d owners, %d in flight; want 1 and 15", owners.Load(), inFlight.Load())
	}
}
