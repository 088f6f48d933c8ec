package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Operations of the workload.
const (
	opCreate   = "create"
	opComplete = "complete"
	opCancel   = "cancel"
	opRace     = "race" // a status change of any client's sale; 409 is a fine answer
	opRestock  = "restock"
)

var opNames = []string{opCreate, opComplete, opCancel, opRace, opRestock}

// OpStats counts one kind of operation.
type OpStats struct {
	Attempted    int64            `json:"attempted"`
	Acknowledged int64            `json:"acknowledged"` // a 2xx answer
	Rejected     map[string]int64 `json:"rejected"`     // a definitive 4xx answer, by problem code
	Abandoned    int64            `json:"abandoned"`    // no definitive answer before the op's deadline
	Requests     int64            `json:"requests"`
	Retries      int64            `json:"retries"`
	Replayed     int64            `json:"replayed"` // answers with Idempotent-Replayed: true
	MaxLatencyMS int64            `json:"maxLatencyMs"`
}

// book is a book the workload sells.
type book struct {
	id  uuid.UUID
	hot bool // little stock: sales of it run into 409 insufficient stock
}

// saleRec is what the API acknowledged about one sale.
type saleRec struct {
	ID     uuid.UUID
	Key    string // the Idempotency-Key of its creation
	Seller string
	Items  map[uuid.UUID]int64
	Acks   []ackRec // acknowledged states, creation first
}

type ackRec struct {
	Op      string
	Key     string
	Version int64
	Status  string
}

// ledger holds every acknowledged answer. Safe for concurrent use.
type ledger struct {
	mu        sync.Mutex
	sales     map[uuid.UUID]*saleRec
	keys      map[string]uuid.UUID // creation key -> the sale it acknowledged
	anomalies []string             // answers that contradict earlier acknowledgements
	pool      []uuid.UUID
}

func newLedger() *ledger {
	return &ledger{sales: map[uuid.UUID]*saleRec{}, keys: map[string]uuid.UUID{}}
}

func (l *ledger) anomaly(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.anomalies) < 1000 {
		l.anomalies = append(l.anomalies, fmt.Sprintf(format, args...))
	}
}

func (l *ledger) created(key, seller string, s saleView) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.keys[key]; ok && prev != s.ID {
		l.anomalies = append(l.anomalies, fmt.Sprintf("key %s acknowledged two sales: %s and %s", key, prev, s.ID))
	}
	l.keys[key] = s.ID
	r := l.sales[s.ID]
	if r == nil {
		r = &saleRec{ID: s.ID, Key: key, Seller: seller, Items: s.quantities()}
		l.sales[s.ID] = r
		l.pool = append(l.pool, s.ID)
	}
	r.Acks = append(r.Acks, ackRec{Op: opCreate, Key: key, Version: s.Version, Status: s.Status})
}

func (l *ledger) changed(op, key string, s saleView) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.sales[s.ID]
	if r == nil {
		// Changed through the race op before its creation was acknowledged
		// here; it is checked like the others.
		r = &saleRec{ID: s.ID, Seller: s.SellerID, Items: s.quantities()}
		l.sales[s.ID] = r
	}
	r.Acks = append(r.Acks, ackRec{Op: op, Key: key, Version: s.Version, Status: s.Status})
}

func (l *ledger) randomSale(rng *rand.Rand) (uuid.UUID, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pool) == 0 {
		return uuid.Nil, false
	}
	return l.pool[rng.IntN(len(l.pool))], true
}

// saleView is the part of the API's sale the workload reads.
type saleView struct {
	ID       uuid.UUID `json:"id"`
	Status   string    `json:"status"`
	Version  int64     `json:"version"`
	SellerID string    `json:"sellerId"`
	Items    []struct {
		BookID   uuid.UUID `json:"bookId"`
		Quantity int64     `json:"quantity"`
	} `json:"items"`
}

func (s saleView) quantities() map[uuid.UUID]int64 {
	m := map[uuid.UUID]int64{}
	for _, it := range s.Items {
		m[it.BookID] += it.Quantity
	}
	return m
}

// event is a moment the clients noticed: a retry, with its reason.
type event struct {
	At     time.Time
	Reason string
}

// span is one operation, from its first request to its answer.
type span struct {
	Start, End time.Time
	Op         string
	OK         bool
}

