package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/eventbus"
)

// BusHarness is what a bus implementation gives RunBusTests. Its methods are
// called from the goroutine of one subtest, with subtests running in
// parallel, and fail t on error. The suite closes every publisher and
// subscriber it gets, with a time bound, so the harness need not; if it
// does close them in a t.Cleanup, a Close that hangs will hang the test
// binary and hide the suite's report.
//
// A harness may also have a method
//
//	MaxWait() time.Duration
//
// that bounds how long the suite waits for anything: a delivery, Close, Run
// returning. Without it the bound is DefaultBusMaxWait. An in-process bus
// sets a few seconds, so that a broken one fails quickly.
type BusHarness interface {
	// Partitions returns how many partitions each topic made by
	// CreateTopics has. TwoMembersShare is skipped below 2.
	Partitions() int
	// CreateTopics creates each topic and its dead-letter twin (topic +
	// eventbus.DeadLetterSuffix) with Partitions() partitions, able to hold
	// a message with a 1 MiB value. The names are new on every call, so a
	// real broker can run the suite again and again. An implementation
	// that creates topics on first use may do nothing.
	CreateTopics(t *testing.T, topics ...string)
	// NewPublisher returns a new publisher.
	NewPublisher(t *testing.T) eventbus.Publisher
	// NewSubscriber returns a new, not yet running member of consumer group
	// that consumes topics and retries a failing handler as retry says.
	NewSubscriber(t *testing.T, group string, topics []string, retry eventbus.RetryPolicy) eventbus.Subscriber
}

// DefaultBusMaxWait bounds every wait of RunBusTests unless the harness has
// a MaxWait method. It is generous because a real broker takes seconds to
// rebalance a group; a bus that passes never waits this long.
const DefaultBusMaxWait = 30 * time.Second

// busSuite is the harness with the suite's settings.
type busSuite struct {
	BusHarness
	wait time.Duration // bounds every wait
}

// fastRetry keeps the retry cases quick.
var fastRetry = eventbus.RetryPolicy{MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

// Headers the suite's messages carry to identify themselves. Handlers key
// everything on them, never on offsets, so that redeliveries show up as
// duplicates.
const (
	hdrID  = "test-id"  // unique per message of a subtest
	hdrSeq = "test-seq" // 0, 1, 2, ... per key, in publish order
)

// RunBusTests checks that a Publisher/Subscriber implementation keeps the
// eventbus contract: messages intact, order per key, redelivery after a
// handler error, no loss across restarts and rebalances, partitions shared
// within a group and every group getting everything, dead-lettering, Close
// and cancellation. Each case is a named subtest with its own topics and
// groups. Duplicates are allowed where the contract allows them, and then
// counted and reported with t.Logf; where it promises none (a clean Close,
// steady membership) they fail the case.
//
// An implementation's whole conformance test:
//
//	func TestConformance(t *testing.T) {
//		bus, err := memory.New()
//		if err != nil {
//			t.Fatal(err)
//		}
//		testkit.RunBusTests(t, harness{bus}) // harness implements BusHarness
//	}
func RunBusTests(t *testing.T, h BusHarness) {
	t.Helper()
	s := &busSuite{BusHarness: h, wait: DefaultBusMaxWait}
	if mw, ok := h.(interface{ MaxWait() time.Duration }); ok && mw.MaxWait() > 0 {
		s.wait = mw.MaxWait()
	}
	cases := []struct {
		name string
		fn   func(*testing.T, *busSuite)
	}{
		{"RoundTrip", testBusRoundTrip},
		{"PerKeyOrder", testBusPerKeyOrder},
		{"RedeliveryAfterError", testBusRedelivery},
		{"NoLossAcrossRestart", testBusRestart},
		{"TwoMembersShare", testBusTwoMembers},
		{"TwoGroupsEachGetAll", testBusTwoGroups},
		{"RebalanceInFlight", testBusRebalance},
		{"PoisonToDLQ", testBusPoison},
		{"CancelAndClose", testBusCancelAndClose},
		{"LargeMessage", testBusLargeMessage},
		{"PublishAfterClose", testBusPublishAfterClose},
		{"Batches", testBusBatches},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, s)
		})
	}
}

