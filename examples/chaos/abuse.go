package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The reference server's limits (examples/server: App.Serve, limitBody)
// that the probes hold it to, with some slack for a loaded machine.
const (
	headerCutoff = 5 * time.Second  // ReadHeaderTimeout
	bodyCutoff   = 30 * time.Second // ReadTimeout
	maxBody      = 1 << 20          // MaxBodyBytes
	slack        = 5 * time.Second
)

// Probe is the result of one abuse probe.
type Probe struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Result string `json:"result"`
	TookMS int64  `json:"tookMs"`
}

// runProbes runs every abuse probe against the server on port, in parallel
// (they take up to the body read timeout). admin and user are valid
// tokens; the probes check that nothing they send changes the user's
// sales.
func runProbes(ctx context.Context, port int, admin, user string) []Probe {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	before, berr := countSales(ctx, addr, user)
	probes := []func(context.Context, string, string, string) Probe{
		probeSlowHeaders, probeSlowLorisCrowd, probeSlowBody, probeSizedBody, probeChunkedBody,
		probeHugeHeaders, probeForgedTokens,
	}
	out := make([]Probe, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() {
			start := time.Now()
			out[i] = p(ctx, addr, admin, user)
			out[i].TookMS = time.Since(start).Milliseconds()
		})
	}
	wg.Wait()
	after, aerr := countSales(ctx, addr, user)
	state := Probe{Name: "rejected requests changed nothing", OK: berr == nil && aerr == nil && before == after,
		Result: fmt.Sprintf("the user's sales: %d before, %d after", before, after)}
	if err := errors.Join(berr, aerr); err != nil {
		state.Result = err.Error()
	}
	return append(out, state)
}

// countSales returns how many sales the token's user has.
func countSales(ctx context.Context, addr, token string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/sales?limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var page struct {
		Meta struct {
			Total int64 `json:"total"`
		} `json:"meta"`
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /sales: %s", res.Status)
	}
	err = json.NewDecoder(res.Body).Decode(&page)
	return page.Meta.Total, err
}

// cutoff is how a slow connection ended.
type cutoff struct {
	after  time.Duration
	status int   // the status the server answered, 0 when it just closed
	sent   int64 // bytes the client had written
	err    error // the client gave up first (the server never cut it off)
}

func (c cutoff) String() string {
	how := "closed the connection"
	if c.status != 0 {
		how = fmt.Sprintf("answered %d", c.status)
	}
	if c.err != nil {
		return fmt.Sprintf("not cut off: %v after %v (%d bytes sent)", c.err, c.after.Round(time.Millisecond), c.sent)
	}
	return fmt.Sprintf("server %s after %v (%d bytes sent)", how, c.after.Round(time.Millisecond), c.sent)
}

// trickle writes head at once, then rest one chunk every interval, and
// reports how the server ended the connection. It gives up after limit.
func trickle(ctx context.Context, addr, head string, rest func(i int) []byte, interval, limit time.Duration) cutoff {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return cutoff{err: err}
	}
	defer conn.Close()
	var sent atomic.Int64
	n, _ := io.WriteString(conn, head)
	sent.Add(int64(n))
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			b := rest(i)
			if b == nil {
				return
			}
			n, err := conn.Write(b)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(start.Add(limit))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	c := cutoff{after: time.Since(start), sent: sent.Load()}
	switch {
	case err == nil:
		c.status = res.StatusCode
		res.Body.Close()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), isReset(err):
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.err = fmt.Errorf("still open after %v", limit)
		} else {
			c.err = err
		}
	}
	return c
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// probeSlowHeaders sends the headers one byte every half second: the
// server must drop it by its header timeout.
func probeSlowHeaders(ctx context.Context, addr, _, _ string) Probe {
	head := "GET /books HTTP/1.1\r\nHost: " + addr + "\r\n"
	hdr := []byte("X-Slow-Loris: " + strings.Repeat("a", 1000))
	c := trickle(ctx, addr, head, func(i int) []byte {
		if i >= len(hdr) {
			return nil
		}
		return hdr[i : i+1]
	}, 500*time.Millisecond, 60*time.Second)
	return Probe{Name: "slow-loris: headers at 2 bytes/s", OK: c.err == nil && c.after <= headerCutoff+slack, Result: c.String()}
}

// probeSlowLorisCrowd holds 200 slow-header connections open while a
// normal client keeps asking: the normal client must be served, and every
// slow connection cut off.
func probeSlowLorisCrowd(ctx context.Context, addr, _, _ string) Probe {
	const n = 200
	results := make([]cutoff, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = trickle(ctx, addr, "GET /books HTTP/1.1\r\nHost: x\r\nX-A: ", func(int) []byte { return []byte("a") },
				time.Second, 60*time.Second)
		})
	}
	time.Sleep(500 * time.Millisecond)
	client := &http.Client{Timeout: 5 * time.Second}
	var served, failed int
	var worst time.Duration
	for range 20 {
		start := time.Now()
		res, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		if err == nil && res.StatusCode == http.StatusOK {
			served++
		} else {
			failed++
		}
		worst = max(worst, time.Since(start))
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	var slowest time.Duration
	open := 0
	for _, c := range results {
		if c.err != nil {
			open++
		}
		slowest = max(slowest, c.after)
	}
	return Probe{
		Name: "slow-loris: 200 connections at once",
		OK:   failed == 0 && worst < 2*time.Second && open == 0 && slowest <= headerCutoff+slack,
		Result: fmt.Sprintf("normal requests meanwhile: %d served, %d failed, slowest %v; slow connections: %d not cut off, last cut after %v",
			served, failed, worst.Round(time.Millisecond), open, slowest.Round(time.Millisecond)),
	}
}