// workload drives the API with concurrent clients. Each client has its own
// user token (the seller of its sales) and random source; status changes
// use the admin token.
type workload struct {
	base      string
	client    *http.Client
	admin     string
	users     []string
	subs      []string
	books     []book
	seed      uint64
	opTimeout time.Duration
	led       *ledger

	mu       sync.Mutex
	ops      map[string]*OpStats
	statuses map[int]int64
	reasons  map[string]int64
	events   []event
	spans    []span
	samples  []string // unexpected answers
}

func newWorkload(base, admin string, users, subs []string, seed uint64, opTimeout time.Duration) *workload {
	w := &workload{
		base: base, admin: admin, users: users, subs: subs, seed: seed, opTimeout: opTimeout, led: newLedger(),
		client: &http.Client{
			Timeout: 15 * time.Second,
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 4 * len(users),
				IdleConnTimeout:     30 * time.Second,
			},
		},
		ops: map[string]*OpStats{}, statuses: map[int]int64{}, reasons: map[string]int64{},
	}
	for _, n := range opNames {
		w.ops[n] = &OpStats{Rejected: map[string]int64{}}
	}
	return w
}

// answer is a response the workload read in full.
type answer struct {
	status   int
	body     []byte
	code     string // the problem's code
	replayed bool
}

func (a answer) String() string {
	return fmt.Sprintf("%d %s", a.status, truncate(string(a.body), 200))
}

// send makes one request.
func (w *workload) send(ctx context.Context, method, path, token, key string, body []byte) (answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.base+path, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := w.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: res.StatusCode, body: b, replayed: res.Header.Get("Idempotent-Replayed") == "true"}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		var p struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(b, &p)
		a.code = p.Code
	}
	return a, nil
}

// retryReason says why an answer is not definitive, or "" when it is.
func retryReason(a answer, err error) string {
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "timeout"
		}
		return "connection"
	}
	switch {
	case a.status == http.StatusConflict && a.code == "idempotency_key_in_flight":
		return "409 key in flight"
	case a.status == http.StatusRequestTimeout, a.status == http.StatusTooManyRequests, a.status >= 500:
		return strconv.Itoa(a.status) + " " + a.code
	}
	return ""
}

// call makes a request until it gets a definitive answer, retrying with
// the same key and body, or until the op's deadline; ok is false then.
func (w *workload) call(ctx context.Context, rng *rand.Rand, op, method, path, token, key string, body []byte, retry bool) (a answer, ok bool) {
	st := w.stats(op)
	start := time.Now()
	deadline := start.Add(w.opTimeout)
	defer func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		st.Attempted++
		switch {
		case !ok:
			st.Abandoned++
		case a.status < 300:
			st.Acknowledged++
		default:
			code := a.code
			if code == "" {
				code = strconv.Itoa(a.status)
			}
			st.Rejected[code]++
		}
		if a.replayed {
			st.Replayed++
		}
		if ms := time.Since(start).Milliseconds(); ms > st.MaxLatencyMS {
			st.MaxLatencyMS = ms
		}
		w.spans = append(w.spans, span{Start: start, End: time.Now(), Op: op, OK: ok})
	}()
	for attempt := 0; ; attempt++ {
		var err error
		a, err = w.send(ctx, method, path, token, key, body)
		w.mu.Lock()
		st.Requests++
		if err == nil {
			w.statuses[a.status]++
		}
		w.mu.Unlock()
		reason := retryReason(a, err)
		if reason == "" {
			return a, true
		}
		if !retry || ctx.Err() != nil || time.Now().After(deadline) {
			return a, false
		}
		w.mu.Lock()
		st.Retries++
		w.reasons[reason]++
		w.events = append(w.events, event{At: time.Now(), Reason: reason})
		w.mu.Unlock()
		wait := min(50*time.Millisecond<<min(attempt, 6), 2*time.Second)
		wait = wait/2 + time.Duration(rng.Int64N(int64(wait)))
		if reason == "409 key in flight" {
			wait = time.Second // its Retry-After
		}
		select {
		case <-ctx.Done():
			return a, false
		case <-time.After(wait):
		}
	}
}

func (w *workload) stats(op string) *OpStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ops[op]
}

func (w *workload) unexpected(op string, a answer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.samples) < 50 {
		w.samples = append(w.samples, op+": "+a.String())
	}
}