// testBusRoundTrip: key, headers and value arrive as sent, a CloudEvent
// decodes, an empty value and header survive.
func testBusRoundTrip(t *testing.T, h *busSuite) {
	n := newBusNames(t)
	topic := n.topic()
	h.CreateTopics(t, topic)

	ev := eventbus.Event{
		ID: uuid.New(), Type: "sale.created", Source: "/salesflow/sales", Subject: "sale-1",
		Time: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), Data: []byte(`{"id":"sale-1","total":"29.99"}`),
	}
	first := ev.Message(topic, "sale-1")
	first.Headers.Set(hdrID, "0")
	sent := []eventbus.Message{
		first,
		{Topic: topic, Key: "sale-2", Headers: eventbus.Headers{{Key: hdrID, Value: "1"}, {Key: "x-empty", Value: ""}, {Key: "x-utf8", Value: "café ☕"}},
			Value: []byte{0, 1, 2, 0xfe, 0xff, '\n'}},
		{Topic: topic, Key: "sale-3", Headers: eventbus.Headers{{Key: hdrID, Value: "2"}}}, // no value
	}
	h.publish(t, h.publisher(t), sent...)

	got := make(chan eventbus.Delivery, 16)
	m := startMember(t, h, "A", n.group(1), []string{topic}, eventbus.RetryPolicy{},
		func(_ context.Context, d eventbus.Delivery) error { offer(got, d); return nil })
	byID := map[string]eventbus.Delivery{}
	timeout := time.After(h.wait)
	for len(byID) < len(sent) {
		select {
		case d := <-got:
			byID[d.Headers.Get(hdrID)] = d
		case <-timeout:
			t.Fatalf("after %v got %d of %d messages: %v", h.wait, len(byID), len(sent), slices.Sorted(maps.Keys(byID)))
		}
	}
	m.stop(t)

	for i, want := range sent {
		d := byID[strconv.Itoa(i)]
		if d.Topic != want.Topic || d.Key != want.Key {
			t.Errorf("message %d: topic, key = %q, %q; want %q, %q", i, d.Topic, d.Key, want.Topic, want.Key)
		}
		if !slices.Equal(d.Headers, want.Headers) {
			t.Errorf("message %d: headers = %v; want %v", i, d.Headers, want.Headers)
		}
		if !bytes.Equal(d.Value, want.Value) {
			t.Errorf("message %d: value = %q; want %q", i, d.Value, want.Value)
		}
		if d.Attempt != 1 || d.Partition < 0 || int(d.Partition) >= h.Partitions() || d.Offset < 0 {
			t.Errorf("message %d: attempt %d, partition %d, offset %d; want attempt 1, partition in [0,%d), offset >= 0",
				i, d.Attempt, d.Partition, d.Offset, h.Partitions())
		}
	}
	if e, err := eventbus.Decode(byID["0"].Message); err != nil {
		t.Errorf("Decode(received event): %v", err)
	} else if e.ID != ev.ID || !e.Time.Equal(ev.Time) || !bytes.Equal(e.Data, ev.Data) {
		t.Errorf("decoded event = %+v; want %+v", e, ev)
	}
}

// testBusPerKeyOrder: concurrent publishers, each owning some keys and
// publishing them in batches that hold the same key twice; each key must be
// handled in publish order.
func testBusPerKeyOrder(t *testing.T, h *busSuite) {
	const (
		publishers = 4
		keysEach   = 4
		perKey     = 40
	)
	n := newBusNames(t)
	topic := n.topic()
	h.CreateTopics(t, topic)
	r := h.newRecorder()
	m := startMember(t, h, "A", n.group(1), []string{topic}, eventbus.RetryPolicy{}, r.handler("A", nil))

	pubs := []eventbus.Publisher{h.publisher(t), h.publisher(t)}
	g := newGen(topic)
	var ids []string
	var idsMu sync.Mutex
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), h.wait)
			defer cancel()
			for s := 0; s < perKey; s += 2 {
				var batch []eventbus.Message
				for range 2 {
					for k := range keysEach {
						batch = append(batch, g.next(fmt.Sprintf("p%d-k%d", p, k)))
					}
				}
				if err := pubs[p%len(pubs)].Publish(ctx, batch...); err != nil {
					t.Errorf("publisher %d: Publish: %v", p, err)
					return
				}
				idsMu.Lock()
				ids = append(ids, idsOf(batch)...)
				idsMu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	r.waitAcked(t, ids)
	m.stop(t)
	r.check(t)
	t.Logf("%d messages over %d keys from %d concurrent publishers; %d duplicates", len(ids), publishers*keysEach, publishers, r.duplicates())
}

