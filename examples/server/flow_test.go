package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/testkit"
)

// The seed's flow through HTTP only: create a book, sell it, complete the
// sale, see stock, movements and analytics follow, cancel, return. It runs
// against the embedded default, PostgreSQL, PostgreSQL with Kafka (kfake),
// and any deployment (TestDeployment).

func TestSeedFlowMemory(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	runSeedFlow(t, tg)
	// The relay published every change to the in-memory bus.
	for topic, n := range map[string]int{"sale.created": 2, "sale.completed": 1, "sale.cancelled": 2} {
		eventually(t, "events on "+topic, func() bool { return len(tg.app.bus.Messages(topic)) == n })
	}
}

func TestSeedFlowPostgres(t *testing.T) {
	t.Parallel()
	url := testkit.PostgresURL(t)
	tg := newTarget(t, func(o *Options) { o.DatabaseURL = url }, nil)
	runSeedFlow(t, tg)
}

func TestSeedFlowPostgresKafka(t *testing.T) {
	t.Parallel()
	url := testkit.PostgresURL(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	tg := newTarget(t, func(o *Options) {
		o.DatabaseURL = url
		o.KafkaBrokers = strings.Join(cluster.ListenAddrs(), ",")
		o.KafkaReplication = 1
		o.TopicPrefix = "test."
	}, nil)
	r := tg.req(t, "GET", "/readyz", "", nil)
	want(t, r, http.StatusOK, "readyz with PostgreSQL and Kafka")
	runSeedFlow(t, tg)
	eventually(t, "the outbox drained to Kafka", func() bool {
		n, _, err := tg.app.relay.Backlog(t.Context())
		return err == nil && n == 0
	})
	// The worker's consumer lag is a metric, and it drains to zero.
	eventually(t, "consumer lag 0 on every topic", func() bool {
		body := string(tg.req(t, "GET", "/metrics", "", nil).body)
		return strings.Contains(body, "salesflow_consumer_lag_up 1") &&
			strings.Contains(body, `salesflow_consumer_lag{topic="test.sale.completed"} 0`) &&
			strings.Contains(body, `salesflow_consumer_lag{topic="test.sale.created"} 0`)
	})
}

// TestDeployment runs the HTTP suites against a running server:
//
//	SALESFLOW_API_URL=http://localhost:8080 SALESFLOW_ADMIN_TOKEN=... \
//	SALESFLOW_USER_TOKEN=... SALESFLOW_USER2_TOKEN=... \
//	go test ./examples/server -run TestDeployment -v
//
// The user tokens must name two different subjects; SALESFLOW_USER_SUB is
// the first one's. SALESFLOW_WORKER=false skips what needs the worker.
func TestDeployment(t *testing.T) {
	url := os.Getenv("SALESFLOW_API_URL")
	if url == "" {
		t.Skip("SALESFLOW_API_URL not set: no deployment to check")
	}
	tg := &target{
		url: strings.TrimRight(url, "/"), admin: os.Getenv("SALESFLOW_ADMIN_TOKEN"),
		user: os.Getenv("SALESFLOW_USER_TOKEN"), user2: os.Getenv("SALESFLOW_USER2_TOKEN"),
		userSub: os.Getenv("SALESFLOW_USER_SUB"), worker: os.Getenv("SALESFLOW_WORKER") != "false",
		client: &http.Client{Timeout: 30 * time.Second},
	}
	if tg.admin == "" || tg.user == "" || tg.user2 == "" || tg.userSub == "" {
		t.Fatal("set SALESFLOW_ADMIN_TOKEN, SALESFLOW_USER_TOKEN, SALESFLOW_USER2_TOKEN and SALESFLOW_USER_SUB")
	}

	t.Run("SeedFlow", func(t *testing.T) { runSeedFlow(t, tg) })
	t.Run("Roles", func(t *testing.T) { runRoles(t, tg) })
	t.Run("Idempotency", func(t *testing.T) { runIdempotency(t, tg) })
	t.Run("Oversell", func(t *testing.T) { runOversell(t, tg) })
	t.Run("BadInputs", func(t *testing.T) { runBadInputs(t, tg) })
}

func runSeedFlow(t *testing.T, tg *target) {
	today := time.Now().UTC().Format(time.DateOnly)
	summaryPath := fmt.Sprintf("/sales/summary?startDate=%s&endDate=%s", today, today)
	var before Summary
	tg.req(t, "GET", summaryPath, tg.admin, nil).decode(t, &before)

	// A book with 10 units: a PURCHASE movement.
	r := tg.req(t, "POST", "/books", tg.admin, `{"title":"Dune","author":"Frank Herbert","price":"29.99","stock":10}`)
	want(t, r, http.StatusCreated, "create book")
	var book Book
	r.decode(t, &book)
	if book.Price != "29.99" || !book.Available || book.Title != "Dune" {
		t.Fatalf("book: %+v", book)
	}
	if on, res, av := tg.stock(t, book.ID.String()); on != 10 || res != 0 || av != 10 {
		t.Fatalf("new stock: onHand %d reserved %d available %d, want 10 0 10", on, res, av)
	}

	// A user sells 2, with a line discount (a string) and a sale discount
	// (a number): 2 × 29.99 − 1.00 = 58.98, − 0.98 = 58.00.
	r = tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"customerName":"Ana","customerEmail":"ana@example.com",
		"items":[{"bookId":%q,"quantity":2,"discount":"1.00"}],"discount":0.98,"notes":"gift"}`, book.ID))
	want(t, r, http.StatusCreated, "create sale")
	var sale Sale
	r.decode(t, &sale)
	if sale.Status != "PENDING" || sale.Version != 1 || sale.SellerID != tg.userSub || sale.Currency != "USD" ||
		sale.Subtotal != "58.98" || sale.Discount != "0.98" || sale.Tax != "0.00" || sale.Total != "58.00" ||
		sale.PaidAt != nil || len(sale.Items) != 1 || sale.Items[0].UnitPrice != "29.99" || sale.Items[0].Subtotal != "58.98" {
		t.Fatalf("sale: %s", r)
	}
	saleURL := "/sales/" + sale.ID.String()
	if on, res, av := tg.stock(t, book.ID.String()); on != 10 || res != 2 || av != 8 {
		t.Fatalf("after the sale: onHand %d reserved %d available %d, want 10 2 8", on, res, av)
	}

	// Owner and admin see it; another user does not.
	want(t, tg.req(t, "GET", saleURL, tg.user, nil), http.StatusOK, "owner reads sale")
	want(t, tg.req(t, "GET", saleURL, tg.admin, nil), http.StatusOK, "admin reads sale")
	want(t, tg.req(t, "GET", saleURL, tg.user2, nil), http.StatusNotFound, "another user reads sale")

	// Complete it; completing again is 409.
	r = tg.req(t, "PATCH", saleURL+"/status", tg.admin, `{"status":"COMPLETED","paymentMethod":"CREDIT_CARD","paymentReference":"ch_1"}`)
	want(t, r, http.StatusOK, "complete")
	r.decode(t, &sale)
	if sale.Status != "COMPLETED" || sale.Version != 2 || sale.PaidAt == nil || *sale.PaymentMethod != "CREDIT_CARD" {
		t.Fatalf("completed sale: %s", r)
	}
	want(t, tg.req(t, "PATCH", saleURL+"/status", tg.admin, `{"status":"COMPLETED","paymentMethod":"CASH"}`), http.StatusConflict, "complete twice")
	want(t, tg.req(t, "PATCH", saleURL+"/status", tg.admin, `{"status":"PENDING"}`), http.StatusConflict, "back to pending")

	// The summary reads the worker's daily rollups: it counts the sale once
	// the worker has applied the completion.
	var after Summary
	if tg.worker {
		eventually(t, "the summary to count the sale", func() bool {
			tg.req(t, "GET", summaryPath, tg.admin, nil).decode(t, &after)
			return after.TotalSales == before.TotalSales+1 && after.TotalItems == before.TotalItems+2
		})
	}

	movementsPath := "/stock-movements?limit=100&bookId=" + book.ID.String()
	statsPath := "/analytics/books/" + book.ID.String()
	if tg.worker {
		eventually(t, "the worker to apply the completion", func() bool {
			on, res, _ := tg.stock(t, book.ID.String())
			return on == 8 && res == 0
		})
		var ms MovementPage
		tg.req(t, "GET", movementsPath, tg.admin, nil).decode(t, &ms)
		if ms.Meta.Total != 2 || ms.Data[0].Type != "PURCHASE" || ms.Data[1].Type != "SALE" || ms.Data[1].Quantity != -2 ||
			ms.Data[1].SaleID == nil || *ms.Data[1].SaleID != sale.ID || ms.Data[1].StockAfter != 8 {
			t.Fatalf("movements after completion: %+v", ms)
		}
		var st BookStats
		r = tg.req(t, "GET", statsPath, tg.admin, nil)
		want(t, r, http.StatusOK, "book stats")
		r.decode(t, &st)
		if st.UnitsSold != 2 || st.NetRevenue != "58.00" || st.SalesCount != 1 || st.FirstSaleAt == nil {
			t.Fatalf("stats after completion: %s", r)
		}
	} else {
		t.Log("SALESFLOW_WORKER=false: stock on hand, movements and analytics are not checked")
	}

	// A second sale, cancelled while pending: its reservation goes back.
	r = tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":3}]}`, book.ID))
	want(t, r, http.StatusCreated, "second sale")
	var second Sale
	r.decode(t, &second)
	_, res, _ := tg.stock(t, book.ID.String())
	r = tg.req(t, "PATCH", "/sales/"+second.ID.String()+"/status", tg.admin, `{"status":"CANCELLED","reason":"changed her mind"}`)
	want(t, r, http.StatusOK, "cancel pending")
	r.decode(t, &second)
	if second.Status != "CANCELLED" || second.CancelledAt == nil || *second.CancelReason != "changed her mind" {
		t.Fatalf("cancelled sale: %s", r)
	}
	if _, res2, _ := tg.stock(t, book.ID.String()); res2 != res-3 {
		t.Fatalf("reserved after cancelling: %d, want %d", res2, res-3)
	}

	// The completed sale comes back: a return.
	r = tg.req(t, "PATCH", saleURL+"/status", tg.admin, `{"status":"CANCELLED","reason":"returned"}`)
	want(t, r, http.StatusOK, "return")
	r.decode(t, &sale)
	if sale.Status != "CANCELLED" || sale.Version != 3 || sale.PaidAt == nil {
		t.Fatalf("returned sale: %s", r)
	}
	if tg.worker {
		eventually(t, "the summary to drop the returned sale", func() bool {
			tg.req(t, "GET", summaryPath, tg.admin, nil).decode(t, &after)
			return after.TotalSales == before.TotalSales
		})
	}
	if tg.worker {
		eventually(t, "the worker to apply the return", func() bool {
			on, res, _ := tg.stock(t, book.ID.String())
			return on == 10 && res == 0
		})
		var ms MovementPage
		tg.req(t, "GET", movementsPath+"&type=RETURN", tg.admin, nil).decode(t, &ms)
		if ms.Meta.Total != 1 || ms.Data[0].Quantity != 2 {
			t.Fatalf("return movements: %+v", ms)
		}
		var st BookStats
		tg.req(t, "GET", statsPath, tg.admin, nil).decode(t, &st)
		if st.UnitsSold != 0 || st.NetRevenue != "0.00" || st.SalesCount != 0 {
			t.Fatalf("stats after the return: %+v", st)
		}
	}

	// The user's list holds both sales; the status filter works.
	var page SalePage
	r = tg.req(t, "GET", "/sales?status=CANCELLED&limit=100&startDate="+today+"&endDate="+today, tg.user, nil)
	want(t, r, http.StatusOK, "list own sales")
	r.decode(t, &page)
	found := 0
	for _, s := range page.Data {
		if s.SellerID != tg.userSub {
			t.Fatalf("user's list holds another's sale: %+v", s)
		}
		if s.ID == sale.ID || s.ID == second.ID {
			found++
		}
	}
	if found != 2 || page.Meta.Limit != 100 || page.Meta.Page != 1 {
		t.Fatalf("list: found %d of 2 sales, meta %+v", found, page.Meta)
	}
}

