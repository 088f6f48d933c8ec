package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// runRoles checks roles and ownership through HTTP only: refused writes
// change nothing, and another user can neither see nor move a user's sale,
// nor learn anything of it from the refusal.
func runRoles(t *testing.T, tg *target) {
	book := tg.createBook(t, "5.00", 10)
	r := tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"customerName":"Secret Customer","notes":"secret note","items":[{"bookId":%q,"quantity":1}]}`, book))
	want(t, r, http.StatusCreated, "user creates a sale")
	saleID := r.obj(t)["id"].(string)
	bookBefore := tg.req(t, "GET", "/books/"+book, tg.admin, nil)
	want(t, bookBefore, http.StatusOK, "the book")
	booksBefore := tg.total(t, "/books?limit=1")

	routes := []struct {
		method, path, body string
		adminOnly          bool
	}{
		{"POST", "/sales", fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, book), false},
		{"GET", "/sales", "", false},
		{"GET", "/sales/" + saleID, "", false},
		{"GET", "/sales/summary?startDate=2025-01-01&endDate=2025-01-31", "", true},
		{"PATCH", "/sales/" + saleID + "/status", `{"status":"CANCELLED"}`, true},
		{"POST", "/books", `{"title":"T","author":"A","price":"1.00"}`, true},
		{"GET", "/books", "", false},
		{"GET", "/books/" + book, "", false},
		{"PATCH", "/books/" + book, `{"title":"New"}`, true},
		{"GET", "/inventory", "", false},
		{"GET", "/inventory/" + book, "", false},
		{"POST", "/inventory/" + book + "/movements", `{"type":"PURCHASE","quantity":1}`, true},
		{"GET", "/stock-movements", "", true},
		{"GET", "/analytics/books", "", true},
		{"GET", "/analytics/books/" + book, "", true},
	}
	for _, rt := range routes {
		name := rt.method + " " + rt.path
		var body any
		if rt.body != "" {
			body = rt.body
		}
		r := tg.req(t, rt.method, rt.path, "", body)
		want(t, r, http.StatusUnauthorized, name+" without a token")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", name, r.header.Get("WWW-Authenticate"))
		}
		want(t, tg.req(t, rt.method, rt.path, "not.a.jwt", body), http.StatusUnauthorized, name+" with a bad token")
		if rt.adminOnly {
			want(t, tg.req(t, rt.method, rt.path, tg.user, body), http.StatusForbidden, name+" as a user")
		}
	}
	// Nothing changed by the refused writes.
	if on, res, _ := tg.stock(t, book); on != 10 || res != 1 {
		t.Fatalf("stock after refused writes: onHand %d reserved %d, want 10 1", on, res)
	}
	if r := tg.req(t, "GET", "/books/"+book, tg.admin, nil); !bytes.Equal(r.body, bookBefore.body) {
		t.Fatalf("book after refused writes:\n%s\nwas\n%s", r, bookBefore)
	}
	if n := tg.total(t, "/books?limit=1"); n != booksBefore {
		t.Fatalf("books after refused writes: %d, was %d", n, booksBefore)
	}

	// Ownership: another user's sale is not found, in any form; moving it
	// is for admins only (403 before the sale is looked up); no answer
	// tells anything of it.
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/sales/" + saleID, "", http.StatusNotFound},
		{"PATCH", "/sales/" + saleID + "/status", `{"status":"COMPLETED","paymentMethod":"CASH"}`, http.StatusForbidden},
		{"PATCH", "/sales/" + saleID + "/status", `{"status":"CANCELLED","reason":"mine now"}`, http.StatusForbidden},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		name := "user2 " + c.method + " " + c.path
		r := tg.req(t, c.method, c.path, tg.user2, body)
		want(t, r, c.status, name)
		for _, secret := range []string{"Secret Customer", "secret note", tg.userSub, "PENDING", "5.00"} {
			if bytes.Contains(r.body, []byte(secret)) {
				t.Fatalf("%s: the answer holds %q: %s", name, secret, r)
			}
		}
	}
	r = tg.req(t, "GET", "/sales/"+saleID, tg.user, nil)
	want(t, r, http.StatusOK, "the owner reads the sale")
	var sale Sale
	r.decode(t, &sale)
	if sale.Status != "PENDING" || sale.Version != 1 {
		t.Fatalf("sale after refused moves: %s version %d", sale.Status, sale.Version)
	}
	var page SalePage
	tg.req(t, "GET", "/sales?sellerId="+tg.userSub, tg.user2, nil).decode(t, &page)
	if len(page.Data) != 0 || page.Meta.Total != 0 {
		t.Fatalf("user2 listing user's sales got %+v", page.Meta)
	}
	tg.req(t, "GET", "/sales?limit=100", tg.user2, nil).decode(t, &page)
	for _, s := range page.Data {
		if s.SellerID == tg.userSub {
			t.Fatalf("user2's list holds user's sale %s", s.ID)
		}
	}
	// The seller is the token's subject, never the body.
	r = tg.req(t, "POST", "/sales", tg.user2, fmt.Sprintf(`{"sellerId":%q,"items":[{"bookId":%q,"quantity":1}]}`, tg.userSub, book))
	want(t, r, http.StatusUnprocessableEntity, "a sellerId in the body")
}

func TestRoles(t *testing.T) {
	t.Parallel()
	runRoles(t, newTarget(t, nil, nil))
}

// keyFiles writes a PEM key pair and returns the public and private paths.
func keyFiles(t *testing.T, pub, priv any) (string, string) {
	t.Helper()
	dir := t.TempDir()
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubPath, privPath := filepath.Join(dir, "pub.pem"), filepath.Join(dir, "priv.pem")
	os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600)
	os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600)
	return pubPath, privPath
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTokens sends forged, expired and incomplete tokens, on HS256, RS256
// and EdDSA servers, to a read and to every write: each is 401, and the
// writes change nothing.
func TestTokens(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)
	rsaPub, rsaPriv := keyFiles(t, &rsaKey.PublicKey, rsaKey)
	edPubPath, _ := keyFiles(t, edPub, edPriv)
	rsaPubPEM, _ := os.ReadFile(rsaPub)

	hs := newTarget(t, nil, nil)
	rs := newTarget(t, func(o *Options) { o.JWTSecret, o.JWTPublicKeyFile, o.JWTPrivateKeyFile = "", rsaPub, rsaPriv }, nil)
	ed := newTarget(t, func(o *Options) { o.JWTSecret, o.JWTPublicKeyFile = "", edPubPath }, nil)

	exp := time.Now().Add(time.Hour).Unix()
	good := jwt.MapClaims{"sub": "u1", "role": "user", "exp": exp}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hsSecret := []byte(testSecret)

	// On each server, a book and a sale that the forged tokens try to
	// change. The EdDSA server has no private key: its tokens are made here.
	ed.admin = sign(t, jwt.SigningMethodEdDSA, edPriv, jwt.MapClaims{"sub": "admin-1", "role": "admin", "exp": exp})
	ed.user = sign(t, jwt.SigningMethodEdDSA, edPriv, jwt.MapClaims{"sub": "user-1", "role": "user", "exp": exp})
	type fixture struct {
		book, sale string
		before     state
	}
	fixtures := map[*target]*fixture{}
	for _, tg := range []*target{hs, rs, ed} {
		f := &fixture{book: tg.createBook(t, "1.00", 10)}
		r := tg.req(t, "POST", "/sales", tg.user, fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, f.book))
		want(t, r, http.StatusCreated, "a sale")
		f.sale = r.obj(t)["id"].(string)
		f.before = tg.snapshot(t, []string{f.book}, []string{f.sale})
		fixtures[tg] = f
	}
	writes := func(f *fixture) [][3]string {
		return [][3]string{
			{"POST", "/sales", fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":1}]}`, f.book)},
			{"PATCH", "/sales/" + f.sale + "/status", `{"status":"CANCELLED","reason":"forged"}`},
			{"POST", "/books", `{"title":"Forged","author":"A","price":"1.00","stock":5}`},
			{"PATCH", "/books/" + f.book, `{"title":"Forged"}`},
			{"POST", "/inventory/" + f.book + "/movements", `{"type":"PURCHASE","quantity":1}`},
		}
	}

	for _, tc := range []struct {
		name   string
		tg     *target
		token  string
		status int
	}{
		{"HS256 valid", hs, sign(t, jwt.SigningMethodHS256, hsSecret, good), http.StatusOK},
		{"HS256 expired", hs, sign(t, jwt.SigningMethodHS256, hsSecret, with("exp", time.Now().Add(-time.Hour).Unix())), http.StatusUnauthorized},
		{"HS256 no exp", hs, sign(t, jwt.SigningMethodHS256, hsSecret, with("exp", nil)), http.StatusUnauthorized},
		{"HS256 wrong secret", hs, sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-another"), good), http.StatusUnauthorized},
		{"HS256 no sub", hs, sign(t, jwt.SigningMethodHS256, hsSecret, with("sub", nil)), http.StatusUnauthorized},
		{"HS256 empty sub", hs, sign(t, jwt.SigningMethodHS256, hsSecret, with("sub", " ")), http.StatusUnauthorized},
		{"HS256 no role", hs, sign(t, jwt.SigningMethodHS256, hsSecret, with("role", nil)), http.StatusUnauthorized},
		{"HS256 unknown role", hs, sign(t, jwt.SigningMethodHS256, hsSecret, with("role", "root")), http.StatusUnauthorized},
		{"HS256 role not a string", hs, sign(t, jwt.SigningMethodHS256, hsSecret, with("role", 1)), http.StatusUnauthorized},
		{"HS256 not yet valid", hs, sign(t, jwt.SigningMethodHS256, hsSecret, with("nbf", time.Now().Add(time.Hour).Unix())), http.StatusUnauthorized},
		{"HS384 refused", hs, sign(t, jwt.SigningMethodHS384, hsSecret, good), http.StatusUnauthorized},
		{"alg none", hs, none, http.StatusUnauthorized},
		{"alg none on RS", rs, none, http.StatusUnauthorized},
		{"RS256 on HS server", hs, sign(t, jwt.SigningMethodRS256, rsaKey, good), http.StatusUnauthorized},
		{"RS256 valid", rs, sign(t, jwt.SigningMethodRS256, rsaKey, good), http.StatusOK},
		{"RS256 other key", rs, sign(t, jwt.SigningMethodRS256, otherRSA, good), http.StatusUnauthorized},
		{"RS256 expired", rs, sign(t, jwt.SigningMethodRS256, rsaKey, with("exp", time.Now().Add(-time.Hour).Unix())), http.StatusUnauthorized},
		{"HS256 keyed with the RSA public key (confusion)", rs, sign(t, jwt.SigningMethodHS256, rsaPubPEM, good), http.StatusUnauthorized},
		{"PS256 on RS server", rs, sign(t, jwt.SigningMethodPS256, rsaKey, good), http.StatusUnauthorized},
		{"EdDSA valid", ed, sign(t, jwt.SigningMethodEdDSA, edPriv, good), http.StatusOK},
		{"EdDSA other key", ed, sign(t, jwt.SigningMethodEdDSA, otherEd, good), http.StatusUnauthorized},
		{"RS256 on EdDSA server", ed, sign(t, jwt.SigningMethodRS256, rsaKey, good), http.StatusUnauthorized},
		{"tampered payload", hs, tamper(sign(t, jwt.SigningMethodHS256, hsSecret, good)), http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.tg.req(t, "GET", "/books", tc.token, nil)
			want(t, r, tc.status, tc.name)
			if tc.status != http.StatusUnauthorized {
				return
			}
			for _, w := range writes(fixtures[tc.tg]) {
				want(t, tc.tg.req(t, w[0], w[1], tc.token, w[2]), http.StatusUnauthorized, tc.name+": "+w[0]+" "+w[1])
			}
		})
	}
	// The forged tokens changed nothing.
	for _, tg := range []*target{hs, rs, ed} {
		f := fixtures[tg]
		unchanged(t, "writes with forged tokens", f.before, tg.snapshot(t, []string{f.book}, []string{f.sale}))
	}

	// The RS server's own tokens (the token command's) work, and Basic is not Bearer.
	tok, err := rs.app.cfg.Auth.Sign(Principal{Subject: "a", Role: RoleAdmin}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want(t, rs.req(t, "POST", "/books", tok, `{"title":"T","author":"A","price":"1"}`), http.StatusCreated, "RS256 admin token")
	want(t, hs.req(t, "GET", "/books", "", nil, "Authorization", "Basic dXNlcjpwYXNz"), http.StatusUnauthorized, "basic auth")
}

