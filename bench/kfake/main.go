// Command kfake runs franz-go's in-process Kafka fake (kfake) as a broker
// of its own, for the benchmarks: one broker on a fixed loopback port,
// until SIGINT or SIGTERM.
//
//	go run ./bench/kfake -port 9092
//
// It prints "kfake listening on ADDR" when it accepts connections. Topics
// are created by the clients (the server creates its sale topics with
// kadm); -auto-topics lets a metadata request create them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9092, "port to listen on, on 127.0.0.1")
	partitions := flag.Int("default-partitions", 3, "partitions of topics created with -1 partitions or automatically")
	auto := flag.Bool("auto-topics", false, "let metadata requests create topics")
	flag.Parse()
	if *port < 1 || *port > 65535 {
		fmt.Fprintln(os.Stderr, "kfake: -port must be 1 to 65535")
		os.Exit(2)
	}
	// kfake listens on 127.0.0.1 only.
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(*port), kfake.DefaultNumPartitions(*partitions)}
	if *auto {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Printf("kfake listening on %s\n", c.ListenAddrs()[0])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-ctx.Done()
	stop()
	c.Close()
}