// setup creates the books the workload sells: a few hot ones with little
// stock, the rest with plenty.
func (w *workload) setup(ctx context.Context, hot, cold int) error {
	rng := rand.New(rand.NewPCG(w.seed, 0))
	for i := range hot + cold {
		stock := 100000
		if i < hot {
			stock = 30
		}
		body := fmt.Sprintf(`{"title":"Chaos %d","author":"Chaos","price":"%d.%02d","stock":%d}`, i, 5+rng.IntN(40), rng.IntN(100), stock)
		a, err := w.send(ctx, http.MethodPost, "/books", w.admin, "", []byte(body))
		if err != nil {
			return fmt.Errorf("create book: %w", err)
		}
		if a.status != http.StatusCreated {
			return fmt.Errorf("create book: %s", a)
		}
		var b struct {
			ID uuid.UUID `json:"id"`
		}
		if err := json.Unmarshal(a.body, &b); err != nil {
			return fmt.Errorf("create book: %w", err)
		}
		w.books = append(w.books, book{id: b.ID, hot: i < hot})
	}
	return nil
}

// run drives the clients until until, then lets each finish its operation
// for at most grace; operations still unanswered then are abandoned.
func (w *workload) run(ctx context.Context, until time.Time, grace time.Duration) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := time.AfterFunc(time.Until(until.Add(grace)), cancel)
	defer stop.Stop()
	var wg sync.WaitGroup
	for i := range w.users {
		wg.Go(func() { w.client1(ctx, i, until) })
	}
	wg.Wait()
}

// local is a client's view of one of its sales.
type local struct {
	id      uuid.UUID
	status  string
	version int64
}

