// Package kafka implements the eventbus Publisher and Subscriber on Kafka
// and Kafka-compatible brokers such as Redpanda, with franz-go.
//
// # Topics
//
// Redpanda, and Kafka clusters configured like it, do not create a topic
// on first use. Create the topics before publishing or subscribing:
//
//	err := kafka.CreateTopics(ctx, brokers, 6, 3, "sale.created", "sale.completed", "sale.cancelled")
//
// CreateTopics also creates each topic's dead-letter twin ("sale.created.dlq"),
// sets max.message.bytes to MaxMessageBytes, and treats a topic that already
// exists as created, so every process can call it at start. On a cluster
// that needs TLS or SASL, CreateTopicsWith takes the same client options as
// the publishers and subscribers (WithClientOptions).
//
// # Publishing
//
// A Publisher is an idempotent producer that waits for all in-sync
// replicas (acks=all). Publish returns once every message is acknowledged,
// so a caller such as the outbox relay can mark its rows published after it
// returns nil. On error it says how many messages failed and why the first
// did; publishing the batch again is safe, because the consumers
// deduplicate by event id.
//
//	pub, err := kafka.NewPublisher(brokers, kafka.WithLogger(logger))
//	...
//	err = pub.Publish(ctx, ev.Message("sale.created", saleID))
//
// A message's key picks its partition with Kafka's default partitioner, so
// messages with the same key (the sale id) stay in order; an empty key is a
// key like any other.
//
// # Subscribing
//
// A Subscriber is one member of a consumer group. Run joins the group and
// hands every message of the partitions assigned to this member to the
// handler: one goroutine per partition, so partitions are handled
// concurrently and each one in offset order. A new group starts at the
// earliest offset.
//
//	sub, err := kafka.NewSubscriber(brokers, "analytics-group", topics,
//		kafka.WithRetry(eventbus.RetryPolicy{MaxAttempts: 5}))
//	...
//	go func() { errc <- sub.Run(ctx, handler) }()
//	...
//	err = sub.Close() // or cancel ctx
//
// A handler error is retried with exponential backoff. After the
// RetryPolicy's last attempt the message is produced to the dead-letter
// topic with its key, value and headers and the eventbus DLQ headers (the
// error, the original topic, partition and offset, the attempts, the
// group), and the partition moves on; if the dead-letter produce fails it
// is retried, so a message is never skipped without a trace. A panicking
// handler counts as a failing one.
//
// A subscriber produces dead letters of up to MaxMessageBytes (4 MiB, what
// topics from CreateTopics take; WithMaxMessageBytes changes it). A message
// too large for that or for its dead-letter topic's max.message.bytes can
// never be produced there, and retrying it would stall its partition for
// good. It is dead-lettered as a stub instead: its key and the DLQ headers
// (the error cut to 1 KiB), without its value and original headers, whose
// size eventbus.HeaderDLQOmitted gives; the message itself stays on its
// topic, at the stub's dlq_partition and dlq_offset, until retention
// removes it. A dead-letter topic that cannot take even the stub, or is
// missing, or is not writable, makes the partition wait without skipping
// anything: each failed try, and each 10 s a try takes (franz-go retries
// some errors, such as a missing leader, within the try), is logged as an
// error and counted (dead_letter_errors_total, with WithMetrics) until the
// topic is fixed, or until the partition is revoked or the subscriber
// closed (the message then comes again). Dead letters of one topic are
// produced one at a time, so one that cannot be written holds up the dead
// letters of every partition of its topic; only the one being tried is
// logged and counted.
// CreateTopics makes no twin for a topic whose name ends in ".dlq": a
// subscriber of a dead-letter topic whose handler can fail needs one made
// for it.
//
// RunBatch does the same with batches: when more than one message of a
// partition is waiting, up to a maximum of them go to an
// eventbus.BatchHandler at once (for one database transaction); if the
// batch fails, its messages go to the single handler one at a time, with
// the retries and dead-lettering above. Batches do not wait to fill: a
// partition that keeps up gets single messages.
//
// An offset is committed only after its handler returned nil or the
// message was dead-lettered: every second (WithCommitInterval), when a
// rebalance takes partitions away (after their handlers in flight have
// returned, so the next owner starts right after them), and when Run stops.
// Delivery is at least once: after a crash, or a member dropped from the
// group, messages handled since the last commit come again, so handlers
// must be idempotent (see eventbus.Idempotent).
//
// Close, or canceling Run's context, stops fetching, waits for the handlers
// in flight, commits what was handled (trying for at most 5 s: a group in
// a rebalance refuses commits) and leaves the group. The handlers'
// context derives from Run's: Close lets them finish (it cancels their
// context only if they outlast the drain timeout, WithDrainTimeout, 30 s by
// default), while canceling Run's context asks them to stop. A message
// whose handler did not finish is neither retried nor dead-lettered but
// delivered again later. Leaving waits for a join in flight, which the
// coordinator holds until every member rejoined or the rebalance timeout
// passed; a service that wants quick restarts and quick recovery from a
// crashed member sets shorter timeouts than franz-go's (45 s session, 60 s
// rebalance), as examples/server does, with a drain timeout below the
// rebalance timeout: a rebalance waits for the handlers of the partitions
// it takes and for their commit, within the drain timeout (the commit gets
// a second at least), and a member that takes longer than the rebalance
// timeout to rejoin is dropped from the group.
//
//	kafka.WithClientOptions(kgo.SessionTimeout(10*time.Second), kgo.HeartbeatInterval(time.Second),
//		kgo.RebalanceTimeout(10*time.Second)),
//	kafka.WithDrainTimeout(5*time.Second)
//
// A partition whose handler is slow (or retrying) does not hold up the
// others: each partition buffers what was fetched for it, and its fetching
// is paused while that buffer holds more than about two seconds of its
// handler's work, 50,000 records or 32 MiB (besides what the handler has
// in hand: up to 256 records or a batch, and up to 4 MiB of them but one
// record). Fetches wait at most 500 ms for
// new data (the Java client's default, where franz-go's is 5 s), so that a
// resumed partition is fetched again soon, and bring at most 1 MiB of
// compressed records over all partitions (franz-go's bound is 50 MiB a
// fetch and 1 MiB a partition), so that the handlers start on a backlog
// while the next fetch is on its way; a record batch larger than that
// still comes, alone. On a cluster whose brokers are far away, catching up
// then moves at most 1 MiB a round trip per broker: kgo.FetchMaxBytes in
// WithClientOptions raises the bound (franz-go lowers the per-partition
// bound, kgo.FetchMaxPartitionBytes, to it).
//
// # Options, logging and metrics
//
// Both constructors, and CreateTopicsWith, take Options and validate them,
// failing with ErrInvalid.
// WithLogger sends the bus's events and franz-go's own log to a
// *slog.Logger (through franz-go's kslog plugin); the default discards
// them. WithMetrics registers franz-go's kprom metrics and the bus's
// counters (published, handled, failed, dead-lettered, failed dead-letter
// tries, handler latency) on
// a Prometheus registerer. WithClientOptions passes franz-go options through
// for TLS, SASL and tuning.
//
// # Testing
//
// franz-go's in-process broker kfake (github.com/twmb/franz-go/pkg/kfake)
// speaks the protocol well enough to run this package against, with fault
// injection; see the package's tests and the example.
package kafka