// probeSlowBody sends a sale's headers at once and its body one byte a
// second: the server must give up by its read timeout, and sell nothing.
func probeSlowBody(ctx context.Context, addr, _, user string) Probe {
	const size = 200
	head := "POST /sales HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + user +
		"\r\nContent-Type: application/json\r\nIdempotency-Key: slow-body\r\nContent-Length: " + fmt.Sprint(size) + "\r\n\r\n"
	c := trickle(ctx, addr, head, func(i int) []byte {
		if i >= size-1 {
			return nil // never complete it
		}
		return []byte(" ")
	}, time.Second, 90*time.Second)
	return Probe{
		Name:   "slow body: 1 byte/s",
		OK:     c.err == nil && c.after <= bodyCutoff+slack && (c.status == 0 || c.status == http.StatusRequestTimeout || c.status == http.StatusBadRequest),
		Result: c.String(),
	}
}

// probeSizedBody announces a body over the limit: 413 at once, before any
// of it is sent.
func probeSizedBody(ctx context.Context, addr, _, user string) Probe {
	head := "POST /sales HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + user +
		"\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(64<<20) + "\r\n\r\n"
	c := trickle(ctx, addr, head, func(int) []byte { return nil }, time.Second, 30*time.Second)
	return Probe{
		Name:   "oversized body: Content-Length 64 MiB",
		OK:     c.err == nil && c.status == http.StatusRequestEntityTooLarge && c.after < 2*time.Second,
		Result: c.String(),
	}
}

// probeChunkedBody streams a chunked body without end: the server must
// answer 413 once it read past the limit and stop reading.
func probeChunkedBody(ctx context.Context, addr, _, user string) Probe {
	head := "POST /sales HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + user +
		"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
	chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("x", 64<<10)))
	const most = 1024 // chunks: 64 MiB
	c := trickle(ctx, addr, head, func(i int) []byte {
		if i >= most {
			return nil
		}
		return chunk
	}, time.Millisecond, 60*time.Second)
	return Probe{
		Name:   "oversized body: endless chunked stream",
		OK:     c.err == nil && c.status == http.StatusRequestEntityTooLarge && c.sent < 32<<20,
		Result: c.String() + fmt.Sprintf(" (limit %d bytes)", maxBody),
	}
}

// probeHugeHeaders sends 1 MiB of headers: 431.
func probeHugeHeaders(ctx context.Context, addr, _, _ string) Probe {
	head := "GET /books HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + strings.Repeat("a", 1<<20) + "\r\n\r\n"
	c := trickle(ctx, addr, head, func(int) []byte { return nil }, time.Second, 30*time.Second)
	return Probe{
		Name:   "oversized headers: 1 MiB token",
		OK:     c.err == nil && (c.status == http.StatusRequestHeaderFieldsTooLarge || c.status == 0) && c.after < 5*time.Second,
		Result: c.String(),
	}
}

// probeForgedTokens tries tokens the server tests do not: alg none in
// other spellings, an empty signature, a key embedded in the header, a
// kid pointing at a file, and a token in the query string. Each must be
// 401 on an admin route.
func probeForgedTokens(ctx context.Context, addr, admin, _ string) Probe {
	enc := base64.RawURLEncoding.EncodeToString
	claims := enc([]byte(fmt.Sprintf(`{"sub":"mallory","role":"admin","exp":%d}`, time.Now().Add(time.Hour).Unix())))
	unsigned := func(header string) string { return enc([]byte(header)) + "." + claims + "." }
	parts := strings.Split(admin, ".")
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwk := map[string]any{"kty": "RSA", "n": enc(key.N.Bytes()), "e": enc(big.NewInt(int64(key.E)).Bytes())}
	embedded := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "mallory", "role": "admin", "exp": time.Now().Add(time.Hour).Unix()})
	embedded.Header["jwk"] = jwk
	embeddedTok, _ := embedded.SignedString(key)
	kid := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "mallory", "role": "admin", "exp": time.Now().Add(time.Hour).Unix()})
	kid.Header["kid"] = "../../../../dev/null"
	kidTok, _ := kid.SignedString([]byte{})
	cases := []struct{ name, auth, query string }{
		{"alg None", "Bearer " + unsigned(`{"alg":"None","typ":"JWT"}`), ""},
		{"alg NONE", "Bearer " + unsigned(`{"alg":"NONE","typ":"JWT"}`), ""},
		{"alg nOnE", "Bearer " + unsigned(`{"alg":"nOnE"}`), ""},
		{"no alg", "Bearer " + unsigned(`{"typ":"JWT"}`), ""},
		{"HS256, empty signature", "Bearer " + parts[0] + "." + parts[1] + ".", ""},
		{"HS256, signature cut", "Bearer " + parts[0] + "." + parts[1] + "." + parts[2][:10], ""},
		{"RS256 with its key in the jwk header", "Bearer " + embeddedTok, ""},
		{"kid pointing at /dev/null, empty HMAC key", "Bearer " + kidTok, ""},
		{"token in the query string", "", "?access_token=" + admin},
		{"token twice", "Bearer " + admin + " " + admin, ""},
	}
	var bad []string
	for _, c := range cases {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/stock-movements"+c.query, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			bad = append(bad, c.name+": "+err.Error())
			continue
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			bad = append(bad, fmt.Sprintf("%s: %d", c.name, res.StatusCode))
		}
	}
	r := fmt.Sprintf("%d forged tokens, all 401", len(cases))
	if len(bad) > 0 {
		r = "not 401: " + strings.Join(bad, "; ")
	}
	return Probe{Name: "forged tokens", OK: len(bad) == 0, Result: r}
}
