package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

// world is a database with one book (10 units bought, 2 sold) and the
// completed sale of those 2 units, whose SALE movement is recorded.
type world struct {
	db   *postgres.DB
	book *inventory.Book
	sale *sales.Sale
	inv  *inventory.Service
	svc  *sales.Service
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldOn(t, testkit.OpenPostgres(t))
}

// newWorldOn makes the world in db, which is new.
func newWorldOn(t *testing.T, db *postgres.DB) *world {
	t.Helper()
	ctx := t.Context()
	inv, err := inventory.NewService(db.Inventory())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := sales.NewService(db.Sales())
	if err != nil {
		t.Fatal(err)
	}
	book, err := inv.CreateBook(ctx, inventory.NewBook{Title: "Dune", Author: "Herbert", Price: sales.MustDecimal("9.99"), Stock: 10})
	if err != nil {
		t.Fatalf("create book: %v", err)
	}
	sale, err := svc.Create(ctx, "seller", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 2}}})
	if err != nil {
		t.Fatalf("create sale: %v", err)
	}
	if sale, err = svc.Complete(ctx, sale.ID, sales.Payment{Method: sales.PaymentCash}); err != nil {
		t.Fatalf("complete sale: %v", err)
	}
	w := &world{db: db, book: book, sale: sale, inv: inv, svc: svc}
	if err := w.saleMovement(t, sale.ID, -2); err != nil {
		t.Fatalf("SALE movement: %v", err)
	}
	return w
}

// saleMovement records a SALE movement of qty (negative) for the world's
// book that also takes qty off reserved, on the locked level.
func (w *world) saleMovement(t *testing.T, saleID uuid.UUID, qty int64) error {
	t.Helper()
	ctx := t.Context()
	return w.db.Inventory().InTx(ctx, func(tx inventory.Tx) error {
		ls, err := tx.LockLevels(ctx, []uuid.UUID{w.book.ID})
		if err != nil {
			return err
		}
		return addMovement(ctx, tx, inventory.Movement{
			ID: uuid.New(), BookID: w.book.ID, Type: inventory.Sale, Quantity: qty,
			StockBefore: ls[0].OnHand, StockAfter: ls[0].OnHand + qty, SaleID: saleID,
			CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
		}, qty)
	})
}