// testBusRedelivery: a handler error gets the message again, with Attempt
// counting up, and the next message of its key waits for it.
func testBusRedelivery(t *testing.T, h *busSuite) {
	n := newBusNames(t)
	topic := n.topic()
	h.CreateTopics(t, topic)
	g := newGen(topic)
	msgs := []eventbus.Message{g.next("k"), g.next("k")}
	flaky := msgs[0].Headers.Get(hdrID)
	h.publish(t, h.publisher(t), msgs...)

	r := h.newRecorder()
	var failures atomic.Int32
	startMember(t, h, "A", n.group(1), []string{topic}, eventbus.RetryPolicy{MaxAttempts: 5, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		r.handler("A", func(_ context.Context, d eventbus.Delivery) error {
			if d.Headers.Get(hdrID) == flaky && failures.Load() < 2 {
				return fmt.Errorf("transient failure %d", failures.Add(1))
			}
			return nil
		}))
	r.waitAcked(t, idsOf(msgs))
	r.check(t)

	want := []string{flaky + " #1 failed", flaky + " #2 failed", flaky + " #3 ok", msgs[1].Headers.Get(hdrID) + " #1 ok"}
	if got := r.trace(); !slices.Equal(got, want) {
		t.Errorf("handler calls = %q; want %q", got, want)
	}
}

// testBusRestart: a member is closed while its handlers are in flight and
// a backlog waits; a new member of the group gets the rest and nothing the
// first one acknowledged (Close commits).
func testBusRestart(t *testing.T, h *busSuite) {
	const (
		keys     = 6
		perPhase = 60
		ackFirst = 20
	)
	n := newBusNames(t)
	topic := n.topic()
	h.CreateTopics(t, topic)
	pub := h.publisher(t)
	g := newGen(topic)
	phase := func() []eventbus.Message {
		var msgs []eventbus.Message
		for i := range perPhase {
			msgs = append(msgs, g.next(fmt.Sprintf("k%d", i%keys)))
		}
		h.publish(t, pub, msgs...)
		return msgs
	}
	all := idsOf(phase())

	r := h.newRecorder()
	release, releaseAll := gate()
	a := startMember(t, h, "A", n.group(1), []string{topic}, eventbus.RetryPolicy{},
		r.handler("A", func(ctx context.Context, d eventbus.Delivery) error {
			if r.distinct() >= ackFirst {
				<-release // hold the handlers in flight until Close has begun
			}
			return nil
		}))
	t.Cleanup(releaseAll) // runs before the member's cleanup, should the test fail first
	r.waitFor(t, fmt.Sprintf("%d messages acknowledged by A", ackFirst), func() bool { return r.distinct() >= ackFirst })
	closed := a.closeAsync(t)
	// Give Close time to begin before the held handlers return; the checks
	// below hold however the two interleave.
	time.Sleep(20 * time.Millisecond)
	releaseAll()
	a.waitClosed(t, closed)
	byA := r.ackedBy("A")

	all = append(all, idsOf(phase())...)
	startMember(t, h, "B", n.group(1), []string{topic}, eventbus.RetryPolicy{}, r.handler("B", nil))
	r.waitAcked(t, all)
	r.check(t)

	var again []string
	for id := range r.ackedBy("B") {
		if byA[id] > 0 {
			again = append(again, id)
		}
	}
	t.Logf("A acknowledged %d of %d before Close, B %d; %d duplicates", len(byA), len(all), len(r.ackedBy("B")), r.duplicates())
	if len(again) > 0 {
		slices.Sort(again)
		t.Errorf("B got %d messages A acknowledged before a clean Close (Close must commit them): %v", len(again), again)
	}
}

// testBusTwoMembers: once both members of a group hold partitions, each
// message is handled by exactly one of them, and each key by one member.
func testBusTwoMembers(t *testing.T, h *busSuite) {
	if h.Partitions() < 2 {
		t.Skipf("needs at least 2 partitions, harness has %d", h.Partitions())
	}
	n := newBusNames(t)
	topic := n.topic()
	h.CreateTopics(t, topic)
	pub := h.publisher(t)
	g := newGen(topic)
	keys := 8 * h.Partitions() // enough to hit every partition
	batch := func(prefix string, perKey int) []eventbus.Message {
		var msgs []eventbus.Message
		for range perKey {
			for k := range keys {
				msgs = append(msgs, g.next(fmt.Sprintf("%s%d", prefix, k)))
			}
		}
		h.publish(t, pub, msgs...)
		return msgs
	}

	warm, steady := h.newRecorder(), h.newRecorder()
	handler := func(member string) eventbus.Handler {
		hw, hs := warm.handler(member, nil), steady.handler(member, nil)
		return func(ctx context.Context, d eventbus.Delivery) error {
			if strings.HasPrefix(d.Key, "w") {
				return hw(ctx, d)
			}
			return hs(ctx, d)
		}
	}
	startMember(t, h, "A", n.group(1), []string{topic}, eventbus.RetryPolicy{}, handler("A"))
	startMember(t, h, "B", n.group(1), []string{topic}, eventbus.RetryPolicy{}, handler("B"))

	// Warm up until one round of messages reaches both members: then both
	// hold partitions and the group is steady.
	deadline := time.Now().Add(h.wait)
	for round := 0; ; round++ {
		ids := idsOf(batch(fmt.Sprintf("w%d-", round), 1))
		warm.waitAcked(t, ids)
		if warm.ackedAnyOf("A", ids) && warm.ackedAnyOf("B", ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v and %d rounds, still one member gets every message: A %d, B %d",
				h.wait, round+1, len(warm.ackedBy("A")), len(warm.ackedBy("B")))
		}
		time.Sleep(20 * time.Millisecond) // pace the rounds while the group forms
	}

	ids := idsOf(batch("s", 5))
	steady.waitAcked(t, ids)
	steady.check(t)
	a, b := steady.ackedBy("A"), steady.ackedBy("B")
	t.Logf("steady state: A handled %d, B %d of %d; %d duplicates", len(a), len(b), len(ids), steady.duplicates())
	if len(a) == 0 || len(b) == 0 {
		t.Errorf("A handled %d and B %d messages; want both some", len(a), len(b))
	}
	for _, id := range ids {
		if a[id]+b[id] != 1 {
			t.Errorf("message %s handled %d times by A and %d by B; want once by one of them", id, a[id], b[id])
		}
	}
	owner := map[string]string{}
	for _, e := range steady.events() {
		if prev, ok := owner[e.key]; ok && prev != e.member {
			t.Errorf("key %s handled by both %s and %s in steady state", e.key, prev, e.member)
		}
		owner[e.key] = e.member
	}
}

// testBusTwoGroups: two groups each get every message, including those
// published before either group existed.
func testBusTwoGroups(t *testing.T, h *busSuite) {
	n := newBusNames(t)
	topic := n.topic()
	h.CreateTopics(t, topic)
	pub := h.publisher(t)
	g := newGen(topic)
	phase := func() []string {
		var msgs []eventbus.Message
		for i := range 50 {
			msgs = append(msgs, g.next(fmt.Sprintf("k%d", i%10)))
		}
		h.publish(t, pub, msgs...)
		return idsOf(msgs)
	}
	ids := phase()
	r1, r2 := h.newRecorder(), h.newRecorder()
	startMember(t, h, "G1", n.group(1), []string{topic}, eventbus.RetryPolicy{}, r1.handler("G1", nil))
	startMember(t, h, "G2", n.group(2), []string{topic}, eventbus.RetryPolicy{}, r2.handler("G2", nil))
	ids = append(ids, phase()...)
	r1.waitAcked(t, ids)
	r2.waitAcked(t, ids)
	r1.check(t)
	r2.check(t)
	t.Logf("each group got all %d messages; duplicates: group 1 %d, group 2 %d", len(ids), r1.duplicates(), r2.duplicates())
}

