package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/worker"
)

func TestNotFound(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	id := uuid.New()
	salesTx := func(fn func(sales.Tx) error) error { return w.db.Sales().InTx(ctx, fn) }
	invTx := func(fn func(inventory.Tx) error) error { return w.db.Inventory().InTx(ctx, fn) }
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"Sale", func() error { _, err := w.db.Sales().Sale(ctx, id); return err }, sales.ErrNotFound},
		{"LockSale", func() error {
			return salesTx(func(tx sales.Tx) error { _, err := tx.LockSale(ctx, id); return err })
		}, sales.ErrNotFound},
		{"UpdateSale", func() error {
			s := *w.sale
			s.ID = id
			return salesTx(func(tx sales.Tx) error { return tx.UpdateSale(ctx, &s) })
		}, sales.ErrNotFound},
		{"Book", func() error { _, err := w.db.Inventory().Book(ctx, id); return err }, inventory.ErrNotFound},
		{"Level", func() error { _, err := w.db.Inventory().Level(ctx, id); return err }, inventory.ErrNotFound},
		{"LockBook", func() error {
			return invTx(func(tx inventory.Tx) error { _, err := tx.LockBook(ctx, id); return err })
		}, inventory.ErrNotFound},
		{"LockLevels", func() error {
			return invTx(func(tx inventory.Tx) error { _, err := tx.LockLevels(ctx, []uuid.UUID{w.book.ID, id}); return err })
		}, inventory.ErrNotFound},
		{"UpdateBook", func() error {
			b := *w.book
			b.ID = id
			return invTx(func(tx inventory.Tx) error { return tx.UpdateBook(ctx, &b) })
		}, inventory.ErrNotFound},
		{"AddMovements unknown book", func() error {
			return invTx(func(tx inventory.Tx) error {
				return addMovement(ctx, tx, movement(id, inventory.Purchase, 0, 1, uuid.Nil), 0)
			})
		}, inventory.ErrNotFound},
		{"AddMovements unknown sale", func() error {
			return invTx(func(tx inventory.Tx) error {
				return addMovement(ctx, tx, movement(w.book.ID, inventory.Sale, 8, -1, id), 0)
			})
		}, sales.ErrNotFound},
		{"InsertSale unknown book", func() error {
			s := *w.sale
			s.ID, s.Status, s.Version = uuid.New(), sales.StatusPending, 1
			s.Lines = []sales.Line{{BookID: id, Quantity: 2, UnitPrice: 999, Subtotal: 1998}}
			return salesTx(func(tx sales.Tx) error { return tx.InsertSale(ctx, &s) })
		}, sales.ErrUnknownBook},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, c.want) {
				t.Errorf("error = %v; want %v", err, c.want)
			}
		})
	}
}

func movement(book uuid.UUID, typ inventory.MovementType, before, qty int64, sale uuid.UUID) inventory.Movement {
	return inventory.Movement{
		ID: uuid.New(), BookID: book, Type: typ, Quantity: qty, StockBefore: before, StockAfter: before + qty,
		SaleID: sale, CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	}
}

// addMovement appends one movement through inventory.MovementTx.
func addMovement(ctx context.Context, tx inventory.MovementTx, m inventory.Movement, reservedDelta int64) error {
	return tx.AddMovements(ctx, []inventory.Change{{Movement: m, ReservedDelta: reservedDelta}})
}

