// Command server is the salesflow reference server: the sales HTTP API
// (Huma, OpenAPI 3.1), the transactional-outbox relay and the sale-event
// worker, on the embedded in-memory store and bus by default, or on
// PostgreSQL (DATABASE_URL) and Kafka or Redpanda (KAFKA_BROKERS).
//
//	go run ./examples/server            # serve, with a printed admin token
//	go run ./examples/server --help     # commands and settings
package main

import (
	"fmt"
	"os"
	_ "time/tzdata" // TIME_ZONE works in images without a zone database
)

func main() {
	if err := bridgeEnv(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	// Execute, not humacli's Run, which drops the error: a mistyped flag or
	// command must fail the process, or `TOKEN=$(server token ...)` goes on
	// with an empty token.
	if err := m.CLI().Root().Execute(); err != nil {
		os.Exit(2)
	}
}
