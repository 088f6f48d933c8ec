package postgres_test

import (
	"testing"

	"github.com/salesflow/salesflow/testkit"
)

func TestConformance(t *testing.T) {
	testkit.RunStoreTests(t, func(t *testing.T) testkit.Stores {
		db := testkit.OpenPostgres(t)
		return testkit.Stores{Sales: db.Sales(), Inventory: db.Inventory(), Outbox: db.Outbox()}
	})
}
