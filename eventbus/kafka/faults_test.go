package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/eventbus/kafka"
	sfharness "github.com/salesflow/salesflow/internal/harness"
)

// Fault injection with kfake: the publisher and the subscriber must come
// through broker errors, timeouts and restarts with nothing lost. Where a
// duplicate is possible it is counted and logged, not hidden.

func createTopics(t testing.TB, brokers []string, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.CreateTopics(ctx, brokers, testPartitions, 1, topics...); err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
}

func newPublisher(t testing.TB, brokers []string, opts ...kafka.Option) *kafka.Publisher {
	t.Helper()
	p, err := kafka.NewPublisher(brokers, append(testOpts(), opts...)...)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func newSubscriber(t testing.TB, brokers []string, group string, topics []string, opts ...kafka.Option) *kafka.Subscriber {
	t.Helper()
	s, err := kafka.NewSubscriber(brokers, group, topics, append(testOpts(), opts...)...)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// messages returns n messages over keys keys, with values "<prefix>-<i>".
func messages(topic, prefix string, n, keys int) ([]eventbus.Message, []string) {
	msgs := make([]eventbus.Message, n)
	values := make([]string, n)
	for i := range n {
		values[i] = fmt.Sprintf("%s-%04d", prefix, i)
		msgs[i] = eventbus.Message{Topic: topic, Key: "k" + strconv.Itoa(i%keys), Value: []byte(values[i])}
	}
	return msgs, values
}

// readTopic returns how often each value is on topic, reading every
// partition up to its end without a group.
func readTopic(t testing.TB, brokers []string, topic string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, r := range readRecords(t, brokers, topic) {
		got[string(r.Value)]++
	}
	return got
}

// readRecords returns the records of topic, reading every partition up to
// its end without a group.
func readRecords(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range int32(testPartitions) {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1 // latest
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("list offsets of %s: %v", topic, err)
	}
	var total int64
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("list offsets of %s[%d]: %v", topic, rp.Partition, err)
			}
			total += rp.Offset
		}
	}
	cl.AddConsumeTopics(topic)
	var got []*kgo.Record
	for int64(len(got)) < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records of %s: %v", len(got), total, topic, err)
		}
		got = append(got, fs.Records()...)
	}
	return got
}

// checkOnce fails t for values missing from got and logs the duplicates.
func checkOnce(t testing.TB, got map[string]int, values []string, dupsAllowed bool) {
	t.Helper()
	dups := 0
	for _, v := range values {
		switch n := got[v]; {
		case n == 0:
			t.Errorf("message %s lost", v)
		case n > 1:
			dups += n - 1
		}
	}
	if dups > 0 && !dupsAllowed {
		t.Errorf("%d duplicates; want none", dups)
	}
	t.Logf("%d messages, %d duplicates", len(values), dups)
}

func TestPublishThroughProduceErrors(t *testing.T) {
	t.Parallel()
	const topic = "produce-errors"
	c, brokers := newClusterWith(t, topic)
	p := newPublisher(t, brokers)

	// Retriable errors: the client retries and Publish succeeds; rejected
	// produces were not applied, so there is no duplicate either.
	h := c.Fault(
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.NotLeaderForPartition, Count: 3},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.NotEnoughReplicas, Count: 2},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.LeaderNotAvailable, Count: 1},
	)
	msgs, values := messages(topic, "retriable", 200, 20)
	if err := p.Publish(t.Context(), msgs...); err != nil {
		t.Fatalf("Publish through retriable errors: %v", err)
	}
	if n := h.Hits(); n != 6 {
		t.Errorf("faults hit %d times; want 6", n)
	}

	// A non-retriable error fails Publish clearly; publishing the same
	// messages again gets them all through (duplicates allowed: the
	// messages of the batches that had succeeded are written twice).
	h = c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.PolicyViolation})
	more, moreValues := messages(topic, "fatal", 100, 10)
	err := p.Publish(t.Context(), more...)
	if !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("Publish through a fatal error = %v; want an error wrapping kerr.PolicyViolation", err)
	}
	t.Logf("Publish error: %v", err)
	if err := p.Publish(t.Context(), more...); err != nil {
		t.Fatalf("Publish again: %v", err)
	}
	got := readTopic(t, brokers, topic)
	checkOnce(t, got, values, false)
	checkOnce(t, got, moreValues, true)
}

