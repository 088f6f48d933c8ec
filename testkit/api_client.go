package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-retryablehttp"
)

// apiEnv is what the cases of one APICases call share: the harness and one
// HTTP client.
type apiEnv struct {
	h      APIHarness
	base   string
	wait   time.Duration
	client *retryablehttp.Client
}

// Bounds of the API suite's client.
const (
	apiRequestTimeout = 30 * time.Second // one attempt
	apiRetryWaitMin   = 50 * time.Millisecond
	apiRetryWaitMax   = time.Second
	apiMaxBody        = 4 << 20 // a response larger than this is an error
)

func newAPIEnv(h APIHarness) *apiEnv {
	e := &apiEnv{h: h, base: strings.TrimRight(h.BaseURL, "/"), wait: h.Wait}
	if e.wait <= 0 {
		e.wait = 30 * time.Second
	}
	c := retryablehttp.NewClient()
	c.Logger = nil
	c.RetryMax = 3
	if h.Retries > 0 {
		c.RetryMax = h.Retries
	} else if h.Retries < 0 {
		c.RetryMax = 0
	}
	c.RetryWaitMin, c.RetryWaitMax = apiRetryWaitMin, apiRetryWaitMax
	c.CheckRetry = apiCheckRetry
	// Give the last response back, so a 503 after the last retry is seen as
	// a 503 and not as an opaque "giving up" error.
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.HTTPClient.Timeout = apiRequestTimeout
	e.client = c
	return e
}

// bind turns a case function into an APICase's Run.
func (e *apiEnv) bind(f func(*session)) func(TB) {
	return func(t TB) {
		t.Helper()
		switch {
		case e.base == "":
			t.Fatalf("APIHarness.BaseURL is empty")
		case e.h.AdminToken == "":
			t.Fatalf("APIHarness.AdminToken is empty")
		case e.h.UserToken == "":
			t.Fatalf("APIHarness.UserToken is empty")
		}
		f(&session{t: t, env: e})
	}
}

// noRetryKey marks a request context: the request is a write without an
// Idempotency-Key, which must not be sent twice.
type noRetryKey struct{}

// apiCheckRetry retries connection errors and the statuses that say "try
// again later" (429, 502, 503, 504), and nothing else: a 500 is a finding,
// not a hiccup, and a write without an Idempotency-Key is never retried.
func apiCheckRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if ctx.Value(noRetryKey{}) != nil {
		return false, err
	}
	if err != nil {
		retry, perr := retryablehttp.ErrorPropagatedRetryPolicy(ctx, resp, err)
		if !retry && perr == nil {
			perr = err
		}
		return retry, perr
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, nil
	}
	return false, nil
}

// apiRequest is one request of the suite.
type apiRequest struct {
	method, path string
	token        string // bearer token; "" sends no Authorization header
	auth         string // the whole Authorization header, instead of token
	body         []byte // nil sends no body
	key          string // Idempotency-Key; writes without one are never retried
}

// apiReply is a response, read whole.
type apiReply struct {
	req    string // "POST /sales", for messages
	status int
	header http.Header
	body   []byte
}

func (r apiReply) String() string {
	b := strings.TrimSpace(string(r.body))
	if len(b) > 600 {
		b = b[:600] + "…"
	}
	return fmt.Sprintf("%s → %d %s", r.req, r.status, b)
}

