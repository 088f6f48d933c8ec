package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/salesflow/salesflow/eventbus"
)

// MaxBodyBytes bounds a request body; a larger one is answered 413.
const MaxBodyBytes = 1 << 20

// reqInfo is what the middlewares learn about a request: its id, the route
// the mux matched (set after routing, so the outermost middleware can read
// it), and the body, read once by limitBody.
type reqInfo struct {
	id    string
	route string
	body  []byte
	log   *slog.Logger
}

type reqInfoKey struct{}

func infoOf(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return ri
	}
	return nil
}

// requestID returns the id of the request ctx belongs to, or "".
func requestID(ctx context.Context) string {
	if ri := infoOf(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// logger returns the server's logger from ctx, or a discarding one.
func logger(ctx context.Context) *slog.Logger {
	if ri := infoOf(ctx); ri != nil && ri.log != nil {
		return ri.log
	}
	return slog.New(slog.DiscardHandler)
}

// validRequestID accepts a client's X-Request-Id when it is short printable
// ASCII, so that it can go into logs as it is.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives each request an id (the client's X-Request-Id when sane),
// writes one access-log line and records the latency by route and status.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set("X-Request-Id", id)
		ri := &reqInfo{id: id, log: s.log}
		sw := &statusWriter{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), reqInfoKey{}, ri)
		// A W3C trace context goes on to the events the request causes
		// (their traceparent header); an invalid one is ignored.
		ctx = eventbus.WithTraceParent(ctx, r.Header.Get("traceparent"))
		next.ServeHTTP(sw, r.WithContext(ctx))

		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		route := ri.route
		if route == "" {
			route = "unmatched"
		}
		took := time.Since(start)
		if s.metrics != nil {
			s.metrics.httpDuration.WithLabelValues(route, strconv.Itoa(status)).Observe(took.Seconds())
		}
		level := slog.LevelInfo
		switch route {
		case "GET /healthz", "GET /readyz", "GET /metrics":
			level = slog.LevelDebug
		}
		s.log.LogAttrs(r.Context(), level, "http request",
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("route", route), slog.Int("status", status), slog.Int64("bytes", sw.bytes),
			slog.Duration("took", took), slog.String("remote", r.RemoteAddr))
	})
}

// recoverer turns a panic into a logged 500.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			ctx := r.Context()
			logger(ctx).LogAttrs(ctx, slog.LevelError, "panic", slog.String("request_id", requestID(ctx)),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			if sw, ok := w.(*statusWriter); !ok || sw.status == 0 {
				writeProblem(w, r, newProblem(http.StatusInternalServerError, codeInternal,
					"unexpected error; the server log has it under this request id"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody reads the whole body up front: a body over MaxBodyBytes is 413,
// and a body that cannot be read (the client stopped sending) is 400 rather
// than the 500 it would become deeper down. A body sent with a content
// coding (gzip, br, ...) is 415 with Accept-Encoding: identity (RFC 9110
// 15.5.16), rather than read as if it were not encoded. The body is kept
// in reqInfo for the idempotency fingerprint and handed on as a fresh
// reader.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if ce := r.Header.Values("Content-Encoding"); !identity(ce) {
			w.Header().Set("Accept-Encoding", "identity")
			writeProblem(w, r, newProblem(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
				"the request body must not be encoded (Content-Encoding: identity or none)"))
			return
		}
		tooLarge := newProblem(http.StatusRequestEntityTooLarge, codeTooLarge,
			fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes))
		if r.ContentLength > MaxBodyBytes {
			w.Header().Set("Connection", "close")
			writeProblem(w, r, tooLarge)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		switch {
		case len(body) > MaxBodyBytes:
			w.Header().Set("Connection", "close")
			writeProblem(w, r, tooLarge)
			return
		case err != nil:
			status := http.StatusBadRequest
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				status = http.StatusRequestTimeout
			}
			writeProblem(w, r, newProblem(status, codeMalformed, "the request body could not be read"))
			return
		case !utf8.Valid(body):
			// JSON is UTF-8 (RFC 8259); the decoder would silently turn
			// the bad bytes into U+FFFD and store text the client never sent.
			writeProblem(w, r, newProblem(http.StatusBadRequest, codeMalformed, "the request body is not valid UTF-8"))
			return
		}
		if ri := infoOf(r.Context()); ri != nil {
			ri.body = body
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// identity reports whether the Content-Encoding values ce name no coding
// but identity.
func identity(ce []string) bool {
	for _, v := range ce {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return false
			}
		}
	}
	return true
}

// routed serves mux, records the route it matched, and answers the mux's
// own 404 and 405 with problem documents.
func routed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		if pattern == "" {
			pw := &problemWriter{ResponseWriter: w, r: r}
			mux.ServeHTTP(pw, r)
			return
		}
		if ri := infoOf(r.Context()); ri != nil {
			ri.route = pattern // before the handler: problems name where a field was by it
		}
		mux.ServeHTTP(w, r)
	})
}

// problemWriter replaces the mux's plain-text error with a problem document.
type problemWriter struct {
	http.ResponseWriter
	r       *http.Request
	written bool
}

func (w *problemWriter) WriteHeader(code int) {
	if w.written {
		return
	}
	w.written = true
	if code < 400 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	detail := "no such resource"
	if code == http.StatusMethodNotAllowed {
		detail = "method not allowed here; see the Allow header"
	}
	w.Header().Del("X-Content-Type-Options")
	writeProblem(w.ResponseWriter, w.r, newProblem(code, strings.ReplaceAll(strings.ToLower(http.StatusText(code)), " ", "_"), detail))
}

func (w *problemWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}
