package testkit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// testAPISeedFlow walks the seed's flow: a book with stock, a sale that
// reserves it, its completion taking the stock out (a SALE movement,
// analytics, the summary), and its cancellation bringing it back (a RETURN
// movement, analytics and summary reversed).
func testAPISeedFlow(s *session) {
	t := s.t
	book := s.createBook("12.50", 10)
	s.wantLevel(book.ID, 10, 0)
	if st := try(s.stats(book.ID)).must(t); st.UnitsSold != 0 || !sameMoney(st.NetRevenue, "0") || st.SalesCount != 0 {
		t.Errorf("analytics of a new book: got %+v, want zeros", st)
	}
	before := try(s.summaryAround()).must(t)

	r := s.postSale(s.userA(), saleBody{
		CustomerName: "Ana", CustomerEmail: "ana@example.com", Notes: "seed flow",
		Items: []item{{BookID: book.ID, Quantity: 2, Discount: "1.00"}}, Discount: "0.50",
	})
	sale := expect[apiSale](s, r, http.StatusCreated)
	if err := checkSale(sale); err != nil {
		t.Fatalf("POST /sales: %v", err)
	}
	if sale.Status != "PENDING" || sale.Version != 1 || sale.PaidAt != nil || sale.CancelledAt != nil {
		t.Errorf("new sale: got status %s version %d paidAt %v cancelledAt %v, want PENDING, 1, null, null",
			sale.Status, sale.Version, sale.PaidAt, sale.CancelledAt)
	}
	if len(sale.Items) != 1 {
		t.Fatalf("new sale: got %d items, want 1", len(sale.Items))
	}
	l := sale.Items[0]
	if l.BookID != book.ID || l.Quantity != 2 || l.UnitPrice != book.Price || !sameMoney(l.Discount, "1.00") || !sameMoney(l.Subtotal, "24.00") {
		t.Errorf("line: got %+v, want book %s × 2 at %s, discount 1.00, subtotal 24.00", l, book.ID, book.Price)
	}
	if !sameMoney(sale.Subtotal, "24.00") || !sameMoney(sale.Discount, "0.50") {
		t.Errorf("sale: got subtotal %s discount %s, want 24.00 and 0.50", sale.Subtotal, sale.Discount)
	}
	if sale.CustomerName == nil || *sale.CustomerName != "Ana" || sale.CustomerEmail == nil || *sale.CustomerEmail != "ana@example.com" {
		t.Errorf("sale: customer not kept: %+v", sale)
	}
	if sub := tokenSubject(s.userA()); sub != "" && sale.SellerID != sub {
		t.Errorf("sale: sellerId %q, want the token's subject %q", sale.SellerID, sub)
	}
	// The reservation is made in the transaction that creates the sale.
	s.wantLevel(book.ID, 10, 2)
	if got := s.getSale(s.userA(), sale.ID); got.Status != "PENDING" || got.Version != 1 || got.Total != sale.Total {
		t.Errorf("GET own sale: got %s v%d total %s, want PENDING v1 total %s", got.Status, got.Version, got.Total, sale.Total)
	}
	// A pending sale is not in the summary.
	if mid := try(s.summaryAround()).must(t); mid.TotalSales != before.TotalSales || !sameMoney(mid.NetRevenue, before.NetRevenue) {
		t.Errorf("summary counts a pending sale: before %+v, after %+v", before, mid)
	}

	done := s.move(sale.ID, statusBody{Status: "COMPLETED", PaymentMethod: "CREDIT_CARD", PaymentReference: "conf-123"}, 2)
	if done.PaymentMethod == nil || *done.PaymentMethod != "CREDIT_CARD" || done.PaidAt == nil ||
		done.PaymentReference == nil || *done.PaymentReference != "conf-123" || done.CancelledAt != nil {
		t.Errorf("completed sale: got paymentMethod %v paymentReference %v paidAt %v cancelledAt %v",
			done.PaymentMethod, done.PaymentReference, done.PaidAt, done.CancelledAt)
	}
	const net = "23.50" // 2 × 12.50 − 1.00 − 0.50
	s.eventuallyLevel(book.ID, 8, 0)
	s.eventually("the SALE movement of "+sale.ID, func() error {
		ms, err := s.movements("saleId=" + sale.ID)
		if err != nil {
			return err
		}
		return wantMovements(ms, sale.ID, movement{"SALE", book.ID, -2, 10, 8})
	})
	s.eventually("analytics of the sold book", func() error {
		st, err := s.stats(book.ID)
		if err != nil {
			return err
		}
		if st.UnitsSold != 2 || !sameMoney(st.NetRevenue, net) || st.SalesCount != 1 || st.FirstSaleAt == nil || st.LastSaleAt == nil {
			return fmt.Errorf("got %+v, want 2 units, net %s, 1 sale, first and last sale times", st, net)
		}
		for _, v := range []*string{st.FirstSaleAt, st.LastSaleAt} {
			if err := checkTime(*v); err != nil {
				return err
			}
		}
		return nil
	})
	s.eventually("the summary with the completed sale", func() error {
		sum, err := s.summaryAround()
		if err != nil {
			return err
		}
		return summaryDelta(before, sum, 1, 2, net, done.Total, done.Tax, "0.50", "1.50")
	})

	back := s.move(sale.ID, statusBody{Status: "CANCELLED", Reason: "customer returned it"}, 3)
	if back.CancelledAt == nil || back.CancelReason == nil || *back.CancelReason != "customer returned it" || back.PaidAt == nil {
		t.Errorf("returned sale: got cancelledAt %v cancelReason %v paidAt %v, want all set", back.CancelledAt, back.CancelReason, back.PaidAt)
	}
	s.eventuallyLevel(book.ID, 10, 0)
	s.eventually("the RETURN movement of "+sale.ID, func() error {
		ms, err := s.movements("saleId=" + sale.ID)
		if err != nil {
			return err
		}
		return wantMovements(ms, sale.ID, movement{"SALE", book.ID, -2, 10, 8}, movement{"RETURN", book.ID, 2, 8, 10})
	})
	s.eventually("analytics reversed", func() error {
		st, err := s.stats(book.ID)
		if err == nil && (st.UnitsSold != 0 || !sameMoney(st.NetRevenue, "0") || st.SalesCount != 0) {
			err = fmt.Errorf("got %+v, want 0 units, net 0, 0 sales", st)
		}
		return err
	})
	s.eventually("the summary without the returned sale", func() error {
		sum, err := s.summaryAround()
		if err != nil {
			return err
		}
		return summaryDelta(before, sum, 0, 0, "0", "0", "0", "0")
	})

	ledger := try(s.movements("bookId=" + book.ID)).must(t)
	if err := checkLedger(ledger, 10); err != nil {
		t.Errorf("ledger of %s: %v", book.ID, err)
	}
	if got := s.getSale(s.userA(), sale.ID); got.Status != "CANCELLED" || got.Version != 3 {
		t.Errorf("GET returned sale: got %s v%d, want CANCELLED v3", got.Status, got.Version)
	}
}

