package kafka

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salesflow/salesflow/eventbus"
)

// Flow control of a partition's queue. Fetching of a partition is paused
// while its queue holds more than pauseWork of work at the pace its handler
// goes (and at least minPause records), or more than maxQueueRecords or
// maxQueueBytes; it is resumed once the queue is down to resumeWork and half
// the maxima. A resumed partition is fetched only after the fetch in flight
// to its broker returns, which can take FetchMaxWait when the other
// partitions have nothing new; the resumeWork left in the queue keeps the
// worker busy meanwhile, so pausing costs a fast handler nothing and a slow
// or stuck partition does not hold up the others or fill memory.
//
// The pace is a moving average of the time per record in which a sample
// counts for at most outlierFactor times the average, so that a worker
// descheduled for a moment on a busy machine is not taken for a slow one;
// a record in hand for longer than stuckAfter counts in full.
const (
	pauseWork       = 2 * time.Second
	resumeWork      = time.Second
	minPause        = 1000
	maxQueueRecords = 50_000
	maxQueueBytes   = 32 << 20
	firstEstimate   = 100 * time.Microsecond // per record, until measured
	outlierFactor   = 4
	stuckAfter      = time.Second
	maxEstimate     = time.Hour
)

// worker handles the records of one assigned partition, in order, on its
// own goroutine. The poll loop pushes records onto its queue.
type worker struct {
	ss *session
	cl *kgo.Client
	tp topicPartition

	ctx    context.Context // the handlers': Run's, canceled too after the drain timeout once stopping
	cancel context.CancelFunc
	quit   chan struct{} // closed by stop: finish the record in hand, take no more
	done   chan struct{} // closed when run returns
	wake   chan struct{} // a push happened
	once   sync.Once
	timer  *time.Timer // cancels ctx after the drain timeout

	avg       atomic.Int64 // moving average of the time per record, ns
	busySince atomic.Int64 // when the record in hand was taken, unix ns; 0 when idle

	mu     sync.Mutex
	queue  []*kgo.Record // queue[head:] is pending
	head   int
	bytes  int
	paused bool
}

func newWorker(ss *session, cl *kgo.Client, tp topicPartition) *worker {
	w := &worker{
		ss: ss, cl: cl, tp: tp,
		quit: make(chan struct{}),
		done: make(chan struct{}),
		wake: make(chan struct{}, 1),
	}
	w.ctx, w.cancel = context.WithCancel(ss.ctx)
	return w
}

func recordSize(r *kgo.Record) int { return len(r.Key) + len(r.Value) }

// perRecord estimates how long a record takes; with now set, a record in
// hand for longer than stuckAfter raises the estimate to its time so far.
func (w *worker) perRecord(now int64) time.Duration {
	d := time.Duration(w.avg.Load())
	if d == 0 {
		d = firstEstimate
	}
	if since := w.busySince.Load(); now != 0 && since != 0 && time.Duration(now-since) >= stuckAfter {
		d = max(d, time.Duration(now-since))
	}
	return min(d, maxEstimate)
}

// observe folds the time one record took into the average.
func (w *worker) observe(d time.Duration) {
	old := w.avg.Load()
	switch {
	case old == 0:
		w.avg.Store(int64(d))
	case d >= stuckAfter:
		w.avg.Store(int64(d))
	default:
		w.avg.Store(old + (min(int64(d), outlierFactor*old)-old)/8)
	}
}

