package testkit

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RedpandaImage is the image RealKafka starts when Docker answers.
const RedpandaImage = "docker.redpanda.com/redpandadata/redpanda:v24.2.7"

var redpanda struct {
	once    sync.Once
	brokers []string
	err     error
}

// RealKafka returns the seed brokers of a real Kafka-protocol broker: the
// comma-separated KAFKA_BROKERS when set, else a single-node Redpanda that
// it starts once per test process through Docker (dockertest) and that
// expires after 15 minutes. Where neither is available it skips t: the
// suites always run on kfake too, and this is the extra run against a real
// broker that CI workflows with Redpanda (see .github/workflows) get.
func RealKafka(t testing.TB) []string {
	t.Helper()
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		return strings.Split(env, ",")
	}
	redpanda.once.Do(func() { redpanda.brokers, redpanda.err = startRedpanda() })
	if redpanda.err != nil {
		t.Skipf("no real broker: KAFKA_BROKERS is not set and %v", redpanda.err)
	}
	return redpanda.brokers
}

func startRedpanda() ([]string, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, fmt.Errorf("Docker is not reachable: %w", err)
	}
	if err := pool.Client.Ping(); err != nil {
		return nil, fmt.Errorf("no Docker daemon answers: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	repo, tag, _ := strings.Cut(RedpandaImage, ":")
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: repo, Tag: tag,
		Cmd: []string{"redpanda", "start", "--mode", "dev-container", "--smp", "1", "--overprovisioned",
			"--kafka-addr", "0.0.0.0:9092", "--advertise-kafka-addr", "127.0.0.1:" + port},
		PortBindings: map[docker.Port][]docker.PortBinding{"9092/tcp": {{HostIP: "127.0.0.1", HostPort: port}}},
	}, func(hc *docker.HostConfig) { hc.AutoRemove = true })
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", RedpandaImage, err)
	}
	_ = res.Expire(15 * 60)
	brokers := []string{"127.0.0.1:" + port}
	pool.MaxWait = 90 * time.Second
	err = pool.Retry(func() error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return cl.Ping(ctx)
	})
	if err != nil {
		_ = pool.Purge(res)
		return nil, fmt.Errorf("%s did not answer: %w", RedpandaImage, err)
	}
	return brokers, nil
}
