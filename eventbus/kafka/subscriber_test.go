package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/eventbus/kafka"
)

// produce writes records with a plain client and returns them with their
// partitions and offsets set.
func produce(t testing.TB, brokers []string, rs ...*kgo.Record) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(t.Context(), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return rs
}

func TestPartitionsHandledConcurrently(t *testing.T) {
	t.Parallel()
	const topic = "concurrent"
	_, brokers := newClusterWith(t, topic)
	var rs []*kgo.Record
	for i := range 40 {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))})
	}
	produce(t, brokers, rs...)

	// Each partition's first handler waits for the first handlers of all
	// partitions to be running at once: only concurrent partitions pass.
	var mu sync.Mutex
	waiting := map[int32]bool{}
	all := make(chan struct{})
	col := newCollector()
	run(t, newSubscriber(t, brokers, "concurrent-group", []string{topic}), func(ctx context.Context, d eventbus.Delivery) error {
		mu.Lock()
		first := !waiting[d.Partition]
		waiting[d.Partition] = true
		if len(waiting) == testPartitions && first {
			close(all)
		}
		mu.Unlock()
		if first {
			select {
			case <-all:
			case <-time.After(10 * time.Second):
				t.Errorf("partition %d: the other partitions' handlers did not run while this one was in flight", d.Partition)
			}
		}
		return col.handle(ctx, d)
	})
	var values []string
	for _, r := range rs {
		values = append(values, string(r.Value))
	}
	col.wait(t, values)
}

func TestSlowPartitionDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	const topic = "backpressure"
	_, brokers := newClusterWith(t, topic)

	// Thousands of records on the hot partition, whose first handler is
	// stuck until the records on the other partitions are handled.
	const hot = 6000
	var rs []*kgo.Record
	for i := range hot {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte("hot"), Value: fmt.Appendf(nil, "hot-%05d", i)})
	}
	for i := range 100 {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte("cold" + strconv.Itoa(i)), Value: fmt.Appendf(nil, "cold-%d", i)})
	}
	produce(t, brokers, rs...)
	hotPartition := rs[0].Partition
	var cold []string
	for _, r := range rs[hot:] {
		if r.Partition != hotPartition {
			cold = append(cold, string(r.Value))
		}
	}

	col := newCollector()
	release := make(chan struct{})
	var once sync.Once
	run(t, newSubscriber(t, brokers, "backpressure-group", []string{topic}), func(ctx context.Context, d eventbus.Delivery) error {
		if d.Key == "hot" {
			once.Do(func() {
				select {
				case <-release:
				case <-time.After(20 * time.Second):
					t.Error("the cold partitions were not handled while the hot one was stuck")
				}
			})
		}
		return col.handle(ctx, d)
	})
	col.wait(t, cold)
	close(release)

	var msgs []eventbus.Message
	var values []string
	for _, r := range rs {
		msgs = append(msgs, eventbus.Message{Topic: topic, Key: string(r.Key), Value: r.Value})
		values = append(values, string(r.Value))
	}
	col.wait(t, values)
	checkOrder(t, col, msgs)
	if n := col.duplicates(); n > 0 {
		t.Errorf("%d duplicates; want none", n)
	}
}