// tamper changes the token's payload but keeps its signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u1","role":"admin","exp":9999999999}`))
	return strings.Join(parts, ".")
}

func TestKeyAuthErrors(t *testing.T) {
	t.Parallel()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	big, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	smallPub, _ := keyFiles(t, &small.PublicKey, small)
	bigPub, _ := keyFiles(t, &big.PublicKey, big)
	_, otherPriv := keyFiles(t, &other.PublicKey, other)
	read := func(p string) []byte { b, _ := os.ReadFile(p); return b }
	for _, tc := range []struct {
		name      string
		pub, priv []byte
	}{
		{"not PEM", []byte("hello"), nil},
		{"1024-bit RSA", read(smallPub), nil},
		{"private key of another pair", read(bigPub), read(otherPriv)},
	} {
		if _, err := NewKeyAuth(tc.pub, tc.priv); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := NewHMACAuth([]byte("short")); err == nil {
		t.Error("short secret accepted")
	}
}

// TestTokenCommand checks that token prints the token alone, and that it
// verifies with the same settings.
func TestTokenCommand(t *testing.T) {
	t.Parallel()
	var out, errs bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errs}
	o := testOptions()
	if err := m.Token(o, Principal{Subject: "ana", Role: RoleUser}, time.Hour); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSuffix(out.String(), "\n")
	if strings.ContainsAny(tok, " \n") || strings.Count(tok, ".") != 2 {
		t.Fatalf("token output %q", out.String())
	}
	cfg, _ := o.Config(false)
	p, err := cfg.Auth.Verify(tok)
	if err != nil || p != (Principal{Subject: "ana", Role: RoleUser}) {
		t.Fatalf("verify: %+v %v", p, err)
	}
	for _, bad := range []Principal{{Subject: "ana", Role: "root"}, {Subject: "", Role: RoleUser}} {
		if err := m.Token(o, bad, time.Hour); err == nil {
			t.Errorf("token for %+v: no error", bad)
		}
	}
	o.JWTSecret = ""
	if err := m.Token(o, Principal{Subject: "ana", Role: RoleUser}, time.Hour); err == nil {
		t.Error("token without a secret: no error")
	}
}

