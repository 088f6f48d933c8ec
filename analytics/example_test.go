package analytics_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/memory"
)

// printTx prints what the projection writes, naming books by title.
type printTx struct {
	titles map[uuid.UUID]string
	c      sales.Currency
}

func (p printTx) AddBookStats(_ context.Context, ds []analytics.Delta) error {
	for _, d := range ds {
		fmt.Printf("%s: %+d units, net %s, %+d sale\n", p.titles[d.BookID], d.Units, d.NetRevenue.Format(p.c), d.Sales)
	}
	return nil
}

func (p printTx) AddDay(_ context.Context, d analytics.DayDelta) error {
	fmt.Printf("%s: %+d sale, revenue %s, net %s, %d items\n", d.Day, d.Sales, d.Revenue.Format(p.c), d.Net.Format(p.c), d.Items)
	return nil
}

// A completed sale adds to each book's statistics, its net revenue being
// the line's after its own discount and its share of the sale's discount
// (in proportion to the lines' nets: 9.00 split 36 : 10),
// and to the rollup of the day it was paid (in the zone given).
func ExampleApplySale() {
	ctx := context.Background()
	paid := func() time.Time { return time.Date(2026, 3, 14, 23, 30, 0, 0, time.UTC) }
	store := memory.New()
	catalog, _ := inventory.NewService(store.Inventory())
	shop, _ := sales.NewService(store.Sales(), sales.WithClock(paid))
	dune, _ := catalog.CreateBook(ctx, inventory.NewBook{Title: "Dune", Author: "F. Herbert", Price: sales.MustDecimal("20.00"), Stock: 5})
	emma, _ := catalog.CreateBook(ctx, inventory.NewBook{Title: "Emma", Author: "J. Austen", Price: sales.MustDecimal("10.00"), Stock: 5})
	s, err := shop.Create(ctx, "seller-1", sales.NewSale{
		Items: []sales.NewLine{
			{BookID: dune.ID, Quantity: 2, Discount: sales.MustDecimal("4.00")},
			{BookID: emma.ID, Quantity: 1},
		},
		Discount: sales.MustDecimal("9.00"),
	})
	if err == nil {
		s, err = shop.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash})
	}
	if err != nil {
		log.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tx := printTx{titles: map[uuid.UUID]string{dune.ID: "Dune", emma.ID: "Emma"}, c: shop.Currency()}
	if err := analytics.ApplySale(ctx, tx, s, berlin); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 2026-03-15: +1 sale, revenue 37.00, net 37.00, 3 items
	// Dune: +2 units, net 28.96, +1 sale
	// Emma: +1 units, net 8.04, +1 sale
}