// TestRebalanceWhileClosing: a member joins while another's Close waits
// for its handlers. The partitions move only after those handlers
// returned and their offsets were committed, so the new member neither
// handles a partition at the same time nor gets its handled messages
// again.
func TestRebalanceWhileClosing(t *testing.T) {
	t.Parallel()
	const topic, group = "close-rebalance", "close-rebalance-group"
	c, brokers := newClusterWith(t, topic)
	var rs []*kgo.Record
	for i := range 40 {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i)), Value: fmt.Appendf(nil, "m-%02d", i)})
	}
	produce(t, brokers, rs...)
	first := map[int32]string{} // each partition's first record
	for _, r := range rs {
		if _, ok := first[r.Partition]; !ok {
			first[r.Partition] = string(r.Value)
		}
	}
	if len(first) != testPartitions {
		t.Fatalf("records on %d partitions; want %d", len(first), testPartitions)
	}

	// A blocks on each partition's first record until released.
	release := make(chan struct{})
	var blocked atomic.Int32
	var mu sync.Mutex
	handledByA := map[string]bool{}
	a := newSubscriber(t, brokers, group, []string{topic}, kafka.WithDrainTimeout(time.Minute))
	aDone := make(chan error, 1)
	go func() {
		aDone <- a.Run(context.Background(), func(_ context.Context, d eventbus.Delivery) error {
			if first[d.Partition] == string(d.Value) {
				blocked.Add(1)
				<-release
			}
			mu.Lock()
			handledByA[string(d.Value)] = true
			mu.Unlock()
			return nil
		})
	}()
	for deadline := time.Now().Add(30 * time.Second); blocked.Load() < testPartitions; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("A blocked on %d partitions; want all %d", blocked.Load(), testPartitions)
		}
	}
	aloneEpoch := int32(0)
	if g := c.GroupInfo(group); g != nil {
		aloneEpoch = g.Epoch
	}
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	time.Sleep(100 * time.Millisecond) // A's Close waits for its handlers

	var early atomic.Int32 // B's handler calls while A's are blocked
	col := newCollector()
	run(t, newSubscriber(t, brokers, group, []string{topic}), func(ctx context.Context, d eventbus.Delivery) error {
		select {
		case <-release:
		default:
			early.Add(1)
		}
		return col.handle(ctx, d)
	})
	// B joins, and the group has time to rebalance (heartbeats every
	// 100 ms).
	wctx, wcancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer wcancel()
	if _, err := c.WaitGroupInfo(wctx, group, func(g *kfake.GroupInfo) bool { return g != nil && len(g.Members) == 2 }); err != nil {
		t.Fatalf("B did not join: %v", err)
	}
	time.Sleep(time.Second)
	if n := early.Load(); n > 0 {
		t.Errorf("B handled %d messages while A's handlers of the same partitions were running", n)
	}
	// B got nothing because the partitions it is to get wait for A's
	// handlers, not because no rebalance began: the group is in a
	// generation after A's alone (cooperative: B is assigned nothing
	// until A revokes), or still rebalancing.
	if g := c.GroupInfo(group); g == nil || g.State == "Stable" && g.Epoch <= aloneEpoch {
		t.Errorf("group after B joined and A's handlers blocked for a second: %+v; want a rebalance under way or done", g)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Errorf("A's Close = %v", err)
	}
	<-aDone
	var rest []string
	for _, r := range rs {
		if !handledByA[string(r.Value)] {
			rest = append(rest, string(r.Value))
		}
	}
	col.wait(t, rest)
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, r := range rs {
		if handledByA[string(r.Value)] && col.seen[string(r.Value)] > 0 {
			t.Errorf("%s handled by A and again by B", r.Value)
		}
	}
}

// TestSlowBacklogCommitted: a partition whose slow handler works through
// a backlog has its handled messages committed as it goes, at the commit
// interval, rather than only when its queue runs dry (or every 256).
func TestSlowBacklogCommitted(t *testing.T) {
	t.Parallel()
	const topic, group = "slow-backlog", "slow-backlog-group"
	c, brokers := newClusterWith(t, topic)
	var rs []*kgo.Record
	for i := range 60 {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte("k"), Value: fmt.Appendf(nil, "m-%02d", i)})
	}
	produce(t, brokers, rs...)
	// The handler takes 10 ms a message, and holds the 41st until the
	// test has seen most of the 40 before it committed (at least the
	// first 32), or 10 s passed. The worker takes all 60 off its queue at
	// once, so only the marks made as time passes can commit them.
	seen := make(chan struct{})
	run(t, newSubscriber(t, brokers, group, []string{topic}, kafka.WithCommitInterval(100*time.Millisecond)),
		func(_ context.Context, d eventbus.Delivery) error {
			time.Sleep(10 * time.Millisecond)
			if d.Offset == rs[0].Offset+40 {
				select {
				case <-seen:
				case <-time.After(10 * time.Second):
				}
			}
			return nil
		})
	// The 41st comes about 0.4 s in; waiting less than its hold, so that
	// the queue cannot run dry (and mark everything) meanwhile.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	g, err := c.WaitGroupInfo(ctx, group, func(g *kfake.GroupInfo) bool {
		return g != nil && g.Commits[topic][rs[0].Partition].Offset >= rs[0].Offset+32
	})
	close(seen)
	if err != nil {
		var at int64
		if g != nil {
			at = g.Commits[topic][rs[0].Partition].Offset
		}
		t.Errorf("committed offset %d while the 41st message was held; want at least the first 32 committed", at)
	}
}

