package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/internal/harness"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// TestOpenAPIGolden makes every change of the API visible in review:
// go test ./examples/server -run TestOpenAPIGolden -update rewrites it.
func TestOpenAPIGolden(t *testing.T) {
	t.Parallel()
	got, err := openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/openapi.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the OpenAPI document changed; review and run with -update:\n%s", firstDiff(string(want), string(got)))
	}
	var doc struct {
		OpenAPI    string
		Components struct {
			SecuritySchemes map[string]struct{ Type, Scheme string }
		}
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Components.SecuritySchemes["bearer"].Scheme != "bearer" {
		t.Fatalf("openapi %q, security %+v", doc.OpenAPI, doc.Components.SecuritySchemes)
	}
	for _, p := range []string{"/sales", "/sales/{id}", "/sales/{id}/status", "/sales/summary", "/books", "/books/{id}",
		"/inventory", "/inventory/{bookId}", "/inventory/{bookId}/movements", "/stock-movements", "/analytics/books",
		"/analytics/books/{bookId}", "/healthz", "/readyz"} {
		if doc.Paths[p] == nil {
			t.Errorf("no path %s in the document", p)
		}
	}

	// The openapi command prints the same document, and the server serves it.
	var out bytes.Buffer
	if err := (&Main{Stdout: &out, Stderr: io.Discard}).OpenAPI(); err != nil || !bytes.Equal(out.Bytes(), got) {
		t.Fatalf("openapi command: %v", err)
	}
	tg := newTarget(t, nil, nil)
	r := tg.req(t, "GET", "/openapi.json", "", nil)
	var served map[string]any
	if r.status != http.StatusOK || json.Unmarshal(r.body, &served) != nil || served["openapi"] != "3.1.0" {
		t.Fatalf("/openapi.json: %d", r.status)
	}
	if r := tg.req(t, "GET", "/docs", "", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), "openapi") {
		t.Fatalf("/docs: %d", r.status)
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, x, y)
		}
	}
	return ""
}

// TestSaleViewMatchesEvent: the API's sale is byte for byte the JSON the
// sale events carry.
func TestSaleViewMatchesEvent(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 4, 5, 6, 7, 8000, time.UTC)
	for _, s := range []*sales.Sale{
		{ID: uuid.New(), Status: sales.StatusPending, Version: 1, SellerID: "u", Currency: sales.USD, CreatedAt: now, UpdatedAt: now,
			Lines: []sales.Line{{BookID: uuid.New(), Quantity: 2, UnitPrice: 2999, Discount: 100, Subtotal: 5898}}, Subtotal: 5898, Total: 5898},
		{ID: uuid.New(), Status: sales.StatusCancelled, Version: 3, SellerID: "u", CustomerName: "Ana", CustomerEmail: "a@b.c", Notes: "n",
			Currency: sales.USD, PaymentMethod: sales.PaymentCash, PaymentReference: "r", PaidAt: now, CancelledAt: now, CancelReason: "x",
			CreatedAt: now, UpdatedAt: now, Lines: []sales.Line{}, Discount: 5, Tax: 7},
	} {
		want, _ := json.Marshal(s)
		got, _ := json.Marshal(newSale(s))
		if !bytes.Equal(got, want) {
			t.Fatalf("view:\n%s\nevent:\n%s", got, want)
		}
	}
}

