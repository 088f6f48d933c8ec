package memory_test

import (
	"testing"
	"time"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/eventbus/memory"
	"github.com/salesflow/salesflow/testkit"
)

// harness runs the bus conformance suite on one Bus.
type harness struct{ bus *memory.Bus }

func (h harness) Partitions() int                    { return h.bus.Partitions() }
func (h harness) CreateTopics(*testing.T, ...string) {}                         // topics are created on first use
func (h harness) MaxWait() time.Duration             { return 5 * time.Second } // everything is in-process

func (h harness) NewPublisher(*testing.T) eventbus.Publisher {
	return h.bus.Publisher() // the suite closes it
}

func (h harness) NewSubscriber(t *testing.T, group string, topics []string, retry eventbus.RetryPolicy) eventbus.Subscriber {
	s, err := h.bus.Subscriber(group, topics, memory.WithRetry(retry))
	if err != nil {
		t.Fatalf("Subscriber: %v", err)
	}
	return s // the suite closes it
}

func TestConformance(t *testing.T) {
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunBusTests(t, harness{bus})
}
