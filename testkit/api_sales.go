package testkit

import (
	"net/http"
	"slices"

	"github.com/google/uuid"
)

// testAPIIllegalTransitions checks that every status change DESIGN §4 does
// not allow, repeats included, is 409 and changes nothing.
func testAPIIllegalTransitions(s *session) {
	t := s.t
	book := s.createBook("5.00", 5)
	illegal := func(id string, version int64, status string, targets ...string) {
		t.Helper()
		for _, to := range targets {
			body := statusBody{Status: to}
			if to == "COMPLETED" {
				body.PaymentMethod = "CASH"
			}
			if err := problem(s.setStatus(id, body), http.StatusConflict); err != nil {
				t.Errorf("%s → %s: %v", status, to, err)
			}
		}
		if got := s.getSale(s.admin(), id); got.Status != status || got.Version != version {
			t.Errorf("after illegal moves: got %s v%d, want %s v%d", got.Status, got.Version, status, version)
		}
	}

	pending := s.createSale(s.userA(), item{BookID: book.ID, Quantity: 1})
	illegal(pending.ID, 1, "PENDING", "PENDING")

	returned := s.createSale(s.userA(), item{BookID: book.ID, Quantity: 1})
	s.complete(returned.ID, 2)
	illegal(returned.ID, 2, "COMPLETED", "COMPLETED", "PENDING")
	s.cancel(returned.ID, 3)
	illegal(returned.ID, 3, "CANCELLED", "CANCELLED", "COMPLETED", "PENDING")

	s.cancel(pending.ID, 2)
	illegal(pending.ID, 2, "CANCELLED", "COMPLETED", "CANCELLED", "PENDING")

	// The refused moves left no trace in stock: one SALE and one RETURN.
	s.eventuallyLevel(book.ID, 5, 0)
	s.eventually("the movements of "+returned.ID, func() error {
		ms, err := s.movements("saleId=" + returned.ID)
		if err != nil {
			return err
		}
		return wantMovements(ms, returned.ID, movement{"SALE", book.ID, -1, 5, 4}, movement{"RETURN", book.ID, 1, 4, 5})
	})
}

