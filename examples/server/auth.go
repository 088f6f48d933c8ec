package main

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/golang-jwt/jwt/v5"
)

// Role is what a token's bearer may do.
type Role string

// The roles. Admins do everything; users sell and read their own sales and
// the catalog.
const (
	RoleAdmin Role = "admin"
	RoleUser  Role = "user"
)

// Principal is the caller a valid token names.
type Principal struct {
	Subject string // the sub claim: the seller of the sales the caller makes
	Role    Role
}

// MinSecretLen is the shortest HS256 secret Auth accepts, in bytes.
const MinSecretLen = 32

// maxSubjectLen bounds the sub claim, which becomes a sale's sellerId.
const maxSubjectLen = 200

// Auth verifies bearer JWTs with one pinned algorithm: HS256 with a shared
// secret, or RS256 or EdDSA with a public key. It also signs tokens when it
// holds the secret or the private key. It is safe for concurrent use.
type Auth struct {
	method jwt.SigningMethod
	verify any // []byte, *rsa.PublicKey or ed25519.PublicKey
	sign   any // nil when the Auth cannot sign
	now    func() time.Time
	cache  tokenCache
}

// tokenLeeway is the clock skew Verify allows on a token's time claims.
const tokenLeeway = 30 * time.Second

// maxCachedTokens bounds the tokens Verify remembers.
const maxCachedTokens = 10_000

// tokenCache remembers the tokens that passed Verify, by their SHA-256,
// with their caller, while their time claims hold: parsing and checking a
// token again was about 5 % of the server's CPU under load, and clients
// send the same token with every request. Only valid tokens enter it, and
// a valid token's claims cannot change; the algorithm and keys of an Auth
// are fixed. When it is full, the expired tokens leave, and if that does
// not bring it under three quarters full, all of them do (they are
// verified again on their next use), so that the sweep under the lock
// runs once in a quarter of its size of new tokens at most.
type tokenCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]cachedToken
}

// cachedToken is a verified token's caller and the instants, leeway
// included, between which it is valid: from notBefore (nbf, when the token
// has one) until the first instant it is refused (exp).
type cachedToken struct {
	p                Principal
	notBefore, until time.Time
}

func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[key]
	switch {
	case !ok:
		return Principal{}, false
	case !now.Before(t.until):
		delete(c.m, key)
		return Principal{}, false
	case now.Before(t.notBefore): // the clock went back: judge it afresh
		return Principal{}, false
	}
	return t.p, true
}

func (c *tokenCache) put(key [sha256.Size]byte, t cachedToken, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]cachedToken)
	}
	if len(c.m) >= maxCachedTokens {
		for k, v := range c.m {
			if !now.Before(v.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) > maxCachedTokens*3/4 {
			clear(c.m)
		}
	}
	c.m[key] = t
}

// NewHMACAuth returns an Auth for HS256 tokens signed with secret, which
// must be at least MinSecretLen bytes.
func NewHMACAuth(secret []byte) (*Auth, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("JWT secret is %d bytes; use at least %d (openssl rand -hex 32)", len(secret), MinSecretLen)
	}
	return &Auth{method: jwt.SigningMethodHS256, verify: secret, sign: secret, now: time.Now}, nil
}

// NewKeyAuth returns an Auth that verifies with the PEM public key (PKIX:
// RSA for RS256, Ed25519 for EdDSA) and, when privatePEM is not empty,
// signs with the matching PEM private key.
func NewKeyAuth(publicPEM, privatePEM []byte) (*Auth, error) {
	a := &Auth{now: time.Now}
	if pub, err := jwt.ParseRSAPublicKeyFromPEM(publicPEM); err == nil {
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA public key has %d bits; use at least 2048", pub.N.BitLen())
		}
		a.method, a.verify = jwt.SigningMethodRS256, pub
	} else if pub, err := jwt.ParseEdPublicKeyFromPEM(publicPEM); err == nil {
		a.method, a.verify = jwt.SigningMethodEdDSA, pub
	} else {
		return nil, errors.New("JWT public key: not a PEM RSA or Ed25519 public key")
	}
	if len(privatePEM) == 0 {
		return a, nil
	}
	switch pub := a.verify.(type) {
	case *rsa.PublicKey:
		k, err := jwt.ParseRSAPrivateKeyFromPEM(privatePEM)
		if err != nil {
			return nil, fmt.Errorf("JWT private key: %w", err)
		}
		if !k.PublicKey.Equal(pub) {
			return nil, errors.New("JWT private key does not match the public key")
		}
		a.sign = k
	case ed25519.PublicKey:
		k, err := jwt.ParseEdPrivateKeyFromPEM(privatePEM)
		if err != nil {
			return nil, fmt.Errorf("JWT private key: %w", err)
		}
		if !k.(crypto.Signer).Public().(ed25519.PublicKey).Equal(pub) {
			return nil, errors.New("JWT private key does not match the public key")
		}
		a.sign = k
	}
	return a, nil
}

