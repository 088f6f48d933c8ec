package testkit

import (
	"context"
	"sync"
	"testing"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/worker"
)

// RunWorkerBenchmarks measures the worker's handlers on a store: decoding
// events, recording them as processed and applying them, as a subscriber
// calls them: one transaction per event, or per batch (Batch64).
// ApplyCompletion/3Lines applies the sale.completed events of three-line
// sales one at a time (one partition); its Parallel4 twin four at a time
// from four goroutines (partitions 0 to 3: one in each of the worker's
// default lanes), each of the four on other books; Parallel16 sixteen at a
// time (partitions 0 to 15: four to a lane, so they share transactions);
// Batch64 hands them to the batch handler 64 at a time (a partition with a
// backlog). The events are made beforehand through the services and taken
// from the outbox, so only the handler is timed. newWorld is called once
// per benchmark.
func RunWorkerBenchmarks[T worker.Tx](b *testing.B, newWorld func(b *testing.B) (Stores, func(context.Context, func(T) error) error)) {
	for _, c := range []struct {
		name       string
		par, batch int
	}{{"ApplyCompletion/3Lines", 1, 1}, {"ApplyCompletion/3Lines/Parallel4", 4, 1}, {"ApplyCompletion/3Lines/Parallel16", 16, 1}, {"ApplyCompletion/3Lines/Batch64", 1, 64}} {
		name, par, size := c.name, c.par, c.batch
		b.Run(name, func(b *testing.B) {
			st, inTx := newWorld(b)
			f := benchFixture(b, st)
			w, err := worker.New(inTx)
			if err != nil {
				b.Fatal(err)
			}
			h, bh := w.Handler(), w.BatchHandler()
			books := make([]*inventory.Book, 3*par)
			for i := range books {
				books[i] = f.benchBook(b, 0)
			}
			var queue []eventbus.Message
			// more makes the completion events of n more sales, leaving
			// their sale.created events aside (the worker skips those as
			// stale once the completion is applied, or applies nothing).
			more := func(n int) {
				ctx := context.Background()
				for i := range n {
					bs := books[3*(i%par):]
					s, err := f.sales.Create(ctx, "bench", sales.NewSale{Items: []sales.NewLine{
						{BookID: bs[0].ID, Quantity: 1}, {BookID: bs[1].ID, Quantity: 2}, {BookID: bs[2].ID, Quantity: 1},
					}})
					if err == nil {
						_, err = f.sales.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash})
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				recs, err := st.Outbox.Pending(ctx, 2*n)
				if err != nil {
					b.Fatal(err)
				}
				seqs := make([]int64, len(recs))
				for i, r := range recs {
					seqs[i] = r.Seq
					if r.Message.Topic == sales.EventCompleted {
						queue = append(queue, r.Message)
					}
				}
				if err := st.Outbox.MarkPublished(ctx, seqs); err != nil {
					b.Fatal(err)
				}
			}
			const chunk = 200
			b.ReportAllocs()
			for b.Loop() {
				if size > 1 {
					for len(queue) < size {
						b.StopTimer()
						more(chunk)
						b.StartTimer()
					}
					ds := make([]eventbus.Delivery, size)
					for i := range ds {
						ds[i] = eventbus.Delivery{Message: queue[i], Attempt: 1}
					}
					queue = queue[size:]
					if err := bh(context.Background(), ds); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if len(queue) < par {
					b.StopTimer()
					more(chunk)
					b.StartTimer()
				}
				batch := queue[:par]
				queue = queue[par:]
				var wg sync.WaitGroup
				for i := range batch {
					wg.Go(func() {
						d := eventbus.Delivery{Message: batch[i], Partition: int32(i), Attempt: 1}
						if err := h(context.Background(), d); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*max(par, size)), "ns/event")
		})
	}
}
