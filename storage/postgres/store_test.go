package postgres_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York on machines without a zone database

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

func TestSaleRoundTrip(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	want := &sales.Sale{
		ID: uuid.New(), Status: sales.StatusCancelled, Version: 3, SellerID: "ana",
		CustomerName: "Bo", CustomerEmail: "bo@example.com", Notes: "gift",
		Lines: []sales.Line{
			{BookID: w.book.ID, Quantity: 1, UnitPrice: 999, Subtotal: 999},
			{BookID: w.book.ID, Quantity: 2, UnitPrice: 999, Discount: 98, Subtotal: 1900},
		},
		Subtotal: 2899, Discount: 99, Tax: 532, Total: 3332, Currency: sales.USD,
		PaymentMethod: sales.PaymentDebitCard, PaymentReference: "r-1", PaidAt: at.Add(time.Minute),
		CancelledAt: at.Add(time.Hour), CancelReason: "changed mind", CreatedAt: at, UpdatedAt: at.Add(time.Hour),
	}
	if err := w.db.Sales().InTx(ctx, func(tx sales.Tx) error { return tx.InsertSale(ctx, want) }); err != nil {
		t.Fatalf("InsertSale: %v", err)
	}
	got, err := w.db.Sales().Sale(ctx, want.ID)
	if err != nil {
		t.Fatalf("Sale: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sale =\n%+v\nwant\n%+v", got, want)
	}
}

// TestSummaryDays checks that sales are counted on the calendar day of the
// summary's time zone, for zones PostgreSQL could not name (a fixed zone
// whose name reads as a POSIX zone of the opposite sign) and across a
// daylight-saving change.
func TestSummaryDays(t *testing.T) {
	t.Parallel()
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		loc  *time.Location
		paid []time.Time // UTC
	}{
		{time.FixedZone("UTC+2", 2*3600), []time.Time{
			time.Date(2026, 3, 13, 21, 59, 0, 0, time.UTC), // 23:59 on the 13th
			time.Date(2026, 3, 13, 22, 0, 0, 0, time.UTC),  // 00:00 on the 14th
			time.Date(2026, 3, 14, 21, 0, 0, 0, time.UTC),  // 23:00 on the 14th
		}},
		{newYork, []time.Time{ // DST starts 2026-03-08 02:00 local
			time.Date(2026, 3, 8, 4, 59, 0, 0, time.UTC), // 23:59 EST on the 7th
			time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC),  // 00:00 EST on the 8th
			time.Date(2026, 3, 9, 3, 59, 0, 0, time.UTC), // 23:59 EDT on the 8th
			time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC),  // 00:00 EDT on the 9th
		}},
	}
	for _, c := range cases {
		t.Run(c.loc.String(), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := testkit.OpenPostgres(t)
			clock := testkit.NewClock(c.paid[0])
			inv, _ := inventory.NewService(db.Inventory())
			svc, err := sales.NewService(db.Sales(), sales.WithLocation(c.loc), sales.WithClock(clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			book, err := inv.CreateBook(ctx, inventory.NewBook{Title: "T", Author: "A", Price: sales.MustDecimal("1"), Stock: 100})
			if err != nil {
				t.Fatal(err)
			}
			wantDays := map[string]int64{}
			for _, p := range c.paid {
				s, err := svc.Create(ctx, "s", sales.NewSale{Items: []sales.NewLine{{BookID: book.ID, Quantity: 1}}})
				if err != nil {
					t.Fatal(err)
				}
				clock.Set(p.Add(-time.Microsecond)) // Now adds one
				if _, err := svc.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash}); err != nil {
					t.Fatal(err)
				}
				wantDays[p.In(c.loc).Format(time.DateOnly)]++
			}
			first, last := c.paid[0].In(c.loc), c.paid[len(c.paid)-1].In(c.loc)
			sum, err := svc.Summary(ctx, first, last)
			if err != nil {
				t.Fatalf("Summary: %v", err)
			}
			gotDays := map[string]int64{}
			for _, d := range sum.SalesByDay {
				gotDays[d.Date] = d.Sales
			}
			if !reflect.DeepEqual(gotDays, wantDays) || sum.TotalSales != int64(len(c.paid)) {
				t.Errorf("sales by day = %v (total %d); want %v", gotDays, sum.TotalSales, wantDays)
			}
		})
	}
}

