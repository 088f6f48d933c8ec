package memory_test

import (
	"context"
	"fmt"
	"log"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/memory"
)

// A sale reserves its stock when it is created, in the same transaction
// as its sale.created event in the outbox; completing it enqueues
// sale.completed. The worker, fed by the relay, later turns the
// reservation into a SALE movement.
func Example() {
	ctx := context.Background()
	store := memory.New()
	catalog, err := inventory.NewService(store.Inventory())
	if err != nil {
		log.Fatal(err)
	}
	shop, err := sales.NewService(store.Sales())
	if err != nil {
		log.Fatal(err)
	}
	book, err := catalog.CreateBook(ctx, inventory.NewBook{
		Title: "Dune", Author: "Frank Herbert", Price: sales.MustDecimal("9.99"), Stock: 3,
	})
	if err != nil {
		log.Fatal(err)
	}
	sale, err := shop.Create(ctx, "seller-1", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 2}}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := shop.Complete(ctx, sale.ID, sales.Payment{Method: sales.PaymentCash}); err != nil {
		log.Fatal(err)
	}
	level, err := catalog.Level(ctx, book.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("total:", sale.Total.Format(shop.Currency()))
	fmt.Printf("on hand %d, reserved %d, available %d\n", level.OnHand, level.Reserved, level.Available())

	_, err = shop.Create(ctx, "seller-1", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 2}}})
	fmt.Println("two more:", err != nil)

	pending, err := store.Outbox().Pending(ctx, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range pending {
		fmt.Println("outbox:", r.Message.Topic)
	}
	// Output:
	// total: 19.98
	// on hand 3, reserved 2, available 1
	// two more: true
	// outbox: sale.created
	// outbox: sale.completed
}