// TestPublishCanceledWhileUnanswered: a broker that takes produce
// requests and never answers them holds neither Publish past its context
// nor Close past its drain timeout. The idempotent producer would wait for
// the answer of a batch it sent; the publisher lets it give up.
func TestPublishCanceledWhileUnanswered(t *testing.T) {
	t.Parallel()
	const topic = "unanswered"
	c, brokers := newClusterWith(t, topic)
	p := newPublisher(t, brokers, kafka.WithDrainTimeout(500*time.Millisecond))
	if err := p.Publish(t.Context(), eventbus.Message{Topic: topic, Key: "k", Value: []byte("warm")}); err != nil {
		t.Fatal(err)
	}
	// Produce requests are read and not answered until the test ends, so
	// that a failing test ends too (after the client's request timeout).
	var unanswered atomic.Bool
	unanswered.Store(true)
	defer unanswered.Store(false)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !unanswered.Load() {
			c.DropControl()
			return nil, nil, false
		}
		c.KeepControl()
		return nil, nil, true
	})
	publish := func(ctx context.Context) <-chan error {
		done := make(chan error, 1)
		go func() { done <- p.Publish(ctx, eventbus.Message{Topic: topic, Key: "k", Value: []byte("unanswered")}) }()
		return done
	}

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	select {
	case err := <-publish(ctx):
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish = %v; want its context's deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Publish still waiting 10 s after its context's deadline of 300 ms")
	}

	inFlight := publish(context.Background())
	time.Sleep(100 * time.Millisecond) // sent, unanswered
	closed := make(chan struct{})
	go func() { _ = p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waiting 10 s in, with a drain timeout of 500 ms")
	}
	if err := <-inFlight; !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Publish in flight at Close = %v; want eventbus.ErrClosed", err)
	}
}

func TestPublishThroughTimeoutAfterApply(t *testing.T) {
	t.Parallel()
	const topic = "produce-timeouts"
	c, brokers := newClusterWith(t, topic)
	p := newPublisher(t, brokers)

	// The broker writes the batch and answers REQUEST_TIMED_OUT (or
	// NOT_ENOUGH_REPLICAS_AFTER_APPEND): the client cannot know it landed
	// and sends it again. The idempotent producer's sequence numbers let
	// the broker drop the copy; a duplicate would be allowed but counted.
	h := c.Fault(
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.RequestTimedOut, Count: 3},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.NotEnoughReplicasAfterAppend, Count: 2},
	)
	msgs, values := messages(topic, "timeout", 200, 20)
	var wg sync.WaitGroup
	for i := range 4 { // concurrent publishes, so several batches are in flight
		wg.Go(func() {
			if err := p.Publish(t.Context(), msgs[i*50:(i+1)*50]...); err != nil {
				t.Errorf("Publish: %v", err)
			}
		})
	}
	wg.Wait()
	if n := h.Hits(); n != 5 {
		t.Errorf("faults hit %d times; want 5", n)
	}
	checkOnce(t, readTopic(t, brokers, topic), values, true)
}

func TestSubscribeThroughFetchAndCommitErrors(t *testing.T) {
	t.Parallel()
	const topic, group = "fetch-errors", "fetch-errors-group"
	c, brokers := newClusterWith(t, topic)
	p := newPublisher(t, brokers)
	msgs, values := messages(topic, "fetch", 400, 16)
	if err := p.Publish(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}

	h := c.Fault(
		kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: topic, Err: kerr.NotLeaderForPartition, Count: 3},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: topic, Err: kerr.UnknownServerError, Count: 2},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, TopLevel: true, Err: kerr.FetchSessionIDNotFound, Count: 1},
		kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Group: group, Err: kerr.RequestTimedOut, Count: 2},
		kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Group: group, Err: kerr.CoordinatorLoadInProgress, Count: 2},
	)
	col := newCollector()
	stop := run(t, newSubscriber(t, brokers, group, []string{topic}, kafka.WithCommitInterval(100*time.Millisecond)), col.handle)
	col.wait(t, values)
	checkOrder(t, col, msgs)
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if n := h.Hits(); n < 6 {
		t.Errorf("faults hit %d times; want at least the 6 fetch faults", n)
	}

	// What was handled is committed despite the commit errors: a new
	// member of the group gets only the new messages.
	more, moreValues := messages(topic, "after", 40, 16)
	if err := p.Publish(t.Context(), more...); err != nil {
		t.Fatal(err)
	}
	col2 := newCollector()
	run(t, newSubscriber(t, brokers, group, []string{topic}), col2.handle)
	col2.wait(t, moreValues)
	col2.mu.Lock()
	defer col2.mu.Unlock()
	for _, v := range values {
		if col2.seen[v] > 0 {
			t.Errorf("%s delivered again to the next member of the group", v)
		}
	}
	t.Logf("first member: %d duplicates", col.duplicates())
}