// summaryDelta checks that after = before plus one sale's worth. The
// discount may count the sale discount alone or with the line discounts
// (DESIGN §7 does not say); any of discounts is accepted.
func summaryDelta(before, after apiSummary, sales, items int64, net, revenue, tax string, discounts ...string) error {
	var errs []string
	if d := after.TotalSales - before.TotalSales; d != sales {
		errs = append(errs, fmt.Sprintf("totalSales grew by %d, want %d", d, sales))
	}
	if d := after.TotalItems - before.TotalItems; d != items {
		errs = append(errs, fmt.Sprintf("totalItems grew by %d, want %d", d, items))
	}
	for _, m := range []struct{ name, before, after, delta string }{
		{"netRevenue", before.NetRevenue, after.NetRevenue, net},
		{"totalRevenue", before.TotalRevenue, after.TotalRevenue, revenue},
		{"totalTax", before.TotalTax, after.TotalTax, tax},
	} {
		if d := addMoney(m.after, negMoney(m.before)); !sameMoney(d, m.delta) {
			errs = append(errs, fmt.Sprintf("%s grew by %s, want %s", m.name, d, m.delta))
		}
	}
	d := addMoney(after.TotalDiscount, negMoney(before.TotalDiscount))
	if !slices.ContainsFunc(discounts, func(w string) bool { return sameMoney(d, w) }) {
		errs = append(errs, fmt.Sprintf("totalDiscount grew by %s, want one of %v", d, discounts))
	}
	if len(errs) > 0 {
		return fmt.Errorf("summary: %s (before %+v, after %+v)", strings.Join(errs, "; "), before, after)
	}
	return nil
}

