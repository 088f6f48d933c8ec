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
	_ "time/tzdata" // TIME_ZONE works in images without a zone database
)

func main() {
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
