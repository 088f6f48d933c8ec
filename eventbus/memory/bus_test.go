package memory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/eventbus/memory"
)

func newBus(t testing.TB, opts ...memory.Option) *memory.Bus {
	t.Helper()
	b, err := memory.New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []memory.Option
		want    int // partitions; 0 means New must fail
		wantErr string
	}{
		{"default", nil, memory.DefaultPartitions, ""},
		{"one partition", []memory.Option{memory.WithPartitions(1)}, 1, ""},
		{"many partitions", []memory.Option{memory.WithPartitions(64)}, 64, ""},
		{"zero partitions", []memory.Option{memory.WithPartitions(0)}, 0, "WithPartitions(0)"},
		{"negative partitions", []memory.Option{memory.WithPartitions(-3)}, 0, "WithPartitions(-3)"},
		{"nil logger", []memory.Option{memory.WithLogger(nil)}, 0, "WithLogger(nil)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := memory.New(tt.opts...)
			if tt.want == 0 {
				if !errors.Is(err, memory.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New = %v; want ErrInvalid naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New = %v", err)
			}
			if got := b.Partitions(); got != tt.want {
				t.Errorf("Partitions() = %d; want %d", got, tt.want)
			}
		})
	}
}

func TestSubscriberValidation(t *testing.T) {
	b := newBus(t)
	ms := time.Millisecond
	tests := []struct {
		name    string
		group   string
		topics  []string
		retry   eventbus.RetryPolicy
		wantErr string // "" means valid
	}{
		{"valid", "g", []string{"a", "b"}, eventbus.RetryPolicy{}, ""},
		{"valid retry", "g", []string{"a"}, eventbus.RetryPolicy{MaxAttempts: 1, MinBackoff: ms, MaxBackoff: ms}, ""},
		{"empty group", "", []string{"a"}, eventbus.RetryPolicy{}, "empty group"},
		{"no topics", "g", nil, eventbus.RetryPolicy{}, "no topics"},
		{"empty topic", "g", []string{"a", ""}, eventbus.RetryPolicy{}, "topic 1 is empty"},
		{"repeated topic", "g", []string{"a", "b", "a"}, eventbus.RetryPolicy{}, `"a" listed twice`},
		{"negative attempts", "g", []string{"a"}, eventbus.RetryPolicy{MaxAttempts: -1}, "MaxAttempts -1"},
		{"negative backoff", "g", []string{"a"}, eventbus.RetryPolicy{MinBackoff: -ms}, "negative backoff"},
		{"max below min", "g", []string{"a"}, eventbus.RetryPolicy{MinBackoff: 2 * ms, MaxBackoff: ms}, "below MinBackoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := b.Subscriber(tt.group, tt.topics, memory.WithRetry(tt.retry))
			if tt.wantErr == "" {
				if err != nil || s == nil {
					t.Fatalf("Subscriber = %v, %v; want a subscriber", s, err)
				}
				return
			}
			if !errors.Is(err, memory.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Subscriber = %v; want ErrInvalid naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestRunMisuse(t *testing.T) {
	b := newBus(t)
	s, err := b.Subscriber("g", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context(), nil); !errors.Is(err, memory.ErrInvalid) {
		t.Errorf("Run(nil handler) = %v; want ErrInvalid", err)
	}
	// Once a handler ran, the first Run has started; a second one fails.
	if err := b.Publisher().Publish(t.Context(), eventbus.Message{Topic: "a"}); err != nil {
		t.Fatal(err)
	}
	handled := make(chan struct{}, 1)
	ok := func(context.Context, eventbus.Delivery) error {
		select {
		case handled <- struct{}{}:
		default:
		}
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(t.Context(), ok) }()
	<-handled
	second := s.Run(t.Context(), ok)
	if !errors.Is(second, memory.ErrInvalid) || !strings.Contains(second.Error(), "twice") {
		t.Errorf("second Run = %v; want ErrInvalid saying it was called twice", second)
	}
	s.Close()
	if err := <-done; err != nil {
		t.Errorf("first Run = %v; want nil", err)
	}
}

func TestPublish(t *testing.T) {
	b := newBus(t)
	p := b.Publisher()
	defer p.Close()

	err := p.Publish(t.Context(), eventbus.Message{Topic: "a", Key: "k"}, eventbus.Message{Key: "no topic"})
	if !errors.Is(err, memory.ErrInvalid) || !strings.Contains(err.Error(), "message 1 has no topic") {
		t.Errorf("Publish(no topic) = %v; want ErrInvalid naming message 1", err)
	}
	if got := b.Messages("a"); len(got) != 0 {
		t.Errorf("a failed Publish left %d messages; want none (all or nothing)", len(got))
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Publish(ctx, eventbus.Message{Topic: "a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish(cancelled ctx) = %v; want context.Canceled", err)
	}
	if err := p.Publish(t.Context()); err != nil {
		t.Errorf("Publish() with no messages = %v; want nil", err)
	}

	// Closing one publisher leaves the others working.
	other := b.Publisher()
	other.Close()
	if err := p.Publish(t.Context(), eventbus.Message{Topic: "a"}); err != nil {
		t.Errorf("Publish after another publisher's Close = %v; want nil", err)
	}
}

// Publish order is kept across partitions by Messages, and keys land on
// Bus.Partition.
func TestMessagesAndPartitions(t *testing.T) {
	b := newBus(t, memory.WithPartitions(3))
	p := b.Publisher()
	var want []string
	for _, k := range []string{"k1", "k2", "k3", "k4", "k1", "k5", "k2"} {
		v := k + "@" + string(rune('0'+len(want)))
		want = append(want, v)
		if err := p.Publish(t.Context(), eventbus.Message{Topic: "t", Key: k, Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, m := range b.Messages("t") {
		got = append(got, string(m.Value))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Messages = %q; want %q", got, want)
	}
	if got := b.Messages("never"); got != nil {
		t.Errorf("Messages(unknown) = %v; want nil", got)
	}

	parts := map[string]int32{}
	var mu sync.Mutex
	s, _ := b.Subscriber("g", []string{"t"})
	done := make(chan struct{})
	go s.Run(t.Context(), func(_ context.Context, d eventbus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		parts[string(d.Value)] = d.Partition
		if len(parts) == len(want) {
			close(done)
		}
		return nil
	})
	<-done
	s.Close()
	for v, part := range parts {
		key := v[:strings.Index(v, "@")]
		if want := b.Partition(key); part != want {
			t.Errorf("message %s delivered from partition %d; want Partition(%q) = %d", v, part, key, want)
		}
	}
}

// Neither the publisher nor a handler can change what the bus holds.
func TestMessagesAreCopied(t *testing.T) {
	b := newBus(t)
	p := b.Publisher()
	value, headers := []byte("original"), eventbus.Headers{{Key: "h", Value: "original"}}
	if err := p.Publish(t.Context(), eventbus.Message{Topic: "t", Key: "k", Headers: headers, Value: value}); err != nil {
		t.Fatal(err)
	}
	copy(value, "mutated!")
	headers[0].Value = "mutated"

	s, _ := b.Subscriber("g", []string{"t"})
	done := make(chan struct{})
	go s.Run(t.Context(), func(_ context.Context, d eventbus.Delivery) error {
		if string(d.Value) != "original" || d.Headers.Get("h") != "original" {
			t.Errorf("delivered %q, %v; want the message as published", d.Value, d.Headers)
		}
		copy(d.Value, "handler!")
		d.Headers.Set("h", "handler")
		close(done)
		return nil
	})
	<-done
	s.Close()
	m := b.Messages("t")[0]
	if !bytes.Equal(m.Value, []byte("original")) || m.Headers.Get("h") != "original" {
		t.Errorf("stored message = %q, %v; want the message as published", m.Value, m.Headers)
	}
}

// A handler failing because its context was cancelled is neither retried
// nor dead-lettered: the message goes to the group's next member.
func TestCancelledHandlerIsRedelivered(t *testing.T) {
	b := newBus(t)
	p := b.Publisher()
	if err := p.Publish(t.Context(), eventbus.Message{Topic: "t", Key: "k", Value: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	s1, _ := b.Subscriber("g", []string{"t"}, memory.WithRetry(eventbus.RetryPolicy{MaxAttempts: 1}))
	ctx, cancel := context.WithCancel(t.Context())
	entered := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- s1.Run(ctx, func(ctx context.Context, d eventbus.Delivery) error {
			close(entered)
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	<-entered
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v; want nil", err)
	}
	if dl := b.Messages("t" + eventbus.DeadLetterSuffix); len(dl) != 0 {
		t.Errorf("dead-lettered %d messages on cancellation; want none", len(dl))
	}

	s2, _ := b.Subscriber("g", []string{"t"})
	got := make(chan eventbus.Delivery, 1)
	go s2.Run(t.Context(), func(_ context.Context, d eventbus.Delivery) error { got <- d; return nil })
	d := <-got
	s2.Close()
	if string(d.Value) != "m" || d.Attempt != 1 {
		t.Errorf("next member got %q attempt %d; want m, attempt 1", d.Value, d.Attempt)
	}
}

// The retry backoff doubles from MinBackoff up to MaxBackoff, and the
// dead-lettering is logged. Runs on synctest's fake clock, so the waits are
// exact and instant.
func TestRetryBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		b := newBus(t, memory.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		p := b.Publisher()
		// A replayed stub of an earlier dead-lettering: its marker
		// goes, as this message is dead-lettered whole.
		stale := eventbus.Headers{{Key: eventbus.HeaderDLQOmitted, Value: "123"}, {Key: eventbus.HeaderDLQAttempts, Value: "9"}}
		if err := p.Publish(t.Context(), eventbus.Message{Topic: "t", Key: "k", Headers: stale}); err != nil {
			t.Fatal(err)
		}
		s, _ := b.Subscriber("g", []string{"t"}, memory.WithRetry(eventbus.RetryPolicy{
			MaxAttempts: 5, MinBackoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		}))
		var calls []time.Time
		go s.Run(t.Context(), func(context.Context, eventbus.Delivery) error {
			calls = append(calls, time.Now())
			return errors.New("boom")
		})
		time.Sleep(time.Second) // on the fake clock: past every backoff
		s.Close()

		var gaps []time.Duration
		for i := 1; i < len(calls); i++ {
			gaps = append(gaps, calls[i].Sub(calls[i-1]))
		}
		want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}
		if !slices.Equal(gaps, want) {
			t.Errorf("waits between attempts = %v; want %v", gaps, want)
		}
		if dl := b.Messages("t" + eventbus.DeadLetterSuffix); len(dl) != 1 || dl[0].Headers.Get(eventbus.HeaderDLQAttempts) != "5" || len(dl[0].Headers) != 6 {
			t.Errorf("dead letters = %v; want one after 5 attempts, with the 6 DLQ headers only", dl)
		}
		if !strings.Contains(logs.String(), "dead-lettered") || !strings.Contains(logs.String(), "error=boom") {
			t.Errorf("log = %q; want the dead-lettering with its error", logs.String())
		}
	})
}

// Publishing and consuming through one group, 512-byte values over 64 keys;
// the time includes draining what the group has not handled yet.
func BenchmarkPublishConsume(b *testing.B) {
	bus := newBus(b)
	p := bus.Publisher()
	s, err := bus.Subscriber("g", []string{"t"})
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu            sync.Mutex
		handled, want int
		done          = make(chan struct{})
	)
	go s.Run(b.Context(), func(context.Context, eventbus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if handled++; handled == want {
			close(done)
		}
		return nil
	})
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("sale-%d", i)
	}
	value := make([]byte, 512)
	n := 0
	for b.Loop() {
		if err := p.Publish(b.Context(), eventbus.Message{Topic: "t", Key: keys[n%len(keys)], Value: value}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.StartTimer() // b.Loop stopped it; the drain counts too
	mu.Lock()
	want = n
	if handled >= want {
		close(done)
	}
	mu.Unlock()
	<-done
	b.StopTimer()
	s.Close()
}