// movement is an expected movement.
type movement struct {
	typ                string
	bookID             string
	quantity           int64
	before, afterStock int64
}

// wantMovements checks that ms are exactly want, in any order, each with
// saleID.
func wantMovements(ms []apiMovement, saleID string, want ...movement) error {
	if len(ms) != len(want) {
		return fmt.Errorf("got %d movements %+v, want %d", len(ms), ms, len(want))
	}
	left := slices.Clone(want)
	for _, m := range ms {
		got := movement{m.Type, m.BookID, m.Quantity, m.StockBefore, m.StockAfter}
		i := slices.Index(left, got)
		if i < 0 {
			return fmt.Errorf("unexpected movement %+v; want %+v", m, want)
		}
		left = slices.Delete(left, i, i+1)
		if m.SaleID == nil || *m.SaleID != saleID {
			return fmt.Errorf("movement %+v: saleId %v, want %s", m, m.SaleID, saleID)
		}
		if err := checkTime(m.CreatedAt); err != nil {
			return fmt.Errorf("movement %s createdAt: %w", m.ID, err)
		}
	}
	return nil
}

// checkLedger checks DESIGN §6.2 on one book's movements: each stockAfter is
// its stockBefore plus its quantity, each stockBefore the previous
// stockAfter, from 0 up to onHand. The list may come oldest or newest
// first.
func checkLedger(ms []apiMovement, onHand int64) error {
	chain := func(ms []apiMovement) error {
		prev := int64(0)
		for _, m := range ms {
			if m.StockAfter != m.StockBefore+m.Quantity {
				return fmt.Errorf("movement %+v: stockAfter is not stockBefore + quantity", m)
			}
			if m.StockBefore != prev {
				return fmt.Errorf("movement %+v: stockBefore %d, want the previous stockAfter %d", m, m.StockBefore, prev)
			}
			prev = m.StockAfter
		}
		if prev != onHand {
			return fmt.Errorf("movements end at %d, want on hand %d", prev, onHand)
		}
		return nil
	}
	err := chain(ms)
	if err == nil {
		return nil
	}
	rev := slices.Clone(ms)
	slices.Reverse(rev)
	if chain(rev) == nil {
		return nil
	}
	return fmt.Errorf("%w (movements %+v)", err, ms)
}

// testAPICancelPending checks that cancelling a pending sale releases its
// reservation at once, in the cancelling request.
func testAPICancelPending(s *session) {
	t := s.t
	book := s.createBook("5.00", 3)
	sale := s.createSale(s.userA(), item{BookID: book.ID, Quantity: 3})
	s.wantLevel(book.ID, 3, 3)
	s.wantProblem(s.postSale(s.userA(), saleBody{Items: []item{{BookID: book.ID, Quantity: 1}}}), http.StatusConflict)

	c := s.cancel(sale.ID, 2)
	if c.CancelledAt == nil || c.PaidAt != nil {
		t.Errorf("cancelled pending sale: got cancelledAt %v paidAt %v, want set and null", c.CancelledAt, c.PaidAt)
	}
	s.wantLevel(book.ID, 3, 0)
	if ms := try(s.movements("saleId=" + sale.ID)).must(t); len(ms) != 0 {
		t.Errorf("a pending sale that was cancelled has movements: %+v", ms)
	}
	again := s.createSale(s.userA(), item{BookID: book.ID, Quantity: 3})
	s.wantLevel(book.ID, 3, 3)
	s.cancel(again.ID, 2)
	s.wantLevel(book.ID, 3, 0)
}

