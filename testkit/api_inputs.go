package testkit

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// badInput is one request of the bad-input corpus.
type badInput struct {
	name   string
	admin  bool // sent as admin, else as user A
	method string
	path   string
	body   any   // see jsonBody; nil sends no body
	want   []int // the statuses allowed; empty allows any 4xx
}

// Allowed statuses. DESIGN §7 makes invalid input 422; input that cannot
// even be decoded (malformed JSON, a wrong type, a path id that is not a
// UUID) may also be 400, and an unparsable id 404.
var (
	want422     = []int{http.StatusUnprocessableEntity}
	wantDecode  = []int{http.StatusBadRequest, http.StatusUnprocessableEntity}
	wantBadID   = []int{http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity}
	want404     = []int{http.StatusNotFound}
	want409     = []int{http.StatusConflict}
	want413     = []int{http.StatusRequestEntityTooLarge}
	wantAny4xx  []int
	sqlInjected = `'; DROP TABLE sales;--`
)

// testAPIBadInputs sends a corpus of bad requests. Each must be a 4xx
// problem document with the status DESIGN §7 gives, never a 5xx, and
// none may change anything: afterwards the book's stock, price and ledger,
// the pending sale it targets and user A's sales count are as before.
func testAPIBadInputs(s *session) {
	t := s.t
	book := s.createBook("10.00", 5)
	target := s.createSale(s.userA(), item{BookID: book.ID, Quantity: 1})
	ownBefore := s.salesTotal(s.userA(), "")

	id := book.ID
	sale := func(items string, extra ...string) rawJSON {
		return rawJSON(`{"items":` + items + strings.Join(append([]string{""}, extra...), ",") + `}`)
	}
	line := func(fields string) string { return fmt.Sprintf(`[{"bookId":%q,%s}]`, id, fields) }
	one := line(`"quantity":1`)
	manyLines := "[" + strings.Repeat(fmt.Sprintf(`{"bookId":%q,"quantity":1},`, id), 999) + fmt.Sprintf(`{"bookId":%q,"quantity":1}]`, id)
	huge := strings.Repeat("x", 2<<20)
	status := "/sales/" + target.ID + "/status"
	movements := "/inventory/" + id + "/movements"
	newBook := func(fields string) rawJSON {
		return rawJSON(`{"title":"conformance bad book","author":"salesflow testkit"` + fields + `}`)
	}

	corpus := []badInput{
		// POST /sales, as user A.
		{name: "unknown book", method: "POST", path: "/sales", body: sale(fmt.Sprintf(`[{"bookId":%q,"quantity":1}]`, uuid.NewString())), want: want422},
		{name: "zero quantity", method: "POST", path: "/sales", body: sale(line(`"quantity":0`)), want: want422},
		{name: "negative quantity", method: "POST", path: "/sales", body: sale(line(`"quantity":-1`)), want: want422},
		{name: "fractional quantity", method: "POST", path: "/sales", body: sale(line(`"quantity":1.5`)), want: wantDecode},
		{name: "quantity as string", method: "POST", path: "/sales", body: sale(line(`"quantity":"1"`)), want: wantDecode},
		{name: "missing quantity", method: "POST", path: "/sales", body: sale(line(`"discount":"0.00"`)), want: wantDecode},
		{name: "huge quantity", method: "POST", path: "/sales", body: sale(line(`"quantity":9223372036854775807`)), want: wantAny4xx},
		{name: "quantity beyond int64", method: "POST", path: "/sales", body: sale(line(`"quantity":99999999999999999999999`)), want: wantAny4xx},
		{name: "quantity 1e400", method: "POST", path: "/sales", body: sale(line(`"quantity":1e400`)), want: wantAny4xx},
		{name: "quantity above stock", method: "POST", path: "/sales", body: sale(line(`"quantity":6`)), want: want409},
		{name: "lines of one book above stock", method: "POST", path: "/sales", body: sale(fmt.Sprintf(`[{"bookId":%q,"quantity":3},{"bookId":%q,"quantity":3}]`, id, id)), want: want409},
		{name: "line discount above its base", method: "POST", path: "/sales", body: sale(line(`"quantity":1,"discount":"10.01"`)), want: want422},
		{name: "negative line discount", method: "POST", path: "/sales", body: sale(line(`"quantity":1,"discount":"-1.00"`)), want: want422},
		{name: "sale discount above subtotal", method: "POST", path: "/sales", body: sale(one, `"discount":"10.01"`), want: want422},
		{name: "negative sale discount", method: "POST", path: "/sales", body: sale(one, `"discount":"-0.01"`), want: want422},
		{name: "discount with too many decimals", method: "POST", path: "/sales", body: sale(one, `"discount":"1.001"`), want: want422},
		{name: "line discount with too many decimals", method: "POST", path: "/sales", body: sale(line(`"quantity":1,"discount":"0.001"`)), want: want422},
		{name: "discount not a number", method: "POST", path: "/sales", body: sale(one, `"discount":"abc"`), want: wantDecode},
		{name: "discount as a boolean", method: "POST", path: "/sales", body: sale(one, `"discount":true`), want: wantDecode},
		{name: "huge discount", method: "POST", path: "/sales", body: sale(one, `"discount":"99999999999999999999999999.00"`), want: wantAny4xx},
		{name: "malformed JSON", method: "POST", path: "/sales", body: rawJSON(`{"items":[`), want: wantDecode},
		{name: "empty body", method: "POST", path: "/sales", body: rawJSON(``), want: wantDecode},
		{name: "JSON array body", method: "POST", path: "/sales", body: rawJSON(`[]`), want: wantDecode},
		{name: "JSON null body", method: "POST", path: "/sales", body: rawJSON(`null`), want: wantDecode},
		{name: "missing items", method: "POST", path: "/sales", body: rawJSON(`{"customerName":"x"}`), want: wantDecode},
		{name: "empty items", method: "POST", path: "/sales", body: sale(`[]`), want: wantDecode},
		{name: "items not an array", method: "POST", path: "/sales", body: sale(`"x"`), want: wantDecode},
		{name: "line not an object", method: "POST", path: "/sales", body: sale(`[1]`), want: wantDecode},
		{name: "missing bookId", method: "POST", path: "/sales", body: sale(`[{"quantity":1}]`), want: wantDecode},
		{name: "bookId not a UUID", method: "POST", path: "/sales", body: sale(`[{"bookId":"not-a-uuid","quantity":1}]`), want: wantDecode},
		{name: "SQL in bookId", method: "POST", path: "/sales", body: sale(fmt.Sprintf(`[{"bookId":%q,"quantity":1}]`, sqlInjected)), want: wantDecode},
		{name: "customerName as a number", method: "POST", path: "/sales", body: sale(one, `"customerName":5`), want: wantDecode},
		{name: "notes as an object", method: "POST", path: "/sales", body: sale(one, `"notes":{"a":1}`), want: wantDecode},
		{name: "1000 lines", method: "POST", path: "/sales", body: sale(manyLines), want: wantAny4xx},
		{name: "2 MiB body", method: "POST", path: "/sales", body: sale(one, `"notes":"`+huge+`"`), want: want413},

		// PATCH /sales/{id}/status, as admin, on the pending target sale.
		{name: "unknown status", admin: true, method: "PATCH", path: status, body: rawJSON(`{"status":"SHIPPED"}`), want: want422},
		{name: "lower-case status", admin: true, method: "PATCH", path: status, body: rawJSON(`{"status":"completed","paymentMethod":"CASH"}`), want: want422},
		{name: "SQL in status", admin: true, method: "PATCH", path: status, body: rawJSON(fmt.Sprintf(`{"status":%q}`, sqlInjected)), want: want422},
		{name: "missing status", admin: true, method: "PATCH", path: status, body: rawJSON(`{"paymentMethod":"CASH"}`), want: wantDecode},
		{name: "status as a number", admin: true, method: "PATCH", path: status, body: rawJSON(`{"status":1}`), want: wantDecode},
		{name: "unknown paymentMethod", admin: true, method: "PATCH", path: status, body: rawJSON(`{"status":"COMPLETED","paymentMethod":"BITCOIN"}`), want: want422},
		{name: "missing paymentMethod", admin: true, method: "PATCH", path: status, body: rawJSON(`{"status":"COMPLETED"}`), want: want422},
		{name: "paymentMethod as a number", admin: true, method: "PATCH", path: status, body: rawJSON(`{"status":"COMPLETED","paymentMethod":5}`), want: wantDecode},
		{name: "malformed status JSON", admin: true, method: "PATCH", path: status, body: rawJSON(`{"status":`), want: wantDecode},
		{name: "2 MiB status body", admin: true, method: "PATCH", path: status, body: rawJSON(`{"status":"CANCELLED","reason":"` + huge + `"}`), want: want413},
		{name: "status of a non-UUID sale", admin: true, method: "PATCH", path: "/sales/not-a-uuid/status", body: statusBody{Status: "CANCELLED"}, want: wantBadID},
		{name: "status of a SQL sale id", admin: true, method: "PATCH", path: "/sales/" + q(sqlInjected) + "/status", body: statusBody{Status: "CANCELLED"}, want: wantBadID},
		{name: "status of an unknown sale", admin: true, method: "PATCH", path: "/sales/" + uuid.NewString() + "/status", body: statusBody{Status: "CANCELLED"}, want: want404},

		// Queries and ids, as admin.
		{name: "list: unknown status", admin: true, method: "GET", path: "/sales?status=SHIPPED", want: want422},
		{name: "list: SQL in status", admin: true, method: "GET", path: "/sales?status=" + q(sqlInjected), want: want422},
		{name: "list: limit 101", admin: true, method: "GET", path: "/sales?limit=101", want: want422},
		{name: "list: limit 0", admin: true, method: "GET", path: "/sales?limit=0", want: want422},
		{name: "list: negative limit", admin: true, method: "GET", path: "/sales?limit=-1", want: want422},
		{name: "list: limit not a number", admin: true, method: "GET", path: "/sales?limit=abc", want: wantDecode},
		{name: "list: page 0", admin: true, method: "GET", path: "/sales?page=0", want: want422},
		{name: "list: negative page", admin: true, method: "GET", path: "/sales?page=-1", want: want422},
		{name: "list: page not a number", admin: true, method: "GET", path: "/sales?page=abc", want: wantDecode},
		{name: "list: huge page", admin: true, method: "GET", path: "/sales?page=99999999999999999999999", want: wantDecode},
		{name: "list: startDate not a date", admin: true, method: "GET", path: "/sales?startDate=not-a-date", want: wantDecode},
		{name: "list: startDate 2026-02-30", admin: true, method: "GET", path: "/sales?startDate=2026-02-30", want: wantDecode},
		{name: "list: endDate month 13", admin: true, method: "GET", path: "/sales?endDate=2026-13-01", want: wantDecode},
		{name: "sale id not a UUID", admin: true, method: "GET", path: "/sales/not-a-uuid", want: wantBadID},
		{name: "SQL sale id", admin: true, method: "GET", path: "/sales/" + q(sqlInjected), want: wantBadID},
		{name: "unknown sale", admin: true, method: "GET", path: "/sales/" + uuid.NewString(), want: want404},
		{name: "summary: startDate not a date", admin: true, method: "GET", path: "/sales/summary?startDate=yesterday&endDate=2026-01-31", want: wantDecode},
		{name: "summary: startDate 2026-02-30", admin: true, method: "GET", path: "/sales/summary?startDate=2026-02-30&endDate=2026-03-31", want: wantDecode},
		{name: "summary: endDate before startDate", admin: true, method: "GET", path: "/sales/summary?startDate=2026-03-02&endDate=2026-03-01", want: want422},
		{name: "inventory of a non-UUID", admin: true, method: "GET", path: "/inventory/not-a-uuid", want: wantBadID},
		{name: "inventory of an unknown book", admin: true, method: "GET", path: "/inventory/" + uuid.NewString(), want: want404},
		{name: "book id not a UUID", admin: true, method: "GET", path: "/books/not-a-uuid", want: wantBadID},
		{name: "unknown book id", admin: true, method: "GET", path: "/books/" + uuid.NewString(), want: want404},
		{name: "analytics of a non-UUID", admin: true, method: "GET", path: "/analytics/books/not-a-uuid", want: wantBadID},
		{name: "movements: saleId not a UUID", admin: true, method: "GET", path: "/stock-movements?saleId=not-a-uuid", want: wantDecode},
		{name: "movements: bookId SQL", admin: true, method: "GET", path: "/stock-movements?bookId=" + q(sqlInjected), want: wantDecode},
		{name: "movements: unknown type", admin: true, method: "GET", path: "/stock-movements?type=TELEPORT", want: wantDecode},
		{name: "movements: limit 101", admin: true, method: "GET", path: "/stock-movements?limit=101", want: want422},

		// Catalog and stock writes, as admin.
		{name: "book: negative price", admin: true, method: "POST", path: "/books", body: newBook(`,"price":"-1.00"`), want: want422},
		{name: "book: price with too many decimals", admin: true, method: "POST", path: "/books", body: newBook(`,"price":"1.001"`), want: want422},
		{name: "book: price as an object", admin: true, method: "POST", path: "/books", body: newBook(`,"price":{"amount":1}`), want: wantDecode},
		{name: "book: huge price", admin: true, method: "POST", path: "/books", body: newBook(`,"price":"99999999999999999999.00"`), want: wantAny4xx},
		{name: "book: missing title", admin: true, method: "POST", path: "/books", body: rawJSON(`{"author":"x","price":"1.00"}`), want: wantDecode},
		{name: "book: negative stock", admin: true, method: "POST", path: "/books", body: newBook(`,"price":"1.00","stock":-1`), want: want422},
		{name: "book: fractional stock", admin: true, method: "POST", path: "/books", body: newBook(`,"price":"1.00","stock":1.5`), want: wantDecode},
		{name: "book: malformed JSON", admin: true, method: "POST", path: "/books", body: rawJSON(`{"title":`), want: wantDecode},
		{name: "book update: negative price", admin: true, method: "PATCH", path: "/books/" + id, body: rawJSON(`{"price":"-1.00"}`), want: want422},
		{name: "book update: price not a number", admin: true, method: "PATCH", path: "/books/" + id, body: rawJSON(`{"price":"abc"}`), want: wantDecode},
		{name: "book update: unknown book", admin: true, method: "PATCH", path: "/books/" + uuid.NewString(), body: rawJSON(`{"price":"1.00"}`), want: want404},
		{name: "movement: type SALE", admin: true, method: "POST", path: movements, body: rawJSON(`{"type":"SALE","quantity":-1,"reason":"x"}`), want: wantDecode},
		{name: "movement: type RETURN", admin: true, method: "POST", path: movements, body: rawJSON(`{"type":"RETURN","quantity":1,"reason":"x"}`), want: wantDecode},
		{name: "movement: unknown type", admin: true, method: "POST", path: movements, body: rawJSON(`{"type":"TELEPORT","quantity":1,"reason":"x"}`), want: wantDecode},
		{name: "movement: zero quantity", admin: true, method: "POST", path: movements, body: rawJSON(`{"type":"ADJUSTMENT","quantity":0,"reason":"x"}`), want: want422},
		{name: "movement: fractional quantity", admin: true, method: "POST", path: movements, body: rawJSON(`{"type":"PURCHASE","quantity":1.5,"reason":"x"}`), want: wantDecode},
		{name: "movement: below reserved", admin: true, method: "POST", path: movements, body: rawJSON(`{"type":"ADJUSTMENT","quantity":-5,"reason":"x"}`), want: wantAny4xx},
		{name: "movement: below zero", admin: true, method: "POST", path: movements, body: rawJSON(`{"type":"ADJUSTMENT","quantity":-1000,"reason":"x"}`), want: wantAny4xx},
		{name: "movement: unknown book", admin: true, method: "POST", path: "/inventory/" + uuid.NewString() + "/movements", body: rawJSON(`{"type":"PURCHASE","quantity":1,"reason":"x"}`), want: []int{http.StatusNotFound, http.StatusUnprocessableEntity}},
	}

	for _, c := range corpus {
		token := s.userA()
		if c.admin {
			token = s.admin()
		}
		r := apiRequest{method: c.method, path: c.path, token: token, body: jsonBody(t, c.body)}
		if c.method == http.MethodPost && c.path == "/sales" || c.method == http.MethodPatch && strings.HasPrefix(c.path, "/sales/") {
			r.key = uuid.NewString()
		}
		rep, err := s.env.send(t.Context(), r)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if err := problem(rep, c.want...); err != nil {
			t.Errorf("%s (body %s): %v", c.name, bodyOf(r.body), err)
		}
	}

	// A sellerId filter is a value, never SQL: it matches nobody.
	r := s.get(s.admin(), "/sales?limit=1&sellerId="+q(`' OR '1'='1`))
	if r.status == http.StatusOK {
		if p := expect[apiPage[apiSale]](s, r, http.StatusOK); p.Meta.Total != 0 {
			t.Errorf("sellerId=' OR '1'='1 matched %d sales", p.Meta.Total)
		}
	} else {
		s.wantProblem(r, wantDecode...)
	}

	// Nothing changed.
	if got := s.getSale(s.admin(), target.ID); got.Status != "PENDING" || got.Version != 1 {
		t.Errorf("target sale: got %s v%d, want PENDING v1", got.Status, got.Version)
	}
	s.wantLevel(id, 5, 1)
	if b := expect[apiBook](s, s.get(s.admin(), "/books/"+id), http.StatusOK); !sameMoney(b.Price, "10.00") || b.Title != book.Title {
		t.Errorf("book changed: %+v, want %+v", b, book)
	}
	if ms := try(s.movements("bookId=" + id)).must(t); len(ms) != 1 || ms[0].Type != "PURCHASE" || ms[0].Quantity != 5 {
		t.Errorf("ledger: got %+v, want the initial PURCHASE of 5 alone", ms)
	}
	if got := s.salesTotal(s.userA(), ""); got != ownBefore {
		t.Errorf("user A's sales: %d, want %d as before the corpus", got, ownBefore)
	}
	s.cancel(target.ID, 2)
}
