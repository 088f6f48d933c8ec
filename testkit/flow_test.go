package testkit_test

import (
	"context"
	"testing"

	"github.com/salesflow/salesflow/eventbus"
	membus "github.com/salesflow/salesflow/eventbus/memory"
	"github.com/salesflow/salesflow/storage/memory"
	"github.com/salesflow/salesflow/testkit"
	"github.com/salesflow/salesflow/worker"
)

// memoryBus returns the bus half of a deployment on the in-memory bus.
func memoryBus(t *testing.T, d *testkit.Deployment) {
	bus, err := membus.New()
	if err != nil {
		t.Fatal(err)
	}
	d.Publisher = bus.Publisher()
	d.Subscriber = func(t *testing.T, group string, topics []string, retry eventbus.RetryPolicy) eventbus.Subscriber {
		sub, err := bus.Subscriber(group, topics, membus.WithRetry(retry))
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
}

func newWorker[T worker.Tx](inTx func(ctx context.Context, fn func(T) error) error) func(t *testing.T, group string) testkit.Applier {
	return func(t *testing.T, group string) testkit.Applier {
		w, err := worker.New(inTx, worker.WithGroup(group))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
}

// The embedded default: memory store and memory bus.
func TestFlowMemory(t *testing.T) {
	testkit.RunFlowTests(t, func(t *testing.T) testkit.Deployment {
		store := memory.New()
		d := testkit.Deployment{
			Sales: store.Sales(), Inventory: store.Inventory(), Analytics: store.Analytics(),
			Outbox: store.Outbox(), Progress: store.Progress, NewWorker: newWorker(store.InTx), Rollups: store.Rollups(),
		}
		memoryBus(t, &d)
		return d
	})
}

// PostgreSQL with the memory bus.
func TestFlowPostgres(t *testing.T) {
	testkit.RunFlowTests(t, func(t *testing.T) testkit.Deployment {
		db := testkit.OpenPostgres(t)
		d := testkit.Deployment{
			Sales: db.Sales(), Inventory: db.Inventory(), Analytics: db.Analytics(),
			Outbox: db.Outbox(), Progress: db.Progress, NewWorker: newWorker(db.InTx), Rollups: db.Rollups(),
		}
		memoryBus(t, &d)
		return d
	})
}