// runOversell sends concurrent buyers at the last units: exactly the stock
// is sold, the others get 409.
func runOversell(t *testing.T, tg *target) {
	const stock, buyers = 5, 16
	book := tg.createBook(t, "10.00", stock)
	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		sold, refused int
	)
	for range buyers {
		wg.Go(func() {
			r := tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, book))
			mu.Lock()
			defer mu.Unlock()
			switch r.status {
			case http.StatusCreated:
				sold++
			case http.StatusConflict:
				refused++
			default:
				t.Errorf("buyer: %s", r)
			}
		})
	}
	wg.Wait()
	if sold != stock || refused != buyers-stock {
		t.Fatalf("sold %d, refused %d; want %d and %d", sold, refused, stock, buyers-stock)
	}
	if on, res, av := tg.stock(t, book); on != stock || res != stock || av != 0 {
		t.Fatalf("stock: %d %d %d", on, res, av)
	}
}

func TestOversell(t *testing.T) {
	t.Parallel()
	runOversell(t, newTarget(t, nil, nil))
}

func TestOversellPostgres(t *testing.T) {
	t.Parallel()
	url := testkit.PostgresURL(t)
	runOversell(t, newTarget(t, func(o *Options) { o.DatabaseURL = url }, nil))
}

// TestSeparateWorker runs the compose topology in process: a serve App and
// a worker App on one PostgreSQL database and one Kafka cluster, sharing
// the consumer group.
func TestSeparateWorker(t *testing.T) {
	t.Parallel()
	url := testkit.PostgresURL(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	edit := func(o *Options) {
		o.DatabaseURL, o.KafkaBrokers, o.KafkaReplication = url, strings.Join(cluster.ListenAddrs(), ","), 1
	}
	tg := newTarget(t, edit, nil)

	o := testOptions()
	edit(&o)
	o.JWTSecret = "" // the worker verifies no tokens
	var m Main
	m.Stdout, m.Stderr = io.Discard, io.Discard
	cfg, err := o.Config(true)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Open(t.Context(), cfg, workerMode, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	t.Cleanup(w.Start(context.Background()))
	ws := httptest.NewServer(w.Handler())
	t.Cleanup(ws.Close)
	wt := &target{url: ws.URL, client: ws.Client()}
	want(t, wt.req(t, "GET", "/readyz", "", nil), http.StatusOK, "worker readyz")
	want(t, wt.req(t, "GET", "/sales", tg.admin, nil), http.StatusNotFound, "the worker serves no API")
	if r := wt.req(t, "GET", "/metrics", "", nil); !strings.Contains(string(r.body), "salesflow_events_applied_total") {
		t.Fatalf("worker metrics: %s", r.body)
	}
	runSeedFlow(t, tg)
}

func TestCommandsNeedTheirSettings(t *testing.T) {
	t.Parallel()
	m := &Main{Stdout: io.Discard, Stderr: io.Discard}
	if err := m.Migrate(t.Context(), testOptions()); err == nil {
		t.Error("migrate without DATABASE_URL: no error")
	}
	if err := m.Worker(t.Context(), testOptions()); err == nil {
		t.Error("worker without DATABASE_URL and KAFKA_BROKERS: no error")
	}
	o := testOptions()
	o.DatabaseURL = testkit.PostgresURL(t)
	for range 2 { // idempotent
		if err := m.Migrate(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTraceParent: the W3C trace context of a request goes on to the event
// its change publishes; a malformed one is dropped.
func TestTraceParent(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	book := tg.createBook(t, "1.00", 5)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	body := fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, book)
	want(t, tg.req(t, "POST", "/sales", tg.user, body, "traceparent", tp), http.StatusCreated, "traced sale")
	want(t, tg.req(t, "POST", "/sales", tg.user, body, "traceparent", "00-zz-bad"), http.StatusCreated, "badly traced sale")
	var got []string
	eventually(t, "two sale.created events", func() bool {
		ms := tg.app.bus.Messages("sale.created")
		got = got[:0]
		for _, m := range ms {
			got = append(got, m.Headers.Get(eventbus.HeaderTraceParent))
		}
		return len(ms) == 2
	})
	if got[0] != tp || got[1] != "" {
		t.Errorf("traceparent headers of the events = %q; want %q, then none", got, tp)
	}
}
