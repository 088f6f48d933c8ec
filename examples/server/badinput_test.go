package main

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// runBadInputs sends a corpus of bad requests: each must be a 4xx problem
// document, and none may change anything.
func runBadInputs(t *testing.T, tg *target) {
	book := tg.createBook(t, "9.99", 10)
	r := tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, book))
	want(t, r, http.StatusCreated, "a sale")
	sale := r.obj(t)["id"].(string)
	unknown := "0190a5c8-6f1e-7b3a-9c2d-4e5f60718293"
	line := func(fields string) string { return fmt.Sprintf(`{"items":[{"bookId":%q,%s}]}`, book, fields) }

	type bad struct {
		name, method, path, body string
		status                   int // 0: any 4xx
	}
	cases := []bad{
		// POST /sales
		{"sale: not JSON", "POST", "/sales", `{"items":`, 400},
		{"sale: JSON array", "POST", "/sales", `[]`, 422},
		{"sale: empty body", "POST", "/sales", ``, 400},
		{"sale: no items", "POST", "/sales", `{}`, 422},
		{"sale: empty items", "POST", "/sales", `{"items":[]}`, 422},
		{"sale: null items", "POST", "/sales", `{"items":null}`, 422},
		{"sale: fractional quantity", "POST", "/sales", line(`"quantity":1.5`), 422},
		{"sale: quantity as string", "POST", "/sales", line(`"quantity":"1"`), 422},
		{"sale: zero quantity", "POST", "/sales", line(`"quantity":0`), 422},
		{"sale: negative quantity", "POST", "/sales", line(`"quantity":-1`), 422},
		{"sale: huge quantity", "POST", "/sales", line(`"quantity":1e300`), 422},
		{"sale: quantity beyond float64", "POST", "/sales", line(`"quantity":1e400`), 400},
		{"sale: items not an array", "POST", "/sales", `{"items":{"bookId":"x"}}`, 422},
		{"sale: quantity over int64", "POST", "/sales", line(`"quantity":92233720368547758070`), 422},
		{"sale: a field name in another case", "POST", "/sales", fmt.Sprintf(`{"Items":[{"bookId":%q,"quantity":1}]}`, book), 422},
		{"sale: a line's field name in another case", "POST", "/sales", fmt.Sprintf(`{"items":[{"BookID":%q,"quantity":1}]}`, book), 422},
		{"sale: a key given twice", "POST", "/sales", fmt.Sprintf(`{"customerName":"a","customerName":"b","items":[{"bookId":%q,"quantity":1}]}`, book), 422},
		{"sale: a line's key given twice", "POST", "/sales", fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1,"quantity":2}]}`, book), 422},
		{"sale: null for a line's optional field", "POST", "/sales", line(`"quantity":1,"discount":null`), 422},
		{"book patch: null price", "PATCH", "/books/" + book, `{"price":null}`, 422},
		{"book patch: negative minStock", "PATCH", "/books/" + book, `{"minStock":-1}`, 422},
		{"book patch: minStock as a string", "PATCH", "/books/" + book, `{"minStock":"5"}`, 422},
		{"book patch: null title", "PATCH", "/books/" + book, `{"title":null}`, 422},
		{"status: null payment reference", "PATCH", "/sales/" + sale + "/status", `{"status":"COMPLETED","paymentMethod":"CASH","paymentReference":null}`, 422},
		{"sale: deeply nested lines", "POST", "/sales", `{"items":[` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `]}`, 422},
		{"sale: deeper than the decoder goes", "POST", "/sales", `{"items":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, 0},
		{"sale: quantity above stock", "POST", "/sales", line(`"quantity":11`), 409},
		{"sale: unknown book", "POST", "/sales", fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, unknown), 422},
		{"sale: bad book id", "POST", "/sales", `{"items":[{"bookId":"nope","quantity":1}]}`, 422},
		{"sale: nil book id", "POST", "/sales", `{"items":[{"bookId":"00000000-0000-0000-0000-000000000000","quantity":1}]}`, 422},
		{"sale: discount above base", "POST", "/sales", line(`"quantity":1,"discount":"10.00"`), 422},
		{"sale: negative discount", "POST", "/sales", line(`"quantity":1,"discount":"-1"`), 422},
		{"sale: discount with 3 decimals", "POST", "/sales", line(`"quantity":1,"discount":"0.001"`), 422},
		{"sale: discount with exponent", "POST", "/sales", line(`"quantity":1,"discount":1e2`), 422},
		{"sale: discount as object", "POST", "/sales", line(`"quantity":1,"discount":{}`), 422},
		{"sale: discount NaN", "POST", "/sales", line(`"quantity":1,"discount":"NaN"`), 422},
		{"sale: sale discount above subtotal", "POST", "/sales", fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}],"discount":"100"}`, book), 422},
		{"sale: bad email", "POST", "/sales", fmt.Sprintf(`{"customerEmail":"not an email","items":[{"bookId":%q,"quantity":1}]}`, book), 422},
		{"sale: long name", "POST", "/sales", fmt.Sprintf(`{"customerName":%q,"items":[{"bookId":%q,"quantity":1}]}`, strings.Repeat("n", 201), book), 422},
		{"sale: NUL in notes", "POST", "/sales", fmt.Sprintf(`{"notes":"a\u0000b","items":[{"bookId":%q,"quantity":1}]}`, book), 422},
		{"sale: unknown field", "POST", "/sales", fmt.Sprintf(`{"sellerId":"someone","items":[{"bookId":%q,"quantity":1}]}`, book), 422},
		{"sale: too many lines", "POST", "/sales", `{"items":[` + strings.Repeat(fmt.Sprintf(`{"bookId":%q,"quantity":1},`, book), 100) + fmt.Sprintf(`{"bookId":%q,"quantity":1}]}`, book), 422},
		// PATCH /sales/{id}/status
		{"status: unknown status", "PATCH", "/sales/" + sale + "/status", `{"status":"SHIPPED"}`, 422},
		{"status: complete without payment", "PATCH", "/sales/" + sale + "/status", `{"status":"COMPLETED"}`, 422},
		{"status: bad payment method", "PATCH", "/sales/" + sale + "/status", `{"status":"COMPLETED","paymentMethod":"BITCOIN"}`, 422},
		{"status: back to pending", "PATCH", "/sales/" + sale + "/status", `{"status":"PENDING"}`, 409},
		{"status: back to pending, with a reason", "PATCH", "/sales/" + sale + "/status", `{"status":"PENDING","reason":"x"}`, 409},
		{"status: a reason when completing", "PATCH", "/sales/" + sale + "/status", `{"status":"COMPLETED","paymentMethod":"CASH","reason":"x"}`, 422},
		{"status: a payment when cancelling", "PATCH", "/sales/" + sale + "/status", `{"status":"CANCELLED","paymentMethod":"CASH"}`, 422},
		{"status: a payment reference when cancelling", "PATCH", "/sales/" + sale + "/status", `{"status":"CANCELLED","paymentReference":"r"}`, 422},
		{"status: unknown sale", "PATCH", "/sales/" + unknown + "/status", `{"status":"CANCELLED"}`, 404},
		{"status: bad sale id", "PATCH", "/sales/nope/status", `{"status":"CANCELLED"}`, 422},
		{"status: not JSON", "PATCH", "/sales/" + sale + "/status", `status=CANCELLED`, 400},
		// GET /sales and the summary
		{"list: page 0", "GET", "/sales?page=0", ``, 422},
		{"list: limit 101", "GET", "/sales?limit=101", ``, 422},
		{"list: limit not a number", "GET", "/sales?limit=ten", ``, 422},
		{"list: fractional page", "GET", "/sales?page=1.5", ``, 422},
		{"list: bad status", "GET", "/sales?status=DONE", ``, 422},
		{"list: bad startDate", "GET", "/sales?startDate=2025-13-01", ``, 422},
		{"list: bad endDate", "GET", "/sales?endDate=yesterday", ``, 422},
		{"list: end before start", "GET", "/sales?startDate=2025-02-01&endDate=2025-01-01", ``, 422},
		{"summary: no dates", "GET", "/sales/summary", ``, 422},
		{"summary: bad date", "GET", "/sales/summary?startDate=2025-02-30&endDate=2025-03-01", ``, 422},
		{"summary: end before start", "GET", "/sales/summary?startDate=2025-02-01&endDate=2025-01-01", ``, 422},
		{"summary: range too long", "GET", "/sales/summary?startDate=1000-01-01&endDate=9000-01-01", ``, 422},
		{"sale: unknown id", "GET", "/sales/" + unknown, ``, 404},
		{"sale: bad id", "GET", "/sales/x", ``, 422},
		// Books
		{"book: no title", "POST", "/books", `{"author":"A","price":"1"}`, 422},
		{"book: blank title", "POST", "/books", `{"title":"  ","author":"A","price":"1"}`, 422},
		{"book: negative price", "POST", "/books", `{"title":"T","author":"A","price":"-1"}`, 422},
		{"book: price too precise", "POST", "/books", `{"title":"T","author":"A","price":"1.999"}`, 422},
		{"book: price huge", "POST", "/books", `{"title":"T","author":"A","price":"99999999999999999999999"}`, 422},
		{"book: price bool", "POST", "/books", `{"title":"T","author":"A","price":true}`, 422},
		{"book: negative stock", "POST", "/books", `{"title":"T","author":"A","price":"1","stock":-5}`, 422},
		{"book: fractional stock", "POST", "/books", `{"title":"T","author":"A","price":"1","stock":2.5}`, 422},
		{"book: available as string", "POST", "/books", `{"title":"T","author":"A","price":"1","available":"yes"}`, 422},
		{"book patch: empty title", "PATCH", "/books/" + book, `{"title":""}`, 422},
		{"book patch: bad price", "PATCH", "/books/" + book, `{"price":"abc"}`, 422},
		{"book patch: unknown book", "PATCH", "/books/" + unknown, `{"title":"X"}`, 404},
		{"book: unknown id", "GET", "/books/" + unknown, ``, 404},
		{"books: limit 0", "GET", "/books?limit=0", ``, 422},
		// Movements and stock
		{"movement: SALE by hand", "POST", "/inventory/" + book + "/movements", `{"type":"SALE","quantity":-1}`, 422},
		{"movement: unknown type", "POST", "/inventory/" + book + "/movements", `{"type":"GIFT","quantity":1}`, 422},
		{"movement: positive loss", "POST", "/inventory/" + book + "/movements", `{"type":"LOSS","quantity":1}`, 422},
		{"movement: zero adjustment", "POST", "/inventory/" + book + "/movements", `{"type":"ADJUSTMENT","quantity":0}`, 422},
		{"movement: fractional", "POST", "/inventory/" + book + "/movements", `{"type":"PURCHASE","quantity":0.5}`, 422},
		{"movement: below reserved", "POST", "/inventory/" + book + "/movements", `{"type":"DAMAGE","quantity":-10}`, 409},
		{"movement: below zero", "POST", "/inventory/" + book + "/movements", `{"type":"LOSS","quantity":-11}`, 409},
		{"movement: unknown book", "POST", "/inventory/" + unknown + "/movements", `{"type":"PURCHASE","quantity":1}`, 404},
		{"stock: unknown book", "GET", "/inventory/" + unknown, ``, 404},
		{"movements: bad type", "GET", "/stock-movements?type=GIFT", ``, 422},
		{"movements: bad book id", "GET", "/stock-movements?bookId=1", ``, 422},
		{"movements: nil book id", "GET", "/stock-movements?bookId=00000000-0000-0000-0000-000000000000", ``, 422},
		{"movements: nil sale id", "GET", "/stock-movements?saleId=00000000-0000-0000-0000-000000000000", ``, 422},
		{"sales: NUL in seller", "GET", "/sales?sellerId=%00", ``, 422},
		{"sales: seller not UTF-8", "GET", "/sales?sellerId=%ff", ``, 422},
		{"analytics: bad id", "GET", "/analytics/books/1", ``, 422},
		// Transport
		{"unknown route", "GET", "/nope", ``, 404},
		{"wrong method", "DELETE", "/books", ``, 405},
	}

	type snapshot struct {
		Sales, Books, Movements int64
		Level                   StockLevel
	}
	snap := func() snapshot {
		var s snapshot
		var sp SalePage
		tg.req(t, "GET", "/sales?limit=1", tg.admin, nil).decode(t, &sp)
		var bp BookPage
		tg.req(t, "GET", "/books?limit=1", tg.admin, nil).decode(t, &bp)
		var mp MovementPage
		tg.req(t, "GET", "/stock-movements?limit=1", tg.admin, nil).decode(t, &mp)
		tg.req(t, "GET", "/inventory/"+book, tg.admin, nil).decode(t, &s.Level)
		s.Sales, s.Books, s.Movements = sp.Meta.Total, bp.Meta.Total, mp.Meta.Total
		return s
	}
	before := snap()
	for _, c := range cases {
		var body any
		if c.body != "" || c.method == "POST" {
			body = c.body
		}
		r := tg.req(t, c.method, c.path, tg.admin, body)
		if r.status < 400 || r.status >= 500 || (c.status != 0 && r.status != c.status) {
			t.Errorf("%s: got %s, want %d", c.name, r, c.status)
			continue
		}
		wantProblem(t, r, c.name)
	}
	if after := snap(); !reflect.DeepEqual(before, after) {
		t.Fatalf("bad inputs changed something:\nbefore %+v\nafter  %+v", before, after)
	}
}

// TestPatchMinStock: a book's restock threshold, set at its creation, can
// be changed with the book; its stock level shows it.
func TestPatchMinStock(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	book := tg.createBook(t, "9.99", 10)
	want(t, tg.req(t, "PATCH", "/books/"+book, tg.admin, `{"minStock":3}`), http.StatusOK, "patch minStock")
	var l StockLevel
	tg.req(t, "GET", "/inventory/"+book, tg.admin, nil).decode(t, &l)
	if l.MinStock != 3 || l.OnHand != 10 {
		t.Errorf("level after minStock 3: %+v", l)
	}
	want(t, tg.req(t, "PATCH", "/books/"+book, tg.user, `{"minStock":4}`), http.StatusForbidden, "a user patching minStock")
}

// TestInvalidFieldLocation: a field the domain judges invalid is located
// as Huma locates those it judges itself.
func TestInvalidFieldLocation(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	book := tg.createBook(t, "9.99", 10)
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", "/sales", fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1,"discount":"10.00"}]}`, book), "body.items[0].discount"},
		{"POST", "/sales", fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":0}]}`, book), "body.items[0].quantity"}, // Huma's own
		{"GET", "/sales/summary?startDate=2026-02-01&endDate=2026-01-01", "", "query.endDate"},
		{"GET", "/sales/00000000-0000-0000-0000-000000000000", "", "path.id"},
	} {
		body := any(nil)
		if c.body != "" {
			body = c.body
		}
		r := tg.req(t, c.method, c.path, tg.admin, body)
		var p struct {
			Errors []struct{ Location string } `json:"errors"`
		}
		r.decode(t, &p)
		if r.status != http.StatusUnprocessableEntity || len(p.Errors) == 0 || p.Errors[0].Location != c.want {
			t.Errorf("%s %s: %d %s; want 422 at %s", c.method, c.path, r.status, r.body, c.want)
		}
	}
}

