// Package memory is an in-process event bus that keeps the eventbus
// Publisher and Subscriber contract the way a Kafka cluster does: it is the
// embedded default of the reference server and the fast bus of tests.
//
// # Model
//
// A Bus holds topics, created on first use, each split into the same number
// of partitions (WithPartitions, default DefaultPartitions). A message goes
// to the partition Kafka's default partitioner would pick for its key
// (murmur2), so the same key always lands on the same partition, and
// messages with one key keep their publish order. Each partition is an
// append-only log; a message's offset is its index in it. Nothing is ever
// removed, and nothing survives the process.
//
// A consumer group is named by the string given to Bus.Subscriber. The Bus
// keeps each group's committed offset per topic and partition, so:
//
//   - a group seen for the first time starts at the earliest offset;
//   - a new Subscriber of an existing group resumes where the group left
//     off, after the last message a handler acknowledged;
//   - every group gets every message.
//
// # Members and rebalancing
//
// A Subscriber is a member of its group from the moment Run starts until it
// returns. Each join or leave rebalances: a topic's partitions are dealt
// round-robin over the running members subscribed to it. A member handles
// each of its partitions in a goroutine of its own, one message at a time
// and in offset order, so different partitions run concurrently. When a
// partition moves, its previous owner finishes the handler in flight (and
// commits it) before the new owner starts, so a message is handled by one
// member at a time. A message whose handler fails while its member is
// stopping (its context cancelled) is not committed and goes to the next
// owner again: delivery is at least once, and handlers must be idempotent.
//
// # Retries and the dead-letter topic
//
// A handler's error means "again": the member calls it again after the
// RetryPolicy's backoff (WithRetry; default eventbus.DefaultRetryPolicy),
// with Delivery.Attempt counting up. After MaxAttempts failures the message
// is appended to topic + eventbus.DeadLetterSuffix with its original key,
// value and headers plus the eventbus.HeaderDLQ* headers, its offset is
// committed in the same step, and the partition moves on. Read dead letters
// with a Subscriber on the dead-letter topic, or with Bus.Messages.
//
// # Shutting down
//
// Close on a Subscriber, or cancelling the context given to Run, stops the
// member: it hands out nothing more, waits for its handlers in flight,
// leaves the group (its partitions go to the other members) and Run returns
// nil. Close does not cancel the handlers' context; cancelling it does. A
// Publisher's Close makes later Publish calls fail with eventbus.ErrClosed.
//
// # Cost
//
// Publishing appends under one lock and wakes only the members waiting on
// that partition. Delivering a message takes the lock twice (to read it and
// to commit it) and copies its headers and value, so that handlers of one
// group cannot change what another group sees. Rebalancing is linear in the
// group's partitions and members.
package memory
