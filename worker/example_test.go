package worker_test

import (
	"context"
	"fmt"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/memory"
	"github.com/salesflow/salesflow/worker"
)

// Events may arrive late, twice, or before their predecessors: the worker
// applies each sale's changes once, in version order.
func Example() {
	ctx := context.Background()
	store := memory.New()
	inv, _ := inventory.NewService(store.Inventory())
	svc, _ := sales.NewService(store.Sales())
	book, _ := inv.CreateBook(ctx, inventory.NewBook{Title: "Dune", Author: "Herbert", Price: sales.MustDecimal("10"), Stock: 5})
	sale, _ := svc.Create(ctx, "seller-1", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 2}}})
	_, _ = svc.Complete(ctx, sale.ID, sales.Payment{Method: sales.PaymentCash})

	w, _ := worker.New(store.InTx)
	h := w.Handler()
	events, _ := store.Outbox().Pending(ctx, 10) // created, completed
	for _, e := range []eventbus.OutboxRecord{events[1], events[1], events[0]} {
		_ = h(ctx, eventbus.Delivery{Message: e.Message})
	}
	level, _ := inv.Level(ctx, book.ID)
	fmt.Println("on hand", level.OnHand, "reserved", level.Reserved)
	fmt.Println("applied", w.Applied(), "stale", w.Stale())
	// Output:
	// on hand 3 reserved 0
	// applied 1 stale 1
}
