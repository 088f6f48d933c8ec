// Command server is the salesflow reference server: the sales HTTP API
// (Huma, OpenAPI 3.1), the transactional-outbox relay and the sale-event
// worker, on the embedded in-memory store and bus by default, or on
// PostgreSQL (DATABASE_URL) and Kafka or Redpanda (KAFKA_BROKERS).
//
//	go run ./examples/server            # serve, with a printed admin token
//	go run ./examples/server --help     # commands and settings
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	_ "time/tzdata" // TIME_ZONE works in images without a zone database
)

func main() {
	defaultGC(os.Getenv)
	if err := bridgeEnv(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	cli := m.CLI()
	// humacli's Run drops cobra's error; a mistyped flag or command must
	// still fail the process, or `TOKEN=$(server token ...)` goes on with
	// an empty token. Cobra reports every such error in one "Error: ..."
	// write, so watching stderr is enough.
	errs := &errorWatch{w: os.Stderr}
	cli.Root().SetErr(errs)
	cli.Run()
	if errs.failed {
		os.Exit(2)
	}
}

// gcPercent is the server's garbage-collection target when GOGC is not
// set. Its live heap is small and short-lived garbage is most of what it
// allocates (about 60 MB/s at full load), so at Go's default of 100 it
// collects several times a second. At 400, at full load, a lifecycle cost
// the server ×0.82 of the CPU, lifecycles/s were ×1.16 and the RSS grew
// from 42 to 68 MiB (README, Configuration). Set GOGC to choose another,
// and GOMEMLIMIT to cap the heap.
const gcPercent = 400

// defaultGC sets the garbage-collection target to gcPercent unless the
// environment sets GOGC (empty counts as unset, as it does for the Go
// runtime), and reports whether it did.
func defaultGC(getenv func(string) string) bool {
	if getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(gcPercent)
	return true
}

// errorWatch passes writes through and notes cobra's error reports.
type errorWatch struct {
	w      io.Writer
	failed bool
}

func (e *errorWatch) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("Error:")) {
		e.failed = true
	}
	return e.w.Write(p)
}