// testBusRebalance: while messages flow, a member joins and the first one
// leaves. Nothing is lost, each key stays in order and is handled by one
// member at a time, and duplicates stay within the handlers that can be in
// flight at the two rebalances (one per partition each).
func testBusRebalance(t *testing.T, h *busSuite) {
	const keys = 16
	n := newBusNames(t)
	topic := n.topic()
	h.CreateTopics(t, topic)
	pub := h.publisher(t)
	g := newGen(topic)
	r := h.newRecorder()
	slow := func(context.Context, eventbus.Delivery) error {
		time.Sleep(100 * time.Microsecond) // widen the window for overlapping handlers
		return nil
	}

	// The publisher keeps at most window messages unacknowledged, so that
	// messages are in flight whenever the group changes, until it is told
	// to stop; then it publishes a tail of 2*window more.
	window := 4 * h.Partitions()
	stopPub := make(chan struct{})
	var (
		mu        sync.Mutex
		published []string
	)
	publishOne := func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), h.wait)
		defer cancel()
		if err := r.waitCtx(ctx, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(published)-r.distinct() < window
		}); err != nil {
			return fmt.Errorf("%d messages stayed unacknowledged for %v", window, h.wait)
		}
		m := g.next(fmt.Sprintf("k%d", i%keys))
		if err := pub.Publish(ctx, m); err != nil {
			return fmt.Errorf("Publish: %w", err)
		}
		mu.Lock()
		published = append(published, m.Headers.Get(hdrID))
		mu.Unlock()
		return nil
	}
	pubDone := make(chan error, 1)
	go func() {
		tail := -1
		for i := 0; tail != 0; i++ {
			if tail < 0 {
				select {
				case <-stopPub:
					tail = 2 * window
				default:
				}
			} else {
				tail--
			}
			if err := publishOne(i); err != nil {
				pubDone <- err
				return
			}
		}
		pubDone <- nil
	}()

	a := startMember(t, h, "A", n.group(1), []string{topic}, eventbus.RetryPolicy{}, r.handler("A", slow))
	r.waitFor(t, "50 messages acknowledged by A", func() bool { return r.distinct() >= 50 })
	startMember(t, h, "B", n.group(1), []string{topic}, eventbus.RetryPolicy{}, r.handler("B", slow))
	r.waitFor(t, "B to get partitions and acknowledge a message", func() bool { return len(r.ackedBy("B")) > 0 })
	a.stop(t)
	close(stopPub)
	select {
	case err := <-pubDone:
		if err != nil {
			t.Fatalf("publisher: %v (missing: %v)", err, r.missing(snapshot(&mu, &published)))
		}
	case <-time.After(h.wait):
		t.Fatalf("publisher did not finish within %v", h.wait)
	}
	ids := snapshot(&mu, &published)
	r.waitAcked(t, ids)
	r.check(t)

	dups, bound := r.duplicates(), 2*h.Partitions()
	t.Logf("%d messages while B joined and A left: A handled %d, B %d; %d duplicates (bound %d)",
		len(ids), len(r.ackedBy("A")), len(r.ackedBy("B")), dups, bound)
	if dups > bound {
		t.Errorf("%d duplicates; want at most %d (one handler in flight per partition at each of two rebalances)", dups, bound)
	}
}