func TestDrainTimeoutCancelsStuckHandler(t *testing.T) {
	t.Parallel()
	const topic, group = "drain", "drain-group"
	_, brokers := newClusterWith(t, topic)
	if err := newPublisher(t, brokers).Publish(t.Context(), eventbus.Message{Topic: topic, Key: "k", Value: []byte("stuck")}); err != nil {
		t.Fatal(err)
	}

	entered := make(chan struct{})
	var canceled atomic.Bool
	s := newSubscriber(t, brokers, group, []string{topic}, kafka.WithDrainTimeout(200*time.Millisecond))
	stop := run(t, s, func(ctx context.Context, d eventbus.Delivery) error {
		close(entered)
		<-ctx.Done() // a handler that only stops when told to
		canceled.Store(true)
		return ctx.Err()
	})
	<-entered
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second || !canceled.Load() {
		t.Fatalf("Close took %v, handler canceled: %v; want about 200ms and canceled", took, canceled.Load())
	}

	// The canceled message was not committed: the group gets it again.
	col := newCollector()
	run(t, newSubscriber(t, brokers, group, []string{topic}), col.handle)
	col.wait(t, []string{"stuck"})
}

func TestRunOnce(t *testing.T) {
	t.Parallel()
	_, brokers := newClusterWith(t, "once")
	if err := newPublisher(t, brokers).Publish(t.Context(), eventbus.Message{Topic: "once", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	s := newSubscriber(t, brokers, "once-group", []string{"once"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	running := make(chan struct{}, 1)
	go func() {
		done <- s.Run(ctx, func(context.Context, eventbus.Delivery) error {
			running <- struct{}{}
			return nil
		})
	}()
	<-running

	nop := func(context.Context, eventbus.Delivery) error { return nil }
	if err := s.Run(ctx, nop); !errors.Is(err, kafka.ErrInvalid) {
		t.Errorf("second Run while the first runs = %v; want ErrInvalid", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after cancel; want nil", err)
	}
	if err := s.Run(t.Context(), nop); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Run after Run returned = %v; want ErrClosed", err)
	}
}

func TestPublishErrors(t *testing.T) {
	t.Parallel()
	_, brokers := newClusterWith(t, "errors")
	p := newPublisher(t, brokers)

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		msgs []eventbus.Message
		want error
	}{
		{"no messages", t.Context(), nil, nil},
		{"unknown topic", t.Context(), []eventbus.Message{{Topic: "missing", Value: []byte("x")}}, kerr.UnknownTopicOrPartition},
		{"too large", t.Context(), []eventbus.Message{{Topic: "errors", Value: make([]byte, 2<<20)}}, kerr.MessageTooLarge},
		{"canceled", canceled, []eventbus.Message{{Topic: "errors", Value: []byte("x")}}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Publish(tc.ctx, tc.msgs...)
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Errorf("Publish = %v; want %v", err, tc.want)
			}
		})
	}
}

// TestCreateTopicsWithSASL: a cluster that wants SASL refuses
// CreateTopics' client, and takes CreateTopicsWith's with the same client
// options as the publisher's.
func TestCreateTopicsWithSASL(t *testing.T) {
	t.Parallel()
	c := newCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "secret"))
	brokers := c.ListenAddrs()
	auth := kafka.WithClientOptions(kgo.SASL(plain.Auth{User: "admin", Pass: "secret"}.AsMechanism()))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if err := kafka.CreateTopics(ctx, brokers, 1, 1, "sasl"); err == nil {
		t.Fatal("CreateTopics without SASL succeeded on a cluster that wants it")
	}
	if err := kafka.CreateTopicsWith(t.Context(), brokers, 1, 1, []string{"sasl"}, auth); err != nil {
		t.Fatalf("CreateTopicsWith SASL: %v", err)
	}
	if err := newPublisher(t, brokers, auth).Publish(t.Context(), eventbus.Message{Topic: "sasl.dlq", Key: "k"}); err != nil {
		t.Errorf("publish to the dead-letter twin: %v", err)
	}
	if err := kafka.CreateTopicsWith(t.Context(), brokers, 1, 1, []string{"sasl"}, kafka.WithRetry(eventbus.RetryPolicy{})); !errors.Is(err, kafka.ErrInvalid) {
		t.Errorf("CreateTopicsWith(WithRetry) = %v; want ErrInvalid", err)
	}
}

