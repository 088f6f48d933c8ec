package testkit

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The checks of the API suite: of the resources' shape and arithmetic, of
// problem documents, and of tokens read without their key.

// moneyRE is a decimal string as the API carries money: "29.99".
var moneyRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

func isMoney(s string) bool { return moneyRE.MatchString(s) }

// rat parses a decimal string, or returns nil for anything else.
func rat(s string) *big.Rat {
	if !isMoney(s) {
		return nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil
	}
	return r
}

// sameMoney reports whether a and b are decimal strings of one amount.
func sameMoney(a, b string) bool {
	x, y := rat(a), rat(b)
	return x != nil && y != nil && x.Cmp(y) == 0
}

// addMoney sums decimal strings, as a decimal string with two places.
func addMoney(ms ...string) string {
	sum := new(big.Rat)
	for _, m := range ms {
		if r := rat(m); r != nil {
			sum.Add(sum, r)
		}
	}
	return sum.FloatString(2)
}

func negMoney(m string) string {
	r := rat(m)
	if r == nil {
		return m
	}
	return new(big.Rat).Neg(r).FloatString(2)
}

// checkSale checks a sale's shape and arithmetic: money as decimal strings,
// line subtotal = unit price × quantity − discount, subtotal = the sum of
// the lines', total = subtotal − discount + tax, times in RFC 3339 UTC.
func checkSale(s apiSale) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, err := uuid.Parse(s.ID); err != nil {
		bad("id %q is not a UUID", s.ID)
	}
	switch s.Status {
	case "PENDING", "COMPLETED", "CANCELLED":
	default:
		bad("status %q", s.Status)
	}
	if s.Version < 1 {
		bad("version %d < 1", s.Version)
	}
	if s.SellerID == "" {
		bad("empty sellerId")
	}
	if len(s.Currency) != 3 {
		bad("currency %q is not an ISO 4217 code", s.Currency)
	}
	for name, m := range map[string]string{"subtotal": s.Subtotal, "discount": s.Discount, "tax": s.Tax, "total": s.Total} {
		if !isMoney(m) {
			bad("%s %q is not a decimal string", name, m)
		}
	}
	if len(s.Items) == 0 {
		bad("no items")
	}
	var lines []string
	for i, l := range s.Items {
		if !isMoney(l.UnitPrice) || !isMoney(l.Discount) || !isMoney(l.Subtotal) {
			bad("items[%d]: money not decimal strings: %+v", i, l)
			continue
		}
		want := new(big.Rat).Mul(rat(l.UnitPrice), new(big.Rat).SetInt64(l.Quantity))
		want.Sub(want, rat(l.Discount))
		if want.Cmp(rat(l.Subtotal)) != 0 {
			bad("items[%d]: subtotal %s, want %s × %d − %s", i, l.Subtotal, l.UnitPrice, l.Quantity, l.Discount)
		}
		lines = append(lines, l.Subtotal)
	}
	if len(errs) == 0 {
		if sum := addMoney(lines...); !sameMoney(sum, s.Subtotal) {
			bad("subtotal %s, want the lines' %s", s.Subtotal, sum)
		}
		if want := addMoney(s.Subtotal, negMoney(s.Discount), s.Tax); !sameMoney(want, s.Total) {
			bad("total %s, want subtotal − discount + tax = %s", s.Total, want)
		}
		if rat(s.Tax).Sign() < 0 {
			bad("negative tax %s", s.Tax)
		}
	}
	times := map[string]*string{"createdAt": &s.CreatedAt, "updatedAt": &s.UpdatedAt, "paidAt": s.PaidAt, "cancelledAt": s.CancelledAt}
	for name, v := range times {
		if v == nil {
			continue
		}
		if err := checkTime(*v); err != nil {
			bad("%s: %v", name, err)
		}
	}
	if (s.PaidAt != nil) != (s.PaymentMethod != nil) {
		bad("paidAt and paymentMethod must be set together")
	}
	if len(errs) > 0 {
		return fmt.Errorf("sale %s: %w", s.ID, errors.Join(errs...))
	}
	return nil
}

