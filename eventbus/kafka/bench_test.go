package kafka_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/eventbus/kafka"
)

// The benchmarks compare the bus with plain franz-go on the same kfake
// cluster, moving 1 KiB records with CloudEvents headers. Run them with,
// for example,
//
//	go test ./eventbus/kafka -run '^$' -bench Publish -benchtime 3s -count 5
//	go test ./eventbus/kafka -run '^$' -bench Consume -benchtime 10x -count 5
//
// and compare the bus-records/s and franz-records/s of each line: the
// variants take turns within each iteration.

const benchValueSize = 1024

// benchSink keeps the compiler from dropping work whose result is unused.
var benchSink eventbus.Message

func benchMessages(topic string, n int) []eventbus.Message {
	value := make([]byte, benchValueSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	msgs := make([]eventbus.Message, n)
	for i := range msgs {
		key := "sale-" + strconv.Itoa(i%16)
		ev := eventbus.Event{ID: uuid.New(), Type: "sale.created", Source: "/salesflow/sales", Subject: key, Time: time.Now(), Data: value}
		msgs[i] = ev.Message(topic, key)
	}
	return msgs
}

func benchRecords(msgs []eventbus.Message) []*kgo.Record {
	rs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		r := &kgo.Record{Topic: m.Topic, Key: []byte(m.Key), Value: m.Value, Headers: make([]kgo.RecordHeader, 0, len(m.Headers))}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
		}
		rs[i] = r
	}
	return rs
}

// BenchmarkPublish publishes batches of 1 KiB messages and waits for the
// acknowledgement of each batch: Publisher.Publish (bus) against kgo
// ProduceSync with the same producer settings (idempotent, acks=all, no
// linger; franz). Each iteration runs a block of calls of each, about
// 20 ms, in an order that alternates, so that both meet the same machine:
// a shared one drifts within seconds, and run one after the other, as
// separate benchmarks, the two gave ratios from 0.79 to 1.04 for one
// record a call in the twelfth to fourteenth sessions' bench runs. Each
// one's rate is reported as its own metric ("bus-records/s",
// "franz-records/s").
func BenchmarkPublish(b *testing.B) {
	c := newCluster(b)
	brokers := c.ListenAddrs()
	createTopics(b, brokers, "bench-publish")
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchmarkPublish(b, brokers, batch) })
	}
}

func benchmarkPublish(b *testing.B, brokers []string, batch int) {
	msgs := benchMessages("bench-publish", batch)
	p, err := kafka.NewPublisher(brokers)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	variants := []struct {
		name string
		call func() error
	}{
		{"bus", func() error { return p.Publish(ctx, msgs...) }},
		// Fresh records, as Publish makes: a produced record is not
		// meant to be produced again.
		{"franz", func() error { return cl.ProduceSync(ctx, benchRecords(msgs)...).FirstErr() }},
	}
	calls := max(20, 200/batch)  // about 20 ms of either
	for _, v := range variants { // connected, with a producer id
		if err := v.call(); err != nil {
			b.Fatal(err)
		}
	}
	// kfake keeps what it is sent in this process's heap: 100 records a
	// call wrote about 1.5 GB in a run of 4 s, and the collector's work
	// on that heap fell on whichever variant was running, so that runs
	// of one binary gave ratios from 0.91 to 1.17. The benchmark deletes
	// the written records after each iteration, untimed, as a broker's
	// retention would.
	adm := kadm.NewClient(cl)
	trim := func() {
		offsets, err := adm.ListEndOffsets(ctx, "bench-publish")
		if err == nil {
			_, err = adm.DeleteRecords(ctx, offsets.Offsets())
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	took := make([]time.Duration, len(variants))
	b.SetBytes(int64(len(variants) * calls * batch * benchValueSize))
	round := 0
	for b.Loop() {
		for i := range variants {
			j := (round + i) % len(variants)
			start := time.Now()
			for range calls {
				if err := variants[j].call(); err != nil {
					b.Fatal(err)
				}
			}
			took[j] += time.Since(start)
		}
		round++
		trim()
	}
	for i, v := range variants {
		b.ReportMetric(float64(round*calls*batch)/took[i].Seconds(), v.name+"-records/s")
	}
}

// BenchmarkConsume has new consumer groups read a topic of 20,000 or
// 100,000 1 KiB records (4 partitions) from the start and leave: the bus
// (Subscriber.Run with a handler that counts), a kgo PollFetches loop that
// counts (franz), and one that also builds each record's Headers
// (franz+headers). All include joining the group, committing, leaving and
// a garbage collection after them (each starts from a collected heap).
// Each iteration runs the three once, in an order that rotates, so that
// they meet the same machine (a shared one drifts within seconds); each
// one's rate is reported as its own metric ("bus-records/s", ...).
func BenchmarkConsume(b *testing.B) {
	for _, records := range []int{20_000, 100_000} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) { benchmarkConsume(b, records) })
	}
}