// testBusPoison: a message that always fails is handled MaxAttempts times,
// lands on the dead-letter topic with its headers, and the messages after
// it on its partition still flow.
func testBusPoison(t *testing.T, h *busSuite) {
	n := newBusNames(t)
	topic := n.topic()
	dlq := topic + eventbus.DeadLetterSuffix
	h.CreateTopics(t, topic)
	g := newGen(topic)
	poison := eventbus.Message{Topic: topic, Key: "k", Headers: eventbus.Headers{{Key: hdrID, Value: "poison"}, {Key: "ce_type", Value: "test.poison"}}, Value: []byte(`{"poison":true}`)}
	msgs := []eventbus.Message{g.next("k"), poison, g.next("k"), g.next("k")}
	h.publish(t, h.publisher(t), msgs...)

	r := h.newRecorder()
	var (
		mu       sync.Mutex
		poisoned eventbus.Delivery // its last attempt
	)
	startMember(t, h, "A", n.group(1), []string{topic}, fastRetry,
		r.handler("A", func(_ context.Context, d eventbus.Delivery) error {
			if d.Headers.Get(hdrID) == "poison" {
				mu.Lock()
				poisoned = d
				mu.Unlock()
				return errors.New("poison pill: cannot apply")
			}
			return nil
		}))
	ok := []string{msgs[0].Headers.Get(hdrID), msgs[2].Headers.Get(hdrID), msgs[3].Headers.Get(hdrID)}
	r.waitAcked(t, ok)
	r.check(t)
	want := []string{ok[0] + " #1 ok", "poison #1 failed", "poison #2 failed", "poison #3 failed", ok[1] + " #1 ok", ok[2] + " #1 ok"}
	if got := r.trace(); !slices.Equal(got, want) {
		t.Errorf("handler calls = %q; want %q", got, want)
	}

	got := make(chan eventbus.Delivery, 16)
	startMember(t, h, "DLQ", n.group(2), []string{dlq}, eventbus.RetryPolicy{},
		func(_ context.Context, d eventbus.Delivery) error { offer(got, d); return nil })
	var d eventbus.Delivery
	select {
	case d = <-got:
	case <-time.After(h.wait):
		t.Fatalf("nothing on %s after %v", dlq, h.wait)
	}
	if d.Headers.Get(hdrID) != "poison" {
		t.Fatalf("%s holds message %q; want only the poison message", dlq, d.Headers.Get(hdrID))
	}
	if d.Topic != dlq || d.Key != poison.Key || !bytes.Equal(d.Value, poison.Value) {
		t.Errorf("dead letter topic, key, value = %q, %q, %q; want %q, %q, %q", d.Topic, d.Key, d.Value, dlq, poison.Key, poison.Value)
	}
	mu.Lock()
	defer mu.Unlock()
	wantHeaders := poison.Headers.Map()
	maps.Copy(wantHeaders, map[string]string{
		eventbus.HeaderDLQTopic:         topic,
		eventbus.HeaderDLQPartition:     strconv.Itoa(int(poisoned.Partition)),
		eventbus.HeaderDLQOffset:        strconv.FormatInt(poisoned.Offset, 10),
		eventbus.HeaderDLQAttempts:      strconv.Itoa(fastRetry.MaxAttempts),
		eventbus.HeaderDLQConsumerGroup: n.group(1),
	})
	if e := d.Headers.Get(eventbus.HeaderDLQError); !strings.Contains(e, "poison pill") {
		t.Errorf("header %s = %q; want the handler's error", eventbus.HeaderDLQError, e)
	}
	for k, v := range wantHeaders {
		if d.Headers.Get(k) != v {
			t.Errorf("dead letter header %s = %q; want %q", k, d.Headers.Get(k), v)
		}
	}
}

