package memory_test

import (
	"context"
	"testing"

	"github.com/salesflow/salesflow/storage/memory"
	"github.com/salesflow/salesflow/testkit"
)

func BenchmarkStore(b *testing.B) {
	testkit.RunStoreBenchmarks(b, func(*testing.B) testkit.Stores {
		s := memory.New()
		return testkit.Stores{Sales: s.Sales(), Inventory: s.Inventory(), Outbox: s.Outbox()}
	})
}

func BenchmarkWorker(b *testing.B) {
	testkit.RunWorkerBenchmarks(b, func(*testing.B) (testkit.Stores, func(context.Context, func(*memory.Tx) error) error) {
		s := memory.New()
		return testkit.Stores{Sales: s.Sales(), Inventory: s.Inventory(), Outbox: s.Outbox()}, s.InTx
	})
}