// testAPIManualMovements checks restocks and corrections: movements that
// change on-hand stock at once and chain in the ledger, and that never take
// it below what is reserved.
func testAPIManualMovements(s *session) {
	t := s.t
	book := s.createBook("4.00", 2)
	path := "/inventory/" + book.ID + "/movements"
	created := func(r apiReply) {
		t.Helper()
		if r.status != http.StatusCreated && r.status != http.StatusOK {
			t.Fatalf("want 201: %v", r)
		}
	}
	created(s.write(http.MethodPost, s.admin(), path, map[string]any{"type": "PURCHASE", "quantity": 5, "reason": "restock"}, ""))
	s.wantLevel(book.ID, 7, 0)
	created(s.write(http.MethodPost, s.admin(), path, map[string]any{"type": "ADJUSTMENT", "quantity": -1, "reason": "count"}, ""))
	s.wantLevel(book.ID, 6, 0)

	ms := try(s.movements("bookId=" + book.ID)).must(t)
	if err := checkLedger(ms, 6); err != nil {
		t.Errorf("ledger: %v", err)
	}
	var types []string
	for _, m := range ms {
		types = append(types, m.Type)
		if m.BookID != book.ID {
			t.Errorf("movements?bookId=%s holds %+v", book.ID, m)
		}
	}
	slices.Sort(types)
	if want := []string{"ADJUSTMENT", "PURCHASE", "PURCHASE"}; !slices.Equal(types, want) {
		t.Errorf("movement types: got %v, want %v", types, want)
	}
	purchases := try(s.movements("type=PURCHASE&bookId=" + book.ID)).must(t)
	if len(purchases) != 2 {
		t.Errorf("movements?type=PURCHASE&bookId: got %d, want 2: %+v", len(purchases), purchases)
	}
	for _, m := range purchases {
		if m.Type != "PURCHASE" {
			t.Errorf("movements?type=PURCHASE holds %+v", m)
		}
	}

	// A correction may not take on-hand stock below what is reserved.
	sale := s.createSale(s.userA(), item{BookID: book.ID, Quantity: 5})
	s.wantProblem(s.write(http.MethodPost, s.admin(), path, map[string]any{"type": "ADJUSTMENT", "quantity": -2, "reason": "too far"}, ""))
	s.wantLevel(book.ID, 6, 5)
	s.cancel(sale.ID, 2)
	s.wantLevel(book.ID, 6, 0)
}

// testAPIPriceAtSaleTime checks that a line's unit price is the book's
// price when the sale was made, and that a book withdrawn from sale cannot
// be sold.
func testAPIPriceAtSaleTime(s *session) {
	t := s.t
	book := s.createBook("10.00", 10)
	first := s.createSale(s.userA(), item{BookID: book.ID, Quantity: 1})
	if !sameMoney(first.Items[0].UnitPrice, "10.00") {
		t.Errorf("unit price %s, want 10.00", first.Items[0].UnitPrice)
	}
	path := "/books/" + book.ID
	b := expect[apiBook](s, s.write(http.MethodPatch, s.admin(), path, map[string]any{"price": "15.00"}, ""), http.StatusOK)
	if !sameMoney(b.Price, "15.00") || b.Title != book.Title {
		t.Errorf("PATCH price: got %+v, want price 15.00 and the title kept", b)
	}
	if b := expect[apiBook](s, s.get(s.userA(), path), http.StatusOK); !sameMoney(b.Price, "15.00") {
		t.Errorf("GET book as user: price %s, want 15.00", b.Price)
	}
	second := s.createSale(s.userA(), item{BookID: book.ID, Quantity: 1})
	if !sameMoney(second.Items[0].UnitPrice, "15.00") {
		t.Errorf("unit price after the change: %s, want 15.00", second.Items[0].UnitPrice)
	}
	if got := s.getSale(s.userA(), first.ID); !sameMoney(got.Items[0].UnitPrice, "10.00") || got.Total != first.Total {
		t.Errorf("an earlier sale was repriced: %+v", got)
	}

	b = expect[apiBook](s, s.write(http.MethodPatch, s.admin(), path, map[string]any{"available": false}, ""), http.StatusOK)
	if b.Available {
		t.Errorf("PATCH available false: got %+v", b)
	}
	s.wantProblem(s.postSale(s.userA(), saleBody{Items: []item{{BookID: book.ID, Quantity: 1}}}), http.StatusConflict, http.StatusUnprocessableEntity)
	s.wantLevel(book.ID, 10, 2)
	expect[apiBook](s, s.write(http.MethodPatch, s.admin(), path, map[string]any{"available": true}, ""), http.StatusOK)
	s.cancel(first.ID, 2)
	s.cancel(second.ID, 2)
	s.wantLevel(book.ID, 10, 0)
}