func TestReserveRelease(t *testing.T) {
	t.Parallel()
	w := newWorld(t) // 8 on hand, 0 reserved
	ctx := t.Context()
	inTx := func(fn func(sales.Tx) error) error { return w.db.Sales().InTx(ctx, fn) }

	err := inTx(func(tx sales.Tx) error { return tx.Reserve(ctx, map[uuid.UUID]int64{w.book.ID: 9}) })
	var se *sales.StockError
	if !errors.Is(err, sales.ErrInsufficientStock) || !errors.As(err, &se) || se.BookID != w.book.ID.String() || se.Requested != 9 {
		t.Errorf("Reserve(9 of 8) = %v; want a *sales.StockError for 9 units", err)
	}
	for _, qty := range []int64{0, -1} {
		if err := inTx(func(tx sales.Tx) error { return tx.Reserve(ctx, map[uuid.UUID]int64{w.book.ID: qty}) }); !errors.Is(err, sales.ErrInsufficientStock) {
			t.Errorf("Reserve(%d) = %v; want ErrInsufficientStock", qty, err)
		}
	}
	if err := inTx(func(tx sales.Tx) error { return tx.Reserve(ctx, map[uuid.UUID]int64{uuid.New(): 1}) }); !errors.Is(err, sales.ErrInsufficientStock) {
		t.Errorf("Reserve(unknown book) = %v; want ErrInsufficientStock", err)
	}
	// Writes are queued: a failed Release fails the transaction, at the
	// commit at the latest, and changes nothing.
	err = inTx(func(tx sales.Tx) error {
		if err := tx.Reserve(ctx, map[uuid.UUID]int64{w.book.ID: 8}); err != nil {
			return err
		}
		return tx.Release(ctx, map[uuid.UUID]int64{w.book.ID: 9})
	})
	if err == nil || !strings.Contains(err.Error(), "fewer units reserved") {
		t.Errorf("reserve 8, release 9 = %v; want fewer units reserved", err)
	}
	if l, err := w.db.Inventory().Level(ctx, w.book.ID); err != nil || l.OnHand != 8 || l.Reserved != 0 {
		t.Errorf("level after a failed release = %+v, %v; want 8 on hand, nothing reserved", l, err)
	}
	err = inTx(func(tx sales.Tx) error {
		if err := tx.Reserve(ctx, map[uuid.UUID]int64{w.book.ID: 8}); err != nil {
			return err
		}
		return tx.Release(ctx, map[uuid.UUID]int64{w.book.ID: 3})
	})
	if err != nil {
		t.Fatalf("reserve 8, release 3: %v", err)
	}
	if l, err := w.db.Inventory().Level(ctx, w.book.ID); err != nil || l.OnHand != 8 || l.Reserved != 5 {
		t.Errorf("level = %+v, %v; want 8 on hand, 5 reserved", l, err)
	}
}

func TestAddMovementErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t) // 8 on hand, 0 reserved; the sale's SALE movement is recorded
	ctx := t.Context()
	other, err := w.inv.CreateBook(ctx, inventory.NewBook{Title: "Emma", Author: "Austen", Price: sales.MustDecimal("5"), Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	add := func(m inventory.Movement, reservedDelta int64) error {
		return w.db.Inventory().InTx(ctx, func(tx inventory.Tx) error { return addMovement(ctx, tx, m, reservedDelta) })
	}
	// After movements of another book that are fine, in the statement that
	// writes several movements: it names the one that failed.
	batched := func(m inventory.Movement, reservedDelta int64) error {
		return w.db.Inventory().InTx(ctx, func(tx inventory.Tx) error {
			if _, err := tx.LockLevels(ctx, []uuid.UUID{other.ID, w.book.ID}); err != nil {
				return err
			}
			var cs []inventory.Change
			for i := range int64(postgres.ListFrom - 1) {
				cs = append(cs, inventory.Change{Movement: movement(other.ID, inventory.Purchase, 3+i, 1, uuid.Nil)})
			}
			return tx.AddMovements(ctx, append(cs, inventory.Change{Movement: m, ReservedDelta: reservedDelta}))
		})
	}
	cases := []struct {
		name     string
		m        inventory.Movement
		reserved int64
		want     error // nil: an error matching none of the sentinels
		alone    bool  // also alone (TestErrorsWrapSentinels has the others)
	}{
		{"below zero", movement(w.book.ID, inventory.Loss, 8, -9, uuid.Nil), 0, inventory.ErrInsufficientStock, true},
		{"below reserved", movement(w.book.ID, inventory.Purchase, 8, 1, uuid.Nil), 10, inventory.ErrInsufficientStock, true},
		{"reserved below zero", movement(w.book.ID, inventory.Purchase, 8, 1, uuid.Nil), -1, inventory.ErrInsufficientStock, true},
		{"second SALE", movement(w.book.ID, inventory.Sale, 8, -2, w.sale.ID), -2, inventory.ErrDuplicateMovement, true},
		{"stale stock before", movement(w.book.ID, inventory.Purchase, 7, 1, uuid.Nil), 0, nil, true},
		{"unknown book", movement(uuid.New(), inventory.Purchase, 0, 1, uuid.Nil), 0, inventory.ErrNotFound, false},
		{"unknown sale", movement(w.book.ID, inventory.Sale, 8, -1, uuid.New()), 0, sales.ErrNotFound, false},
	}
	sentinels := []error{inventory.ErrInsufficientStock, inventory.ErrDuplicateMovement, inventory.ErrNotFound, sales.ErrNotFound}
	for _, c := range cases {
		for _, in := range []string{"alone", "batched"} {
			if in == "alone" && !c.alone {
				continue
			}
			t.Run(c.name+"/"+in, func(t *testing.T) {
				var err error
				if in == "alone" {
					err = add(c.m, c.reserved)
				} else {
					err = batched(c.m, c.reserved)
				}
				switch {
				case err == nil:
					t.Fatalf("AddMovements succeeded; want an error")
				case c.want != nil && !errors.Is(err, c.want):
					t.Errorf("error = %v; want %v", err, c.want)
				case c.want == nil:
					for _, s := range sentinels {
						if errors.Is(err, s) {
							t.Errorf("error = %v; want none of the domain errors", err)
						}
					}
				}
				// The ledger's own reasons name the movement; a broken
				// constraint names the first of the batch.
				if named := c.name == "second SALE" || c.name == "stale stock before" || c.name == "unknown book"; named && !strings.Contains(err.Error(), c.m.BookID.String()) {
					t.Errorf("error = %v; want it to name book %s", err, c.m.BookID)
				}
			})
		}
	}
	if l, err := w.db.Inventory().Level(ctx, w.book.ID); err != nil || l.OnHand != 8 || l.Reserved != 0 {
		t.Errorf("level after failed movements = %+v, %v; want 8 on hand, 0 reserved", l, err)
	}
	if l, err := w.db.Inventory().Level(ctx, other.ID); err != nil || l.OnHand != 3 {
		t.Errorf("other book's level after failed batches = %+v, %v; want 3 on hand", l, err)
	}
	if _, n, err := w.db.Inventory().Movements(ctx, inventory.MovementFilter{BookID: w.book.ID}); err != nil || n != 2 {
		t.Errorf("movements = %d, %v; want the 2 recorded before", n, err)
	}
}

// TestAddMovementList writes several movements in one statement: a book's
// movements one after the other, its level moved once to the last one's
// stock after and by the sum of the reserved deltas; the ledger keeps
// their order.
func TestAddMovementList(t *testing.T) {
	t.Parallel()
	w := newWorld(t) // 8 on hand, 0 reserved, 2 movements
	ctx := t.Context()
	other, err := w.inv.CreateBook(ctx, inventory.NewBook{Title: "Emma", Author: "Austen", Price: sales.MustDecimal("5"), Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	sale, err := w.svc.Create(ctx, "seller", sales.NewSale{Items: []sales.NewLine{{BookID: w.book.ID, Quantity: 1}, {BookID: other.ID, Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if sale, err = w.svc.Complete(ctx, sale.ID, sales.Payment{Method: sales.PaymentCash}); err != nil {
		t.Fatal(err)
	}
	cs := []inventory.Change{
		{Movement: movement(w.book.ID, inventory.Sale, 8, -1, sale.ID), ReservedDelta: -1},
		{Movement: movement(other.ID, inventory.Sale, 3, -2, sale.ID), ReservedDelta: -2},
		{Movement: movement(w.book.ID, inventory.Purchase, 7, 5, uuid.Nil)},
		{Movement: movement(w.book.ID, inventory.Return, 12, 1, sale.ID)},
	}
	cs[2].Reason = "restock"
	for i := range int64(postgres.ListFrom - len(cs)) { // other's, enough for one statement
		cs = append(cs, inventory.Change{Movement: movement(other.ID, inventory.Adjustment, 1+i, 1, uuid.Nil)})
	}
	cs[len(cs)-1].Reason = "count"
	err = w.db.Inventory().InTx(ctx, func(tx inventory.Tx) error {
		if _, err := tx.LockLevels(ctx, []uuid.UUID{w.book.ID, other.ID}); err != nil {
			return err
		}
		return tx.AddMovements(ctx, cs)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []inventory.Level{{BookID: w.book.ID, OnHand: 13}, {BookID: other.ID, OnHand: 1 + int64(postgres.ListFrom-4)}} {
		if l, err := w.db.Inventory().Level(ctx, want.BookID); err != nil || l.OnHand != want.OnHand || l.Reserved != 0 {
			t.Errorf("level = %+v, %v; want %d on hand, 0 reserved", l, err, want.OnHand)
		}
	}
	ms, _, err := w.db.Inventory().Movements(ctx, inventory.MovementFilter{BookID: w.book.ID})
	if err != nil || len(ms) != 5 {
		t.Fatalf("movements = %d, %v; want 5", len(ms), err)
	}
	for i, m := range ms[2:] {
		want := cs[[]int{0, 2, 3}[i]].Movement
		if m.ID != want.ID || m.StockAfter != want.StockAfter || m.SaleID != want.SaleID || m.Reason != want.Reason {
			t.Errorf("movement %d = %+v; want %+v", i+1, m, want)
		}
	}
}

// TestDuplicateMovementLosesTx checks that a second SALE movement of a
// sale and book, queued with the next statement, fails the transaction
// with ErrDuplicateMovement, even when the caller goes on: nothing of it
// is written.
func TestDuplicateMovementLosesTx(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	err := w.db.Inventory().InTx(ctx, func(tx inventory.Tx) error {
		_ = addMovement(ctx, tx, movement(w.book.ID, inventory.Sale, 8, -2, w.sale.ID), -2)
		return addMovement(ctx, tx, movement(w.book.ID, inventory.Purchase, 8, 5, uuid.Nil), 0)
	})
	if !errors.Is(err, inventory.ErrDuplicateMovement) {
		t.Fatalf("transaction with a second SALE movement = %v; want ErrDuplicateMovement", err)
	}
	if l, err := w.db.Inventory().Level(ctx, w.book.ID); err != nil || l.OnHand != 8 {
		t.Errorf("level = %+v, %v; want 8 on hand (nothing written)", l, err)
	}
}

func TestInTxReturnsFunctionError(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	boom := errors.New("boom")
	err := w.db.Inventory().InTx(ctx, func(tx inventory.Tx) error {
		if err := addMovement(ctx, tx, movement(w.book.ID, inventory.Purchase, 8, 5, uuid.Nil), 0); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Errorf("InTx = %v; want the function's error itself", err)
	}
	if l, err := w.db.Inventory().Level(ctx, w.book.ID); err != nil || l.OnHand != 8 {
		t.Errorf("level = %+v, %v; want 8 on hand (rolled back)", l, err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic in InTx was swallowed")
			}
		}()
		_ = w.db.Inventory().InTx(ctx, func(tx inventory.Tx) error {
			_ = addMovement(ctx, tx, movement(w.book.ID, inventory.Purchase, 8, 5, uuid.Nil), 0)
			panic("boom")
		})
	}()
	if l, err := w.db.Inventory().Level(context.WithoutCancel(ctx), w.book.ID); err != nil || l.OnHand != 8 {
		t.Errorf("level after panic = %+v, %v; want 8 on hand (rolled back)", l, err)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{fmt.Errorf("lock sale: %w", &pgconn.PgError{Code: "57P01"}), true}, // pg_terminate_backend
		{&pgconn.PgError{Code: "57P03"}, true},                              // starting up
		{&pgconn.PgError{Code: "08006"}, true},                              // connection failure
		{&pgconn.PgError{Code: "53300"}, true},                              // too many connections
		{&pgconn.PgError{Code: "23514"}, false},                             // a check constraint: the request's fault
		{&pgconn.PgError{Code: "40P01"}, false},                             // deadlock: a bug, not an outage
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{context.Canceled, false},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), false}, // a net.Error, but a timeout, not an outage
		{&net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, true},
	}
	for _, c := range cases {
		if got := postgres.Unavailable(c.err); got != c.want {
			t.Errorf("Unavailable(%v) = %t; want %t", c.err, got, c.want)
		}
	}
	// A server that is not there at all.
	_, err := postgres.Open(t.Context(), "postgres://postgres@127.0.0.1:1/x?connect_timeout=2")
	if !postgres.Unavailable(err) {
		t.Errorf("Unavailable(%v) = false for a refused connection", err)
	}
}

// TestSaveProgressGuard checks that saving the worker's progress fails,
// naming the sale and changing nothing, for a version below the stored
// one and for a sale without a record.
func TestSaveProgressGuard(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	other, err := w.svc.Create(ctx, "seller", sales.NewSale{Items: []sales.NewLine{{BookID: w.book.ID, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	save := func(ps ...worker.Progress) error {
		return w.db.InTx(ctx, func(tx *postgres.Tx) error {
			if _, err := tx.LockProgress(ctx, []uuid.UUID{w.sale.ID}); err != nil {
				return err
			}
			return tx.SaveProgress(ctx, ps)
		})
	}
	if err := save(worker.Progress{SaleID: w.sale.ID, Version: 3, Sold: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ps   []worker.Progress
		sale uuid.UUID
	}{
		{"a version behind", []worker.Progress{{SaleID: w.sale.ID, Version: 2}}, w.sale.ID},
		{"no record", []worker.Progress{{SaleID: w.sale.ID, Version: 4}, {SaleID: other.ID, Version: 1}}, other.ID},
	} {
		err := save(tc.ps...)
		if err == nil || !strings.Contains(err.Error(), tc.sale.String()) {
			t.Errorf("%s: %v; want an error naming sale %s", tc.name, err, tc.sale)
		}
		if p, err := w.db.Progress(ctx, w.sale.ID); err != nil || p.Version != 3 || !p.Sold {
			t.Errorf("%s: progress = %+v, %v; want version 3, sold, as saved before", tc.name, p, err)
		}
	}
}