func TestProblemFor(t *testing.T) {
	t.Parallel()
	var logs harness.SyncBuffer
	ctx := context.WithValue(context.Background(), reqInfoKey{}, &reqInfo{id: "req-42", log: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{&sales.InvalidError{Field: "items[0].quantity", Reason: "must be positive"}, 422, codeInvalid},
		{fmt.Errorf("wrapped: %w", sales.ErrInvalid), 422, codeInvalid},
		{fmt.Errorf("x: %w", sales.ErrUnknownBook), 422, codeUnknownBook},
		{fmt.Errorf("x: %w", sales.ErrBookUnavailable), 422, codeBookUnavailable},
		{&sales.StockError{BookID: "b", Requested: 3}, 409, codeInsufficient},
		{fmt.Errorf("x: %w", inventory.ErrInsufficientStock), 409, codeInsufficient},
		{fmt.Errorf("x: %w", sales.ErrIllegalTransition), 409, codeIllegalMove},
		{fmt.Errorf("x: %w", sales.ErrKeyInFlight), 409, codeKeyInFlight},
		{fmt.Errorf("x: %w", sales.ErrKeyReused), 422, codeKeyReused},
		{fmt.Errorf("x: %w", sales.ErrNotFound), 404, codeNotFound},
		{fmt.Errorf("x: %w", inventory.ErrNotFound), 404, codeNotFound},
		{errors.New("pq: connection to 10.0.0.7 refused, password=hunter2"), 500, codeInternal},
	} {
		p := problemFor(ctx, tc.err)
		if p.Status != tc.status || p.Code != tc.code || p.Title != http.StatusText(tc.status) {
			t.Errorf("%v: got %d %s, want %d %s", tc.err, p.Status, p.Code, tc.status, tc.code)
		}
		if tc.status == 500 && strings.Contains(p.Detail+fmt.Sprint(p.Errors), "hunter2") {
			t.Errorf("500 leaks the error: %+v", p)
		}
	}
	if p := problemFor(ctx, &sales.InvalidError{Field: "f", Reason: "r"}); len(p.Errors) != 1 || p.Errors[0].Location != "f" || p.Errors[0].Message != "r" {
		t.Errorf("invalid error details: %+v", p.Errors)
	}
	// Where the field was, as Huma says it of the fields it judges.
	for _, tc := range []struct{ route, field, want string }{
		{"POST /sales", "items[0].discount", "body.items[0].discount"},
		{"POST /sales", "Idempotency-Key", "header.Idempotency-Key"},
		{"PATCH /sales/{id}/status", "id", "path.id"},
		{"GET /sales/summary", "startDate", "query.startDate"},
		{"GET /sales/{id}", "id", "path.id"},
		{"GET /inventory/{bookId}", "bookId", "path.bookId"},
		{"POST /inventory/{bookId}/movements", "bookId", "path.bookId"},
		{"POST /inventory/{bookId}/movements", "quantity", "body.quantity"},
		{"GET /analytics/books/{bookId}", "bookId", "path.bookId"},
	} {
		ctx := context.WithValue(ctx, reqInfoKey{}, &reqInfo{id: "req-43", route: tc.route, log: slog.New(slog.DiscardHandler)})
		if p := problemFor(ctx, &sales.InvalidError{Field: tc.field, Reason: "r"}); p.Errors[0].Location != tc.want {
			t.Errorf("%s, field %s: location %q; want %q", tc.route, tc.field, p.Errors[0].Location, tc.want)
		}
	}
	// The unexpected error is logged once, with the request id.
	if n := strings.Count(logs.String(), "hunter2"); n != 1 || !strings.Contains(logs.String(), "request_id=req-42") {
		t.Errorf("log (%d mentions):\n%s", n, logs.String())
	}
}

// TestInternalErrorHidden breaks the database under a running server: the
// client gets a bare 500 with the request id, the log has the error once.
func TestInternalErrorHidden(t *testing.T) {
	t.Parallel()
	url := testkitURL(t)
	var logs harness.SyncBuffer
	tg := newTarget(t, func(o *Options) { o.DatabaseURL = url }, &logs)
	tg.app.pg.Close()
	r := tg.req(t, "GET", "/books", tg.admin, nil, "X-Request-Id", "broken-db-1")
	want(t, r, http.StatusInternalServerError, "books on a closed database")
	p := r.obj(t)
	if p["requestId"] != "broken-db-1" || strings.Contains(strings.ToLower(string(r.body)), "closed") || p["errors"] != nil {
		t.Fatalf("500 body: %s", r.body)
	}
	lines := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=ERROR") && strings.Contains(l, "request_id=broken-db-1") {
			lines++
		}
	}
	if lines != 1 {
		t.Fatalf("%d error lines for the request, want 1:\n%s", lines, logs.String())
	}
	want(t, tg.req(t, "GET", "/readyz", "", nil), http.StatusServiceUnavailable, "readyz on a closed database")
}