// checkTime checks an RFC 3339 time in UTC.
func checkTime(v string) error {
	tm, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("%q is not RFC 3339", v)
	}
	if _, off := tm.Zone(); off != 0 {
		return fmt.Errorf("%q is not UTC", v)
	}
	return nil
}

// leakMarkers are signs of internal text in an error: stack traces, Go
// source paths and type names, driver and database messages.
var leakMarkers = []string{
	"goroutine ", "panic", "runtime error", "nil pointer", ".go:", "sqlstate", "pgx", "pgconn",
	"postgres", "syntax error at", "duplicate key", "violates", "database/sql", "sql: ", "franz",
	"kafka", "/usr/local/go", "github.com/", "stack trace", "go value of type", "go struct field",
}

// checkProblem checks that r is an RFC 9457 problem document: the media
// type application/problem+json, a JSON object whose status member is the
// HTTP status, and no internal text.
func checkProblem(r apiReply) error {
	mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "application/problem+json" {
		return fmt.Errorf("content type %q, want application/problem+json: %v", r.header.Get("Content-Type"), r)
	}
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		return fmt.Errorf("problem is not a JSON object (%v): %v", err, r)
	}
	if st, ok := p["status"].(float64); !ok || int(st) != r.status {
		return fmt.Errorf("problem status member %v, want %d: %v", p["status"], r.status, r)
	}
	for _, m := range []string{"title", "detail", "type", "instance"} {
		if v, ok := p[m]; ok && v != nil {
			if _, ok := v.(string); !ok {
				return fmt.Errorf("problem member %s is not a string: %v", m, r)
			}
		}
	}
	low := strings.ToLower(strings.Join(problemText(p), "\n"))
	for _, m := range leakMarkers {
		if strings.Contains(low, m) {
			return fmt.Errorf("problem holds internal text (%q): %v", m, r)
		}
	}
	return nil
}

// notText are the members of a problem that are not its prose: ids, links
// and the client's own input echoed back.
var notText = map[string]bool{"type": true, "instance": true, "$schema": true, "requestId": true, "value": true, "location": true}

// problemText returns the prose of a problem document: its string members
// at any depth, save those of notText.
func problemText(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, problemText(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for k, e := range v {
			if !notText[k] {
				out = append(out, problemText(e)...)
			}
		}
		return out
	}
	return nil
}

// problem checks that r is a problem document with one of the statuses
// want, or any 4xx when want is empty.
func problem(r apiReply, want ...int) error {
	ok := len(want) == 0 && r.status >= 400 && r.status < 500
	for _, w := range want {
		ok = ok || r.status == w
	}
	if !ok {
		w := "a 4xx"
		if len(want) > 0 {
			w = fmt.Sprint(want)
		}
		return fmt.Errorf("got status %d, want %s: %v", r.status, w, r)
	}
	return checkProblem(r)
}

// wantProblem fails the case unless r is a problem with a status in want
// (any 4xx when want is empty).
func (s *session) wantProblem(r apiReply, want ...int) {
	s.t.Helper()
	if err := problem(r, want...); err != nil {
		s.t.Errorf("%v", err)
	}
}

// tokenSubject returns the sub claim of a JWT, read without checking its
// signature, or "" when token is not a JWT with one.
func tokenSubject(token string) string {
	claims := tokenClaims(token)
	sub, _ := claims["sub"].(string)
	return sub
}

func tokenClaims(token string) map[string]any {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var claims map[string]any
	if json.Unmarshal(b, &claims) != nil {
		return nil
	}
	return claims
}

// forgeToken returns token with its claims replaced by claims and its
// header and signature kept: a token whose signature no longer matches.
func forgeToken(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

// unsignedToken returns an alg "none" JWT carrying claims.
func unsignedToken(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}
