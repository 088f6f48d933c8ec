package testkit_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/eventbus/kafka"
	"github.com/salesflow/salesflow/testkit"
	"github.com/salesflow/salesflow/worker"
)

// kafkaOpts make franz-go react in milliseconds on kfake.
func kafkaOpts() []kafka.Option {
	return []kafka.Option{kafka.WithClientOptions(
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.MetadataMinAge(50*time.Millisecond),
	)}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// PostgreSQL with Kafka on kfake; the broker outage stops the broker and
// starts it again on the same port and data.
func TestFlowPostgresKafka(t *testing.T) {
	testkit.RunFlowTests(t, func(t *testing.T) testkit.Deployment {
		db := testkit.OpenPostgres(t)
		dir, port := t.TempDir(), freePort(t)
		start := func() *kfake.Cluster {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir))
			if err != nil {
				t.Fatalf("start kfake: %v", err)
			}
			return c
		}
		var mu sync.Mutex
		cluster := start()
		t.Cleanup(func() { mu.Lock(); cluster.Close(); mu.Unlock() })
		brokers := cluster.ListenAddrs()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := kafka.CreateTopics(ctx, brokers, 4, 1, worker.Topics("")...); err != nil {
			t.Fatal(err)
		}
		pub, err := kafka.NewPublisher(brokers, kafkaOpts()...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pub.Close() })
		return testkit.Deployment{
			Sales: db.Sales(), Inventory: db.Inventory(), Analytics: db.Analytics(),
			Outbox: db.Outbox(), Progress: db.Progress, NewWorker: newWorker(db.InTx), Rollups: db.Rollups(),
			Publisher: pub,
			Subscriber: func(t *testing.T, group string, topics []string, retry eventbus.RetryPolicy) eventbus.Subscriber {
				sub, err := kafka.NewSubscriber(brokers, group, topics, append(kafkaOpts(), kafka.WithRetry(retry), kafka.WithCommitInterval(100*time.Millisecond))...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = sub.Close() })
				return sub
			},
			Outage: func(t *testing.T) func() {
				mu.Lock()
				cluster.Close()
				mu.Unlock()
				return func() {
					mu.Lock()
					defer mu.Unlock()
					cluster = start()
				}
			},
		}
	})
}

// PostgreSQL with a real broker (KAFKA_BROKERS, or Redpanda on Docker);
// skipped where there is none. Each deployment gets its own topics.
func TestFlowPostgresRealKafka(t *testing.T) {
	brokers := testkit.RealKafka(t)
	testkit.RunFlowTests(t, func(t *testing.T) testkit.Deployment {
		db := testkit.OpenPostgres(t)
		prefix := "flow-" + uuid.NewString()[:8] + "."
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		if err := kafka.CreateTopics(ctx, brokers, 4, -1, worker.Topics(prefix)...); err != nil {
			t.Fatal(err)
		}
		pub, err := kafka.NewPublisher(brokers)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pub.Close() })
		return testkit.Deployment{
			Sales: db.Sales(), Inventory: db.Inventory(), Analytics: db.Analytics(),
			Outbox: db.Outbox(), Progress: db.Progress, NewWorker: newWorker(db.InTx), Rollups: db.Rollups(),
			TopicPrefix: prefix, Publisher: pub,
			Subscriber: func(t *testing.T, group string, topics []string, retry eventbus.RetryPolicy) eventbus.Subscriber {
				sub, err := kafka.NewSubscriber(brokers, group, topics, kafka.WithRetry(retry))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = sub.Close() })
				return sub
			},
		}
	})
}