// testBusBatches: a BatchSubscriber hands a partition's backlog over in
// batches, in order; a batch that fails goes through the single handler
// one message at a time, where the bad message is retried and
// dead-lettered and the others are acknowledged; every message is
// acknowledged once. A subscriber that is not a BatchSubscriber skips it.
func testBusBatches(t *testing.T, h *busSuite) {
	n := newBusNames(t)
	topic := n.topic()
	h.CreateTopics(t, topic)
	sub := h.NewSubscriber(t, n.group(1), []string{topic}, fastRetry)
	bs, ok := sub.(eventbus.BatchSubscriber)
	if !ok {
		_ = sub.Close()
		t.Skipf("%T is not an eventbus.BatchSubscriber", sub)
	}
	g := newGen(topic)
	var msgs []eventbus.Message
	for range 40 {
		msgs = append(msgs, g.next("k")) // one key: one partition, in order
	}
	bad := msgs[17].Headers.Get(hdrID)
	h.publish(t, h.publisher(t), msgs...)

	const most = 8
	var (
		mu      sync.Mutex
		acked   []string           // in acknowledgement order
		batches []int              // sizes of the batches handed over
		singles = map[string]int{} // calls of the single handler per message
		done    = make(chan struct{})
	)
	ack := func(ids ...string) {
		acked = append(acked, ids...)
		if len(acked) == len(msgs)-1 {
			close(done)
		}
	}
	batch := func(_ context.Context, ds []eventbus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, len(ds))
		ids := make([]string, len(ds))
		for i, d := range ds {
			if ids[i] = d.Headers.Get(hdrID); ids[i] == bad {
				return errors.New("a bad message in the batch")
			}
		}
		ack(ids...)
		return nil
	}
	single := func(_ context.Context, d eventbus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		id := d.Headers.Get(hdrID)
		singles[id]++
		if id == bad {
			return errors.New("bad message")
		}
		ack(id)
		return nil
	}
	runDone := make(chan error, 1)
	go func() { runDone <- bs.RunBatch(context.Background(), batch, most, single) }()
	select {
	case <-done:
	case <-time.After(h.wait):
		mu.Lock()
		t.Fatalf("acknowledged %d of %d good messages within %v", len(acked), len(msgs)-1, h.wait)
	}
	h.closeWithin(t, "batch member", bs.Close)
	if err := <-runDone; err != nil {
		t.Errorf("RunBatch = %v; want nil after Close", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var want []string
	for _, m := range msgs {
		if id := m.Headers.Get(hdrID); id != bad {
			want = append(want, id)
		}
	}
	if !slices.Equal(acked, want) {
		t.Errorf("acknowledged %q; want each good message once, in order: %q", acked, want)
	}
	if singles[bad] != fastRetry.MaxAttempts {
		t.Errorf("bad message handled %d times one at a time; want %d", singles[bad], fastRetry.MaxAttempts)
	}
	largest := 0
	for _, b := range batches {
		largest = max(largest, b)
		if b < 2 || b > most {
			t.Errorf("a batch of %d; want 2 to %d", b, most)
		}
	}
	if largest < 2 {
		t.Errorf("batches %v: a backlog of %d messages was never batched", batches, len(msgs))
	}
	t.Logf("batches %v, single calls %d", batches, len(singles))
}

// testBusCancelAndClose: cancelling ctx or calling Close makes Run return
// nil; a handler failing because ctx was cancelled leaves its message to the
// next member; Close waits for the handler in flight and commits it; Close
// is idempotent; Run after Close fails with ErrClosed.
func testBusCancelAndClose(t *testing.T, h *busSuite) {
	t.Run("CancelContext", func(t *testing.T) {
		n := newBusNames(t)
		topic := n.topic()
		h.CreateTopics(t, topic)
		h.publish(t, h.publisher(t), newGen(topic).next("k"))
		sub := h.subscriber(t, n.group(1), []string{topic}, eventbus.RetryPolicy{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		handled := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			done <- sub.Run(ctx, func(context.Context, eventbus.Delivery) error {
				select {
				case handled <- struct{}{}:
				default:
				}
				return nil
			})
		}()
		select {
		case <-handled:
		case <-time.After(h.wait):
			t.Fatalf("no message handled within %v", h.wait)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel = %v; want nil", err)
			}
		case <-time.After(h.wait):
			t.Fatalf("Run did not return within %v of cancelling its context", h.wait)
		}
		closeTwice(t, sub)
		if err := sub.Run(context.Background(), func(context.Context, eventbus.Delivery) error { return nil }); !errors.Is(err, eventbus.ErrClosed) {
			t.Errorf("Run after Close = %v; want ErrClosed", err)
		}
	})

	t.Run("CancelRedeliversInFlight", func(t *testing.T) {
		n := newBusNames(t)
		topic := n.topic()
		h.CreateTopics(t, topic)
		msg := newGen(topic).next("k")
		h.publish(t, h.publisher(t), msg)
		sub := h.subscriber(t, n.group(1), []string{topic}, fastRetry)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		entered, enter := gate()
		var calls atomic.Int32
		done := make(chan error, 1)
		go func() {
			done <- sub.Run(ctx, func(ctx context.Context, d eventbus.Delivery) error {
				calls.Add(1)
				enter()
				<-ctx.Done()
				return ctx.Err()
			})
		}()
		select {
		case <-entered:
		case <-time.After(h.wait):
			t.Fatalf("message not handled within %v", h.wait)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel = %v; want nil", err)
			}
		case <-time.After(h.wait):
			t.Fatalf("Run did not return within %v of cancelling its context", h.wait)
		}

		r := h.newRecorder()
		startMember(t, h, "B", n.group(1), []string{topic}, fastRetry, r.handler("B", nil))
		wctx, wcancel := context.WithTimeout(context.Background(), h.wait)
		defer wcancel()
		if r.waitCtx(wctx, func() bool { return r.distinct() > 0 }) != nil {
			t.Fatalf("the message whose handler failed because Run's context was cancelled "+
				"never reached the group's next member within %v: it must stay uncommitted, "+
				"not be committed or dead-lettered on shutdown (handler calls before cancel returned: %d)", h.wait, calls.Load())
		}
		t.Logf("handler calls on the cancelled member: %d", calls.Load())
	})

	t.Run("CloseWaitsForHandler", func(t *testing.T) {
		n := newBusNames(t)
		topic := n.topic()
		h.CreateTopics(t, topic)
		pub := h.publisher(t)
		g := newGen(topic)
		first := g.next("k")
		h.publish(t, pub, first, g.next("k"))

		r := h.newRecorder()
		entered, enter := gate()
		release, releaseAll := gate()
		a := startMember(t, h, "A", n.group(1), []string{topic}, eventbus.RetryPolicy{},
			r.handler("A", func(_ context.Context, d eventbus.Delivery) error {
				if d.Headers.Get(hdrID) == first.Headers.Get(hdrID) {
					enter()
					<-release
				}
				return nil
			}))
		t.Cleanup(releaseAll)
		select {
		case <-entered:
		case <-time.After(h.wait):
			t.Fatalf("first message not handled within %v", h.wait)
		}
		closed := a.closeAsync(t)
		select {
		case <-closed:
			t.Fatal("Close returned while a handler was in flight")
		case <-time.After(50 * time.Millisecond): // a correct Close is still waiting
		}
		releaseAll()
		a.waitClosed(t, closed)
		if r.ackedBy("A")[first.Headers.Get(hdrID)] == 0 {
			t.Fatal("Close returned before the handler in flight did")
		}
		closeTwice(t, a.sub)
		if err := a.sub.Run(context.Background(), func(context.Context, eventbus.Delivery) error { return nil }); !errors.Is(err, eventbus.ErrClosed) {
			t.Errorf("Run after Close = %v; want ErrClosed", err)
		}

		last := g.next("k")
		h.publish(t, pub, last)
		startMember(t, h, "B", n.group(1), []string{topic}, eventbus.RetryPolicy{}, r.handler("B", nil))
		r.waitAcked(t, []string{last.Headers.Get(hdrID)})
		r.check(t)
		if r.ackedBy("B")[first.Headers.Get(hdrID)] > 0 {
			t.Errorf("the message handled during Close was delivered again to the next member: Close must commit it")
		}
	})

	t.Run("CloseBeforeRun", func(t *testing.T) {
		n := newBusNames(t)
		topic := n.topic()
		h.CreateTopics(t, topic)
		sub := h.subscriber(t, n.group(1), []string{topic}, eventbus.RetryPolicy{})
		closeTwice(t, sub)
		if err := sub.Run(context.Background(), func(context.Context, eventbus.Delivery) error { return nil }); !errors.Is(err, eventbus.ErrClosed) {
			t.Errorf("Run after Close = %v; want ErrClosed", err)
		}
	})
}

