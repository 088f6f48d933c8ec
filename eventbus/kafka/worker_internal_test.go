package kafka

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salesflow/salesflow/eventbus"
)

// unconnectedClient returns a client that never connects: a worker's
// pausing and marking are local to it.
func unconnectedClient(t testing.TB) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestWorkerFlowControl checks when a partition's fetching is paused and
// resumed; the client is never connected, pausing is local to it.
func TestWorkerFlowControl(t *testing.T) {
	t.Parallel()
	cl := unconnectedClient(t)
	records := func(n, size int) []*kgo.Record {
		rs := make([]*kgo.Record, n)
		for i := range rs {
			rs[i] = &kgo.Record{Topic: "t", Value: make([]byte, size)}
		}
		return rs
	}
	paused := func() bool { return len(cl.PauseFetchPartitions(nil)["t"]) > 0 }
	tests := []struct {
		name      string
		avg       time.Duration // measured time per record
		stuck     time.Duration // how long the record in hand has been
		push      []*kgo.Record
		wantPause bool
		popTo     int // records left when fetching resumes
	}{
		{"fast handler, many records", 2 * time.Microsecond, 0, records(20_000, 100), false, 0},
		{"slow handler", time.Millisecond, 0, records(3_000, 100), true, 1_000},
		{"slow handler, few records", time.Millisecond, 0, records(900, 100), false, 0},
		{"stuck record", 10 * time.Microsecond, 2 * time.Second, records(1_000, 100), true, 499},
		{"record count cap", time.Microsecond, 0, records(maxQueueRecords, 10), true, maxQueueRecords / 2},
		{"byte cap", time.Microsecond, 0, records(40, 1<<20), true, 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := newWorker(&session{ctx: ctx}, cl, topicPartition{"t", 0})
			w.avg.Store(int64(tc.avg))
			if tc.stuck > 0 {
				w.busySince.Store(time.Now().Add(-tc.stuck).UnixNano())
			}
			w.push(tc.push)
			if paused() != tc.wantPause {
				t.Fatalf("after pushing %d records: paused = %v; want %v", len(tc.push), paused(), tc.wantPause)
			}
			if !tc.wantPause {
				return
			}
			w.busySince.Store(0)
			if tc.stuck > 0 {
				w.observe(tc.stuck) // the stuck record finished
			}
			left := len(tc.push)
			for paused() {
				if _, left = w.pop(nil, 1); left == 0 && paused() {
					t.Fatal("queue empty and still paused")
				}
			}
			if left != tc.popTo {
				t.Errorf("resumed with %d records left; want %d", left, tc.popTo)
			}
		})
	}
}

// TestPopBoundsBytes: what a worker takes off its queue at once holds at
// most maxTakeBytes, but at least one record, however large.
func TestPopBoundsBytes(t *testing.T) {
	t.Parallel()
	cl := unconnectedClient(t)
	w := newWorker(&session{ctx: t.Context()}, cl, topicPartition{"t", 0})
	var rs []*kgo.Record
	for _, size := range []int{maxTakeBytes / 4, maxTakeBytes / 4, maxTakeBytes / 4, maxTakeBytes / 4, 1, maxTakeBytes + 1, 10, 10} {
		rs = append(rs, &kgo.Record{Topic: "t", Value: make([]byte, size)})
	}
	w.push(rs)
	for i, want := range []int{4, 1, 1, 2} {
		got, _ := w.pop(nil, singleChunk)
		if len(got) != want {
			t.Fatalf("pop %d took %d records; want %d", i+1, len(got), want)
		}
	}
}

func TestObserveResistsOutliers(t *testing.T) {
	t.Parallel()
	w := &worker{}
	for range 100 {
		w.observe(5 * time.Microsecond)
	}
	w.observe(50 * time.Millisecond) // descheduled for a moment
	if got := time.Duration(w.avg.Load()); got > 10*time.Microsecond {
		t.Errorf("average after one outlier = %v; want about 5µs", got)
	}
	for range 40 {
		w.observe(time.Millisecond) // the handler really got slower
	}
	if got := time.Duration(w.avg.Load()); got < 900*time.Microsecond {
		t.Errorf("average after 40 records of 1ms = %v; want about 1ms", got)
	}
	w.observe(3 * time.Second) // stuck, then done
	if got := time.Duration(w.avg.Load()); got != 3*time.Second {
		t.Errorf("average after a stuck record = %v; want 3s", got)
	}
}

// slice appends b to buf, which must have room, and returns buf's copy of
// it and buf.
func slice(buf, b []byte) ([]byte, []byte) {
	n := len(buf)
	buf = append(buf, b...)
	return buf[n:len(buf):len(buf)], buf
}

// BenchmarkHandoff measures what the subscriber adds per record between
// the client and a handler that counts, without a broker: 20,000 1 KiB
// records with CloudEvents-sized headers, pushed to four partitions'
// workers 1,000 at a time as the poll loop does.
func BenchmarkHandoff(b *testing.B) {
	const partitions, perPartition, perPush = 4, 5_000, 1_000
	cl := unconnectedClient(b)
	// The records are laid out as the client decodes a fetch: a batch's
	// records in one array, their keys, values and header values slices
	// of the batch's bytes, each header key its own string.
	keys := []string{"ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "content-type", "ce_subject"}
	headerValue := "0f6d1c52-5e1b-4c5e-9d7a"
	parts := make([][]*kgo.Record, partitions)
	for p := range parts {
		parts[p] = make([]*kgo.Record, 0, perPartition)
		for range perPartition / perPush {
			batch := make([]kgo.Record, perPush)
			buf := make([]byte, 0, perPush*(6+1024+len(keys)*len(headerValue)))
			for i := range batch {
				r := &batch[i]
				r.Topic, r.Partition, r.Offset = "t", int32(p), int64(len(parts[p]))
				r.Key, buf = slice(buf, []byte("sale-1"))
				r.Value, buf = slice(buf, make([]byte, 1024))
				r.Headers = make([]kgo.RecordHeader, len(keys))
				for j, k := range keys {
					r.Headers[j].Key = strings.Clone(k)
					r.Headers[j].Value, buf = slice(buf, []byte(headerValue))
				}
				parts[p] = append(parts[p], r)
			}
		}
	}
	var n atomic.Int64
	done := make(chan struct{})
	ss := &session{s: &Subscriber{retry: eventbus.DefaultRetryPolicy, drain: time.Second}, ctx: context.Background(), max: 1,
		handler: func(context.Context, eventbus.Delivery) error {
			if n.Add(1) == partitions*perPartition {
				close(done)
			}
			return nil
		}}
	for b.Loop() {
		n.Store(0)
		done = make(chan struct{})
		ws := make([]*worker, partitions)
		for p := range ws {
			ws[p] = newWorker(ss, cl, topicPartition{"t", int32(p)})
			go ws[p].run()
		}
		for i := 0; i < perPartition; i += perPush {
			for p, w := range ws {
				w.push(parts[p][i : i+perPush])
			}
		}
		<-done
		ss.stopWorkers(ws)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*partitions*perPartition), "ns/record")
}