func TestCreateTopics(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	brokers := c.ListenAddrs()
	ctx := t.Context()
	for i := range 2 { // the second time, everything exists already
		if err := kafka.CreateTopics(ctx, brokers, 3, 1, "sale.created", "sale.created", "old.dlq"); err != nil {
			t.Fatalf("CreateTopics #%d: %v", i+1, err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, d := range details.Sorted() {
		got[d.Topic] = len(d.Partitions)
	}
	want := map[string]int{"sale.created": 3, "sale.created.dlq": 3, "old.dlq": 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("topics = %v; want %v", got, want)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "sale.created")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("sale.created", nil)
	if err != nil {
		t.Fatal(err)
	}
	maxBytes := "unset"
	for _, cfg := range rc.Configs {
		if cfg.Key == "max.message.bytes" {
			maxBytes = cfg.MaybeValue()
		}
	}
	if maxBytes != strconv.Itoa(kafka.MaxMessageBytes) {
		t.Errorf("max.message.bytes = %s; want %d", maxBytes, kafka.MaxMessageBytes)
	}

	err = kafka.CreateTopics(ctx, brokers, 1, 3, "replicated")
	if !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Errorf("CreateTopics with 3 replicas on 1 broker = %v; want an error wrapping kerr.InvalidReplicationFactor", err)
	}
}

// gatherWhen gathers reg's series once they have want's values, or after
// five seconds: a handled message is counted after its handler returns, so
// the last one may be counted just after the test saw it handled.
func gatherWhen(t *testing.T, reg *prometheus.Registry, want map[string]float64) map[string]float64 {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := gather(t, reg)
		ok := true
		for name, v := range want {
			ok = ok && got[name] == v
		}
		if ok || time.Now().After(deadline) {
			return got
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	const topic = "metrics"
	_, brokers := newClusterWith(t, topic)
	reg := prometheus.NewRegistry()

	p := newPublisher(t, brokers, kafka.WithMetrics(reg))
	if _, err := kafka.NewPublisher(brokers, kafka.WithMetrics(reg)); !errors.Is(err, kafka.ErrInvalid) {
		t.Errorf("second publisher on one registerer = %v; want ErrInvalid", err)
	}
	msgs, values := messages(topic, "m", 10, 5)
	if err := p.Publish(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	var failed atomic.Bool
	retry := eventbus.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Millisecond}
	stop := run(t, newSubscriber(t, brokers, "metrics-group", []string{topic}, kafka.WithMetrics(reg), kafka.WithRetry(retry)),
		func(ctx context.Context, d eventbus.Delivery) error {
			if string(d.Value) == values[0] && failed.CompareAndSwap(false, true) {
				return errors.New("once")
			}
			return col.handle(ctx, d)
		})
	col.wait(t, values)

	want := map[string]float64{
		`salesflow_kafka_publisher_messages_published_total{topic="metrics"}`:                      10,
		`salesflow_kafka_subscriber_messages_handled_total{group="metrics-group",topic="metrics"}`: 10,
		`salesflow_kafka_subscriber_handler_errors_total{group="metrics-group",topic="metrics"}`:   1,
	}
	got := gatherWhen(t, reg, want)
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v; want %v", name, got[name], v)
		}
	}
	kprom := 0
	for name := range got {
		if strings.HasPrefix(name, "salesflow_kafka_publisher_produce_bytes_total") {
			kprom++
		}
	}
	if kprom == 0 {
		t.Errorf("no kprom client metrics among %d series", len(got))
	}

	// Another group's subscriber registers beside the first (the
	// series differ in their group label).
	other := newCollector()
	stopOther := run(t, newSubscriber(t, brokers, "other-group", []string{topic}, kafka.WithMetrics(reg)), other.handle)
	other.wait(t, values)
	const otherHandled = `salesflow_kafka_subscriber_messages_handled_total{group="other-group",topic="metrics"}`
	if got := gatherWhen(t, reg, map[string]float64{otherHandled: 10})[otherHandled]; got != 10 {
		t.Errorf("other group handled %v; want 10", got)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := stopOther(); err != nil {
		t.Fatal(err)
	}
	if n := len(gather(t, reg)); n != 0 {
		t.Errorf("%d series left after Close; want none", n)
	}
}

// gather returns the registry's counter and gauge values by series name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[name] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name] = m.GetGauge().GetValue()
			default:
				out[name] = 1
			}
		}
	}
	return out
}

