// Package testkit holds the conformance suites that an implementation or a
// deployment runs with a few lines, in the shape of go-cloud's drivertest,
// and the helpers that provision what they need.
//
//   - RunStoreTests checks a storage implementation against the sales,
//     inventory, outbox and idempotency-key contracts; RunStoreBenchmarks
//     measures it.
//   - RunBusTests checks an eventbus.Publisher and Subscriber pair (the
//     memory bus, Kafka on kfake, or a real broker) against the eventbus
//     contract: order per key, redelivery, groups, rebalancing, dead letters.
//   - RunFlowTests runs whole event flows (store, relay, bus and workers)
//     through crashes, duplicates, reordering, outages and rebalances, and
//     checks every invariant of DESIGN.md §6 afterwards with worker.Check.
//   - RunAPITests checks a running deployment over HTTP only; the command
//     examples/conformance runs it against any URL.
//   - PostgresURL and OpenPostgres give a test a fresh PostgreSQL database
//     of its own (DATABASE_URL, else 127.0.0.1:5432); without a server they
//     skip, except with CI=true, where they fail.
//
// A store implementation's whole conformance test:
//
//	func TestConformance(t *testing.T) {
//		testkit.RunStoreTests(t, func(t *testing.T) testkit.Stores {
//			s := memory.New()
//			return testkit.Stores{Sales: s.Sales(), Inventory: s.Inventory(), Outbox: s.Outbox()}
//		})
//	}
package testkit