// Algorithm returns the one algorithm the Auth accepts, such as "HS256".
func (a *Auth) Algorithm() string { return a.method.Alg() }

// CanSign reports whether Sign works.
func (a *Auth) CanSign() bool { return a.sign != nil }

type claims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

// Sign returns a token for p valid for ttl.
func (a *Auth) Sign(p Principal, ttl time.Duration) (string, error) {
	if a.sign == nil {
		return "", errors.New("no signing key: set JWT_SECRET, or JWT_PRIVATE_KEY_FILE with JWT_PUBLIC_KEY_FILE")
	}
	if err := checkPrincipal(p); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", fmt.Errorf("token ttl %v is not positive", ttl)
	}
	now := a.now()
	c := claims{Role: string(p.Role), RegisteredClaims: jwt.RegisteredClaims{
		Subject: p.Subject, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(a.method, c).SignedString(a.sign)
}

func checkPrincipal(p Principal) error {
	switch {
	case p.Role != RoleAdmin && p.Role != RoleUser:
		return fmt.Errorf("role %q: want admin or user", p.Role)
	case strings.TrimSpace(p.Subject) == "" || len(p.Subject) > maxSubjectLen || !utf8.ValidString(p.Subject):
		return fmt.Errorf("sub must be 1 to %d bytes of text", maxSubjectLen)
	case strings.ContainsFunc(p.Subject, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("sub must not contain control characters")
	}
	return nil
}

// Verify checks token's signature with the pinned algorithm (so alg none
// and HS/RS key confusion fail), requires exp in the future (30 s leeway),
// and sub and role claims, and returns the caller. A token that passed is
// remembered while it is valid (see tokenCache).
func (a *Auth) Verify(token string) (Principal, error) {
	key := sha256.Sum256([]byte(token))
	now := a.now()
	if p, ok := a.cache.get(key, now); ok {
		return p, nil
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.verify, nil },
		jwt.WithValidMethods([]string{a.method.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return Principal{}, err
	}
	p := Principal{Subject: c.Subject, Role: Role(c.Role)}
	if err := checkPrincipal(p); err != nil {
		return Principal{}, fmt.Errorf("%w: %v", errBadClaims, err)
	}
	t := cachedToken{p: p, until: c.ExpiresAt.Add(tokenLeeway)}
	if c.NotBefore != nil {
		t.notBefore = c.NotBefore.Add(-tokenLeeway)
	}
	a.cache.put(key, t, now)
	return p, nil
}

// tokenProblem says why a token was refused, in words fit for the client
// (the JWT library's messages can name Go types).
func tokenProblem(err error) string {
	for _, e := range []struct {
		target error
		text   string
	}{
		{jwt.ErrTokenExpired, "token is expired"},
		{jwt.ErrTokenNotValidYet, "token is not valid yet"},
		{jwt.ErrTokenUsedBeforeIssued, "token is used before it was issued"},
		{jwt.ErrTokenRequiredClaimMissing, "a required claim (exp) is missing"},
		{jwt.ErrTokenSignatureInvalid, "signature is invalid"},
		{jwt.ErrTokenUnverifiable, "token cannot be verified: its algorithm is not the one this server accepts"},
		{jwt.ErrTokenMalformed, "token is malformed or a claim has the wrong type"},
		{errBadClaims, ""},
	} {
		if errors.Is(err, e.target) {
			if e.text == "" {
				return err.Error()
			}
			return e.text
		}
	}
	return "token is invalid"
}

// errBadClaims marks a token whose sub or role is missing or wrong.
var errBadClaims = errors.New("token claims")

type principalKey struct{}

// principal returns the caller that authorize let through.
func principal(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// authorize is the middleware of a protected operation: 401 without a valid
// bearer token, 403 when the token's role is not among roles.
func (s *server) authorize(roles ...Role) func(huma.Context, func(huma.Context)) {
	return func(hctx huma.Context, next func(huma.Context)) {
		scheme, token, _ := strings.Cut(hctx.Header("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			hctx.SetHeader("WWW-Authenticate", `Bearer realm="salesflow"`)
			s.writeError(hctx, newProblem(http.StatusUnauthorized, codeUnauthorized, "missing bearer token: send Authorization: Bearer <JWT>"))
			return
		}
		p, err := s.auth.Verify(token)
		if err != nil {
			hctx.SetHeader("WWW-Authenticate", `Bearer realm="salesflow", error="invalid_token"`)
			s.writeError(hctx, newProblem(http.StatusUnauthorized, codeUnauthorized, "invalid bearer token: "+tokenProblem(err)))
			return
		}
		if !slices.Contains(roles, p.Role) {
			s.writeError(hctx, newProblem(http.StatusForbidden, codeForbidden, fmt.Sprintf("role %s may not do this", p.Role)))
			return
		}
		next(huma.WithValue(hctx, principalKey{}, p))
	}
}