// A verified token is remembered until exp plus the leeway, and only
// valid tokens are: a token refused once is refused again, and a
// remembered token's caller is the one its claims name.
func TestVerifyRemembers(t *testing.T) {
	t.Parallel()
	a, err := NewHMACAuth([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1_800_000_000, 0)
	a.now = func() time.Time { return clock }
	tok, err := a.Sign(Principal{Subject: "s-1", Role: RoleUser}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := a.Sign(Principal{Subject: "a-1", Role: RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second time from the cache
		if p, err := a.Verify(tok); err != nil || p != (Principal{Subject: "s-1", Role: RoleUser}) {
			t.Fatalf("verify %d: %+v, %v", i, p, err)
		}
		if p, err := a.Verify(admin); err != nil || p != (Principal{Subject: "a-1", Role: RoleAdmin}) {
			t.Fatalf("verify admin %d: %+v, %v", i, p, err)
		}
	}
	if n := len(a.cache.m); n != 2 {
		t.Fatalf("%d tokens remembered; want 2", n)
	}
	// Remembered, not verified again: with another key only a fresh token
	// would fail.
	key := a.verify
	a.verify = []byte("another-secret-another-secret-another")
	if _, err := a.Verify(tok); err != nil {
		t.Fatalf("a remembered token with another key: %v", err)
	}
	a.verify = key
	// A second before the leeway ends, then its end.
	clock = clock.Add(time.Minute + tokenLeeway - time.Second)
	if _, err := a.Verify(tok); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	clock = clock.Add(time.Second)
	if _, err := a.Verify(tok); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("past the leeway: %v; want expired", err)
	}
	if _, ok := a.cache.m[sha256.Sum256([]byte(tok))]; ok {
		t.Fatal("an expired token is still remembered")
	}
	// A refused token never enters: tampered, it fails every time.
	bad := tamper(admin)
	for i := range 2 {
		if _, err := a.Verify(bad); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			t.Fatalf("tampered %d: %v; want an invalid signature", i, err)
		}
	}
	if n := len(a.cache.m); n != 1 {
		t.Fatalf("%d tokens remembered after the tampered one; want 1 (admin)", n)
	}
	if _, err := a.Verify(admin); err != nil {
		t.Fatalf("admin after the tampered one: %v", err)
	}

	// nbf: refused early (and not remembered), valid from nbf less the
	// leeway, and judged again if the clock then goes back.
	nbf := clock.Add(time.Hour)
	early, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "s-2", "role": "user", "nbf": nbf.Unix(), "exp": nbf.Add(time.Hour).Unix(),
	}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(early); !errors.Is(err, jwt.ErrTokenNotValidYet) {
		t.Fatalf("before nbf: %v; want not valid yet", err)
	}
	if _, ok := a.cache.m[sha256.Sum256([]byte(early))]; ok {
		t.Fatal("a token refused for its nbf is remembered")
	}
	clock = nbf.Add(-tokenLeeway)
	if _, err := a.Verify(early); err != nil {
		t.Fatalf("at nbf less the leeway: %v", err)
	}
	clock = clock.Add(-time.Second)
	if _, err := a.Verify(early); !errors.Is(err, jwt.ErrTokenNotValidYet) {
		t.Fatalf("the clock went back before nbf: %v; want not valid yet", err)
	}
}

