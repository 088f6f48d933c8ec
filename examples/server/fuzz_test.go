package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Fuzz targets for every decoder of client input. Each sends the input
// through the whole HTTP stack of an in-memory server and asserts that no
// input is answered with a 5xx, and that every error is a problem
// document. Seed corpora live in testdata/fuzz; "BOOK" and "SALE" in an
// input are replaced with ids that exist.

var (
	fuzzOnce   sync.Once
	fuzzTarget *target
	fuzzBook   string
)

func fuzzEnv(f *testing.F) (*target, string) {
	fuzzOnce.Do(func() {
		fuzzTarget = newTarget(&noCleanup{f}, nil, nil)
		fuzzBook = fuzzTarget.createBook(f, "19.99", 1_000_000)
	})
	return fuzzTarget, fuzzBook
}

// noCleanup keeps the shared fuzz server alive across fuzz targets.
type noCleanup struct{ testing.TB }

func (noCleanup) Cleanup(func()) {}

// send posts raw input and checks the answer.
func fuzzSend(t *testing.T, tg *target, method, path, token string, body []byte) *response {
	req, err := http.NewRequest(method, tg.url+path, bytes.NewReader(body))
	if err != nil {
		t.Skip("not a request a client can send:", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := tg.client.Do(req)
	if err != nil {
		t.Skip("the client refuses to send it:", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := &response{status: res.StatusCode, header: res.Header, body: b}
	if r.status >= 500 {
		t.Fatalf("%s %s %q: %s", method, path, body, r)
	}
	if r.status >= 400 {
		wantProblem(t, r, fmt.Sprintf("%s %s %q", method, path, body))
	}
	return r
}

func ids(b []byte, book, sale string) []byte {
	b = bytes.ReplaceAll(b, []byte("BOOK"), []byte(book))
	return bytes.ReplaceAll(b, []byte("SALE"), []byte(sale))
}

func FuzzCreateSale(f *testing.F) {
	tg, book := fuzzEnv(f)
	f.Add([]byte(`{"items":[{"bookId":"BOOK","quantity":1}]}`))
	f.Add([]byte(`{"customerName":"Ana","customerEmail":"ana@example.com","items":[{"bookId":"BOOK","quantity":2,"discount":"1.00"}],"discount":0.5,"notes":"n"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzSend(t, tg, "POST", "/sales", tg.user, ids(body, book, ""))
	})
}

func FuzzCreateBook(f *testing.F) {
	tg, _ := fuzzEnv(f)
	f.Add([]byte(`{"title":"Dune","author":"Frank Herbert","price":"29.99","stock":10}`))
	f.Add([]byte(`{"title":"T","author":"A","price":3,"available":false,"minStock":2}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzSend(t, tg, "POST", "/books", tg.admin, body)
	})
}

func FuzzStatusChange(f *testing.F) {
	tg, book := fuzzEnv(f)
	f.Add([]byte(`{"status":"COMPLETED","paymentMethod":"CASH"}`))
	f.Add([]byte(`{"status":"CANCELLED","reason":"r"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := fuzzSend(t, tg, "POST", "/sales", tg.user, []byte(fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, book)))
		sale := r.obj(t)["id"].(string)
		fuzzSend(t, tg, "PATCH", "/sales/"+sale+"/status", tg.admin, ids(body, book, sale))
	})
}

func FuzzMovement(f *testing.F) {
	tg, book := fuzzEnv(f)
	f.Add([]byte(`{"type":"PURCHASE","quantity":5,"reason":"restock"}`))
	f.Add([]byte(`{"type":"ADJUSTMENT","quantity":-1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzSend(t, tg, "POST", "/inventory/"+book+"/movements", tg.admin, body)
	})
}

func FuzzQuery(f *testing.F) {
	tg, book := fuzzEnv(f)
	paths := []string{"/sales", "/sales/summary", "/stock-movements", "/books", "/inventory", "/analytics/books"}
	f.Add(uint8(0), "status=PENDING&page=2&limit=5&startDate=2025-01-01&endDate=2025-01-31")
	f.Add(uint8(1), "startDate=2025-01-01T00:00:00Z&endDate=2025-01-02")
	f.Add(uint8(2), "bookId=BOOK&type=SALE&page=1")
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		// A request line with a space or a control character is not HTTP:
		// net/http answers it with a plain 400 before any handler runs.
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }) {
			t.Skip()
		}
		path := paths[int(which)%len(paths)] + "?" + string(ids([]byte(query), book, ""))
		for _, token := range []string{tg.admin, tg.user} {
			fuzzSend(t, tg, "GET", path, token, nil)
		}
	})
}