// checkOrder fails t when a key's first deliveries are out of publish order.
func checkOrder(t testing.TB, col *collector, msgs []eventbus.Message) {
	t.Helper()
	want := map[string][]string{}
	for _, m := range msgs {
		want[m.Key] = append(want[m.Key], string(m.Value))
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for key, vs := range want {
		var first []string
		seen := map[string]bool{}
		for _, v := range col.order[key] {
			if !seen[v] {
				seen[v] = true
				first = append(first, v)
			}
		}
		for i := range min(len(first), len(vs)) {
			if first[i] != vs[i] {
				t.Errorf("key %s: delivery %d is %s; want %s", key, i, first[i], vs[i])
				break
			}
		}
	}
}

func TestDeadLetterThroughProduceErrors(t *testing.T) {
	t.Parallel()
	const topic, group = "dlq-errors", "dlq-errors-group"
	dlq := topic + eventbus.DeadLetterSuffix
	c, brokers := newClusterWith(t, topic)

	// The dead-letter produce fails twice; the subscriber keeps trying
	// and the partition waits, then moves on.
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: dlq, Err: kerr.PolicyViolation, Count: 2})
	msgs := []eventbus.Message{
		{Topic: topic, Key: "k", Value: []byte("before")},
		{Topic: topic, Key: "k", Value: []byte("poison")},
		{Topic: topic, Key: "k", Value: []byte("after")},
	}
	if err := newPublisher(t, brokers).Publish(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	retry := eventbus.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	run(t, newSubscriber(t, brokers, group, []string{topic}, kafka.WithRetry(retry)), func(ctx context.Context, d eventbus.Delivery) error {
		if string(d.Value) == "poison" {
			panic("cannot apply poison")
		}
		return col.handle(ctx, d)
	})
	col.wait(t, []string{"before", "after"})
	if n := h.Hits(); n != 2 {
		t.Errorf("dead-letter faults hit %d times; want 2", n)
	}
	checkOnce(t, readTopic(t, brokers, dlq), []string{"poison"}, false)
}

