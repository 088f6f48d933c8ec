package eventbus_test

import (
	"context"
	"testing"

	"github.com/salesflow/salesflow/eventbus"
)

func TestTraceParent(t *testing.T) {
	t.Parallel()
	const good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, c := range []struct {
		in   string
		want bool
	}{
		{good, true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"", false},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false}, // only version 00
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false}, // zero trace id
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false}, // zero parent id
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false}, // upper case
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},
		{"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", false},
	} {
		if got := eventbus.ValidTraceParent(c.in); got != c.want {
			t.Errorf("ValidTraceParent(%q) = %t; want %t", c.in, got, c.want)
		}
		ctx := eventbus.WithTraceParent(context.Background(), c.in)
		want := ""
		if c.want {
			want = c.in
		}
		if got := eventbus.TraceParent(ctx); got != want {
			t.Errorf("TraceParent after WithTraceParent(%q) = %q", c.in, got)
		}
	}
	ev := eventbus.Event{TraceParent: good}
	if h := ev.Message("t", "k").Headers.Get(eventbus.HeaderTraceParent); h != good {
		t.Errorf("event traceparent header = %q; want %q", h, good)
	}
}