// TestRecordsLargerThanAFetch: a subscriber's fetches are bounded
// (kafka.FetchMaxBytes, compressed bytes), but a record batch larger than
// that still comes, alone: incompressible records of 3 MiB, sent without
// compression, arrive whole and in order per key among small ones, with
// large ones on several partitions at once. A hook checks that batches
// larger than the bound were fetched, so the test cannot pass by fitting
// them under it.
func TestRecordsLargerThanAFetch(t *testing.T) {
	t.Parallel()
	_, brokers := newClusterWith(t, "large")
	p := newPublisher(t, brokers, kafka.WithMaxMessageBytes(kafka.MaxMessageBytes),
		kafka.WithClientOptions(kgo.ProducerBatchCompression(kgo.NoCompression())))
	rng := rand.NewChaCha8([32]byte{7})
	keys := []string{"a", "b", "c", "d", "e", "f"}
	want := map[string][][]byte{}
	for i := range 4 {
		for _, k := range keys {
			v := []byte(fmt.Sprintf("small-%s-%d", k, i))
			if i%2 == 1 {
				v = make([]byte, 3<<20)
				_, _ = rng.Read(v)
			}
			want[k] = append(want[k], v)
			// One Publish each: each record its own batch, so that a
			// fetch meets batches larger than its bound between small
			// ones, on every partition the keys reach.
			if err := p.Publish(t.Context(), eventbus.Message{Topic: "large", Key: k, Value: v}); err != nil {
				t.Fatalf("Publish %s %d: %v", k, i, err)
			}
		}
	}
	var oversized atomic.Int64
	s := newSubscriber(t, brokers, "large-group", []string{"large"},
		kafka.WithClientOptions(kgo.WithHooks(fetchedBatches(func(m kgo.FetchBatchMetrics) {
			if m.CompressedBytes > kafka.FetchMaxBytes {
				oversized.Add(1)
			}
		}))))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	got := map[string][][]byte{}
	n := 0
	var mu sync.Mutex
	err := s.Run(ctx, func(_ context.Context, d eventbus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		got[d.Message.Key] = append(got[d.Message.Key], bytes.Clone(d.Value))
		if n++; n == len(keys)*4 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if n != len(keys)*4 {
		t.Fatalf("%d of %d records within 30 s", n, len(keys)*4)
	}
	for _, k := range keys {
		for i := range want[k] {
			if i >= len(got[k]) || !bytes.Equal(got[k][i], want[k][i]) {
				t.Errorf("key %s, record %d: not the one sent (%d records of the key arrived)", k, i, len(got[k]))
			}
		}
	}
	if oversized.Load() == 0 {
		t.Errorf("no fetched batch was larger than the fetch bound (%d bytes): the test did not test it", kafka.FetchMaxBytes)
	}
}

// fetchedBatches is a franz-go hook calling f for each batch fetched.
type fetchedBatches func(kgo.FetchBatchMetrics)

func (f fetchedBatches) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	f(m)
}