// Verify is safe for concurrent use, remembered tokens or not.
func TestVerifyConcurrent(t *testing.T) {
	t.Parallel()
	a, err := NewHMACAuth([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	toks := make([]string, 8)
	for i := range toks {
		if toks[i], err = a.Sign(Principal{Subject: fmt.Sprint("s-", i), Role: RoleUser}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				n := (g + i) % len(toks)
				if p, err := a.Verify(toks[n]); err != nil || p.Subject != fmt.Sprint("s-", n) {
					t.Errorf("verify %d: %+v, %v", n, p, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A full cache drops its expired tokens first, and everything only when
// none had expired; the token being added is always kept.
func TestVerifyCacheBound(t *testing.T) {
	t.Parallel()
	var c tokenCache
	now := time.Unix(1_800_000_000, 0)
	key := func(i int) [sha256.Size]byte { return sha256.Sum256(fmt.Appendf(nil, "t%d", i)) }
	p := Principal{Subject: "s", Role: RoleUser}
	for i := range maxCachedTokens {
		until := now.Add(time.Hour)
		if i%2 == 0 {
			until = now.Add(time.Second)
		}
		c.put(key(i), cachedToken{p: p, until: until}, now)
	}
	if len(c.m) != maxCachedTokens {
		t.Fatalf("%d remembered; want %d", len(c.m), maxCachedTokens)
	}
	later := now.Add(time.Minute)
	c.put(key(-1), cachedToken{p: p, until: later.Add(time.Hour)}, later)
	if want := maxCachedTokens/2 + 1; len(c.m) != want {
		t.Fatalf("after the expired left: %d remembered; want %d", len(c.m), want)
	}
	if _, ok := c.get(key(1), later); !ok {
		t.Fatal("a live token was dropped while expired ones could go")
	}
	for i := range maxCachedTokens {
		c.put(key(maxCachedTokens+i), cachedToken{p: p, until: later.Add(time.Hour)}, later)
	}
	if len(c.m) > maxCachedTokens {
		t.Fatalf("%d remembered; want at most %d", len(c.m), maxCachedTokens)
	}
	if _, ok := c.get(key(2*maxCachedTokens-1), later); !ok {
		t.Fatal("the token just added is not remembered")
	}
}

func BenchmarkVerify(b *testing.B) {
	a, err := NewHMACAuth([]byte(testSecret))
	if err != nil {
		b.Fatal(err)
	}
	tok, err := a.Sign(Principal{Subject: "seller-1", Role: RoleUser}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("remembered", func(b *testing.B) {
		for b.Loop() {
			if _, err := a.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parsed", func(b *testing.B) {
		for b.Loop() {
			clear(a.cache.m)
			if _, err := a.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
