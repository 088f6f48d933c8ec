package testkit

import (
	"context"
	"testing"
	"time"
)

// APIHarness is a running deployment as the API suite sees it: a base URL
// and bearer tokens. The suite talks to it over HTTP only, so it checks any
// deployment: the reference server in embedded mode, the same binary on
// PostgreSQL and Kafka, or a team's own build behind a load balancer.
//
// The suite makes its own books and sales, with unique titles, and tidies
// up what it can (pending sales are cancelled), so it can run again and
// again against a long-lived deployment. It assumes a currency with two
// decimals (prices such as "12.50"), as the default USD has.
type APIHarness struct {
	// BaseURL is the deployment's root, such as "http://localhost:8080".
	// Required.
	BaseURL string
	// AdminToken is a bearer token with role admin. Required.
	AdminToken string
	// UserToken is a bearer token with role user: user A. Required.
	UserToken string
	// User2Token is a bearer token with role user for another subject than
	// UserToken: user B. Optional; without it the cases that need a second
	// user (Ownership, and parts of Idempotency) are skipped.
	User2Token string
	// Wait bounds each wait for the asynchronous projections (stock on
	// hand, movements, analytics) to reach the state a case expects. The
	// suite polls with a growing interval up to it. Default 30s.
	Wait time.Duration
	// Retries is how many times a request is retried after a connection
	// error or a 429, 502, 503 or 504. Only reads and writes that carry an
	// Idempotency-Key are retried. Default 3; a negative value disables
	// retries.
	Retries int
}

// TB is the part of *testing.T the API suite uses, so that a command can run
// the suite without the testing package's main (examples/conformance does).
// Errorf and Logf may be called from any goroutine; Fatalf and Skipf only
// from the goroutine running the case, and they end it (runtime.Goexit, as
// testing does). Context is cancelled just before the Cleanup functions run.
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Cleanup(func())
	Context() context.Context
}

var _ TB = (*testing.T)(nil)

// APICase is one named case of the API suite.
type APICase struct {
	// Name is the case's name, a valid subtest name.
	Name string
	// Exclusive reports that the case compares deployment-wide or
	// per-caller totals (the sales summary, a user's sales count), so it
	// must not run alongside the other cases. Run the exclusive cases one
	// at a time, before the others; the others may run in parallel.
	// Traffic from outside the suite during an exclusive case can make it
	// fail.
	Exclusive bool
	// Run runs the case against the harness the case was made for.
	Run func(t TB)
}

// APICases returns the cases of the API suite for h, in the order to run
// them: the exclusive ones first. Each case checks the harness and fails at
// once when a required field is empty. The cases share one HTTP client and
// are safe to run in parallel with each other, except the exclusive ones.
func APICases(h APIHarness) []APICase {
	e := newAPIEnv(h)
	return []APICase{
		{Name: "SeedFlow", Exclusive: true, Run: e.bind(testAPISeedFlow)},
		{Name: "BadInputs", Exclusive: true, Run: e.bind(testAPIBadInputs)},
		{Name: "Health", Run: e.bind(testAPIHealth)},
		{Name: "CancelPendingReleases", Run: e.bind(testAPICancelPending)},
		{Name: "ManualMovements", Run: e.bind(testAPIManualMovements)},
		{Name: "PriceAtSaleTime", Run: e.bind(testAPIPriceAtSaleTime)},
		{Name: "StringsVerbatim", Run: e.bind(testAPIStringsVerbatim)},
		{Name: "Authentication", Run: e.bind(testAPIAuthentication)},
		{Name: "Roles", Run: e.bind(testAPIRoles)},
		{Name: "Ownership", Run: e.bind(testAPIOwnership)},
		{Name: "SellerFromToken", Run: e.bind(testAPISellerFromToken)},
		{Name: "ListPagination", Run: e.bind(testAPIListPagination)},
		{Name: "IllegalTransitions", Run: e.bind(testAPIIllegalTransitions)},
		{Name: "Idempotency", Run: e.bind(testAPIIdempotency)},
		{Name: "IdempotentConcurrentRetries", Run: e.bind(testAPIIdempotentConcurrent)},
		{Name: "Overselling", Run: e.bind(testAPIOverselling)},
		{Name: "AllOrNothing", Run: e.bind(testAPIAllOrNothing)},
	}
}

// RunAPITests checks the deployment h points at against the HTTP contract
// of DESIGN.md §7, with the sale rules of §4: the seed's whole flow (create,
// complete, cancel; inventory, movements, analytics, summary), roles and
// ownership, idempotency keys, overselling under concurrent buyers, illegal
// status changes, and a corpus of bad inputs that must all be 4xx problem
// documents and change nothing. No response may be a 5xx. Each case is a
// named subtest; the exclusive ones run first, one at a time, and the others
// then run in parallel.
func RunAPITests(t *testing.T, h APIHarness) {
	t.Helper()
	for _, c := range APICases(h) {
		t.Run(c.Name, func(t *testing.T) {
			if !c.Exclusive {
				t.Parallel()
			}
			c.Run(t)
		})
	}
}
