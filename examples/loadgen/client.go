package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The routes the load generator calls, named as the server's metrics name
// them.
const (
	routeCreateBook = "POST /books"
	routeCreateSale = "POST /sales"
	routeStatus     = "PATCH /sales/{id}/status"
	routeMovements  = "GET /stock-movements"
)

// routeOrder is the order routes are printed in.
var routeOrder = []string{routeCreateSale, routeStatus, routeMovements, routeCreateBook}

// recorder keeps the latency of every call by route: over the measured run
// (total) and over the current progress interval (window). It is safe for
// concurrent use.
type recorder struct {
	mu     sync.Mutex
	total  map[string]*routeRecord
	window map[string]*hist
}

type routeRecord struct {
	h        hist
	statuses map[string]int // "201", "409", "error" (no response)
}

func newRecorder() *recorder {
	return &recorder{total: map[string]*routeRecord{}, window: map[string]*hist{}}
}

// add records one call; status 0 means no response.
func (r *recorder) add(route string, status int, d time.Duration) {
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rr := r.total[route]
	if rr == nil {
		rr = &routeRecord{statuses: map[string]int{}}
		r.total[route] = rr
	}
	rr.h.add(d)
	rr.statuses[code]++
	w := r.window[route]
	if w == nil {
		w = new(hist)
		r.window[route] = w
	}
	w.add(d)
}

// takeWindow returns the calls recorded since the last takeWindow.
func (r *recorder) takeWindow() map[string]*hist {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.window
	r.window = map[string]*hist{}
	return w
}

// reset forgets everything recorded, at the end of the warm-up.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total = map[string]*routeRecord{}
	r.window = map[string]*hist{}
}

// RouteReport is the latency and outcomes of one route's calls.
type RouteReport struct {
	Quantiles
	Errors   int            `json:"errors"`   // calls without a 2xx answer
	Statuses map[string]int `json:"statuses"` // by status code; "error" for calls without an answer
}

func (r *recorder) report() map[string]RouteReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]RouteReport, len(r.total))
	for route, rr := range r.total {
		rep := RouteReport{Quantiles: rr.h.quantiles(), Statuses: map[string]int{}}
		for code, n := range rr.statuses {
			rep.Statuses[code] = n
			if !strings.HasPrefix(code, "2") {
				rep.Errors += n
			}
		}
		out[route] = rep
	}
	return out
}

// sortedRoutes returns the routes of m, known ones first in routeOrder.
func sortedRoutes[V any](m map[string]V) []string {
	var out []string
	for _, r := range routeOrder {
		if _, ok := m[r]; ok {
			out = append(out, r)
		}
	}
	var rest []string
	for r := range m {
		if !slices.Contains(routeOrder, r) {
			rest = append(rest, r)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// api calls the server and records each call's latency: from sending the
// request to reading the whole answer.
type api struct {
	base string
	hc   *http.Client
	rec  *recorder
}

// problem is an answer that is not 2xx: an RFC 9457 problem document when
// the server sent one.
type problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	route  string
}

func (p *problem) Error() string {
	s := fmt.Sprintf("%s: %d", p.route, p.Status)
	if p.Code != "" {
		s += " " + p.Code
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	} else if p.Title != "" {
		s += ": " + p.Title
	}
	return s
}

// retryable reports whether a call that failed with err may be sent again
// with the same idempotency key: no answer came (a network error), or the
// key's first request is still running.
func retryable(err error) bool {
	var p *problem
	if errors.As(err, &p) {
		return p.Status == http.StatusConflict && p.Code == "idempotency_key_in_flight" ||
			p.Status == http.StatusServiceUnavailable || p.Status == http.StatusBadGateway
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// call sends one request with a JSON body (when body is not nil) and decodes
// a 2xx answer into out (when not nil). A non-2xx answer is a *problem.
func (a *api) call(ctx context.Context, route, method, path, token, idemKey string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	start := time.Now()
	resp, err := a.hc.Do(req)
	if err != nil {
		a.rec.add(route, 0, time.Since(start))
		return fmt.Errorf("%s: %w", route, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		a.rec.add(route, 0, took)
		return fmt.Errorf("%s: reading the answer: %w", route, err)
	}
	a.rec.add(route, resp.StatusCode, took)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		p := &problem{route: route}
		_ = json.Unmarshal(data, p)
		p.Status = resp.StatusCode
		if p.Detail == "" && p.Title == "" && p.Code == "" {
			p.Detail = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return p
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s: decoding the answer: %w", route, err)
		}
	}
	return nil
}

// callRetrying is call, sent again (same body, same idempotency key) up to
// attempts times in all while the failure is retryable.
func (a *api) callRetrying(ctx context.Context, attempts int, route, method, path, token, idemKey string, body, out any) (retries int, err error) {
	for i := 0; ; i++ {
		err = a.call(ctx, route, method, path, token, idemKey, body, out)
		if err == nil || i+1 >= attempts || !retryable(err) || ctx.Err() != nil {
			return i, err
		}
		select {
		case <-ctx.Done():
			return i, err
		case <-time.After(time.Duration(10<<i) * time.Millisecond):
		}
	}
}

// checkLoopback refuses base URLs whose host is not this machine: the load
// generator is for local servers only.
func checkLoopback(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("base URL %q: want http or https", raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("base URL %q: the load generator only drives servers on this machine (localhost, 127.0.0.0/8 or ::1)", raw)
	}
	return u, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