func (w *workload) client1(ctx context.Context, i int, until time.Time) {
	rng := rand.New(rand.NewPCG(w.seed, uint64(i)+1))
	var mine []*local
	pick := func(statuses ...string) *local {
		var c []*local
		for _, s := range mine {
			for _, st := range statuses {
				if s.status == st {
					c = append(c, s)
				}
			}
		}
		if len(c) == 0 {
			return nil
		}
		return c[rng.IntN(len(c))]
	}
	for n := 0; time.Now().Before(until) && ctx.Err() == nil; n++ {
		key := fmt.Sprintf("chaos-%d-%d-%d", w.seed, i, n)
		r := rng.Float64()
		switch {
		case r < 0.05:
			w.restock(ctx, rng)
		case r < 0.10:
			w.race(ctx, rng, key)
		case r < 0.35:
			if s := pick("PENDING"); s != nil {
				w.change(ctx, rng, opComplete, key, s, fmt.Sprintf(`{"status":"COMPLETED","paymentMethod":%q,"paymentReference":"ref-%s"}`,
					[]string{"CASH", "CREDIT_CARD", "DEBIT_CARD", "TRANSFER", "OTHER"}[rng.IntN(5)], key))
				break
			}
			fallthrough
		case r < 0.55:
			if s := pick("PENDING", "COMPLETED"); s != nil {
				w.change(ctx, rng, opCancel, key, s, `{"status":"CANCELLED","reason":"chaos"}`)
				break
			}
			fallthrough
		default:
			if s := w.create(ctx, rng, i, key); s != nil {
				mine = append(mine, s)
			}
		}
		// Keep a client's list short: forget cancelled sales.
		if len(mine) > 50 {
			kept := mine[:0]
			for _, s := range mine {
				if s.status != "CANCELLED" {
					kept = append(kept, s)
				}
			}
			mine = kept
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	}
}

func (w *workload) create(ctx context.Context, rng *rand.Rand, i int, key string) *local {
	type item struct {
		BookID   uuid.UUID `json:"bookId"`
		Quantity int       `json:"quantity"`
		Discount string    `json:"discount,omitempty"`
	}
	var items []item
	for range 1 + rng.IntN(3) {
		b := w.books[rng.IntN(len(w.books))]
		it := item{BookID: b.id, Quantity: 1 + rng.IntN(3)}
		if rng.IntN(5) == 0 {
			it.Discount = "0.25"
		}
		items = append(items, it)
	}
	req := map[string]any{"customerName": fmt.Sprintf("Client %d", i), "notes": "chaos-key:" + key, "items": items}
	if rng.IntN(4) == 0 {
		req["discount"] = "1.00"
	}
	body, _ := json.Marshal(req)
	a, ok := w.call(ctx, rng, opCreate, http.MethodPost, "/sales", w.users[i], key, body, true)
	if !ok {
		return nil
	}
	switch {
	case a.status == http.StatusCreated:
		var s saleView
		if err := json.Unmarshal(a.body, &s); err != nil || s.Status != "PENDING" || s.Version != 1 || s.SellerID != w.subs[i] {
			w.led.anomaly("create %s: answer %s", key, a)
			return nil
		}
		w.led.created(key, w.subs[i], s)
		return &local{id: s.ID, status: s.Status, version: s.Version}
	case a.status == http.StatusConflict && a.code == "insufficient_stock":
	default:
		w.unexpected(opCreate, a)
	}
	return nil
}

// change asks for a status change of one of the client's sales.
func (w *workload) change(ctx context.Context, rng *rand.Rand, op, key string, s *local, body string) {
	a, ok := w.call(ctx, rng, op, http.MethodPatch, "/sales/"+s.id.String()+"/status", w.admin, key, []byte(body), true)
	if !ok {
		w.refresh(ctx, rng, s)
		return
	}
	switch {
	case a.status == http.StatusOK:
		var v saleView
		if err := json.Unmarshal(a.body, &v); err != nil || v.ID != s.id || v.Version <= s.version {
			w.led.anomaly("%s %s (%s, version %d): answer %s", op, s.id, key, s.version, a)
			return
		}
		w.led.changed(op, key, v)
		s.status, s.version = v.Status, v.Version
	case a.status == http.StatusConflict && a.code == "illegal_transition":
		// Another client's race op changed it first.
		w.refresh(ctx, rng, s)
	case a.status == http.StatusNotFound:
		w.led.anomaly("%s %s: the acknowledged sale is not found: %s", op, s.id, a)
	default:
		w.unexpected(op, a)
	}
}

// race changes any client's sale to a random status: a 409 is expected
// often; what the API acknowledges is checked like the rest.
func (w *workload) race(ctx context.Context, rng *rand.Rand, key string) {
	id, ok := w.led.randomSale(rng)
	if !ok {
		return
	}
	body := `{"status":"CANCELLED","reason":"race"}`
	if rng.IntN(2) == 0 {
		body = `{"status":"COMPLETED","paymentMethod":"OTHER"}`
	}
	a, ok := w.call(ctx, rng, opRace, http.MethodPatch, "/sales/"+id.String()+"/status", w.admin, key, []byte(body), true)
	switch {
	case !ok:
	case a.status == http.StatusOK:
		var v saleView
		if err := json.Unmarshal(a.body, &v); err != nil || v.ID != id {
			w.led.anomaly("race %s (%s): answer %s", id, key, a)
			return
		}
		w.led.changed(opRace, key, v)
	case a.status == http.StatusConflict && a.code == "illegal_transition":
	case a.status == http.StatusNotFound:
		w.led.anomaly("race %s: the acknowledged sale is not found: %s", id, a)
	default:
		w.unexpected(opRace, a)
	}
}

// restock adds units to a hot book. Movements take no idempotency key, so
// a restock is never retried: an unanswered one may or may not have
// happened, which the invariants allow.
func (w *workload) restock(ctx context.Context, rng *rand.Rand) {
	var hot []book
	for _, b := range w.books {
		if b.hot {
			hot = append(hot, b)
		}
	}
	if len(hot) == 0 {
		return
	}
	b := hot[rng.IntN(len(hot))]
	a, ok := w.call(ctx, rng, opRestock, http.MethodPost, "/inventory/"+b.id.String()+"/movements", w.admin, "",
		[]byte(`{"type":"PURCHASE","quantity":10,"reason":"chaos restock"}`), false)
	if ok && a.status != http.StatusCreated {
		w.unexpected(opRestock, a)
	}
}

// refresh reads the sale again after an answer that leaves its state unknown.
func (w *workload) refresh(ctx context.Context, rng *rand.Rand, s *local) {
	deadline := time.Now().Add(w.opTimeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		a, err := w.send(ctx, http.MethodGet, "/sales/"+s.id.String(), w.admin, "", nil)
		if err == nil && a.status == http.StatusOK {
			var v saleView
			if json.Unmarshal(a.body, &v) == nil {
				s.status, s.version = v.Status, v.Version
			}
			return
		}
		if err == nil && a.status == http.StatusNotFound {
			w.led.anomaly("get %s: the acknowledged sale is not found", s.id)
			s.status = "CANCELLED" // stop using it
			return
		}
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
	}
}
