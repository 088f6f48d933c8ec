// Command kfake runs franz-go's Kafka-protocol fake (kfake) as a broker
// process of its own, one node on a fixed loopback port, until SIGINT or
// SIGTERM. The benchmarks (bench) and the chaos command (examples/chaos)
// run it so that the broker's CPU is not the measured process's, and so
// that it can be SIGKILLed and started again on the same port.
//
//	go run ./examples/kfake -port 9092
//	go run ./examples/kfake -port 19092 -dir /tmp/broker   # data kept across restarts
//
// With -dir the data is reloaded at start: SIGINT or SIGTERM close the
// broker cleanly (state flushed), SIGKILL leaves what the page cache holds,
// as a crashed broker would. Topics are created by the clients (the server
// creates its sale topics with kadm); -auto-topics lets a metadata request
// create them. It prints "kfake listening on ADDR" once it accepts
// connections.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9092, "port to listen on, on 127.0.0.1 (clients reconnect to it after a restart)")
	dir := flag.String("dir", "", "data directory, reloaded at start; empty: in memory only")
	syncWrites := flag.Bool("sync", false, "with -dir: fsync every produced batch")
	partitions := flag.Int("default-partitions", 3, "partitions of topics created with -1 partitions or automatically")
	auto := flag.Bool("auto-topics", false, "let metadata requests create topics")
	flag.Parse()
	if *port < 1 || *port > 65535 {
		fmt.Fprintln(os.Stderr, "kfake: -port must be 1 to 65535")
		os.Exit(2)
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(*port), kfake.DefaultNumPartitions(*partitions)}
	if *dir != "" {
		opts = append(opts, kfake.DataDir(*dir))
		if *syncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	if *auto {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Println("kfake listening on", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
	fmt.Println("kfake closed")
}
