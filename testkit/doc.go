// Package testkit holds conformance suites that an implementation runs with
// a few lines, in the shape of go-cloud's drivertest: RunStoreTests checks a
// storage implementation against the sales and inventory contracts. It also
// provisions what the suites need: PostgresURL and OpenPostgres give a test
// its own fresh PostgreSQL database.
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