// push queues rs (all of w's partition, in offset order).
func (w *worker) push(rs []*kgo.Record) {
	w.mu.Lock()
	if w.head > 0 && len(w.queue)+len(rs) > cap(w.queue) {
		n := copy(w.queue, w.queue[w.head:])
		clear(w.queue[n:])
		w.queue, w.head = w.queue[:n], 0
	}
	w.queue = append(w.queue, rs...)
	for _, r := range rs {
		w.bytes += recordSize(r)
	}
	if n := len(w.queue) - w.head; !w.paused && (n >= maxQueueRecords || w.bytes >= maxQueueBytes ||
		n >= minPause && time.Duration(n)*w.perRecord(time.Now().UnixNano()) >= pauseWork) {
		w.paused = true
		w.cl.PauseFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pop takes up to max queued records into rs, and up to maxTakeBytes of
// them but at least one, or none, and says how many records are left.
func (w *worker) pop(rs []*kgo.Record, max int) ([]*kgo.Record, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rs = rs[:0]
	taken := 0
	for w.head < len(w.queue) && len(rs) < max {
		r := w.queue[w.head]
		size := recordSize(r)
		if len(rs) > 0 && taken+size > maxTakeBytes {
			break
		}
		taken += size
		w.queue[w.head] = nil
		w.head++
		w.bytes -= size
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return rs, 0
	}
	if w.head == len(w.queue) {
		w.queue, w.head = w.queue[:0], 0
	}
	n := len(w.queue) - w.head
	if w.paused && n <= maxQueueRecords/2 && w.bytes <= maxQueueBytes/2 &&
		(n < minPause/2 || time.Duration(n)*w.perRecord(0) <= resumeWork) {
		w.paused = false
		w.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
	return rs, n
}

// singleChunk is how many records a worker without a batch handler takes
// off its queue at once (fewer when they hold more than maxTakeBytes).
// Its costs per chunk (the queue's lock, the clock, one allocation for the
// headers of all its messages, 56 KiB with CloudEvents' seven headers
// each) are spread over that many records: BenchmarkHandoff took 117 to
// 140 ns a record with chunks of 32, and 86 to 117 with 256. A handler
// that keeps a message's headers keeps that block, and with it the
// memory of the chunk's records that the headers' values point into.
const singleChunk = 256

// maxTakeBytes bounds the keys and values of a chunk or batch taken off a
// queue, but for its first record: what is taken no longer counts against
// maxQueueBytes, so that with large records a worker holds at most about
// this much more than the queue's bound.
const maxTakeBytes = 4 << 20

// markEvery and markAfter bound how many handled records a worker leaves
// unmarked while more are queued, and for how long (so that a slow
// handler's work is committed at the commit interval, whose least is
// 100 ms, too: a timer raises a flag that the worker reads after each
// record); it marks at once when its queue runs dry and when it stops, so
// commits on revoke and close see every handled record.
const (
	markEvery = 256
	markAfter = 50 * time.Millisecond
)

func (w *worker) run() {
	defer close(w.done)
	defer w.unpause()
	var unmarked *kgo.Record
	defer func() {
		if unmarked != nil {
			w.cl.MarkCommitRecords(unmarked)
		}
	}()
	// Without a batch handler the records still come off the queue a
	// chunk at a time, to be handled one by one: the queue's lock, the
	// clock and the allocation of the messages' headers are paid per
	// chunk. A chunk counts as one record in hand for the stuck check.
	take := w.ss.max
	if w.ss.batch == nil {
		take = singleChunk
	}
	rs := make([]*kgo.Record, 0, take)
	handled := 0        // since the last mark
	var due atomic.Bool // markAfter passed since the last mark
	dueTimer := time.AfterFunc(markAfter, func() { due.Store(true) })
	defer dueTimer.Stop()
	mark := func() {
		w.cl.MarkCommitRecords(unmarked)
		unmarked, handled = nil, 0
		due.Store(false)
		dueTimer.Reset(markAfter)
	}
	for {
		var left int
		rs, left = w.next(rs, take)
		if len(rs) == 0 {
			return
		}
		start := time.Now()
		w.busySince.Store(start.UnixNano())
		// A batch handler gets a slice of deliveries, which it may keep;
		// a handler gets each delivery by value, so those are built one
		// at a time as they are handled, on the stack.
		if w.ss.batch != nil && len(rs) > 1 && w.ss.handleBatch(w, rs, deliveries(rs)) {
			unmarked, handled = rs[len(rs)-1], handled+len(rs)
		} else {
			// One at a time: without a batch handler, a single record,
			// or a failed batch.
			all := headersFor(rs)
			for i, r := range rs {
				var d eventbus.Delivery
				d, all = delivery(r, all)
				if w.stopping() && i > 0 || !w.ss.handle(w, r, d) {
					w.busySince.Store(0)
					return
				}
				unmarked, handled = r, handled+1
				if due.Load() {
					mark()
				}
			}
		}
		w.busySince.Store(0)
		w.observe(time.Since(start) / time.Duration(len(rs)))
		if unmarked != nil && (left == 0 || handled >= markEvery || due.Load()) {
			mark()
		}
	}
}

// next waits for records, takes up to take of them into rs and says
// how many more are queued; it returns none once w is stopping.
func (w *worker) next(rs []*kgo.Record, take int) ([]*kgo.Record, int) {
	for {
		if w.stopping() || w.ctx.Err() != nil {
			return rs[:0], 0
		}
		var left int
		if rs, left = w.pop(rs, take); len(rs) > 0 {
			return rs, left
		}
		select {
		case <-w.quit:
			return rs[:0], 0
		case <-w.ctx.Done():
			return rs[:0], 0
		case <-w.wake:
		}
	}
}

// unpause resumes fetching the partition if w paused it: pausing outlives
// the assignment, and the partition may come back to this member.
func (w *worker) unpause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paused {
		w.paused = false
		w.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
}

func (w *worker) stopping() bool {
	select {
	case <-w.quit:
		return true
	default:
		return false
	}
}

// sleep waits for d; it returns false if w is asked to stop or its
// context is canceled first.
func (w *worker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.quit:
		return false
	case <-w.ctx.Done():
		return false
	}
}

// stop asks w to stop and cancels its handler's context after drain.
func (w *worker) stop(drain time.Duration) {
	w.once.Do(func() {
		close(w.quit)
		w.timer = time.AfterFunc(drain, w.cancel)
	})
}

// wait waits for w's goroutine to return.
func (w *worker) wait() {
	<-w.done
	w.once.Do(func() {}) // stop was called; w.timer is set
	if w.timer != nil {
		w.timer.Stop()
	}
	w.cancel()
}