// TestDeadLetterTooLarge: a message too large for its dead-letter topic
// is dead-lettered as a stub, without its value and original headers,
// and the partition moves on. A dead-letter topic too small even for the
// stub makes the partition wait, logging errors, until the topic is
// fixed; nothing is skipped. Before stubs, such a message was retried for
// good and its partition stalled.
func TestDeadLetterTooLarge(t *testing.T) {
	t.Parallel()
	poison := make([]byte, 2<<20) // fits the topic (4 MiB), not a 1 MB batch
	_, _ = rand.NewChaCha8([32]byte{9}).Read(poison)
	// 4 KiB of error text that compresses little, cut to 1 KiB in stubs;
	// with a two-byte letter, so that a cut can split one.
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-é"
	var text strings.Builder
	for rng := rand.New(rand.NewChaCha8([32]byte{10})); text.Len() < 4<<10; {
		text.WriteString(string([]rune(letters)[rng.IntN(64)]))
	}
	longErr := errors.New(text.String())
	for _, tc := range []struct {
		name     string
		opts     []kafka.Option // the subscriber's
		dlqBytes string         // the dead-letter topic's max.message.bytes, "" for CreateTopics'
		waits    bool           // the partition waits until the topic takes 1 MB
		whole    bool           // the message is dead-lettered whole, not as a stub
	}{
		// The defaults: the subscriber produces up to 4 MiB, and the
		// dead-letter topic from CreateTopics takes it.
		{name: "fits", whole: true},
		// The subscriber's producer refuses the record: its
		// WithMaxMessageBytes is Kafka's default 1,000,012 bytes.
		{name: "client limit", opts: []kafka.Option{kafka.WithMaxMessageBytes(1_000_012)}},
		// The broker refuses it: the client takes 4 MiB, the
		// dead-letter topic 1 MB.
		{name: "topic limit", dlqBytes: "1000000"},
		// Even the stub (with 1 KiB of error text, compressed) is
		// larger than 400 bytes.
		{name: "stub too large", dlqBytes: "400", waits: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			brokers := newCluster(t).ListenAddrs()
			topic := "toolarge"
			dlq := topic + eventbus.DeadLetterSuffix
			createTopics(t, brokers, topic)
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			setDLQBytes := func(v string) {
				rs, err := kadm.NewClient(cl).AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, dlq)
				if err == nil {
					_, err = rs.On(dlq, nil)
				}
				if err != nil {
					t.Fatalf("set %s's max.message.bytes: %v", dlq, err)
				}
			}
			if tc.dlqBytes != "" {
				setDLQBytes(tc.dlqBytes)
			}
			p := newPublisher(t, brokers, kafka.WithMaxMessageBytes(kafka.MaxMessageBytes),
				kafka.WithClientOptions(kgo.ProducerBatchCompression(kgo.NoCompression())))
			msgs := []eventbus.Message{
				{Topic: topic, Key: "k", Value: []byte("before")},
				{Topic: topic, Key: "k", Value: poison, Headers: eventbus.Headers{{Key: "ce_id", Value: "e1"}}},
				{Topic: topic, Key: "k", Value: []byte("after")},
			}
			if err := p.Publish(t.Context(), msgs...); err != nil {
				t.Fatal(err)
			}
			var logs sfharness.SyncBuffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
			retry := eventbus.RetryPolicy{MaxAttempts: 1, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
			opts := append([]kafka.Option{kafka.WithLogger(logger), kafka.WithRetry(retry)}, tc.opts...)
			col := newCollector()
			var poisonOffset atomic.Int64
			run(t, newSubscriber(t, brokers, topic+"-group", []string{topic}, opts...), func(ctx context.Context, d eventbus.Delivery) error {
				if len(d.Value) == len(poison) {
					poisonOffset.Store(d.Offset)
					return longErr
				}
				return col.handle(ctx, d)
			})
			if tc.waits {
				col.wait(t, []string{"before"})
				deadline := time.Now().Add(10 * time.Second)
				for strings.Count(logs.String(), "dead-lettering failed") < 3 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if n := strings.Count(logs.String(), "dead-lettering failed"); n < 3 {
					t.Fatalf("%d dead-lettering errors logged; want the stub retried", n)
				}
				col.mu.Lock()
				handled := len(col.seen)
				col.mu.Unlock()
				if handled != 1 {
					t.Fatalf("%d messages handled while the poison was not dead-lettered; want the partition waiting", handled)
				}
				setDLQBytes("1000000")
			}
			col.wait(t, []string{"before", "after"})

			got := readRecords(t, brokers, dlq)
			if len(got) != 1 {
				t.Fatalf("%d records dead-lettered; want 1", len(got))
			}
			r := got[0]
			h := map[string]string{}
			for _, rh := range r.Headers {
				h[rh.Key] = string(rh.Value)
			}
			if tc.whole {
				if !bytes.Equal(r.Value, poison) || h["ce_id"] != "e1" || h[eventbus.HeaderDLQOmitted] != "" || h[eventbus.HeaderDLQError] != longErr.Error() {
					t.Errorf("dead letter: %d bytes of value, ce_id %q, %s %q, %d bytes of error; want the message whole",
						len(r.Value), h["ce_id"], eventbus.HeaderDLQOmitted, h[eventbus.HeaderDLQOmitted], len(h[eventbus.HeaderDLQError]))
				}
				return
			}
			want := map[string]string{
				eventbus.HeaderDLQOmitted:       strconv.Itoa(len(poison) + len("ce_id") + len("e1")),
				eventbus.HeaderDLQTopic:         topic,
				eventbus.HeaderDLQOffset:        strconv.FormatInt(poisonOffset.Load(), 10),
				eventbus.HeaderDLQAttempts:      "1",
				eventbus.HeaderDLQConsumerGroup: topic + "-group",
			}
			for k, v := range want {
				if h[k] != v {
					t.Errorf("header %s = %q; want %q", k, h[k], v)
				}
			}
			if string(r.Key) != "k" || len(r.Value) != 0 || h["ce_id"] != "" {
				t.Errorf("stub key %q, %d bytes of value, ce_id %q; want key k, no value, no original headers", r.Key, len(r.Value), h["ce_id"])
			}
			if e := h[eventbus.HeaderDLQError]; len(e) > 1<<10 || !utf8.ValidString(e) || !strings.HasPrefix(longErr.Error(), strings.TrimSuffix(e, "…")) {
				t.Errorf("stub error text: %d bytes, valid UTF-8 %t; want a valid prefix of the error, at most 1 KiB", len(e), utf8.ValidString(e))
			}
		})
	}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestBrokerRestart(t *testing.T) {
	t.Parallel()
	dir, port := t.TempDir(), freePort(t)
	start := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir))
		if err != nil {
			t.Fatalf("start kfake: %v", err)
		}
		return c
	}
	c := start()
	brokers := c.ListenAddrs()
	const topic, group = "restart", "restart-group"
	createTopics(t, brokers, topic)
	p := newPublisher(t, brokers)
	col := newCollector()
	stop := run(t, newSubscriber(t, brokers, group, []string{topic}, kafka.WithCommitInterval(100*time.Millisecond)), col.handle)

	before, beforeValues := messages(topic, "before", 100, 10)
	if err := p.Publish(t.Context(), before...); err != nil {
		t.Fatal(err)
	}
	col.wait(t, beforeValues)
	time.Sleep(300 * time.Millisecond) // an autocommit happens

	// Stop the broker with the clients connected; publish while it is
	// down, and start it again on the same port and data.
	c.Close()
	during, duringValues := messages(topic, "during", 100, 10)
	published := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		published <- p.Publish(ctx, during...)
	}()
	time.Sleep(300 * time.Millisecond)
	c = start()
	defer c.Close()
	if err := <-published; err != nil {
		t.Fatalf("Publish across the restart: %v", err)
	}
	col.wait(t, append(beforeValues, duringValues...))
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	checkOrder(t, col, append(before, during...))
	t.Logf("subscriber: %d duplicates", col.duplicates())
	checkOnce(t, readTopic(t, brokers, topic), append(beforeValues, duringValues...), true)
}