// send performs r and reads the whole response. It touches no TB, so it may
// run on any goroutine.
func (e *apiEnv) send(ctx context.Context, r apiRequest) (apiReply, error) {
	name := r.method + " " + r.path
	if r.key == "" && r.method != http.MethodGet && r.method != http.MethodHead {
		ctx = context.WithValue(ctx, noRetryKey{}, true)
	}
	var body any
	if r.body != nil {
		body = r.body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, r.method, e.base+r.path, body)
	if err != nil {
		return apiReply{}, fmt.Errorf("%s: %w", name, err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	switch {
	case r.auth != "":
		req.Header.Set("Authorization", r.auth)
	case r.token != "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.key != "" {
		req.Header.Set("Idempotency-Key", r.key)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return apiReply{}, fmt.Errorf("%s: %w", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, apiMaxBody+1))
	if err != nil {
		return apiReply{}, fmt.Errorf("%s: read response: %w", name, err)
	}
	if len(b) > apiMaxBody {
		return apiReply{}, fmt.Errorf("%s: response larger than %d bytes", name, apiMaxBody)
	}
	return apiReply{req: name, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// session is one case's view of the deployment.
type session struct {
	t   TB
	env *apiEnv
}

func (s *session) admin() string { return s.env.h.AdminToken }
func (s *session) userA() string { return s.env.h.UserToken }

// userB returns user B's token, skipping the case when there is none.
func (s *session) userB() string {
	s.t.Helper()
	if s.env.h.User2Token == "" {
		s.t.Skipf("needs a second user token (APIHarness.User2Token)")
	}
	return s.env.h.User2Token
}

// do sends r on the case's goroutine: a transport error ends the case, and
// a 5xx fails it, whatever the case expected.
func (s *session) do(r apiRequest) apiReply {
	s.t.Helper()
	rep, err := s.env.send(s.t.Context(), r)
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	s.check5xx(rep)
	return rep
}

func (s *session) check5xx(r apiReply) {
	s.t.Helper()
	if r.status >= 500 {
		s.t.Errorf("server error, never allowed for anything a client sends: %v", r)
	}
}

func (s *session) get(token, path string) apiReply {
	s.t.Helper()
	return s.do(apiRequest{method: http.MethodGet, path: path, token: token})
}

// write sends body (see jsonBody) with method; key is the Idempotency-Key,
// or "" for none.
func (s *session) write(method, token, path string, body any, key string) apiReply {
	s.t.Helper()
	return s.do(apiRequest{method: method, path: path, token: token, body: jsonBody(s.t, body), key: key})
}

// rawJSON is a request body sent as is: malformed or mistyped JSON.
type rawJSON string

// jsonBody encodes v as JSON; a rawJSON goes as is.
func jsonBody(t TB, v any) []byte {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return nil
	case rawJSON:
		return []byte(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode request body: %v", err)
	}
	return b
}

// decode checks r's status and decodes its JSON body into a T.
func decode[T any](r apiReply, want int) (T, error) {
	var v T
	if r.status != want {
		return v, fmt.Errorf("got status %d, want %d: %v", r.status, want, r)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		return v, fmt.Errorf("decode %T: %w: %v", v, err, r)
	}
	return v, nil
}

// expect decodes r as a T, ending the case unless its status is want.
func expect[T any](s *session, r apiReply, want int) T {
	s.t.Helper()
	return try(decode[T](r, want)).must(s.t)
}

// checked is a result and its error, for try(f()).must(t).
type checked[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) checked[T] { return checked[T]{v, err} }

// must ends the case when the result has an error.
func (c checked[T]) must(t TB) T {
	t.Helper()
	if c.err != nil {
		t.Fatalf("%v", c.err)
	}
	return c.v
}

// eventually polls check, with a growing interval, until it returns nil or
// the harness's Wait has passed; then it ends the case with check's last
// error. The projections are asynchronous: this is how the suite waits for
// them.
func (s *session) eventually(what string, check func() error) {
	s.t.Helper()
	deadline := time.Now().Add(s.env.wait)
	delay := 20 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: not reached within %v: %v", what, s.env.wait, err)
		}
		select {
		case <-s.t.Context().Done():
			s.t.Fatalf("%s: %v", what, s.t.Context().Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// --- the wire forms, as DESIGN §7 names them ------------------------------

type apiBook struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Author    string `json:"author"`
	Price     string `json:"price"`
	Available bool   `json:"available"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

type apiLine struct {
	BookID    string `json:"bookId"`
	Quantity  int64  `json:"quantity"`
	UnitPrice string `json:"unitPrice"`
	Discount  string `json:"discount"`
	Subtotal  string `json:"subtotal"`
}

type apiSale struct {
	ID               string    `json:"id"`
	Status           string    `json:"status"`
	Version          int64     `json:"version"`
	SellerID         string    `json:"sellerId"`
	CustomerName     *string   `json:"customerName"`
	CustomerEmail    *string   `json:"customerEmail"`
	Notes            *string   `json:"notes"`
	Items            []apiLine `json:"items"`
	Subtotal         string    `json:"subtotal"`
	Discount         string    `json:"discount"`
	Tax              string    `json:"tax"`
	Total            string    `json:"total"`
	Currency         string    `json:"currency"`
	PaymentMethod    *string   `json:"paymentMethod"`
	PaymentReference *string   `json:"paymentReference"`
	PaidAt           *string   `json:"paidAt"`
	CancelledAt      *string   `json:"cancelledAt"`
	CancelReason     *string   `json:"cancelReason"`
	CreatedAt        string    `json:"createdAt"`
	UpdatedAt        string    `json:"updatedAt"`
}

type apiLevel struct {
	BookID    string `json:"bookId"`
	OnHand    int64  `json:"onHand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
	MinStock  int64  `json:"minStock"`
}

type apiMovement struct {
	ID          string  `json:"id"`
	BookID      string  `json:"bookId"`
	Type        string  `json:"type"`
	Quantity    int64   `json:"quantity"`
	StockBefore int64   `json:"stockBefore"`
	StockAfter  int64   `json:"stockAfter"`
	SaleID      *string `json:"saleId"`
	Reason      *string `json:"reason"`
	CreatedAt   string  `json:"createdAt"`
}

type apiStats struct {
	BookID      string  `json:"bookId"`
	UnitsSold   int64   `json:"unitsSold"`
	NetRevenue  string  `json:"netRevenue"`
	SalesCount  int64   `json:"salesCount"`
	FirstSaleAt *string `json:"firstSaleAt"`
	LastSaleAt  *string `json:"lastSaleAt"`
}

type apiSummary struct {
	TotalSales        int64  `json:"totalSales"`
	TotalRevenue      string `json:"totalRevenue"`
	NetRevenue        string `json:"netRevenue"`
	TotalTax          string `json:"totalTax"`
	TotalDiscount     string `json:"totalDiscount"`
	TotalItems        int64  `json:"totalItems"`
	AverageOrderValue string `json:"averageOrderValue"`
	SalesByDay        []struct {
		Date string `json:"date"`
	} `json:"salesByDay"`
	TopBooks []struct {
		BookID string `json:"bookId"`
	} `json:"topBooks"`
}

type apiMeta struct {
	Total      int64 `json:"total"`
	Page       int64 `json:"page"`
	Limit      int64 `json:"limit"`
	TotalPages int64 `json:"totalPages"`
}

type apiPage[T any] struct {
	Data []T     `json:"data"`
	Meta apiMeta `json:"meta"`
}

// item is one line of a sale to create.
type item struct {
	BookID   string `json:"bookId"`
	Quantity int64  `json:"quantity"`
	Discount string `json:"discount,omitempty"`
}

// saleBody is the body of POST /sales.
type saleBody struct {
	CustomerName  string `json:"customerName,omitempty"`
	CustomerEmail string `json:"customerEmail,omitempty"`
	Items         []item `json:"items"`
	Discount      string `json:"discount,omitempty"`
	Notes         string `json:"notes,omitempty"`
}

// statusBody is the body of PATCH /sales/{id}/status.
type statusBody struct {
	Status           string `json:"status"`
	PaymentMethod    string `json:"paymentMethod,omitempty"`
	PaymentReference string `json:"paymentReference,omitempty"`
	Reason           string `json:"reason,omitempty"`
}

// --- operations -----------------------------------------------------------

// createBook makes a book with a unique title, price and initial stock.
func (s *session) createBook(price string, stock int64) apiBook {
	s.t.Helper()
	title := fmt.Sprintf("conformance %s %s", s.t.Name(), uuid.NewString()[:8])
	r := s.write(http.MethodPost, s.admin(), "/books", map[string]any{
		"title": title, "author": "salesflow testkit", "price": price, "available": true, "stock": stock,
	}, "")
	b := expect[apiBook](s, r, http.StatusCreated)
	if b.ID == "" || b.Title != title || !sameMoney(b.Price, price) || !b.Available {
		s.t.Fatalf("POST /books: got %+v, want title %q, price %s, available", b, title, price)
	}
	return b
}

// level reads a book's stock level as admin.
func (s *session) level(bookID string) (apiLevel, error) {
	s.t.Helper()
	l, err := decode[apiLevel](s.get(s.admin(), "/inventory/"+bookID), http.StatusOK)
	if err == nil && l.Available != l.OnHand-l.Reserved {
		err = fmt.Errorf("stock level %+v: available is not onHand - reserved", l)
	}
	if err == nil && (l.OnHand < 0 || l.Reserved < 0 || l.Available < 0) {
		err = fmt.Errorf("stock level %+v: negative", l)
	}
	return l, err
}

// wantLevel checks a book's stock now.
func (s *session) wantLevel(bookID string, onHand, reserved int64) {
	s.t.Helper()
	l := try(s.level(bookID)).must(s.t)
	if l.OnHand != onHand || l.Reserved != reserved {
		s.t.Errorf("stock of %s: got onHand %d reserved %d, want %d and %d", bookID, l.OnHand, l.Reserved, onHand, reserved)
	}
}

// eventuallyLevel waits for a book's stock to reach onHand and reserved.
func (s *session) eventuallyLevel(bookID string, onHand, reserved int64) {
	s.t.Helper()
	s.eventually("stock of "+bookID, func() error {
		l, err := s.level(bookID)
		if err == nil && (l.OnHand != onHand || l.Reserved != reserved) {
			err = fmt.Errorf("got onHand %d reserved %d, want %d and %d", l.OnHand, l.Reserved, onHand, reserved)
		}
		return err
	})
}

// postSale sends POST /sales with a fresh Idempotency-Key.
func (s *session) postSale(token string, body any) apiReply {
	s.t.Helper()
	return s.write(http.MethodPost, token, "/sales", body, uuid.NewString())
}

// createSale creates a sale of items as token's user and checks it.
func (s *session) createSale(token string, items ...item) apiSale {
	s.t.Helper()
	r := s.postSale(token, saleBody{CustomerName: "Conformance Customer", Items: items})
	sale := expect[apiSale](s, r, http.StatusCreated)
	if err := checkSale(sale); err != nil {
		s.t.Fatalf("POST /sales: %v", err)
	}
	if sale.Status != "PENDING" || sale.Version != 1 {
		s.t.Errorf("new sale: got status %s version %d, want PENDING 1", sale.Status, sale.Version)
	}
	return sale
}

// setStatus sends PATCH /sales/{id}/status as admin with a fresh key.
func (s *session) setStatus(id string, body any) apiReply {
	s.t.Helper()
	return s.write(http.MethodPatch, s.admin(), "/sales/"+id+"/status", body, uuid.NewString())
}

// move changes a sale's status as admin, wanting 200 and version.
func (s *session) move(id string, body statusBody, version int64) apiSale {
	s.t.Helper()
	sale := expect[apiSale](s, s.setStatus(id, body), http.StatusOK)
	if err := checkSale(sale); err != nil {
		s.t.Fatalf("PATCH status: %v", err)
	}
	if sale.ID != id || sale.Status != body.Status || sale.Version != version {
		s.t.Errorf("PATCH /sales/%s/status %s: got id %s status %s version %d, want version %d",
			id, body.Status, sale.ID, sale.Status, sale.Version, version)
	}
	return sale
}

func (s *session) complete(id string, version int64) apiSale {
	s.t.Helper()
	return s.move(id, statusBody{Status: "COMPLETED", PaymentMethod: "CASH"}, version)
}

func (s *session) cancel(id string, version int64) apiSale {
	s.t.Helper()
	return s.move(id, statusBody{Status: "CANCELLED", Reason: "conformance"}, version)
}

// getSale reads a sale as token's caller, wanting 200.
func (s *session) getSale(token, id string) apiSale {
	s.t.Helper()
	sale := expect[apiSale](s, s.get(token, "/sales/"+id), http.StatusOK)
	if err := checkSale(sale); err != nil {
		s.t.Errorf("GET /sales/%s: %v", id, err)
	}
	return sale
}

// movements lists stock movements matching query (such as "saleId=…"),
// all pages.
func (s *session) movements(query string) ([]apiMovement, error) {
	s.t.Helper()
	var all []apiMovement
	for page := 1; page <= 20; page++ {
		p, err := decode[apiPage[apiMovement]](s.get(s.admin(), fmt.Sprintf("/stock-movements?%s&limit=100&page=%d", query, page)), http.StatusOK)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Data...)
		if int64(page) >= p.Meta.TotalPages || len(p.Data) == 0 {
			break
		}
	}
	return all, nil
}

// stats reads a book's statistics; a book without sales may be 404 or
// zeros, and both read as zeros.
func (s *session) stats(bookID string) (apiStats, error) {
	s.t.Helper()
	r := s.get(s.admin(), "/analytics/books/"+bookID)
	if r.status == http.StatusNotFound {
		return apiStats{BookID: bookID, NetRevenue: "0.00"}, checkProblem(r)
	}
	st, err := decode[apiStats](r, http.StatusOK)
	if err == nil && !isMoney(st.NetRevenue) {
		err = fmt.Errorf("analytics of %s: netRevenue %q is not a decimal string", bookID, st.NetRevenue)
	}
	return st, err
}

// summaryAround reads the summary from yesterday to tomorrow (UTC dates),
// which holds today in any time zone the deployment may be configured with.
func (s *session) summaryAround() (apiSummary, error) {
	s.t.Helper()
	now := time.Now().UTC()
	q := fmt.Sprintf("/sales/summary?startDate=%s&endDate=%s",
		now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly))
	sum, err := decode[apiSummary](s.get(s.admin(), q), http.StatusOK)
	if err != nil {
		return sum, err
	}
	for _, m := range []string{sum.TotalRevenue, sum.NetRevenue, sum.TotalTax, sum.TotalDiscount, sum.AverageOrderValue} {
		if !isMoney(m) {
			return sum, fmt.Errorf("summary: money %q is not a decimal string", m)
		}
	}
	return sum, nil
}

// salesTotal returns meta.total of GET /sales as token's caller.
func (s *session) salesTotal(token, query string) int64 {
	s.t.Helper()
	p := expect[apiPage[apiSale]](s, s.get(token, "/sales?limit=1"+query), http.StatusOK)
	return p.Meta.Total
}

// parallel runs f(i) for i in [0, n) on n goroutines started together and
// waits for them.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// bodyOf is a body as the suite sends it, for messages.
func bodyOf(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}
