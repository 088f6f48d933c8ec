package testkit

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// RunStoreBenchmarks measures a store through the services: creating a
// sale, a sale's lifecycle (create and complete), both from parallel
// clients, the summary of a month of sales, and relaying the outbox.
// newStores is called once per benchmark.
func RunStoreBenchmarks(b *testing.B, newStores func(b *testing.B) Stores) {
	b.Run("CreateSale", func(b *testing.B) {
		f := benchFixture(b, newStores(b))
		book := f.benchBook(b, 1<<40)
		b.ReportAllocs()
		b.SetParallelism(4) // clients per core: a server's concurrency
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.sales.Create(context.Background(), "bench", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 1}}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("CreateAndComplete", func(b *testing.B) {
		f := benchFixture(b, newStores(b))
		books := []*inventory.Book{f.benchBook(b, 1<<40), f.benchBook(b, 1<<40), f.benchBook(b, 1<<40)}
		var n atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				i := n.Add(1)
				s, err := f.sales.Create(ctx, "bench", sales.NewSale{Items: []sales.NewLine{
					{BookID: books[i%3].ID, Quantity: 1}, {BookID: books[(i+1)%3].ID, Quantity: 2},
				}})
				if err == nil {
					_, err = f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash})
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Summary30Days/2000Sales", func(b *testing.B) {
		f := benchFixture(b, newStores(b))
		ctx := b.Context()
		books := []*inventory.Book{f.benchBook(b, 1<<40), f.benchBook(b, 1<<40)}
		start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		for i := range 2000 {
			f.clock.Set(start.Add(time.Duration(i) * 90 * time.Minute)) // about 125 days
			s, err := f.sales.Create(ctx, "bench", sales.NewSale{Items: []sales.NewLine{{BookID: books[i%2].ID, Quantity: 1}}})
			if err == nil {
				_, err = f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash})
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		from := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		b.ReportAllocs()
		for b.Loop() {
			sum, err := f.sales.Summary(ctx, from, from.AddDate(0, 0, 29))
			if err != nil || sum.TotalSales == 0 {
				b.Fatalf("summary %+v, %v", sum, err)
			}
		}
	})
	b.Run("RelayFlush/100Events", func(b *testing.B) {
		f := benchFixture(b, newStores(b))
		book := f.benchBook(b, 1<<40)
		relay, err := eventbus.NewRelay(f.Outbox, discard{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			for range 100 {
				if _, err := f.sales.Create(b.Context(), "bench", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 1}}}); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			if n, err := relay.Flush(b.Context()); err != nil || n != 100 {
				b.Fatalf("flush = %d, %v", n, err)
			}
		}
	})
}

// discard is a publisher that accepts everything at once.
type discard struct{}

func (discard) Publish(context.Context, ...eventbus.Message) error { return nil }
func (discard) Close() error                                       { return nil }

func benchFixture(b *testing.B, st Stores) *fixture {
	b.Helper()
	clock := NewClock(time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC))
	ss, err := sales.NewService(st.Sales, sales.WithClock(clock.Now))
	if err != nil {
		b.Fatal(err)
	}
	is, err := inventory.NewService(st.Inventory, inventory.WithClock(clock.Now))
	if err != nil {
		b.Fatal(err)
	}
	return &fixture{Stores: st, sales: ss, inv: is, clock: clock}
}

func (f *fixture) benchBook(b *testing.B, stock int64) *inventory.Book {
	b.Helper()
	bk, err := f.inv.CreateBook(b.Context(), inventory.NewBook{Title: fmt.Sprint("Bench ", stock), Author: "B", Price: sales.MustDecimal("9.99")})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.inv.Record(b.Context(), bk.ID, inventory.NewMovement{Type: inventory.Purchase, Quantity: inventory.MaxUnits}); err != nil {
		b.Fatal(err)
	}
	return bk
}