// testAPIIdempotency checks Idempotency-Key on both writes: the same key
// and body replay the first response and sell once; the same key with
// another body is 422; keys of two callers never meet.
func testAPIIdempotency(s *session) {
	t := s.t
	book := s.createBook("8.00", 10)
	key := uuid.NewString()
	body := saleBody{Items: []item{{BookID: book.ID, Quantity: 2}}}
	first := expect[apiSale](s, s.write(http.MethodPost, s.userA(), "/sales", body, key), http.StatusCreated)
	replay := expect[apiSale](s, s.write(http.MethodPost, s.userA(), "/sales", body, key), http.StatusCreated)
	if replay.ID != first.ID || replay.Version != first.Version || replay.Total != first.Total {
		t.Errorf("replay: got sale %s v%d, want the first response's %s v%d", replay.ID, replay.Version, first.ID, first.Version)
	}
	s.wantLevel(book.ID, 10, 2)
	other := saleBody{Items: []item{{BookID: book.ID, Quantity: 3}}}
	s.wantProblem(s.write(http.MethodPost, s.userA(), "/sales", other, key), http.StatusUnprocessableEntity)
	s.wantLevel(book.ID, 10, 2)

	second := expect[apiSale](s, s.write(http.MethodPost, s.userA(), "/sales", body, uuid.NewString()), http.StatusCreated)
	if second.ID == first.ID {
		t.Errorf("a new key replayed sale %s", first.ID)
	}
	s.wantLevel(book.ID, 10, 4)

	// Another caller's key is another key: user B never gets user A's sale.
	if b := s.env.h.User2Token; b != "" {
		r := s.write(http.MethodPost, b, "/sales", body, key)
		if r.status == http.StatusCreated {
			theirs := expect[apiSale](s, r, http.StatusCreated)
			if theirs.ID == first.ID || theirs.SellerID == first.SellerID {
				t.Errorf("user B reusing user A's key got user A's sale %s", first.ID)
			}
			s.cancel(theirs.ID, 2)
		} else {
			s.wantProblem(r)
			if r.status == http.StatusNotFound || r.status == http.StatusForbidden {
				t.Errorf("user B reusing user A's key: %v", r)
			}
		}
	}

	path := "/sales/" + first.ID + "/status"
	pkey := uuid.NewString()
	done := statusBody{Status: "COMPLETED", PaymentMethod: "CASH"}
	c1 := expect[apiSale](s, s.write(http.MethodPatch, s.admin(), path, done, pkey), http.StatusOK)
	c2 := expect[apiSale](s, s.write(http.MethodPatch, s.admin(), path, done, pkey), http.StatusOK)
	if c1.Status != "COMPLETED" || c1.Version != 2 || c2.Status != "COMPLETED" || c2.Version != 2 || c2.PaidAt == nil || *c2.PaidAt != *c1.PaidAt {
		t.Errorf("PATCH replay: first %s v%d, replay %s v%d paidAt %v, want COMPLETED v2 with the same paidAt",
			c1.Status, c1.Version, c2.Status, c2.Version, c2.PaidAt)
	}
	s.wantProblem(s.write(http.MethodPatch, s.admin(), path, statusBody{Status: "COMPLETED", PaymentMethod: "DEBIT_CARD"}, pkey), http.StatusUnprocessableEntity)
	s.wantProblem(s.write(http.MethodPatch, s.admin(), path, done, uuid.NewString()), http.StatusConflict)

	s.cancel(second.ID, 2)
	s.eventuallyLevel(book.ID, 8, 0)
	s.eventually("one SALE movement of "+first.ID, func() error {
		ms, err := s.movements("saleId=" + first.ID)
		if err != nil {
			return err
		}
		return wantMovements(ms, first.ID, movement{"SALE", book.ID, -2, 10, 8})
	})
	// A replay after the sale moved on still answers what the first request
	// got, and moves nothing.
	c3 := expect[apiSale](s, s.write(http.MethodPost, s.userA(), "/sales", body, key), http.StatusCreated)
	if c3.ID != first.ID || c3.Status != "PENDING" || c3.Version != 1 {
		t.Errorf("late replay: got %s %s v%d, want the stored %s PENDING v1", c3.ID, c3.Status, c3.Version, first.ID)
	}
	s.wantLevel(book.ID, 8, 0)
}

// testAPIIdempotentConcurrent sends one request with one key from many
// goroutines at once, as a client's retries after timeouts would: each
// answer is the sale or 409 (key in flight), and the stock is taken once.
func testAPIIdempotentConcurrent(s *session) {
	t := s.t
	const n = 10
	book := s.createBook("3.00", 10)
	req := apiRequest{method: http.MethodPost, path: "/sales", token: s.userA(), key: uuid.NewString(),
		body: jsonBody(t, saleBody{Items: []item{{BookID: book.ID, Quantity: 1}}})}
	replies := make([]apiReply, n)
	errs := make([]error, n)
	parallel(n, func(i int) { replies[i], errs[i] = s.env.send(t.Context(), req) })
	var ids []string
	for i, r := range replies {
		if errs[i] != nil {
			t.Errorf("%v", errs[i])
			continue
		}
		s.check5xx(r)
		switch r.status {
		case http.StatusCreated:
			sale, err := decode[apiSale](r, http.StatusCreated)
			if err != nil {
				t.Errorf("%v", err)
			}
			ids = append(ids, sale.ID)
		case http.StatusConflict:
			s.wantProblem(r, http.StatusConflict)
		default:
			t.Errorf("want 201 or 409 (in flight): %v", r)
		}
	}
	slices.Sort(ids)
	if ids = slices.Compact(ids); len(ids) != 1 {
		t.Fatalf("%d concurrent requests with one key made sales %v, want exactly one", n, ids)
	}
	final, err := s.env.send(t.Context(), req)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if r := expect[apiSale](s, final, http.StatusCreated); r.ID != ids[0] {
		t.Errorf("retry after the storm: sale %s, want %s", r.ID, ids[0])
	}
	s.wantLevel(book.ID, 10, 1)
	s.cancel(ids[0], 2)
	s.wantLevel(book.ID, 10, 0)
}