// testAPIStringsVerbatim checks that strings full of SQL and markup
// metacharacters are stored and returned as sent.
func testAPIStringsVerbatim(s *session) {
	t := s.t
	book := s.createBook("3.00", 5)
	body := saleBody{
		CustomerName:  `O'Brien"); DROP TABLE sales;-- 🙂 <script>alert(1)</script>`,
		CustomerEmail: "o'brien+conformance@example.com",
		Notes:         "line 1\nline 2\t\\ % _ ' \" ` ; -- /* */ $1 ${x} {{.}}",
		Items:         []item{{BookID: book.ID, Quantity: 1}},
	}
	sale := expect[apiSale](s, s.postSale(s.userA(), body), http.StatusCreated)
	got := s.getSale(s.userA(), sale.ID)
	for _, f := range []struct {
		name string
		got  *string
		want string
	}{{"customerName", got.CustomerName, body.CustomerName}, {"customerEmail", got.CustomerEmail, body.CustomerEmail}, {"notes", got.Notes, body.Notes}} {
		if f.got == nil || *f.got != f.want {
			t.Errorf("%s: got %v, want %q", f.name, f.got, f.want)
		}
	}
	s.cancel(sale.ID, 2)

	// A NUL character is either kept or refused, never a server error.
	body.Notes = "before\x00after"
	r := s.postSale(s.userA(), body)
	if r.status == http.StatusCreated {
		sale := expect[apiSale](s, r, http.StatusCreated)
		if got := s.getSale(s.userA(), sale.ID); got.Notes == nil || *got.Notes != body.Notes {
			t.Errorf("notes with NUL: got %v, want %q", got.Notes, body.Notes)
		}
		s.cancel(sale.ID, 2)
	} else {
		s.wantProblem(r, http.StatusBadRequest, http.StatusUnprocessableEntity)
	}
	s.wantLevel(book.ID, 5, 0)
}

// testAPIHealth checks the endpoints anyone may call.
func testAPIHealth(s *session) {
	t := s.t
	for _, p := range []string{"/healthz", "/readyz", "/docs"} {
		if r := s.get("", p); r.status != http.StatusOK {
			t.Errorf("want 200: %v", r)
		}
	}
	if r := s.get("", "/metrics"); r.status != http.StatusOK || !strings.Contains(string(r.body), "# TYPE ") {
		t.Errorf("want 200 in the Prometheus text format: %v", r)
	}
	r := s.get("", "/openapi.json")
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &doc) != nil || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("want an OpenAPI 3.1 document: %v", r)
	}
	param := regexp.MustCompile(`\{[^}]*\}`)
	paths := map[string]bool{}
	for p := range doc.Paths {
		paths[param.ReplaceAllString(p, "{}")] = true
	}
	for _, p := range []string{
		"/sales", "/sales/{}", "/sales/{}/status", "/sales/summary", "/books", "/books/{}",
		"/inventory", "/inventory/{}", "/inventory/{}/movements", "/stock-movements",
		"/analytics/books", "/analytics/books/{}",
	} {
		if !paths[p] {
			t.Errorf("openapi.json: no path %s", p)
		}
	}
}

// q escapes a query value.
func q(v string) string { return url.QueryEscape(v) }
