package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/eventbus/memory"
)

// A handler that keeps failing on a message gets it MaxAttempts times; then
// the message goes to the dead-letter topic and the partition moves on.
func Example() {
	bus, err := memory.New()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	pub := bus.Publisher()
	defer pub.Close()
	err = pub.Publish(ctx,
		eventbus.Message{Topic: "sale.completed", Key: "sale-1", Value: []byte(`{"version":2}`)},
		eventbus.Message{Topic: "sale.completed", Key: "sale-1", Value: []byte(`not json`)},
		eventbus.Message{Topic: "sale.completed", Key: "sale-1", Value: []byte(`{"version":3}`)},
	)
	if err != nil {
		log.Fatal(err)
	}

	sub, err := bus.Subscriber("analytics-group", []string{"sale.completed"},
		memory.WithRetry(eventbus.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Millisecond}))
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go sub.Run(ctx, func(_ context.Context, d eventbus.Delivery) error {
		if !json.Valid(d.Value) {
			fmt.Printf("offset %d, attempt %d: invalid JSON\n", d.Offset, d.Attempt)
			return errors.New("invalid JSON")
		}
		fmt.Printf("offset %d: %s\n", d.Offset, d.Value)
		if d.Offset == 2 {
			close(done)
		}
		return nil
	})
	<-done
	sub.Close()

	for _, m := range bus.Messages("sale.completed" + eventbus.DeadLetterSuffix) {
		fmt.Printf("dead letter %q: %s after %s attempts\n",
			m.Value, m.Headers.Get(eventbus.HeaderDLQError), m.Headers.Get(eventbus.HeaderDLQAttempts))
	}
	// Output:
	// offset 0: {"version":2}
	// offset 1, attempt 1: invalid JSON
	// offset 1, attempt 2: invalid JSON
	// offset 2: {"version":3}
	// dead letter "not json": invalid JSON after 2 attempts
}

// A new member of an existing group resumes where the group left off; a new
// group starts at the earliest offset.
func ExampleBus_Subscriber() {
	bus, err := memory.New()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	pub := bus.Publisher()
	defer pub.Close()
	publish := func(v string) {
		if err := pub.Publish(ctx, eventbus.Message{Topic: "sale.created", Key: "sale-1", Value: []byte(v)}); err != nil {
			log.Fatal(err)
		}
	}
	// consume runs a member of group until it has handled a message with
	// value last, then closes it.
	consume := func(group, last string) {
		sub, err := bus.Subscriber(group, []string{"sale.created"})
		if err != nil {
			log.Fatal(err)
		}
		done := make(chan struct{})
		go sub.Run(ctx, func(_ context.Context, d eventbus.Delivery) error {
			fmt.Printf("%s got %s\n", group, d.Value)
			if string(d.Value) == last {
				close(done)
			}
			return nil
		})
		<-done
		sub.Close()
	}

	publish("v1")
	publish("v2")
	consume("worker", "v2")
	publish("v3")
	consume("worker", "v3")  // resumes after v2
	consume("auditor", "v3") // a new group reads from the start
	// Output:
	// worker got v1
	// worker got v2
	// worker got v3
	// auditor got v1
	// auditor got v2
	// auditor got v3
}