// testAPIOverselling sends 20 concurrent buyers of one unit at a book with
// 5: exactly 5 get the sale, the others 409, and 5 units are reserved.
func testAPIOverselling(s *session) {
	t := s.t
	const stock, buyers = 5, 20
	book := s.createBook("9.99", stock)
	tokens := []string{s.userA()}
	if b := s.env.h.User2Token; b != "" {
		tokens = append(tokens, b)
	}
	body := jsonBody(t, saleBody{Items: []item{{BookID: book.ID, Quantity: 1}}})
	replies := make([]apiReply, buyers)
	errs := make([]error, buyers)
	parallel(buyers, func(i int) {
		replies[i], errs[i] = s.env.send(t.Context(), apiRequest{
			method: http.MethodPost, path: "/sales", token: tokens[i%len(tokens)], body: body, key: uuid.NewString(),
		})
	})
	var sold []string
	conflicts := 0
	for i, r := range replies {
		if errs[i] != nil {
			t.Errorf("%v", errs[i])
			continue
		}
		s.check5xx(r)
		switch r.status {
		case http.StatusCreated:
			sale, err := decode[apiSale](r, http.StatusCreated)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			sold = append(sold, sale.ID)
		case http.StatusConflict:
			conflicts++
			s.wantProblem(r, http.StatusConflict)
		default:
			t.Errorf("want 201 or 409: %v", r)
		}
	}
	if len(sold) != stock || conflicts != buyers-stock {
		t.Errorf("%d buyers of 1 unit of %d: %d sales and %d conflicts, want %d and %d",
			buyers, stock, len(sold), conflicts, stock, buyers-stock)
	}
	l := try(s.level(book.ID)).must(t)
	if l.OnHand != stock || l.Reserved != int64(len(sold)) || l.Reserved > stock {
		t.Errorf("stock after the rush: %+v, want onHand %d reserved %d", l, stock, len(sold))
	}
	s.wantProblem(s.postSale(s.userA(), saleBody{Items: []item{{BookID: book.ID, Quantity: 1}}}), http.StatusConflict)
	for _, id := range sold {
		s.cancel(id, 2)
	}
	s.wantLevel(book.ID, stock, 0)
}

// testAPIAllOrNothing checks that a sale reserves all its lines or none,
// with the quantities of one book summed over its lines.
func testAPIAllOrNothing(s *session) {
	t := s.t
	plenty, scarce := s.createBook("1.00", 5), s.createBook("1.00", 1)
	s.wantProblem(s.postSale(s.userA(), saleBody{Items: []item{{BookID: plenty.ID, Quantity: 2}, {BookID: scarce.ID, Quantity: 2}}}), http.StatusConflict)
	s.wantLevel(plenty.ID, 5, 0)
	s.wantLevel(scarce.ID, 1, 0)
	s.wantProblem(s.postSale(s.userA(), saleBody{Items: []item{{BookID: plenty.ID, Quantity: 3}, {BookID: plenty.ID, Quantity: 3}}}), http.StatusConflict)
	s.wantLevel(plenty.ID, 5, 0)
	s.wantProblem(s.postSale(s.userA(), saleBody{Items: []item{{BookID: scarce.ID, Quantity: 1}, {BookID: uuid.NewString(), Quantity: 1}}}), http.StatusUnprocessableEntity)
	s.wantLevel(scarce.ID, 1, 0)

	sale := s.createSale(s.userA(), item{BookID: plenty.ID, Quantity: 2}, item{BookID: plenty.ID, Quantity: 3}, item{BookID: scarce.ID, Quantity: 1})
	if len(sale.Items) != 3 {
		t.Errorf("sale of 3 lines has %d items", len(sale.Items))
	}
	s.wantLevel(plenty.ID, 5, 5)
	s.wantLevel(scarce.ID, 1, 1)
	s.cancel(sale.ID, 2)
	s.wantLevel(plenty.ID, 5, 0)
	s.wantLevel(scarce.ID, 1, 0)
}
