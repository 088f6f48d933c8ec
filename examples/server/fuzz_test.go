package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// Fuzz targets for every decoder of client input. Each sends the input
// through the whole HTTP stack of an in-memory server and asserts that no
// input is answered with a 5xx, that every error is a problem document
// without internal text, and that a refused write changes nothing. Seed
// corpora live in testdata/fuzz; TestFuzzSeedsPostgres replays them on
// PostgreSQL. "BOOK" and "SALE" in an input are replaced with ids that exist.

// fuzzEnv is a server and the records the fuzz targets use.
type fuzzEnv struct {
	tg      *target
	book    string   // 1,000,000 units: the book of the fuzzed sales and movements
	other   string   // the book FuzzUpdateBook patches
	sale    string   // a PENDING sale of tg.user that no input may change
	secrets []string // text no answer may hold, such as the database name
	last    *state   // the state after the last refused write, while no write has been accepted since
}

// newFuzzEnv adds the fuzz targets' book, other book and sale to tg.
func newFuzzEnv(t testing.TB, tg *target, secrets ...string) *fuzzEnv {
	e := &fuzzEnv{tg: tg, book: tg.createBook(t, "19.99", 1_000_000), other: tg.createBook(t, "5.00", 0), secrets: secrets}
	r := tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"customerName":"Seed","items":[{"bookId":%q,"quantity":1}]}`, e.book))
	want(t, r, http.StatusCreated, "the fuzz sale")
	e.sale = r.obj(t)["id"].(string)
	return e
}

var (
	fuzzOnce   sync.Once
	fuzzShared *fuzzEnv
)

// sharedFuzzEnv is the in-memory environment of every fuzz target of this
// process.
func sharedFuzzEnv(f *testing.F) *fuzzEnv {
	fuzzOnce.Do(func() { fuzzShared = newFuzzEnv(f, newTarget(&noCleanup{f}, nil, nil)) })
	return fuzzShared
}

// noCleanup keeps the shared fuzz server alive across fuzz targets.
type noCleanup struct{ testing.TB }

func (noCleanup) Cleanup(func()) {}

// leakMarks are internal texts no answer may hold.
var leakMarks = []string{"sqlstate", "pgx", "pgconn", "postgres", "runtime/", "goroutine", ".go:", "salesflow_test_"}

// leak returns the first internal text in body, a problem document, that
// the request did not itself send (Huma echoes bad query and path values),
// or "". The random request id is not searched.
func leak(body []byte, secrets []string, sent ...string) string {
	var p Problem
	if json.Unmarshal(body, &p) == nil && p.RequestID != "" {
		body = bytes.ReplaceAll(body, []byte(p.RequestID), nil)
	}
	low := strings.ToLower(string(body))
	in := strings.ToLower(strings.Join(sent, "\x00"))
	for _, m := range append(append([]string(nil), leakMarks...), secrets...) {
		if m = strings.ToLower(m); strings.Contains(low, m) && !strings.Contains(in, m) {
			return m
		}
	}
	return ""
}

// do sends a request and checks the answer: no 5xx, and an error is a
// problem document that leaks nothing. It returns nil for a request the
// client cannot send. hdr holds header name, value pairs.
func (e *fuzzEnv) do(t *testing.T, method, path, token string, body []byte, hdr ...string) *response {
	t.Helper()
	r := e.tg.raw(t, method, path, token, body, hdr...)
	if r == nil {
		return nil
	}
	what := fmt.Sprintf("%s %s %q %q", method, path, body, hdr)
	if r.status >= 500 {
		t.Fatalf("%s: %s", what, r)
	}
	if r.status >= 400 {
		wantProblem(t, r, what)
		if m := leak(r.body, e.secrets, append([]string{path, string(body)}, hdr...)...); m != "" {
			t.Fatalf("%s: the answer holds %q: %s", what, m, r)
		}
	}
	return r
}

// send is do for an input that must be sendable: others are skipped.
func (e *fuzzEnv) send(t *testing.T, method, path, token string, body []byte, hdr ...string) *response {
	t.Helper()
	r := e.do(t, method, path, token, body, hdr...)
	if r == nil {
		t.Skip("not a request a client can send")
	}
	return r
}

// state is what a refused write must leave as it was. The sale-event
// worker changes none of it: it only adds SALE and RETURN movements, which
// are not counted, and applies a completion to onHand and reserved alike,
// which keeps available. (No state check runs across a return.)
type state struct {
	Sales, Books, Manual int64    // sales, books, and PURCHASE, ADJUSTMENT, DAMAGE and LOSS movements
	Watched              []string // the watched books and sales, one line each
}

// total returns the meta.total of a list, read through the API.
func (tg *target) total(t testing.TB, path string) int64 {
	t.Helper()
	r := tg.req(t, "GET", path, tg.admin, nil)
	want(t, r, http.StatusOK, path)
	var p struct{ Meta PageMeta }
	r.decode(t, &p)
	return p.Meta.Total
}

// snapshot reads the counts, every field of books with their available
// and minimum stock, and the status and version of sales. It reads the
// services the API calls, in this process: an HTTP snapshot costs ten
// times more, which a fuzz run cannot afford.
func (tg *target) snapshot(t testing.TB, books, saleIDs []string) state {
	t.Helper()
	if tg.app == nil {
		t.Fatal("a snapshot needs a server in this process")
	}
	ctx, a := context.Background(), tg.app
	check := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatalf("snapshot: %v", err)
		}
	}
	page, err := a.sales.List(ctx, sales.Filter{Page: 1, Limit: 1})
	check(err)
	_, nBooks, err := a.inv.Books(ctx, inventory.PageQuery{Page: 1, Limit: 1})
	check(err)
	s := state{Sales: page.Total, Books: nBooks}
	for _, typ := range []inventory.MovementType{inventory.Purchase, inventory.Adjustment, inventory.Damage, inventory.Loss} {
		_, n, err := a.inv.Movements(ctx, inventory.MovementFilter{Type: typ, PageQuery: inventory.PageQuery{Page: 1, Limit: 1}})
		check(err)
		s.Manual += n
	}
	for _, id := range books {
		b, err := a.inv.Book(ctx, uuid.MustParse(id))
		check(err)
		l, err := a.inv.Level(ctx, b.ID)
		check(err)
		s.Watched = append(s.Watched, fmt.Sprintf("%+v available %d minStock %d", *b, l.Available(), l.MinStock))
	}
	for _, id := range saleIDs {
		sale, err := a.sales.Get(ctx, uuid.MustParse(id))
		check(err)
		s.Watched = append(s.Watched, fmt.Sprintf("sale %s %s version %d", id, sale.Status, sale.Version))
	}
	return s
}

// unchanged fails t if after differs from before.
func unchanged(t testing.TB, what string, before, after state) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("%s changed the store:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// snap is the fuzz environment's snapshot, with the sales in extra.
func (e *fuzzEnv) snap(t *testing.T, extra ...string) state {
	return e.tg.snapshot(t, []string{e.book, e.other}, append([]string{e.sale}, extra...))
}

// before returns the state before a write. The state after a refused
// write is kept for the next one, which halves the cost of the check: the
// worker changes nothing a snapshot holds, and every accepted write drops it.
func (e *fuzzEnv) before(t *testing.T, extra ...string) state {
	if e.last != nil && len(extra) == 0 {
		return *e.last
	}
	return e.snap(t, extra...)
}

// settle checks, when refused, that the store is as before, and keeps the
// state for the next input.
func (e *fuzzEnv) settle(t *testing.T, what string, refused bool, before state, extra ...string) {
	t.Helper()
	e.last = nil
	if !refused {
		return
	}
	after := e.snap(t, extra...)
	unchanged(t, what, before, after)
	if len(extra) == 0 {
		e.last = &after
	}
}

// write sends a write; when it is refused, the store must be as before.
// extra names sales the write must not change then.
func (e *fuzzEnv) write(t *testing.T, method, path, token string, body []byte, extra ...string) *response {
	t.Helper()
	before := e.before(t, extra...)
	r := e.send(t, method, path, token, body)
	e.settle(t, fmt.Sprintf("refused %s %s %q (%d)", method, path, body, r.status), r.status >= 400, before, extra...)
	return r
}

func (e *fuzzEnv) ids(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("BOOK"), []byte(e.book))
	return bytes.ReplaceAll(b, []byte("SALE"), []byte(e.sale))
}

// The checks of each target, shared by the fuzz targets and TestFuzzSeedsPostgres.

func (e *fuzzEnv) createSale(t *testing.T, body []byte) {
	e.write(t, "POST", "/sales", e.tg.user, e.ids(body))
}

func (e *fuzzEnv) createBook(t *testing.T, body []byte) {
	e.write(t, "POST", "/books", e.tg.admin, e.ids(body))
}

func (e *fuzzEnv) updateBook(t *testing.T, body []byte) {
	e.write(t, "PATCH", "/books/"+e.other, e.tg.admin, e.ids(body))
}

func (e *fuzzEnv) statusChange(t *testing.T, body []byte) {
	e.last = nil
	r := e.send(t, "POST", "/sales", e.tg.user, []byte(fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, e.book)))
	if r.status != http.StatusCreated {
		t.Fatalf("a sale to change: %s", r)
	}
	sale := r.obj(t)["id"].(string)
	body = e.ids(bytes.ReplaceAll(body, []byte("SALE"), []byte(sale)))
	e.write(t, "PATCH", "/sales/"+sale+"/status", e.tg.admin, body, sale)
}

func (e *fuzzEnv) movement(t *testing.T, body []byte) {
	e.write(t, "POST", "/inventory/"+e.book+"/movements", e.tg.admin, e.ids(body))
}

// fuzzQueryPaths are the lists FuzzQuery queries.
var fuzzQueryPaths = []string{"/sales", "/sales/summary", "/stock-movements", "/books", "/inventory", "/analytics/books"}

func (e *fuzzEnv) query(t *testing.T, which uint8, query string) {
	// A request line with a space or a control character is not HTTP:
	// net/http answers it with a plain 400 before any handler runs.
	if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }) {
		t.Skip("not a request line")
	}
	path := fuzzQueryPaths[int(which)%len(fuzzQueryPaths)] + "?" + string(e.ids([]byte(query)))
	for _, token := range []string{e.tg.admin, e.tg.user} {
		e.send(t, "GET", path, token, nil)
	}
}

// pathRoutes are the routes with an id in their path; a write's body would
// be accepted or refused for a reason after the id is looked up, so the
// handler runs for every id that parses.
var pathRoutes = []struct{ method, path, body string }{
	{"GET", "/sales/%s", ""},
	{"PATCH", "/sales/%s/status", `{"status":"PENDING"}`},
	{"GET", "/books/%s", ""},
	{"PATCH", "/books/%s", `{"available":true}`},
	{"GET", "/inventory/%s", ""},
	{"POST", "/inventory/%s/movements", `{"type":"LOSS","quantity":-1000000000}`},
	{"GET", "/analytics/books/%s", ""},
}

func (e *fuzzEnv) pathID(t *testing.T, id string) {
	id = string(e.ids([]byte(id)))
	segs := []string{url.PathEscape(id)}
	// The id as it is, too, when it is a path: "a/b" and "../x" route elsewhere.
	if id != segs[0] && !strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '?' || r == '#' || r == '%' }) {
		segs = append(segs, id)
	}
	before := e.before(t)
	refused := true
	for _, seg := range segs {
		for _, rt := range pathRoutes {
			path := fmt.Sprintf(rt.path, seg)
			var body []byte
			if rt.body != "" {
				body = []byte(rt.body)
			}
			r := e.do(t, rt.method, path, e.tg.admin, body)
			if r == nil {
				continue
			}
			if rt.method != "GET" && r.status < 400 {
				refused = false
			}
			if rt.method == "GET" && strings.HasPrefix(rt.path, "/sales/") {
				// The sales of the fuzz environment are all tg.user's.
				var s Sale
				if r := e.do(t, "GET", path, e.tg.user2, nil); r != nil && r.status == http.StatusOK &&
					json.Unmarshal(r.body, &s) == nil && s.SellerID != "" && s.SellerID != "user-2" {
					t.Fatalf("user2 reads another's sale at %s: %s", path, r)
				}
			}
		}
	}
	e.settle(t, fmt.Sprintf("refused writes to id %q", id), refused, before)
}

func (e *fuzzEnv) idempotencyKey(t *testing.T, key string) {
	body := []byte(fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, e.book))
	before := e.before(t)
	first := e.send(t, "POST", "/sales", e.tg.user, body, "Idempotency-Key", key)
	again := e.send(t, "POST", "/sales", e.tg.user, body, "Idempotency-Key", key)
	what := fmt.Sprintf("Idempotency-Key %q", key)
	if first.status >= 400 {
		if again.status != first.status {
			t.Fatalf("%s: first %s, then %s", what, first, again)
		}
		e.settle(t, "refused "+what, true, before)
		return
	}
	e.last = nil
	after := e.snap(t)
	switch {
	case strings.Trim(key, " \t") == "": // no key at all: two sales
		if first.status != http.StatusCreated || again.status != http.StatusCreated || after.Sales != before.Sales+2 {
			t.Fatalf("%s: %s, then %s; sales %d then %d", what, first, again, before.Sales, after.Sales)
		}
	default: // a replay, and at most one sale
		if first.status != http.StatusCreated || again.status != first.status || !bytes.Equal(again.body, first.body) ||
			again.header.Get("Idempotent-Replayed") != "true" || after.Sales > before.Sales+1 {
			t.Fatalf("%s: %s, then %s (replayed %q); sales %d then %d", what, first, again,
				again.header.Get("Idempotent-Replayed"), before.Sales, after.Sales)
		}
	}
}

func FuzzCreateSale(f *testing.F) {
	e := sharedFuzzEnv(f)
	f.Add([]byte(`{"items":[{"bookId":"BOOK","quantity":1}]}`))
	f.Add([]byte(`{"customerName":"Ana","customerEmail":"ana@example.com","items":[{"bookId":"BOOK","quantity":2,"discount":"1.00"}],"discount":0.5,"notes":"n"}`))
	f.Fuzz(e.createSale)
}

func FuzzCreateBook(f *testing.F) {
	e := sharedFuzzEnv(f)
	f.Add([]byte(`{"title":"Dune","author":"Frank Herbert","price":"29.99","stock":10}`))
	f.Add([]byte(`{"title":"T","author":"A","price":3,"available":false,"minStock":2}`))
	f.Fuzz(e.createBook)
}

func FuzzUpdateBook(f *testing.F) {
	e := sharedFuzzEnv(f)
	f.Add([]byte(`{"title":"Dune Messiah","author":"Frank Herbert","price":"9.99","available":false}`))
	f.Add([]byte(`{"price":1e2}`))
	f.Fuzz(e.updateBook)
}

func FuzzStatusChange(f *testing.F) {
	e := sharedFuzzEnv(f)
	f.Add([]byte(`{"status":"COMPLETED","paymentMethod":"CASH"}`))
	f.Add([]byte(`{"status":"CANCELLED","reason":"r"}`))
	f.Fuzz(e.statusChange)
}

func FuzzMovement(f *testing.F) {
	e := sharedFuzzEnv(f)
	f.Add([]byte(`{"type":"PURCHASE","quantity":5,"reason":"restock"}`))
	f.Add([]byte(`{"type":"ADJUSTMENT","quantity":-1}`))
	f.Fuzz(e.movement)
}

func FuzzQuery(f *testing.F) {
	e := sharedFuzzEnv(f)
	f.Add(uint8(0), "status=PENDING&page=2&limit=5&startDate=2025-01-01&endDate=2025-01-31")
	f.Add(uint8(1), "startDate=2025-01-01T00:00:00Z&endDate=2025-01-02")
	f.Add(uint8(2), "bookId=BOOK&type=SALE&page=1")
	f.Fuzz(e.query)
}

func FuzzPathID(f *testing.F) {
	e := sharedFuzzEnv(f)
	f.Add("BOOK")
	f.Add("SALE")
	f.Add("0190a5c8-6f1e-7b3a-9c2d-4e5f60718293")
	f.Fuzz(e.pathID)
}

func FuzzIdempotencyKey(f *testing.F) {
	e := sharedFuzzEnv(f)
	f.Add("order-42")
	f.Add("")
	f.Fuzz(e.idempotencyKey)
}

// fuzzChecks runs a target's checks on the arguments of a corpus file.
var fuzzChecks = map[string]func(*fuzzEnv, *testing.T, []any){
	"FuzzCreateSale":     func(e *fuzzEnv, t *testing.T, a []any) { e.createSale(t, a[0].([]byte)) },
	"FuzzCreateBook":     func(e *fuzzEnv, t *testing.T, a []any) { e.createBook(t, a[0].([]byte)) },
	"FuzzUpdateBook":     func(e *fuzzEnv, t *testing.T, a []any) { e.updateBook(t, a[0].([]byte)) },
	"FuzzStatusChange":   func(e *fuzzEnv, t *testing.T, a []any) { e.statusChange(t, a[0].([]byte)) },
	"FuzzMovement":       func(e *fuzzEnv, t *testing.T, a []any) { e.movement(t, a[0].([]byte)) },
	"FuzzQuery":          func(e *fuzzEnv, t *testing.T, a []any) { e.query(t, a[0].(uint8), a[1].(string)) },
	"FuzzPathID":         func(e *fuzzEnv, t *testing.T, a []any) { e.pathID(t, a[0].(string)) },
	"FuzzIdempotencyKey": func(e *fuzzEnv, t *testing.T, a []any) { e.idempotencyKey(t, a[0].(string)) },
}

// readCorpus parses a file of Go's fuzz corpus format: "go test fuzz v1",
// then one Go literal per argument, such as []byte("...") or uint8(3).
func readCorpus(path string) ([]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	if lines[0] != "go test fuzz v1" {
		return nil, fmt.Errorf("%s: not a corpus file", path)
	}
	var args []any
	for _, line := range lines[1:] {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		x, err := parser.ParseExpr(line)
		call, ok := x.(*ast.CallExpr)
		if err != nil || !ok || len(call.Args) != 1 {
			return nil, fmt.Errorf("%s: %q is not a literal", path, line)
		}
		typ := line[:call.Lparen-1]
		arg := line[call.Lparen : call.Rparen-1]
		var v any
		switch typ {
		case "[]byte", "string":
			s, err := strconv.Unquote(arg)
			if err != nil {
				return nil, fmt.Errorf("%s: %q: %v", path, line, err)
			}
			v = s
			if typ == "[]byte" {
				v = []byte(s)
			}
		case "byte", "uint8":
			var n uint64
			if strings.HasPrefix(arg, "'") {
				var c rune
				if c, _, _, err = strconv.UnquoteChar(arg[1:len(arg)-1], '\''); err == nil && c > 0xff {
					err = fmt.Errorf("%q is not a byte", arg)
				}
				n = uint64(c)
			} else {
				n, err = strconv.ParseUint(arg, 0, 8)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %q: %v", path, line, err)
			}
			v = uint8(n)
		default:
			return nil, fmt.Errorf("%s: type %s is not used by the fuzz targets", path, typ)
		}
		args = append(args, v)
	}
	return args, nil
}

// TestFuzzSeedsPostgres replays every seed corpus in testdata/fuzz through
// its target's checks on a PostgreSQL store, so that the fuzzed strings
// reach SQL: no 5xx, no leak, no change by a refused write.
func TestFuzzSeedsPostgres(t *testing.T) {
	t.Parallel()
	dbURL := testkitURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	e := newFuzzEnv(t, newTarget(t, func(o *Options) { o.DatabaseURL = dbURL }, nil), strings.TrimPrefix(u.Path, "/"))
	dirs, err := os.ReadDir(filepath.Join("testdata", "fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, d := range dirs {
		check, ok := fuzzChecks[d.Name()]
		if !ok {
			t.Errorf("testdata/fuzz/%s: no such fuzz target", d.Name())
			continue
		}
		files, err := os.ReadDir(filepath.Join("testdata", "fuzz", d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			args, err := readCorpus(filepath.Join("testdata", "fuzz", d.Name(), f.Name()))
			if err != nil {
				t.Error(err)
				continue
			}
			seen[d.Name()]++
			t.Run(d.Name()+"/"+f.Name(), func(t *testing.T) { check(e, t, args) })
		}
	}
	for name := range fuzzChecks {
		if seen[name] == 0 {
			t.Errorf("%s has no seed corpus in testdata/fuzz/%s", name, name)
		}
	}
	// The tables are still there and work.
	r := e.tg.req(t, "GET", "/sales?limit=100", e.tg.admin, nil)
	want(t, r, http.StatusOK, "list sales after the seeds")
	want(t, e.tg.req(t, "POST", "/sales", e.tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, e.book)), http.StatusCreated, "a sale after the seeds")
}
