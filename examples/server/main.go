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
	m.CLI().Run()
}
