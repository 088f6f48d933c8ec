package postgres_test

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres"
)

// Open a database, bring its schema up to date and hand its stores to the
// services. (It needs a server, so it is compiled but not run.)
func Example() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"),
		postgres.WithMaxConns(16),
		postgres.WithLogger(slog.Default()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	catalog, err := inventory.NewService(db.Inventory())
	if err != nil {
		log.Fatal(err)
	}
	shop, err := sales.NewService(db.Sales())
	if err != nil {
		log.Fatal(err)
	}
	book, err := catalog.CreateBook(ctx, inventory.NewBook{
		Title: "Dune", Author: "Frank Herbert", Price: sales.MustDecimal("9.99"), Stock: 3,
	})
	if err != nil {
		log.Fatal(err)
	}
	sale, err := shop.Create(ctx, "seller-1", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 1}}})
	if err != nil {
		log.Fatal(err) // errors.Is(err, sales.ErrInsufficientStock) when fewer than 1 is available
	}
	log.Printf("sale %s: %s", sale.ID, sale.Total.Format(shop.Currency()))
}

// Run the outbox relay with leader election and wake-ups, and a worker
// that applies each event once. (It needs a server and a broker, so it is
// compiled but not run.)
func ExampleDB_InTx() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	var (
		pub eventbus.Publisher  // the bus: eventbus/kafka or eventbus/memory
		sub eventbus.Subscriber // of the sale topics, in group "analytics-group"
	)

	relay, err := eventbus.NewRelay(db.Outbox(), pub,
		eventbus.WithLeader(db.Leader()), // one relay publishes at a time
		eventbus.WithWaker(db.Waker()),   // woken by each commit that enqueues
	)
	if err != nil {
		log.Fatal(err)
	}
	go relay.Run(ctx)

	handle := eventbus.Idempotent("analytics-group", db.InTx,
		func(ctx context.Context, tx *postgres.Tx, ev eventbus.Event) error {
			// Apply ev with tx (an inventory.Tx and a sales.Tx): the effects
			// commit together with the record that ev was processed.
			return nil
		})
	if err := sub.Run(ctx, handle); err != nil {
		log.Fatal(err)
	}
}