// TestDatabaseOutage cuts the server's database off (new connections
// refused, open ones terminated, as in a PostgreSQL restart): requests get
// a 503 problem with Retry-After and nothing about the database, a retry
// with the same Idempotency-Key after the outage creates the sale once.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	url := testkitURL(t)
	var logs harness.SyncBuffer
	tg := newTarget(t, func(o *Options) { o.DatabaseURL = url }, &logs)
	book := tg.createBook(t, "2.50", 5)
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	name := cc.Database
	// The same server, another database: this one is about to refuse us.
	server := cc.Copy()
	server.Database = "postgres"
	admin, err := pgx.ConnectConfig(t.Context(), server)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	ident := pgx.Identifier{name}.Sanitize()
	cut := func(allow bool) {
		t.Helper()
		if _, err := admin.Exec(t.Context(), fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", ident, allow)); err != nil {
			t.Fatal(err)
		}
		if !allow {
			if _, err := admin.Exec(t.Context(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
				t.Fatal(err)
			}
		}
	}
	cut(false)
	defer cut(true)
	sale := map[string]any{"items": []map[string]any{{"bookId": book, "quantity": 2}}}
	for i, call := range []func() *response{
		func() *response { return tg.req(t, "POST", "/sales", tg.user, sale, "Idempotency-Key", "outage-1") },
		func() *response { return tg.req(t, "GET", "/books", tg.admin, nil) },
		func() *response {
			return tg.req(t, "GET", "/sales/summary?startDate=2026-01-01&endDate=2026-01-31", tg.admin, nil)
		},
	} {
		r := call()
		want(t, r, http.StatusServiceUnavailable, fmt.Sprintf("request %d during the outage", i))
		if r.header.Get("Retry-After") != "1" || r.obj(t)["code"] != "unavailable" {
			t.Errorf("request %d: Retry-After %q, body %s", i, r.header.Get("Retry-After"), r.body)
		}
		if body := string(r.body); strings.Contains(body, name) || strings.Contains(body, "SQLSTATE") || strings.Contains(body, "5432") {
			t.Errorf("request %d leaks the database: %s", i, body)
		}
	}
	if strings.Contains(logs.String(), "unexpected error") {
		t.Errorf("an outage is not an internal error; log:\n%s", logs.String())
	}
	cut(true)
	var id string
	for range 2 { // the retry, and a retry of the retry, give one sale
		r := tg.req(t, "POST", "/sales", tg.user, sale, "Idempotency-Key", "outage-1")
		want(t, r, http.StatusCreated, "the retry after the outage")
		if got := r.obj(t)["id"].(string); id != "" && got != id {
			t.Fatalf("two sales for one key: %s, %s", id, got)
		} else {
			id = got
		}
	}
	if _, reserved, _ := tg.stock(t, book); reserved != 2 {
		t.Fatalf("reserved %d after the outage; want 2", reserved)
	}
}

func TestRequestIDAndMetrics(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	r := tg.req(t, "GET", "/healthz", "", nil, "X-Request-Id", "abc-123")
	if r.status != 200 || r.header.Get("X-Request-Id") != "abc-123" {
		t.Fatalf("healthz: %s, id %q", r, r.header.Get("X-Request-Id"))
	}
	r = tg.req(t, "GET", "/healthz", "", nil, "X-Request-Id", "bad id with spaces")
	if id := r.header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Fatalf("generated id %q", id)
	}
	tg.createBook(t, "1.00", 1)
	want(t, tg.req(t, "GET", "/readyz", "", nil), http.StatusOK, "readyz")
	r = tg.req(t, "GET", "/metrics", "", nil)
	for _, re := range []string{
		`salesflow_http_request_duration_seconds_count\{route="POST /books",status="201"\} 1`,
		`salesflow_outbox_backlog \d`, `salesflow_outbox_oldest_age_seconds \d`, `salesflow_outbox_published_total \d`,
		`go_goroutines \d`,
	} {
		if !regexp.MustCompile(re).Match(r.body) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
}

