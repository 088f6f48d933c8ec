package inventory_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/memory"
)

// Every change of on-hand stock is a movement in the book's ledger.
func ExampleService_Record() {
	ctx := context.Background()
	inv, _ := inventory.NewService(memory.New().Inventory())
	book, _ := inv.CreateBook(ctx, inventory.NewBook{Title: "Dune", Author: "Herbert", Price: sales.MustDecimal("9.99"), Stock: 10})

	_, _ = inv.Record(ctx, book.ID, inventory.NewMovement{Type: inventory.Damage, Quantity: -2, Reason: "water"})
	_, err := inv.Record(ctx, book.ID, inventory.NewMovement{Type: inventory.Loss, Quantity: -9})
	fmt.Println(errors.Is(err, inventory.ErrInsufficientStock))

	moves, _, _ := inv.Movements(ctx, inventory.MovementFilter{BookID: book.ID})
	for _, m := range moves {
		fmt.Println(m.Type, m.Quantity, m.StockBefore, "->", m.StockAfter)
	}
	// Output:
	// true
	// PURCHASE 10 0 -> 10
	// DAMAGE -2 10 -> 8
}
