package eventbus_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/eventbus"
)

func TestEventRoundTrip(t *testing.T) {
	t.Parallel()
	ev := eventbus.Event{
		ID: uuid.New(), Type: "sale.created", Source: "/salesflow/sales", Subject: "s-1",
		Time: time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC), TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Data: []byte(`{"id":"s-1"}`),
	}
	m := ev.Message("prod.sale.created", "s-1")
	if m.Topic != "prod.sale.created" || m.Key != "s-1" || m.Headers.Get("ce_specversion") != "1.0" || m.Headers.Get("content-type") != "application/json" {
		t.Fatalf("message = %+v", m)
	}
	got, err := eventbus.Decode(m)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got.ID != ev.ID || got.Type != ev.Type || got.Source != ev.Source || got.Subject != ev.Subject ||
		!got.Time.Equal(ev.Time) || got.TraceParent != ev.TraceParent || string(got.Data) != string(ev.Data) {
		t.Errorf("Decode = %+v; want %+v", got, ev)
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	good := eventbus.Event{ID: uuid.New(), Type: "t", Source: "/s", Time: time.Now()}.Message("t", "k")
	for attr, bad := range map[string]string{
		eventbus.HeaderSpecVersion: "0.3",
		eventbus.HeaderID:          "not-a-uuid",
		eventbus.HeaderType:        "",
		eventbus.HeaderSource:      "",
		eventbus.HeaderTime:        "2026-13-01",
		eventbus.HeaderContentType: "text/plain",
	} {
		m := eventbus.Message{Headers: slices.Clone(good.Headers)}
		m.Headers.Set(attr, bad)
		if _, err := eventbus.Decode(m); !errors.Is(err, eventbus.ErrMalformed) {
			t.Errorf("%s=%q: error = %v; want ErrMalformed", attr, bad, err)
		}
	}
	if _, err := eventbus.Decode(eventbus.Message{}); !errors.Is(err, eventbus.ErrMalformed) {
		t.Errorf("no headers: error = %v; want ErrMalformed", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("1.0", uuid.NewString(), "sale.created", "/s", "2026-03-14T09:26:53Z", "application/json")
	f.Add("", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, spec, id, typ, src, at, ct string) {
		m := eventbus.Message{Headers: eventbus.Headers{
			{eventbus.HeaderSpecVersion, spec},
			{eventbus.HeaderID, id},
			{eventbus.HeaderType, typ},
			{eventbus.HeaderSource, src},
			{eventbus.HeaderTime, at},
			{eventbus.HeaderContentType, ct},
		}}
		ev, err := eventbus.Decode(m)
		if err != nil {
			if !errors.Is(err, eventbus.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := eventbus.Decode(ev.Message(m.Topic, m.Key))
		if err != nil || again.ID != ev.ID || again.Type != ev.Type || !again.Time.Equal(ev.Time) {
			t.Fatalf("re-encoded event does not decode the same: %+v, %v", again, err)
		}
	})
}