func TestLeadersMoveWhileFlowing(t *testing.T) {
	t.Parallel()
	c := newCluster(t, kfake.NumBrokers(3))
	brokers := c.ListenAddrs()
	const topic, group = "leaders", "leaders-group"
	createTopics(t, brokers, topic)
	p := newPublisher(t, brokers)
	col := newCollector()
	run(t, newSubscriber(t, brokers, group, []string{topic}), col.handle)

	var all []eventbus.Message
	var values []string
	for round := range 5 {
		msgs, vs := messages(topic, fmt.Sprintf("round%d", round), 60, 12)
		if err := p.Publish(t.Context(), msgs...); err != nil {
			t.Fatalf("round %d: Publish: %v", round, err)
		}
		all, values = append(all, msgs...), append(values, vs...)
		c.ShufflePartitionLeaders()
	}
	col.wait(t, values)
	checkOrder(t, col, all)
	checkOnce(t, readTopic(t, brokers, topic), values, true)
}

// TestCloseCommitBounded: with every commit refused (a coordinator
// loading), Close gives its commit 5 s and leaves, rather than retrying
// for the whole drain timeout, again in the revoke that leaving the group
// causes. The bound is far from both: 5 s against 60 s twice.
func TestCloseCommitBounded(t *testing.T) {
	t.Parallel()
	const topic, group = "close-commit", "close-commit-group"
	c, brokers := newClusterWith(t, topic)
	p := newPublisher(t, brokers)
	msgs, values := messages(topic, "m", 20, 4)
	if err := p.Publish(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	s := newSubscriber(t, brokers, group, []string{topic}, kafka.WithDrainTimeout(time.Minute), kafka.WithCommitInterval(time.Hour))
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), col.handle) }()
	col.wait(t, values)
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Group: group, Err: kerr.CoordinatorLoadInProgress, Count: -1})
	start := time.Now()
	closeErr := s.Close()
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("Close took %v with commits refused; want about 5 s", took)
	}
	if err := <-done; err == nil || closeErr == nil {
		t.Errorf("Run = %v, Close = %v; want both to report the failed commit", err, closeErr)
	}
}