// TestSchemaRefuses checks that the schema alone, written to with raw SQL,
// refuses states that break the domain's invariants.
func TestSchemaRefuses(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const insertMovement = `INSERT INTO stock_movements (id, book_id, type, quantity, stock_before, stock_after, sale_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, now())`
	const insertSale = `INSERT INTO sales (id, status, version, seller_id, subtotal, discount, tax, total, currency, created_at, updated_at)
		VALUES ($1, 'PENDING', 1, 'seller', $2, $3, $4, $5, 'USD', now(), now())`
	book, sale, noSale := w.book.ID, w.sale.ID, (*uuid.UUID)(nil)
	cases := []struct {
		name       string
		sql        string
		args       []any
		constraint string
	}{
		{"negative on hand", `UPDATE stock_levels SET on_hand = -1, reserved = 0 WHERE book_id = $1`, []any{book}, "stock_levels_on_hand_check"},
		{"negative reserved", `UPDATE stock_levels SET reserved = -1 WHERE book_id = $1`, []any{book}, "stock_levels_reserved_check"},
		{"reserved above on hand", `UPDATE stock_levels SET reserved = on_hand + 1 WHERE book_id = $1`, []any{book}, "stock_levels_reserved_on_hand_check"},
		{"second SALE movement", insertMovement, []any{uuid.New(), book, "SALE", -1, 8, 7, sale}, "stock_movements_sale_once"},
		{"movement not adding up", insertMovement, []any{uuid.New(), book, "PURCHASE", 1, 8, 10, noSale}, "stock_movements_balance_check"},
		{"movement below zero", insertMovement, []any{uuid.New(), book, "ADJUSTMENT", -9, 8, -1, noSale}, "stock_movements_stock_after_check"},
		{"zero movement", insertMovement, []any{uuid.New(), book, "ADJUSTMENT", 0, 8, 8, noSale}, "stock_movements_quantity_check"},
		{"PURCHASE taking stock", insertMovement, []any{uuid.New(), book, "PURCHASE", -1, 8, 7, noSale}, "stock_movements_sign_check"},
		{"RETURN taking stock", insertMovement, []any{uuid.New(), book, "RETURN", -1, 8, 7, sale}, "stock_movements_sign_check"},
		{"SALE adding stock", insertMovement, []any{uuid.New(), book, "SALE", 1, 8, 9, uuid.New()}, "stock_movements_sign_check"},
		{"DAMAGE adding stock", insertMovement, []any{uuid.New(), book, "DAMAGE", 1, 8, 9, noSale}, "stock_movements_sign_check"},
		{"LOSS adding stock", insertMovement, []any{uuid.New(), book, "LOSS", 1, 8, 9, noSale}, "stock_movements_sign_check"},
		{"PURCHASE with a sale", insertMovement, []any{uuid.New(), book, "PURCHASE", 1, 8, 9, sale}, "stock_movements_sale_id_check"},
		{"SALE without a sale", insertMovement, []any{uuid.New(), book, "SALE", -1, 8, 7, noSale}, "stock_movements_sale_id_check"},
		{"total mismatch", insertSale, []any{uuid.New(), 1000, 100, 90, 1000}, "sales_total_check"},
		{"discount above subtotal", insertSale, []any{uuid.New(), 1000, 1001, 0, -1}, "sales_discount_check"},
		{"completed unpaid", `UPDATE sales SET payment_method = NULL WHERE id = $1`, []any{sale}, "sales_completed_paid_check"},
		{"cancelled without time", `UPDATE sales SET status = 'CANCELLED' WHERE id = $1`, []any{sale}, "sales_cancelled_at_check"},
		{"unknown status", `UPDATE sales SET status = 'SHIPPED' WHERE id = $1`, []any{sale}, "sales_status_check"},
		{"line subtotal mismatch", `UPDATE sale_items SET subtotal = subtotal + 1 WHERE sale_id = $1`, []any{sale}, "sale_items_subtotal_check"},
		{"line net above subtotal", `UPDATE sale_items SET net = subtotal + 1 WHERE sale_id = $1`, []any{sale}, "sale_items_net_check"},
		{"negative price", `UPDATE books SET price = -1 WHERE id = $1`, []any{book}, "books_price_check"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := w.db.ExecRolledBack(t.Context(), c.sql, c.args...)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.ConstraintName != c.constraint {
				t.Errorf("error = %v; want a violation of %s", err, c.constraint)
			}
		})
	}
	// Each type's sign that the schema takes.
	for _, m := range []struct {
		typ string
		qty int64
	}{{"PURCHASE", 1}, {"ADJUSTMENT", 1}, {"ADJUSTMENT", -1}, {"DAMAGE", -1}, {"LOSS", -1}} {
		if err := w.db.ExecRolledBack(t.Context(), insertMovement, uuid.New(), book, m.typ, m.qty, 8, 8+m.qty, noSale); err != nil {
			t.Errorf("%s of %d: %v; want it stored", m.typ, m.qty, err)
		}
	}
}

// TestBookPatchBesideSale: a book patched with its restock threshold
// (LockBook, UpdateBook, SetMinStock on its stock level) while a sale of
// the book reserves its stock (the level, then the foreign-key check's
// KEY SHARE on the book): LockBook takes FOR NO KEY UPDATE, which that
// check does not wait for, so the two cannot deadlock.
func TestBookPatchBesideSale(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	locked, patched, created := make(chan struct{}), make(chan error, 1), make(chan error, 1)
	go func() {
		patched <- w.db.InTx(ctx, func(tx *postgres.Tx) error {
			b, err := tx.LockBook(ctx, w.book.ID)
			if err != nil {
				return err
			}
			b.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
			if err := tx.UpdateBook(ctx, b); err != nil {
				return err
			}
			close(locked)
			time.Sleep(300 * time.Millisecond) // the sale reserves meanwhile
			return tx.SetMinStock(ctx, w.book.ID, 3)
		})
	}()
	<-locked
	go func() {
		_, err := w.svc.Create(ctx, "seller", sales.NewSale{Items: []sales.NewLine{{BookID: w.book.ID, Quantity: 1}}})
		created <- err
	}()
	if err := <-patched; err != nil {
		t.Errorf("patch beside a sale: %v", err)
	}
	if err := <-created; err != nil {
		t.Errorf("sale beside a patch: %v", err)
	}
}
