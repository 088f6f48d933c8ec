// Command broker runs a one-node Kafka-protocol broker (kfake) on a fixed
// loopback port with its data in a directory, so that the chaos command can
// SIGKILL it and start it again on the same port with the same data.
//
//	go run ./examples/chaos/broker -port 19092 -dir /tmp/broker
//
// SIGINT or SIGTERM close it cleanly (state flushed to the directory);
// SIGKILL leaves what the page cache holds, as a crashed broker would.
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
	port := flag.Int("port", 0, "loopback port to listen on (required: clients reconnect to it after a restart)")
	dir := flag.String("dir", "", "data directory, reloaded at start (required)")
	syncWrites := flag.Bool("sync", false, "fsync every produced batch")
	flag.Parse()
	if *port <= 0 || *dir == "" {
		fmt.Fprintln(os.Stderr, "broker: -port and -dir are required")
		os.Exit(2)
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(*port), kfake.DataDir(*dir)}
	if *syncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		os.Exit(1)
	}
	fmt.Println("broker listening on", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
	fmt.Println("broker closed")
}
