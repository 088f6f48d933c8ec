package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/eventbus/kafka"
)

// A sale event goes through an in-process kfake broker: topics are created,
// the event is published and a consumer group reads it back.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx := context.Background()

	if err := kafka.CreateTopics(ctx, brokers, 3, 1, "sale.created"); err != nil {
		panic(err)
	}

	pub, err := kafka.NewPublisher(brokers)
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	ev := eventbus.Event{
		ID:      uuid.MustParse("0190d2b6-8f3a-7c1e-9b5d-2a4f6e8c0d12"),
		Type:    "sale.created",
		Source:  "/salesflow/sales",
		Subject: "sale-1",
		Time:    time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Data:    []byte(`{"id":"sale-1","total":"29.99"}`),
	}
	if err := pub.Publish(ctx, ev.Message("sale.created", "sale-1")); err != nil {
		panic(err)
	}

	sub, err := kafka.NewSubscriber(brokers, "analytics-group", []string{"sale.created"})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(ctx)
	err = sub.Run(ctx, func(_ context.Context, d eventbus.Delivery) error {
		e, err := eventbus.Decode(d.Message)
		if err != nil {
			return err // retried, then dead-lettered
		}
		fmt.Printf("%s %s key=%s %s\n", e.Type, e.Subject, d.Key, e.Data)
		stop() // Run commits this message and returns
		return nil
	})
	fmt.Println("run:", err)
	// Output:
	// sale.created sale-1 key=sale-1 {"id":"sale-1","total":"29.99"}
	// run: <nil>
}

// A handler that keeps failing sends the message to the dead-letter topic,
// with the error and where the message came from in its headers.
func ExampleWithRetry() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx := context.Background()
	if err := kafka.CreateTopics(ctx, brokers, 1, 1, "sale.completed"); err != nil {
		panic(err)
	}
	pub, err := kafka.NewPublisher(brokers)
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, eventbus.Message{Topic: "sale.completed", Key: "sale-7", Value: []byte("not json")}); err != nil {
		panic(err)
	}

	retry := eventbus.RetryPolicy{MaxAttempts: 3, MinBackoff: 10 * time.Millisecond}
	sub, err := kafka.NewSubscriber(brokers, "worker", []string{"sale.completed"}, kafka.WithRetry(retry))
	if err != nil {
		panic(err)
	}
	go func() {
		_ = sub.Run(ctx, func(_ context.Context, d eventbus.Delivery) error {
			return fmt.Errorf("attempt %d: %w", d.Attempt, errors.New("cannot decode"))
		})
	}()
	defer sub.Close()

	dlq, err := kafka.NewSubscriber(brokers, "dlq-reader", []string{"sale.completed" + eventbus.DeadLetterSuffix})
	if err != nil {
		panic(err)
	}
	dctx, stop := context.WithCancel(ctx)
	_ = dlq.Run(dctx, func(_ context.Context, d eventbus.Delivery) error {
		h := d.Headers
		fmt.Printf("%s: %s from %s[%s]@%s after %s attempts in %s\n", d.Key, h.Get(eventbus.HeaderDLQError),
			h.Get(eventbus.HeaderDLQTopic), h.Get(eventbus.HeaderDLQPartition), h.Get(eventbus.HeaderDLQOffset),
			h.Get(eventbus.HeaderDLQAttempts), h.Get(eventbus.HeaderDLQConsumerGroup))
		stop()
		return nil
	})
	// Output:
	// sale-7: attempt 3: cannot decode from sale.completed[0]@0 after 3 attempts in worker
}
