package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// metaValue is a hostile string: as JSON text for a body, and as bytes for
// a query, a path or a header.
type metaValue struct{ name, json, raw string }

// metaValues are SQL metacharacters and text that stores and drivers get
// wrong.
func metaValues() []metaValue {
	plain := func(name, s string) metaValue {
		j, err := json.Marshal(s)
		if err != nil {
			panic(err)
		}
		return metaValue{name, string(j), s}
	}
	return []metaValue{
		plain("SQL comment", `'; DROP TABLE sales;--`),
		plain("SQL tautology", `' OR '1'='1`),
		plain("backslash", `\`),
		plain("double quote", `"`),
		plain("percent", `%`),
		plain("underscore", `_`),
		plain("placeholder", `$1`),
		plain("quotes in an email", `o'brien+--%_$1@example.com`),
		plain("NUL", "a\x00b"),
		{"lone surrogate", `"a\ud800b"`, "a\xed\xa0\x80b"},
		{"invalid UTF-8", "\"a\xff\xfeb\"", "a\xff\xfeb"},
		plain("10 KB", strings.Repeat("x", 10<<10)),
		plain("bidi and zero-width", "\u202egnp.exe\u200b\u200c\u200d\u2060\ufeff\u061c"),
	}
}

// abuse is a server with the records the metacharacter cases write to.
type abuse struct {
	tg       *target
	book     string // the book of the sales
	patched  string // the book PATCH /books/{id} changes
	moved    string // the book of the movements, which no sale touches
	sale     string // a PENDING sale no case may change
	secrets  []string
	watchedB []string
}

// fresh returns a new PENDING sale of tg.user.
func (a *abuse) fresh(t *testing.T) string {
	t.Helper()
	r := a.tg.req(t, "POST", "/sales", a.tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, a.book))
	want(t, r, http.StatusCreated, "a sale to change")
	return r.obj(t)["id"].(string)
}

func (a *abuse) snap(t *testing.T, sales ...string) state {
	t.Helper()
	return a.tg.snapshot(t, a.watchedB, append([]string{a.sale}, sales...))
}

// answer checks any answer: no 5xx, and an error is a problem document
// holding no internal text.
func (a *abuse) answer(t *testing.T, r *response, what string, sent ...string) {
	t.Helper()
	if r.status >= 500 {
		t.Fatalf("%s: %s", what, r)
	}
	if r.status >= 400 {
		wantProblem(t, r, what)
		if m := leak(r.body, a.secrets, sent...); m != "" {
			t.Fatalf("%s: the answer holds %q: %s", what, m, r)
		}
	}
}

// send sends raw bytes (tg.req would encode them); it returns nil when the
// client refuses to send the request.
func (a *abuse) send(t *testing.T, method, path, token, body string, hdr ...string) *response {
	t.Helper()
	return a.tg.raw(t, method, path, token, []byte(body), hdr...)
}

