package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/salesflow/salesflow/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testSecret signs the tests' tokens.
const testSecret = "salesflow-test-secret-0123456789abcdef"

// testOptions are the defaults of Options, with a known secret.
func testOptions() Options {
	return Options{
		Port: 0, KafkaPartitions: 3, KafkaReplication: -1, JWTSecret: testSecret, TaxRate: "0", Currency: "USD",
		TimeZone: "UTC", ConsumerGroup: "analytics-group", LogLevel: "info", LogFormat: "text", ShutdownTimeout: 5 * time.Second,
		KafkaSession: 10 * time.Second, EventRetention: 168 * time.Hour, WorkerTxs: 4,
	}
}

// target is a running API the HTTP suites talk to: an App of this process
// or a deployment named by SALESFLOW_API_URL.
type target struct {
	url                string
	admin, user, user2 string // tokens: an admin, a user, another user
	userSub            string // the user's subject
	worker             bool   // events are applied: stock on hand, movements and analytics follow sales
	app                *App   // nil for a deployment
	client             *http.Client
}

// newTarget runs an App in serve mode on an httptest server, configured by
// testOptions as changed by edit; the log goes to logs when not nil.
func newTarget(t testing.TB, edit func(*Options), logs io.Writer) *target {
	t.Helper()
	o := testOptions()
	if edit != nil {
		edit(&o)
	}
	cfg, err := o.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if logs != nil {
		log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	app, err := Open(ctx, cfg, serveMode, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	stop := app.Start(context.Background())
	t.Cleanup(stop)
	hs := httptest.NewServer(app.Handler())
	t.Cleanup(hs.Close)
	sign := func(sub string, r Role) string {
		if !cfg.Auth.CanSign() {
			return ""
		}
		tok, err := cfg.Auth.Sign(Principal{Subject: sub, Role: r}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return &target{
		url: hs.URL, admin: sign("admin-1", RoleAdmin), user: sign("user-1", RoleUser), user2: sign("user-2", RoleUser),
		userSub: "user-1", worker: app.work.Handler != nil, app: app, client: hs.Client(),
	}
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string {
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// decode reads the body as JSON into v.
func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// obj returns the body as a JSON object.
func (r *response) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	return m
}

// req sends a request; body is a string, []byte or a value to encode as
// JSON. hdr holds extra header name, value pairs.
func (tg *target) req(t testing.TB, method, path, token string, body any, hdr ...string) *response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, tg.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r := tg.do(t, req, hdr...)
	if r == nil {
		t.Fatalf("%s %s: the client refused to send the request", method, path)
	}
	return r
}

// raw sends body as it is (an empty body as none), with hdr as header name,
// value pairs; it returns nil when the client refuses to send the request
// (an invalid method, path or header).
func (tg *target) raw(t testing.TB, method, path, token string, body []byte, hdr ...string) *response {
	t.Helper()
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, tg.url+path, rd)
	if err != nil {
		return nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	return tg.do(t, req, hdr...)
}

// do adds hdr (name, value pairs) to req, sends it and reads the answer. It
// returns nil when the client refuses to send req, and fails t when the
// connection fails or the server drops it: a server that died must not
// pass for an input the client would not send.
func (tg *target) do(t testing.TB, req *http.Request, hdr ...string) *response {
	t.Helper()
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := tg.client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
		return nil
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

// want checks the status of r, and that an error is a problem document.
func want(t testing.TB, r *response, status int, what string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: got %s, want %d", what, r, status)
	}
	if status >= 400 {
		wantProblem(t, r, what)
	}
}

// wantProblem checks that r is an RFC 9457 problem with its status.
func wantProblem(t testing.TB, r *response, what string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: content type %q, want application/problem+json (%s)", what, ct, r)
	}
	var p Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("%s: not a problem document: %v (%s)", what, err, r)
	}
	if p.Status != r.status || p.Title == "" {
		t.Fatalf("%s: problem status %d title %q, response %d", what, p.Status, p.Title, r.status)
	}
	text := p.Title + "\n" + p.Detail
	for _, e := range p.Errors {
		text += "\n" + e.Message
	}
	low := strings.ToLower(text)
	for _, m := range []string{"go value of type", "go struct field", "github.com/", ".go:", "goroutine", "pgx", "pgconn", "sqlstate", "franz"} {
		if strings.Contains(low, m) {
			t.Fatalf("%s: problem holds internal text %q: %s", what, m, r)
		}
	}
}

// eventually polls cond until it holds or 15 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createBook adds a book as admin and returns its id.
func (tg *target) createBook(t testing.TB, price string, stock int) string {
	t.Helper()
	r := tg.req(t, "POST", "/books", tg.admin, fmt.Sprintf(`{"title":"Book %d","author":"A. Writer","price":%q,"stock":%d}`, time.Now().UnixNano(), price, stock))
	want(t, r, http.StatusCreated, "create book")
	return r.obj(t)["id"].(string)
}

// stock returns a book's onHand, reserved and available.
func (tg *target) stock(t testing.TB, bookID string) (onHand, reserved, available int) {
	t.Helper()
	r := tg.req(t, "GET", "/inventory/"+bookID, tg.admin, nil)
	want(t, r, http.StatusOK, "get stock")
	var l StockLevel
	r.decode(t, &l)
	return int(l.OnHand), int(l.Reserved), int(l.Available)
}

// testkitURL returns a fresh PostgreSQL database for t (see testkit).
func testkitURL(t *testing.T) string { return testkit.PostgresURL(t) }
