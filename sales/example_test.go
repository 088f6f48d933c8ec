package sales_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/memory"
)

// A sale is priced and its stock reserved when it is created, and it moves
// to COMPLETED with a payment method. Each change leaves its event in the
// outbox for the relay to publish.
func Example() {
	ctx := context.Background()
	store := memory.New()
	rate, _ := sales.ParseRate("0.19")
	svc, _ := sales.NewService(store.Sales(), sales.WithTaxRate(rate))
	inv, _ := inventory.NewService(store.Inventory())

	book, _ := inv.CreateBook(ctx, inventory.NewBook{
		Title: "The Go Programming Language", Author: "Donovan, Kernighan",
		Price: sales.MustDecimal("29.99"), Stock: 5,
	})
	sale, err := svc.Create(ctx, "seller-1", sales.NewSale{
		Items:    []sales.NewLine{{BookID: book.ID, Quantity: 2}},
		Discount: sales.MustDecimal("5.00"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	usd := svc.Currency()
	fmt.Println(sale.Status, sale.Version, "subtotal", sale.Subtotal.Format(usd), "tax", sale.Tax.Format(usd), "total", sale.Total.Format(usd))
	level, _ := inv.Level(ctx, book.ID)
	fmt.Println("on hand", level.OnHand, "reserved", level.Reserved, "available", level.Available())

	sale, err = svc.Complete(ctx, sale.ID, sales.Payment{Method: sales.PaymentCash})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sale.Status, sale.Version, sale.PaymentMethod)

	_, err = svc.Complete(ctx, sale.ID, sales.Payment{Method: sales.PaymentCash})
	fmt.Println(err != nil, errors.Is(err, sales.ErrIllegalTransition))

	events, _ := store.Outbox().Pending(ctx, 10)
	for _, e := range events {
		fmt.Println(e.Message.Topic, e.Message.Key == sale.ID.String())
	}
	// Output:
	// PENDING 1 subtotal 59.98 tax 10.45 total 65.43
	// on hand 5 reserved 2 available 3
	// COMPLETED 2 CASH
	// true true
	// sale.created true
	// sale.completed true
}

// Asking for more than is available fails with ErrInsufficientStock and
// leaves nothing behind.
func ExampleService_Create_insufficientStock() {
	ctx := context.Background()
	store := memory.New()
	svc, _ := sales.NewService(store.Sales())
	inv, _ := inventory.NewService(store.Inventory())
	book, _ := inv.CreateBook(ctx, inventory.NewBook{Title: "Dune", Author: "Herbert", Price: sales.MustDecimal("10"), Stock: 1})

	_, err := svc.Create(ctx, "seller-1", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 2}}})
	fmt.Println(errors.Is(err, sales.ErrInsufficientStock))
	level, _ := inv.Level(ctx, book.ID)
	fmt.Println("reserved", level.Reserved)
	// Output:
	// true
	// reserved 0
}