// testBusLargeMessage: a 1 MiB value arrives intact.
func testBusLargeMessage(t *testing.T, h *busSuite) {
	n := newBusNames(t)
	topic := n.topic()
	h.CreateTopics(t, topic)
	value := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(value)
	h.publish(t, h.publisher(t), eventbus.Message{Topic: topic, Key: "big", Headers: eventbus.Headers{{Key: hdrID, Value: "big"}}, Value: value})

	got := make(chan eventbus.Delivery, 1)
	m := startMember(t, h, "A", n.group(1), []string{topic}, eventbus.RetryPolicy{},
		func(_ context.Context, d eventbus.Delivery) error { offer(got, d); return nil })
	select {
	case d := <-got:
		if !bytes.Equal(d.Value, value) {
			t.Errorf("value of %d bytes differs from the %d bytes sent", len(d.Value), len(value))
		}
	case <-time.After(h.wait):
		t.Fatalf("1 MiB message not delivered within %v", h.wait)
	}
	m.stop(t)
}

// testBusPublishAfterClose: Publish after Close fails with ErrClosed, and
// Close is idempotent.
func testBusPublishAfterClose(t *testing.T, h *busSuite) {
	n := newBusNames(t)
	topic := n.topic()
	h.CreateTopics(t, topic)
	pub := h.publisher(t)
	g := newGen(topic)
	h.publish(t, pub, g.next("k"))
	if err := pub.Close(); err != nil {
		t.Fatalf("Close = %v; want nil", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.wait)
	defer cancel()
	if err := pub.Publish(ctx, g.next("k")); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Publish after Close = %v; want an error wrapping ErrClosed", err)
	}
	if err := pub.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
}

// busNames makes topic and group names unique to one run of one subtest.
type busNames struct{ base string }

func newBusNames(t *testing.T) busNames {
	name := strings.ToLower(t.Name())
	if i := strings.Index(name, "/"); i >= 0 {
		name = name[i+1:] // drop the top-level test's name
	}
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
	return busNames{base: fmt.Sprintf("sftest-%s-%08x", name, rand.Uint32())}
}

func (n busNames) topic() string      { return n.base }
func (n busNames) group(i int) string { return fmt.Sprintf("%s-g%d", n.base, i) }

// gen makes messages whose headers carry an id and a per-key sequence
// number. It is safe for concurrent use; a key's messages must be published
// in the order next returned them.
type gen struct {
	topic string
	mu    sync.Mutex
	seq   map[string]int
}

func newGen(topic string) *gen { return &gen{topic: topic, seq: map[string]int{}} }

func (g *gen) next(key string) eventbus.Message {
	g.mu.Lock()
	s := g.seq[key]
	g.seq[key]++
	g.mu.Unlock()
	return eventbus.Message{
		Topic:   g.topic,
		Key:     key,
		Headers: eventbus.Headers{{Key: hdrID, Value: fmt.Sprintf("%s/%d", key, s)}, {Key: hdrSeq, Value: strconv.Itoa(s)}},
		Value:   fmt.Appendf(nil, `{"key":%q,"seq":%d}`, key, s),
	}
}

// gate returns a channel and a function that closes it; calling the
// function again does nothing.
func gate() (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	return ch, func() { once.Do(func() { close(ch) }) }
}

// offer sends d on ch unless ch is full: a handler must not block on a
// test that stopped listening.
func offer(ch chan<- eventbus.Delivery, d eventbus.Delivery) {
	select {
	case ch <- d:
	default:
	}
}

func idsOf(msgs []eventbus.Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.Headers.Get(hdrID)
	}
	return ids
}

// publisher returns a new publisher, closed when t ends.
func (h *busSuite) publisher(t *testing.T) eventbus.Publisher {
	p := h.NewPublisher(t)
	t.Cleanup(func() { h.closeWithin(t, "publisher", p.Close) })
	return p
}

// subscriber returns a new subscriber, closed when t ends.
func (h *busSuite) subscriber(t *testing.T, group string, topics []string, retry eventbus.RetryPolicy) eventbus.Subscriber {
	s := h.NewSubscriber(t, group, topics, retry)
	t.Cleanup(func() { h.closeWithin(t, "subscriber of "+group, s.Close) })
	return s
}

// closeWithin calls close and fails t if it errs or does not return within
// the wait bound, so that a hanging Close cannot hide the suite's report.
func (h *busSuite) closeWithin(t *testing.T, what string, close func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: Close = %v; want nil", what, err)
		}
	case <-time.After(h.wait):
		t.Errorf("%s: Close did not return within %v", what, h.wait)
	}
}

func (h *busSuite) publish(t *testing.T, p eventbus.Publisher, msgs ...eventbus.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.wait)
	defer cancel()
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatalf("Publish(%d messages): %v", len(msgs), err)
	}
}

func snapshot(mu *sync.Mutex, s *[]string) []string {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(*s)
}

func closeTwice(t *testing.T, s eventbus.Subscriber) {
	t.Helper()
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close #%d = %v; want nil", i+1, err)
		}
	}
}

// member is a subscriber running in its own goroutine.
type member struct {
	name string
	sub  eventbus.Subscriber
	wait time.Duration
	done chan struct{} // closed when Run returned
	err  error         // Run's result, once done is closed
}

func startMember(t *testing.T, h *busSuite, name, group string, topics []string, retry eventbus.RetryPolicy, handler eventbus.Handler) *member {
	t.Helper()
	m := &member{name: name, sub: h.NewSubscriber(t, group, topics, retry), wait: h.wait, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		m.err = m.sub.Run(context.Background(), handler)
	}()
	t.Cleanup(func() {
		h.closeWithin(t, "member "+name, m.sub.Close)
		select {
		case <-m.done:
		case <-time.After(h.wait):
			t.Errorf("member %s: Run did not return within %v of Close", name, h.wait)
		}
	})
	return m
}