// TestServeEmbedded runs the serve command with no configuration: the first
// log line names the embedded default, an admin token is printed, and the
// API answers it; cancelling shuts down cleanly.
func TestServeEmbedded(t *testing.T) {
	t.Parallel()
	var stdout, stderr harness.SyncBuffer
	m := &Main{Stdout: &stdout, Stderr: &stderr}
	o := testOptions()
	o.JWTSecret = ""
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, o) }()
	var addr string
	eventually(t, "the listening line", func() bool {
		if m := regexp.MustCompile(`msg=listening addr=\S*:(\d+)`).FindStringSubmatch(stderr.String()); m != nil {
			addr = "http://127.0.0.1:" + m[1]
			return strings.Contains(stdout.String(), "export TOKEN=")
		}
		return false
	})
	first, _, _ := strings.Cut(stderr.String(), "\n")
	if !strings.Contains(first, "embedded default: in-memory store and in-memory bus") {
		t.Fatalf("first log line: %s", first)
	}
	token := strings.TrimSpace(strings.TrimPrefix(stdout.String(), "export TOKEN="))
	tg := &target{url: addr}
	want(t, tg.req(t, "POST", "/books", token, `{"title":"T","author":"A","price":"1.50","stock":3}`), http.StatusCreated, "printed admin token")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Fatalf("no orderly stop:\n%s", stderr.String())
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*Options)
	}{
		{"bad tax rate", func(o *Options) { o.TaxRate = "19%" }},
		{"tax rate above 1", func(o *Options) { o.TaxRate = "1.5" }},
		{"bad currency", func(o *Options) { o.Currency = "usd" }},
		{"bad time zone", func(o *Options) { o.TimeZone = "Mars/Olympus" }},
		{"short secret", func(o *Options) { o.JWTSecret = "short" }},
		{"secret and key", func(o *Options) { o.JWTPublicKeyFile = "/nonexistent" }},
		{"missing key file", func(o *Options) { o.JWTSecret, o.JWTPublicKeyFile = "", "/nonexistent" }},
		{"private key alone", func(o *Options) { o.JWTSecret, o.JWTPrivateKeyFile = "", "/nonexistent" }},
		{"port", func(o *Options) { o.Port = 70000 }},
		{"partitions", func(o *Options) { o.KafkaPartitions = 0 }},
		{"no group", func(o *Options) { o.ConsumerGroup = "" }},
		{"worker transactions", func(o *Options) { o.WorkerTxs = -1 }},
		{"negative created wait", func(o *Options) { o.WorkerCreatedWait = -time.Millisecond }},
		{"created wait above 1s", func(o *Options) { o.WorkerCreatedWait = 2 * time.Second }},
		{"negative relay linger", func(o *Options) { o.RelayLinger = -time.Millisecond }},
		{"relay linger above 1s", func(o *Options) { o.RelayLinger = 2 * time.Second }},
	} {
		o := testOptions()
		tc.edit(&o)
		if _, err := o.Config(true); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	o := testOptions()
	o.TaxRate, o.Currency, o.TimeZone, o.KafkaBrokers = "0.19", "JPY", "Europe/Berlin", " a:9092, b:9092 ,"
	c, err := o.Config(false)
	if err != nil || c.Currency.Code() != "JPY" || c.Location.String() != "Europe/Berlin" || len(c.KafkaBrokers) != 2 {
		t.Fatalf("config %+v: %v", c, err)
	}
	if msg, _ := c.describe(); !strings.Contains(msg, "kafka") {
		t.Errorf("describe: %s", msg)
	}
	if _, err := (Options{LogLevel: "loud", LogFormat: "text"}).newLogger(io.Discard); err == nil {
		t.Error("bad log level accepted")
	}
}

// TestEnvBridge: PORT reaches humacli as SERVICE_PORT; a bad number fails.
func TestEnvBridge(t *testing.T) {
	t.Setenv("PORT", "9999")
	t.Setenv("DATABASE_URL", "postgres://x@y/z")
	t.Setenv("SERVICE_PORT", "")
	os.Unsetenv("SERVICE_PORT")
	os.Unsetenv("SERVICE_DATABASE_URL")
	t.Cleanup(func() { os.Unsetenv("SERVICE_PORT"); os.Unsetenv("SERVICE_DATABASE_URL") })
	if err := bridgeEnv(); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SERVICE_PORT") != "9999" || os.Getenv("SERVICE_DATABASE_URL") != "postgres://x@y/z" {
		t.Fatalf("SERVICE_PORT %q", os.Getenv("SERVICE_PORT"))
	}
	t.Setenv("PORT", "eighty")
	if err := bridgeEnv(); err == nil {
		t.Fatal("PORT=eighty accepted")
	}
	t.Setenv("PORT", "8080")
	t.Setenv("SHUTDOWN_TIMEOUT", "soon")
	if err := bridgeEnv(); err == nil {
		t.Fatal("SHUTDOWN_TIMEOUT=soon accepted")
	}
	if got := EnvVars(); got[0] != "PORT" || got[1] != "DATABASE_URL" || got[2] != "KAFKA_BROKERS" {
		t.Fatalf("EnvVars %v", got)
	}
}

func TestClientText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"json: cannot unmarshal number 1e400 into Go value of type float64":                       "a JSON number (1e400) is of the wrong type or out of range",
		"json: cannot unmarshal string into Go struct field NewLine.items.quantity of type int64": "items.quantity: a JSON string is of the wrong type or out of range",
		"unexpected end of JSON input": "unexpected end of JSON input",
	} {
		if got := clientText(in); got != want {
			t.Errorf("clientText(%q) = %q, want %q", in, got, want)
		}
	}
}
