// Command conformance checks a running salesflow deployment against the
// HTTP contract, over HTTP only: it runs testkit's API suite (the cases of
// testkit.RunAPITests) and prints each case's outcome and a summary line.
//
//	go run ./examples/conformance -url http://localhost:8080 -admin-token T -user-token U [-user2-token V]
//
// Each flag falls back to an environment variable: BASE_URL, ADMIN_TOKEN,
// USER_TOKEN, USER2_TOKEN. The two user tokens must belong to two different
// subjects; without -user2-token the cases that need a second user are
// skipped. The suite makes its own books and sales, so it can run again and
// again against a long-lived deployment.
//
// The exit status is 0 when every case passed or was skipped, 1 when one
// failed, and 2 on bad usage or an unreachable deployment.
//
// The suite's cases take a testkit.TB, which *testing.T implements; this
// command implements it too (runner.go), so it needs neither `go test` nor
// the testing package's main.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"time"

	"github.com/salesflow/salesflow/testkit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command, for tests: it parses args (with getenv for the
// fallbacks), runs the suite and returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		baseURL  = fs.String("url", cmp.Or(getenv("BASE_URL"), "http://localhost:8080"), "the deployment's base URL (env BASE_URL)")
		admin    = fs.String("admin-token", getenv("ADMIN_TOKEN"), "a bearer token with role admin (env ADMIN_TOKEN)")
		user     = fs.String("user-token", getenv("USER_TOKEN"), "a bearer token with role user (env USER_TOKEN)")
		user2    = fs.String("user2-token", getenv("USER2_TOKEN"), "a bearer token with role user for another subject (env USER2_TOKEN); optional")
		pattern  = fs.String("run", "", "run only the cases whose name matches this regular expression")
		wait     = fs.Duration("wait", 30*time.Second, "how long to wait for the asynchronous projections to catch up")
		timeout  = fs.Duration("timeout", 10*time.Minute, "bound on the whole run")
		parallel = fs.Int("parallel", 8, "how many non-exclusive cases run at once")
		verbose  = fs.Bool("v", false, "print the log of passing cases too")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conformance: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var missing []string
	if *admin == "" {
		missing = append(missing, "-admin-token (ADMIN_TOKEN)")
	}
	if *user == "" {
		missing = append(missing, "-user-token (USER_TOKEN)")
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "conformance: missing %s\n", strings.Join(missing, " and "))
		fs.Usage()
		return 2
	}
	var match *regexp.Regexp
	if *pattern != "" {
		var err error
		if match, err = regexp.Compile(*pattern); err != nil {
			fmt.Fprintf(stderr, "conformance: -run: %v\n", err)
			return 2
		}
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	base := strings.TrimRight(*baseURL, "/")
	if err := reachable(ctx, base); err != nil {
		fmt.Fprintf(stderr, "conformance: %v\n", err)
		return 2
	}

	var cases []testkit.APICase
	for _, c := range testkit.APICases(testkit.APIHarness{
		BaseURL: base, AdminToken: *admin, UserToken: *user, User2Token: *user2, Wait: *wait,
	}) {
		if match == nil || match.MatchString(c.Name) {
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		fmt.Fprintf(stderr, "conformance: no case matches -run %q\n", *pattern)
		return 2
	}
	fmt.Fprintf(stdout, "conformance: %d cases against %s\n", len(cases), base)
	n := runCases(ctx, cases, *parallel, *verbose, stdout)
	fmt.Fprintln(stdout, n)
	if n.failed > 0 {
		return 1
	}
	return 0
}

// reachable checks that the deployment answers GET /healthz, so that a
// wrong URL is one clear message rather than every case failing.
func reachable(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("-url %q: %w", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s is not reachable: %w", base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/healthz: status %d, want 200", base, resp.StatusCode)
	}
	return nil
}
