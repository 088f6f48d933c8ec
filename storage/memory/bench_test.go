package memory_test

import (
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
