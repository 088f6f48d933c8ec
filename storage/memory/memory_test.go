package memory_test

import (
	"testing"

	"github.com/salesflow/salesflow/storage/memory"
	"github.com/salesflow/salesflow/testkit"
)

func TestConformance(t *testing.T) {
	testkit.RunStoreTests(t, func(t *testing.T) testkit.Stores {
		s := memory.New()
		return testkit.Stores{Sales: s.Sales(), Inventory: s.Inventory(), Outbox: s.Outbox()}
	})
}