// runMetacharacters sends every metaValue into every string field, query
// parameter, path id and the Idempotency-Key header. Nothing may be a 5xx;
// an error is a problem document without internal text; a refused write
// changes nothing; an accepted value is stored and returned as a JSON
// decoder reads what was sent (byte for byte, for valid UTF-8).
func runMetacharacters(t *testing.T, tg *target, secrets ...string) {
	a := &abuse{tg: tg, book: tg.createBook(t, "10.00", 1000), patched: tg.createBook(t, "3.00", 0),
		moved: tg.createBook(t, "4.00", 5), secrets: secrets}
	a.watchedB = []string{a.book, a.patched, a.moved}
	a.sale = a.fresh(t)
	values := metaValues()
	for _, v := range values {
		var dec string
		if err := json.Unmarshal([]byte(v.json), &dec); err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if dec != v.raw && !strings.Contains(dec, "\ufffd") {
			t.Fatalf("%s: decodes to %q", v.name, dec)
		}
	}
	line := func(fields string) string {
		return fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1%s}]`, a.book, fields)
	}

	// Body fields. SALE in a path is a new PENDING sale.
	bodies := []struct {
		name, method, path, token string
		body                      func(v string) string
		echo                      string // the field the answer and the stored record return, if any
		reread                    string // "sale", "book" or "movement": read the record back
	}{
		{"customerName", "POST", "/sales", tg.user, func(v string) string { return line("") + `,"customerName":` + v + `}` }, "customerName", "sale"},
		{"customerEmail", "POST", "/sales", tg.user, func(v string) string { return line("") + `,"customerEmail":` + v + `}` }, "customerEmail", "sale"},
		{"notes", "POST", "/sales", tg.user, func(v string) string { return line("") + `,"notes":` + v + `}` }, "notes", "sale"},
		{"items.bookId", "POST", "/sales", tg.user, func(v string) string { return `{"items":[{"bookId":` + v + `,"quantity":1}]}` }, "", ""},
		{"items.discount", "POST", "/sales", tg.user, func(v string) string { return line(`,"discount":`+v) + `}` }, "", ""},
		{"discount", "POST", "/sales", tg.user, func(v string) string { return line("") + `,"discount":` + v + `}` }, "", ""},
		{"status", "PATCH", "/sales/SALE/status", tg.admin, func(v string) string { return `{"status":` + v + `}` }, "", ""},
		{"paymentMethod", "PATCH", "/sales/SALE/status", tg.admin, func(v string) string { return `{"status":"COMPLETED","paymentMethod":` + v + `}` }, "", ""},
		{"paymentReference", "PATCH", "/sales/SALE/status", tg.admin, func(v string) string {
			return `{"status":"COMPLETED","paymentMethod":"CASH","paymentReference":` + v + `}`
		}, "paymentReference", "sale"},
		{"reason (cancel)", "PATCH", "/sales/SALE/status", tg.admin, func(v string) string { return `{"status":"CANCELLED","reason":` + v + `}` }, "cancelReason", "sale"},
		{"title (create)", "POST", "/books", tg.admin, func(v string) string { return `{"title":` + v + `,"author":"A","price":"1.00"}` }, "title", "book"},
		{"author (create)", "POST", "/books", tg.admin, func(v string) string { return `{"title":"T","author":` + v + `,"price":"1.00"}` }, "author", "book"},
		{"price (create)", "POST", "/books", tg.admin, func(v string) string { return `{"title":"T","author":"A","price":` + v + `}` }, "", ""},
		{"title (patch)", "PATCH", "/books/" + a.patched, tg.admin, func(v string) string { return `{"title":` + v + `}` }, "title", "book"},
		{"author (patch)", "PATCH", "/books/" + a.patched, tg.admin, func(v string) string { return `{"author":` + v + `}` }, "author", "book"},
		{"price (patch)", "PATCH", "/books/" + a.patched, tg.admin, func(v string) string { return `{"price":` + v + `}` }, "", ""},
		{"movement reason", "POST", "/inventory/" + a.moved + "/movements", tg.admin, func(v string) string { return `{"type":"PURCHASE","quantity":1,"reason":` + v + `}` }, "reason", "movement"},
		{"movement type", "POST", "/inventory/" + a.moved + "/movements", tg.admin, func(v string) string { return `{"type":` + v + `,"quantity":1}` }, "", ""},
	}
	for _, f := range bodies {
		for _, v := range values {
			t.Run("body "+f.name+"/"+v.name, func(t *testing.T) {
				var dec string
				json.Unmarshal([]byte(v.json), &dec)
				path, extra := f.path, []string(nil)
				if strings.Contains(path, "SALE") {
					sale := a.fresh(t)
					path, extra = strings.ReplaceAll(path, "SALE", sale), []string{sale}
				}
				body := f.body(v.json)
				before := a.snap(t, extra...)
				r := a.send(t, f.method, path, f.token, body)
				what := fmt.Sprintf("%s %s %.200q", f.method, path, body)
				a.answer(t, r, what, path, body)
				if r.status >= 400 {
					unchanged(t, what, before, a.snap(t, extra...))
					return
				}
				if f.echo == "" {
					return
				}
				obj := r.obj(t)
				if got, _ := obj[f.echo].(string); got != dec {
					t.Fatalf("%s: %s is %.200q, sent %.200q", what, f.echo, got, dec)
				}
				var stored *response
				switch f.reread {
				case "sale":
					stored = tg.req(t, "GET", "/sales/"+obj["id"].(string), tg.admin, nil)
				case "book":
					stored = tg.req(t, "GET", "/books/"+obj["id"].(string), tg.admin, nil)
				case "movement":
					n := tg.total(t, "/stock-movements?limit=1&bookId="+a.moved)
					stored = tg.req(t, "GET", fmt.Sprintf("/stock-movements?limit=1&bookId=%s&page=%d", a.moved, n), tg.admin, nil)
					var page MovementPage
					stored.decode(t, &page)
					if len(page.Data) != 1 || page.Data[0].ID.String() != obj["id"] {
						t.Fatalf("%s: the last movement is %s, not %s", what, stored, obj["id"])
					}
					stored.body, _ = json.Marshal(page.Data[0])
				}
				want(t, stored, http.StatusOK, "read back")
				if got, _ := stored.obj(t)[f.echo].(string); got != dec {
					t.Fatalf("%s: stored %s is %.200q, sent %.200q", what, f.echo, got, dec)
				}
			})
		}
	}

	// Query parameters, as admin and as a user. No list has a sort parameter.
	queries := []struct{ path, param, base string }{
		{"/sales", "status", ""}, {"/sales", "sellerId", ""}, {"/sales", "startDate", ""}, {"/sales", "endDate", ""},
		{"/sales", "page", ""}, {"/sales", "limit", ""},
		{"/sales/summary", "startDate", "endDate=2025-01-31"}, {"/sales/summary", "endDate", "startDate=2025-01-01"},
		{"/stock-movements", "bookId", ""}, {"/stock-movements", "saleId", ""}, {"/stock-movements", "type", ""},
		{"/stock-movements", "page", ""}, {"/stock-movements", "limit", ""},
		{"/books", "page", ""}, {"/books", "limit", ""}, {"/inventory", "page", ""}, {"/inventory", "limit", ""},
		{"/analytics/books", "page", ""}, {"/analytics/books", "limit", ""},
	}
	for _, q := range queries {
		for _, v := range values {
			t.Run("query "+q.path+" "+q.param+"/"+v.name, func(t *testing.T) {
				vals, _ := url.ParseQuery(q.base)
				vals.Set(q.param, v.raw)
				path := q.path + "?" + vals.Encode()
				for _, token := range []string{tg.admin, tg.user} {
					r := a.send(t, "GET", path, token, "")
					a.answer(t, r, "GET "+path, path, v.raw)
					if q.param == "sellerId" && r.status == http.StatusOK {
						var p SalePage
						r.decode(t, &p)
						if p.Meta.Total != 0 {
							t.Fatalf("GET %s: %d sales of seller %q", path, p.Meta.Total, v.raw)
						}
					}
				}
			})
		}
	}

	// Path ids. Each write would change something if its id matched.
	paths := []struct{ method, path, body string }{
		{"GET", "/sales/%s", ""},
		{"PATCH", "/sales/%s/status", `{"status":"CANCELLED"}`},
		{"GET", "/books/%s", ""},
		{"PATCH", "/books/%s", `{"title":"Changed"}`},
		{"GET", "/inventory/%s", ""},
		{"POST", "/inventory/%s/movements", `{"type":"PURCHASE","quantity":1}`},
		{"GET", "/analytics/books/%s", ""},
	}
	for _, p := range paths {
		for _, v := range values {
			t.Run("path "+p.method+" "+p.path+"/"+v.name, func(t *testing.T) {
				path := fmt.Sprintf(p.path, url.PathEscape(v.raw))
				before := a.snap(t)
				r := a.send(t, p.method, path, tg.admin, p.body)
				a.answer(t, r, p.method+" "+path, path, v.raw)
				if r.status < 400 {
					t.Fatalf("%s %s: %s", p.method, path, r)
				}
				unchanged(t, p.method+" "+path, before, a.snap(t))
			})
		}
	}

	// The Idempotency-Key header of both writes that honour it.
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/sales", line("") + "}"},
		{"PATCH", "/sales/SALE/status", `{"status":"CANCELLED","reason":"r"}`},
	} {
		for _, v := range values {
			t.Run("header Idempotency-Key "+w.method+" "+w.path+"/"+v.name, func(t *testing.T) {
				path, extra := w.path, []string(nil)
				if strings.Contains(path, "SALE") {
					sale := a.fresh(t)
					path, extra = strings.ReplaceAll(path, "SALE", sale), []string{sale}
				}
				token := tg.user
				if w.method == "PATCH" {
					token = tg.admin
				}
				before := a.snap(t, extra...)
				r := a.send(t, w.method, path, token, w.body, "Idempotency-Key", v.raw)
				if r == nil {
					t.Skipf("the client refuses to send Idempotency-Key %.40q (net/http servers refuse it too)", v.raw)
				}
				what := fmt.Sprintf("%s %s with Idempotency-Key %.200q", w.method, path, v.raw)
				a.answer(t, r, what, v.raw)
				if r.status >= 400 {
					unchanged(t, what, before, a.snap(t, extra...))
					return
				}
				again := a.send(t, w.method, path, token, w.body, "Idempotency-Key", v.raw)
				if again.status != r.status || !bytes.Equal(again.body, r.body) || again.header.Get("Idempotent-Replayed") != "true" {
					t.Fatalf("%s: %s, then %s", what, r, again)
				}
				if after := a.snap(t, extra...); after.Sales != before.Sales+boolInt(w.method == "POST") {
					t.Fatalf("%s: sales %d, then %d", what, before.Sales, after.Sales)
				}
			})
		}
	}

	// The tables are all there and work.
	want(t, tg.req(t, "GET", "/sales?limit=100", tg.admin, nil), http.StatusOK, "list sales")
	want(t, tg.req(t, "GET", "/books?limit=100", tg.admin, nil), http.StatusOK, "list books")
	want(t, tg.req(t, "GET", "/stock-movements?limit=100", tg.admin, nil), http.StatusOK, "list movements")
	want(t, tg.req(t, "GET", "/inventory?limit=100", tg.admin, nil), http.StatusOK, "list stock")
	want(t, tg.req(t, "GET", "/sales/"+a.sale, tg.admin, nil), http.StatusOK, "the untouched sale")
	want(t, tg.req(t, "POST", "/sales", tg.user, line("")+"}"), http.StatusCreated, "a sale at the end")
	if n := tg.total(t, "/sales?limit=1"); n < 2 {
		t.Fatalf("%d sales at the end", n)
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// TestMetacharacters runs the metacharacter cases on the in-memory store.
func TestMetacharacters(t *testing.T) {
	t.Parallel()
	runMetacharacters(t, newTarget(t, nil, nil))
}

// TestMetacharactersPostgres runs them on PostgreSQL, where the strings
// reach SQL; no answer may name the database.
func TestMetacharactersPostgres(t *testing.T) {
	t.Parallel()
	dbURL := testkitURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	runMetacharacters(t, newTarget(t, func(o *Options) { o.DatabaseURL = dbURL }, nil), strings.TrimPrefix(u.Path, "/"))
}

// TestBodyEncoded: a body sent with a content coding is 415, whether or
// not it really is encoded, and changes nothing; identity is fine.
func TestBodyEncoded(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	book := tg.createBook(t, "1.00", 5)
	body := fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, book)
	for _, ce := range []string{"br", "gzip", "identity, gzip", "x-unknown"} {
		r := tg.req(t, "POST", "/sales", tg.user, body, "Content-Encoding", ce)
		want(t, r, http.StatusUnsupportedMediaType, "a body with Content-Encoding "+ce)
		if code := r.obj(t)["code"]; code != "unsupported_media_type" || r.header.Get("Accept-Encoding") != "identity" {
			t.Errorf("Content-Encoding %s: code %v, Accept-Encoding %q", ce, code, r.header.Get("Accept-Encoding"))
		}
	}
	if r := tg.req(t, "GET", "/sales", tg.admin, nil); !strings.Contains(string(r.body), `"total":0`) {
		t.Errorf("sales after the refused creates: %s", r.body)
	}
	want(t, tg.req(t, "POST", "/sales", tg.user, body, "Content-Encoding", "Identity"), http.StatusCreated, "Content-Encoding: identity")
}

// TestBodyNotJSON: a body of another media type is 415, saying what to
// send.
func TestBodyNotJSON(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	book := tg.createBook(t, "1.00", 5)
	body := fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, book)
	for _, ct := range []string{"text/plain", "application/xml", "application/x-www-form-urlencoded"} {
		r := tg.req(t, "POST", "/sales", tg.user, body, "Content-Type", ct)
		want(t, r, http.StatusUnsupportedMediaType, "a body sent as "+ct)
		if p := r.obj(t); p["code"] != "unsupported_media_type" || !strings.Contains(fmt.Sprint(p["detail"]), "application/json") {
			t.Errorf("Content-Type %s: %s", ct, r.body)
		}
	}
}

// TestBodyNotUTF8: a body that is not UTF-8 is refused with a 400 before
// any decoding, rather than stored with U+FFFD where the client sent
// other bytes.
func TestBodyNotUTF8(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	book := tg.createBook(t, "1.00", 5)
	before := string(tg.req(t, "GET", "/books/"+book, tg.admin, nil).body)
	a := &abuse{tg: tg}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/sales", fmt.Sprintf("{\"notes\":\"a\xff\xfeb\",\"items\":[{\"bookId\":%q,\"quantity\":1}]}", book)},
		{"POST", "/books", "{\"title\":\"\xc3\x28\",\"author\":\"A\",\"price\":\"1.00\"}"},
		{"PATCH", "/books/" + book, "{\"title\":\"\xed\xa0\x80\"}"}, // an encoded surrogate
	} {
		r := a.send(t, c.method, c.path, tg.admin, c.body)
		want(t, r, http.StatusBadRequest, c.method+" "+c.path+" with bytes that are not UTF-8")
		if code := r.obj(t)["code"]; code != "malformed" {
			t.Errorf("%s %s: code %v; want malformed", c.method, c.path, code)
		}
	}
	if r := tg.req(t, "GET", "/sales", tg.admin, nil); !strings.Contains(string(r.body), `"total":0`) {
		t.Errorf("sales after the refused create: %s", r.body)
	}
	if after := string(tg.req(t, "GET", "/books/"+book, tg.admin, nil).body); after != before {
		t.Errorf("book after the refused patch:\n%s\nwant\n%s", after, before)
	}
}
