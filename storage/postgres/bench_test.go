package postgres_test

import (
	"context"
	"testing"

	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/testkit"
)

func BenchmarkStore(b *testing.B) {
	testkit.RunStoreBenchmarks(b, func(b *testing.B) testkit.Stores {
		db := testkit.OpenPostgres(b)
		return testkit.Stores{Sales: db.Sales(), Inventory: db.Inventory(), Outbox: db.Outbox()}
	})
}

func BenchmarkWorker(b *testing.B) {
	testkit.RunWorkerBenchmarks(b, func(b *testing.B) (testkit.Stores, func(context.Context, func(*postgres.Tx) error) error) {
		db := testkit.OpenPostgres(b)
		return testkit.Stores{Sales: db.Sales(), Inventory: db.Inventory(), Outbox: db.Outbox()}, db.InTx
	})
}