// TestTopBooksNet checks that per-book net revenue splits the sale discount
// as sales.Sale.NetByBook does, and that ties in units rank by net revenue.
func TestTopBooksNet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testkit.OpenPostgres(t)
	inv, _ := inventory.NewService(db.Inventory())
	svc, _ := sales.NewService(db.Sales())
	var books []*inventory.Book
	for _, price := range []string{"1.00", "6.67", "3.33"} { // ids ascending
		b, err := inv.CreateBook(ctx, inventory.NewBook{Title: price, Author: "A", Price: sales.MustDecimal(price), Stock: 10})
		if err != nil {
			t.Fatal(err)
		}
		books = append(books, b)
	}
	s, err := svc.Create(ctx, "s", sales.NewSale{Discount: sales.MustDecimal("1.01"), Items: []sales.NewLine{
		{BookID: books[2].ID, Quantity: 1}, {BookID: books[1].ID, Quantity: 1}, {BookID: books[0].ID, Quantity: 1},
		{BookID: books[2].ID, Quantity: 1, Discount: sales.MustDecimal("0.33")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if s, err = svc.Complete(ctx, s.ID, sales.Payment{Method: sales.PaymentCash}); err != nil {
		t.Fatal(err)
	}
	sum, err := svc.Summary(ctx, s.PaidAt, s.PaidAt)
	if err != nil {
		t.Fatal(err)
	}
	nets := s.NetByBook()
	var want []sales.BookSales
	for _, b := range []*inventory.Book{books[2], books[1], books[0]} { // 2 units, then 1 unit each by net
		want = append(want, sales.BookSales{BookID: b.ID, UnitsSold: nets[b.ID].Units, NetRevenue: nets[b.ID].Net})
	}
	if !reflect.DeepEqual(sum.TopBooks, want) {
		t.Errorf("top books = %+v; want %+v", sum.TopBooks, want)
	}
}

func TestOutboxRecordAndNotify(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := testkit.PostgresURL(t)
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.WithoutCancel(ctx))
	if _, err := listener.Exec(ctx, "LISTEN "+postgres.OutboxChannel); err != nil {
		t.Fatal(err)
	}
	notified := func() bool {
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		n, err := listener.WaitForNotification(wctx)
		return err == nil && n.Channel == postgres.OutboxChannel
	}
	rec := eventbus.OutboxRecord{
		EventID: uuid.New(),
		Message: eventbus.Message{Topic: "sale.created", Key: "k", Headers: eventbus.Headers{{Key: "ce_id", Value: "1"}, {Key: "ce_type", Value: "x"}}, Value: []byte(`{"a":1}`)},
	}
	enqueue := func(fail error) error {
		return db.Sales().InTx(ctx, func(tx sales.Tx) error {
			if err := tx.Enqueue(ctx, rec); err != nil {
				return err
			}
			return fail
		})
	}
	rollback := errors.New("rollback")
	if err := enqueue(rollback); err != rollback {
		t.Fatalf("rolled back Enqueue: %v", err)
	}
	if notified() {
		t.Error("a rolled-back Enqueue notified")
	}
	before := time.Now().Add(-time.Second)
	if err := enqueue(nil); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if !notified() {
		t.Error("a committed Enqueue did not notify")
	}
	got, err := db.Outbox().Pending(ctx, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("Pending = %+v, %v; want one record", got, err)
	}
	if got[0].CreatedAt.Before(before) || got[0].Seq == 0 || !got[0].PublishedAt.IsZero() {
		t.Errorf("record = %+v; want a seq, a creation time of now, unpublished", got[0])
	}
	got[0].Seq, got[0].CreatedAt = 0, time.Time{}
	if !reflect.DeepEqual(got[0], rec) {
		t.Errorf("record = %+v; want %+v", got[0], rec)
	}
	if got, err := db.Outbox().Pending(ctx, 0); err != nil || len(got) != 0 {
		t.Errorf("Pending(0) = %+v, %v; want none", got, err)
	}
}

// TestAnsweredKeyWhileLocked: while a retry holds an answered key's lock
// (it is replaying the answer), another retry replays the answer too
// rather than find the key in flight; an unanswered key held the same way
// is in flight.
func TestAnsweredKeyWhileLocked(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	store := w.db.Sales()
	now := time.Now()
	answered := sales.IdempotencyKey{Scope: "ana", Key: "answered", Hash: "h", Claim: "first"}
	running := sales.IdempotencyKey{Scope: "ana", Key: "running", Hash: "h", Claim: "first"}
	err := store.InTx(ctx, func(tx sales.Tx) error {
		if _, err := tx.ClaimKey(ctx, answered, now); err != nil {
			return err
		}
		if _, err := tx.ClaimKey(ctx, running, now); err != nil {
			return err
		}
		return tx.SaveResponse(ctx, answered, sales.Response{Status: 201, Body: []byte(`{"id":1}`)}, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []sales.IdempotencyKey{answered, running} {
		held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- store.InTx(ctx, func(tx sales.Tx) error {
				if _, err := tx.ClaimKey(ctx, k, now); err != nil && !errors.Is(err, sales.ErrKeyInFlight) {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		select {
		case <-held:
		case err := <-done:
			t.Fatalf("holder: %v", err)
		}
		var r *sales.Response
		err := store.InTx(ctx, func(tx sales.Tx) error {
			var err error
			r, err = tx.ClaimKey(ctx, k, now)
			return err
		})
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("holder: %v", err)
		}
		switch {
		case k == answered && (err != nil || r == nil || r.Status != 201):
			t.Errorf("answered key while held = %+v, %v; want its answer", r, err)
		case k == running && !errors.Is(err, sales.ErrKeyInFlight):
			t.Errorf("running key while held = %+v, %v; want ErrKeyInFlight", r, err)
		}
	}
}

// AddBookStats and AddDay write a batch in one statement each: a book's
// deltas are summed, a return (negative, without a time) takes back what
// its sale added, and the first and last sale times only widen.
func TestStatsOfABatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testkit.OpenPostgres(t)
	inv, _ := inventory.NewService(db.Inventory())
	var ids []uuid.UUID
	for _, title := range []string{"A", "B"} {
		b, err := inv.CreateBook(ctx, inventory.NewBook{Title: title, Author: "A", Price: sales.MustDecimal("1.00"), Stock: 10})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
	}
	t1 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	t2, t0 := t1.Add(time.Hour), t1.Add(-time.Hour)
	batches := [][]analytics.Delta{
		{ // new statistics, book A twice
			{BookID: ids[0], Units: 2, NetRevenue: 200, Sales: 1, At: t1},
			{BookID: ids[0], Units: 1, NetRevenue: 100, Sales: 1, At: t2},
			{BookID: ids[1], Units: 1, NetRevenue: 100, Sales: 1, At: t1},
		},
		{ // A's first sale returned; B sold earlier than its first sale
			{BookID: ids[0], Units: -2, NetRevenue: -200, Sales: -1},
			{BookID: ids[1], Units: 3, NetRevenue: 300, Sales: 1, At: t0},
		},
	}
	for _, ds := range batches {
		err := db.InTx(ctx, func(tx *postgres.Tx) error {
			if err := tx.AddBookStats(ctx, ds); err != nil {
				return err
			}
			return tx.AddDay(ctx, analytics.DayDelta{Zone: "UTC", Day: "2026-11-02", Sales: 1, Revenue: 100, Net: 100, Items: 1,
				Books: []analytics.BookDay{{BookID: ids[0], Units: 1, Net: 100}, {BookID: ids[0], Units: 2, Net: 200}, {BookID: ids[1], Units: 1, Net: 50}}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []analytics.BookStats{
		{BookID: ids[0], UnitsSold: 1, NetRevenue: 100, SalesCount: 1, FirstSaleAt: t1, LastSaleAt: t2},
		{BookID: ids[1], UnitsSold: 4, NetRevenue: 400, SalesCount: 2, FirstSaleAt: t0, LastSaleAt: t1},
	}
	for _, w := range want {
		got, err := db.Analytics().BookStats(ctx, w.BookID)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("statistics = %+v, %v; want %+v", got, err, w)
		}
	}
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	sum, err := db.Rollups().Summary(ctx, sales.SummaryQuery{From: day, To: day.AddDate(0, 0, 1), Location: time.UTC, TopN: 10})
	if err != nil {
		t.Fatal(err)
	}
	if sum.TotalSales != 2 || len(sum.TopBooks) != 2 || sum.TopBooks[0].BookID != ids[0] || sum.TopBooks[0].UnitsSold != 6 || sum.TopBooks[1].UnitsSold != 2 {
		t.Errorf("summary = %+v; want 2 sales, book A 6 units, book B 2", sum)
	}
}

// TestNewKeyCommittedMeanwhile checks a key claimed as new that another
// transaction commits after the claim's check (in PostgreSQL, one whose
// commit fell between the check's snapshot and its lock; here a raw
// insert stands for it): writing the key with its response then fails
// with ErrKeyExists, the transaction changes nothing, and the service
// replays the stored answer in a second transaction.
func TestNewKeyCommittedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	k := sales.IdempotencyKey{Scope: "seller", Key: "meanwhile", Hash: "h", Claim: "mine"}
	now := time.Now().UTC().Truncate(time.Microsecond)
	err := w.db.Sales().InTx(ctx, func(tx sales.Tx) error {
		if err := tx.ClaimNewKey(ctx, k, now); err != nil {
			return err
		}
		// A read sends the queued check before the other commit.
		if _, err := tx.LockSale(ctx, w.sale.ID); err != nil {
			return err
		}
		err := w.db.ExecCommitted(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, claimed_at, claim, response_status, response_body, responded_at)
			VALUES ($1, $2, $3, $4, 'theirs', 201, '{"theirs":true}', $4)`, k.Scope, k.Key, k.Hash, now)
		if err != nil {
			t.Fatalf("the other commit: %v", err)
		}
		if err := tx.InsertSale(ctx, &sales.Sale{
			ID: uuid.New(), Status: sales.StatusPending, Version: 1, SellerID: "seller", Currency: sales.USD,
			Lines:    []sales.Line{{BookID: w.book.ID, Quantity: 1, UnitPrice: 999, Subtotal: 999}},
			Subtotal: 999, Total: 999, CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			return err
		}
		return tx.SaveResponse(ctx, k, sales.Response{Status: 201, Body: []byte(`{"mine":true}`)}, now)
	})
	if !errors.Is(err, sales.ErrKeyExists) {
		t.Fatalf("transaction = %v; want ErrKeyExists", err)
	}
	if _, total, err := w.db.Sales().Sales(ctx, sales.Filter{}); err != nil || total != 1 {
		t.Errorf("sales after the failed transaction: %d, %v; want the world's 1", total, err)
	}
	r, err := w.svc.ClaimKey(ctx, k)
	if err != nil || r == nil || string(r.Body) != `{"theirs":true}` {
		t.Errorf("ClaimKey = %+v, %v; want their stored answer", r, err)
	}
}