// stop closes the member and checks that Close and Run return, with nil.
func (m *member) stop(t *testing.T) {
	t.Helper()
	m.waitClosed(t, m.closeAsync(t))
}

func (m *member) closeAsync(t *testing.T) <-chan struct{} {
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		if err := m.sub.Close(); err != nil {
			t.Errorf("member %s: Close = %v; want nil", m.name, err)
		}
	}()
	return closed
}

func (m *member) waitClosed(t *testing.T, closed <-chan struct{}) {
	t.Helper()
	select {
	case <-closed:
	case <-time.After(m.wait):
		t.Fatalf("member %s: Close did not return within %v", m.name, m.wait)
	}
	select {
	case <-m.done:
		if m.err != nil {
			t.Errorf("member %s: Run = %v after Close; want nil", m.name, m.err)
		}
	case <-time.After(m.wait):
		t.Fatalf("member %s: Run did not return within %v of Close", m.name, m.wait)
	}
}

// recorder is what the handlers of a subtest report to: which member
// acknowledged what, in which order, and any breach of per-key order or of
// one-handler-at-a-time per key. It is safe for concurrent use.
type recorder struct {
	wait     time.Duration // bounds waitFor and waitAcked
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every handler return
	acks     map[string]int
	by       map[string]map[string]int // member → id → acknowledgements
	log      []handled
	next     map[string]int // key → the sequence number whose first ack is due
	inflight map[string]int // key → handlers running
	problems []string
}

type handled struct {
	member, id, key string
	attempt         int
	ok              bool
}

func (h *busSuite) newRecorder() *recorder {
	return &recorder{
		wait: h.wait, changed: make(chan struct{}), acks: map[string]int{}, by: map[string]map[string]int{},
		next: map[string]int{}, inflight: map[string]int{},
	}
}

// handler returns a Handler for member that runs fn (nil: succeed) and
// records the outcome.
func (r *recorder) handler(member string, fn eventbus.Handler) eventbus.Handler {
	return func(ctx context.Context, d eventbus.Delivery) error {
		key := d.Key
		r.mu.Lock()
		if r.inflight[key] > 0 {
			r.problemLocked("key %q: message %s handled by %s while another of its messages was in flight", key, d.Headers.Get(hdrID), member)
		}
		r.inflight[key]++
		r.mu.Unlock()

		var err error
		if fn != nil {
			err = fn(ctx, d)
		}

		r.mu.Lock()
		defer r.mu.Unlock()
		r.inflight[key]--
		id := d.Headers.Get(hdrID)
		r.log = append(r.log, handled{member: member, id: id, key: key, attempt: d.Attempt, ok: err == nil})
		if err == nil {
			if s, serr := strconv.Atoi(d.Headers.Get(hdrSeq)); serr == nil && r.acks[id] == 0 {
				if want := r.next[key]; s != want {
					r.problemLocked("key %q: %s acknowledged for the first time when %d was due (order lost)", key, id, want)
				}
				r.next[key] = s + 1
			}
			r.acks[id]++
			if r.by[member] == nil {
				r.by[member] = map[string]int{}
			}
			r.by[member][id]++
		}
		close(r.changed)
		r.changed = make(chan struct{})
		return err
	}
}

func (r *recorder) problemLocked(format string, args ...any) {
	if len(r.problems) < 20 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// check fails t for each order or exclusivity breach seen.
func (r *recorder) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Error(p)
	}
}

// waitCtx waits until cond, evaluated after each handler return, holds.
func (r *recorder) waitCtx(ctx context.Context, cond func() bool) error {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.wait)
	defer cancel()
	if r.waitCtx(ctx, cond) != nil {
		t.Fatalf("waited %v for %s", r.wait, what)
	}
}

// waitAcked waits until each of ids was acknowledged at least once, and
// names the missing ones if they are not.
func (r *recorder) waitAcked(t *testing.T, ids []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.wait)
	defer cancel()
	if r.waitCtx(ctx, func() bool { return len(r.missing(ids)) == 0 }) != nil {
		miss := r.missing(ids)
		t.Fatalf("after %v, %d of %d messages never acknowledged (lost): %v", r.wait, len(miss), len(ids), miss[:min(len(miss), 20)])
	}
}

func (r *recorder) missing(ids []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var miss []string
	for _, id := range ids {
		if r.acks[id] == 0 {
			miss = append(miss, id)
		}
	}
	return miss
}

// distinct is the number of messages acknowledged at least once.
func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acks)
}

// duplicates is the number of acknowledgements beyond the first, summed
// over messages.
func (r *recorder) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.acks {
		n += c - 1
	}
	return n
}

func (r *recorder) ackedBy(member string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.by[member])
}

func (r *recorder) ackedAnyOf(member string, ids []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.by[member][id] > 0 {
			return true
		}
	}
	return false
}

func (r *recorder) events() []handled {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// trace renders the handler calls as "id #attempt ok|failed".
func (r *recorder) trace() []string {
	var out []string
	for _, e := range r.events() {
		s := "failed"
		if e.ok {
			s = "ok"
		}
		out = append(out, fmt.Sprintf("%s #%d %s", e.id, e.attempt, s))
	}
	return out
}
