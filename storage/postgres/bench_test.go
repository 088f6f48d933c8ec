package postgres_test

import (
	"testing"

	"github.com/salesflow/salesflow/testkit"
)

func BenchmarkStore(b *testing.B) {
	testkit.RunStoreBenchmarks(b, func(b *testing.B) testkit.Stores {
		db := testkit.OpenPostgres(b)
		return testkit.Stores{Sales: db.Sales(), Inventory: db.Inventory(), Outbox: db.Outbox()}
	})
}