func benchmarkConsume(b *testing.B, records int) {
	c := newCluster(b)
	brokers := c.ListenAddrs()
	const topic = "bench-consume"
	createTopics(b, brokers, topic)
	msgs := benchMessages(topic, records)
	p, err := kafka.NewPublisher(brokers)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < records; i += 1000 {
		if err := p.Publish(context.Background(), msgs[i:i+1000]...); err != nil {
			b.Fatal(err)
		}
	}
	p.Close()

	groups := 0
	group := func() string { groups++; return fmt.Sprintf("bench-%d", groups) }
	variants := []struct {
		name string
		run  func()
	}{
		{"bus", func() { consumeBus(b, brokers, group(), topic, records) }},
		{"franz", func() { consumeFranz(b, brokers, group(), topic, records, nil) }},
		// The same loop turning each record's headers into the Headers
		// an eventbus.Message carries: the part of the bus's cost the
		// contract asks for.
		{"franz+headers", func() {
			consumeFranz(b, brokers, group(), topic, records, func(r *kgo.Record) {
				h := make(eventbus.Headers, len(r.Headers))
				for i, rh := range r.Headers {
					h[i] = eventbus.Header{Key: rh.Key, Value: string(rh.Value)}
				}
				benchSink = eventbus.Message{Topic: r.Topic, Key: string(r.Key), Headers: h, Value: r.Value}
			})
		}},
	}
	took := make([]time.Duration, len(variants))
	b.SetBytes(int64(len(variants) * records * benchValueSize))
	round := 0
	for b.Loop() {
		for i := range variants {
			j := (round + i) % len(variants)
			// Each variant starts from a collected heap and pays for
			// collecting its own garbage, rather than its successor's:
			// in a rotation each one always follows the same other
			// one, and a handler that allocates while a collection
			// runs is made to help with it, while a loop that only
			// counts leaves it all to the next one.
			runtime.GC()
			start := time.Now()
			variants[j].run()
			runtime.GC()
			took[j] += time.Since(start)
		}
		round++
	}
	for i, v := range variants {
		b.ReportMetric(float64(round*records)/took[i].Seconds(), v.name+"-records/s")
	}
}

// consumeBus reads records of topic with a new bus subscriber of group.
func consumeBus(b *testing.B, brokers []string, group, topic string, records int) {
	s, err := kafka.NewSubscriber(brokers, group, []string{topic})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	err = s.Run(ctx, func(context.Context, eventbus.Delivery) error {
		if n.Add(1) == int64(records) {
			cancel()
		}
		return nil
	})
	cancel()
	if err != nil || n.Load() < int64(records) {
		b.Fatalf("Run = %v after %d of %d records", err, n.Load(), records)
	}
}

// consumeFranz reads records of topic with a plain franz-go group
// consumer's poll loop, calling each (if not nil) on every record. It
// fetches with the subscriber's bounds, as BenchmarkPublish produces with
// the publisher's settings: with franz-go's defaults (1 MiB a partition,
// 50 MiB a fetch) a new group read 100,000 1 KiB records in 361 ms against
// 120 ms with the bounds (medians of 12 in one run, fourteenth session),
// and the comparison would credit the bus with a setting rather than
// measure its cost.
func consumeFranz(b *testing.B, brokers []string, group, topic string, records int, each func(*kgo.Record)) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(kafka.FetchMaxBytes), kgo.FetchMaxPartitionBytes(kafka.FetchMaxBytes))
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for n < records {
		fs := cl.PollFetches(context.Background())
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if each != nil {
				each(r)
			}
			n++
		})
	}
	cl.Close() // commits and leaves
}