func TestBadInputs(t *testing.T) {
	t.Parallel()
	runBadInputs(t, newTarget(t, nil, nil))
}

func TestBadInputsPostgres(t *testing.T) {
	t.Parallel()
	url := testkitURL(t)
	runBadInputs(t, newTarget(t, func(o *Options) { o.DatabaseURL = url }, nil))
}

// TestBodyTooLarge: a body over 1 MiB is 413, with or without a length,
// on every route with a body, and a refused write changes nothing even
// when the body, but for its size, would be accepted.
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	huge := `{"notes":"` + strings.Repeat("x", MaxBodyBytes) + `","items":[]}`
	want(t, tg.req(t, "POST", "/sales", tg.user, huge), http.StatusRequestEntityTooLarge, "sized body")
	want(t, tg.req(t, "POST", "/books", tg.admin, huge), http.StatusRequestEntityTooLarge, "book body")

	// Chunked: no Content-Length up front.
	chunked := func(method, path, token, body string) int {
		req, _ := http.NewRequest(method, tg.url+path, strings.NewReader(body))
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := tg.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := chunked("POST", "/sales", tg.user, huge); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: %d", code)
	}
	// The other writes, with bodies that are valid JSON padded with blanks:
	// read whole, each would change something.
	book := tg.createBook(t, "2.00", 5)
	r := tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, book))
	want(t, r, http.StatusCreated, "a sale")
	sale := r.obj(t)["id"].(string)
	pad := strings.Repeat(" ", MaxBodyBytes)
	before := tg.snapshot(t, []string{book}, []string{sale})
	for _, w := range []struct{ method, path, body string }{
		{"PATCH", "/sales/" + sale + "/status", `{"status":"CANCELLED"` + pad + `}`},
		{"PATCH", "/books/" + book, `{"title":"Too large"` + pad + `}`},
		{"POST", "/inventory/" + book + "/movements", `{"type":"PURCHASE","quantity":1` + pad + `}`},
	} {
		name := w.method + " " + w.path
		want(t, tg.req(t, w.method, w.path, tg.admin, w.body), http.StatusRequestEntityTooLarge, name)
		if code := chunked(w.method, w.path, tg.admin, w.body); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s chunked: %d", name, code)
		}
	}
	unchanged(t, "bodies too large", before, tg.snapshot(t, []string{book}, []string{sale}))
	// Without the padding, the same writes go through.
	want(t, tg.req(t, "PATCH", "/books/"+book, tg.admin, `{"title":"Too large"}`), http.StatusOK, "the small patch")

	// Exactly the limit is read (and then found invalid, not too large).
	exact := `{"notes":"` + strings.Repeat("x", MaxBodyBytes-len(`{"notes":"","items":[]}`)) + `","items":[]}`
	r = tg.req(t, "POST", "/sales", tg.user, exact)
	if r.status == http.StatusRequestEntityTooLarge || r.status >= 500 {
		t.Fatalf("body of exactly %d bytes: %s", len(exact), r)
	}
}
