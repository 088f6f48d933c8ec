package eventbus_test

import (
	"maps"
	"testing"

	"github.com/salesflow/salesflow/eventbus"
)

func TestHeaders(t *testing.T) {
	t.Parallel()
	var h eventbus.Headers
	if h.Get("a") != "" {
		t.Fatal("Get on no headers")
	}
	h.Set("a", "1")
	h.Set("b", "2")
	h = append(h, eventbus.Header{Key: "a", Value: "repeated"})
	if v, ok := h.Lookup("a"); !ok || v != "1" {
		t.Errorf("Lookup(a) = %q, %t; want the first, 1", v, ok)
	}
	if _, ok := h.Lookup("c"); ok {
		t.Error("Lookup(c) found a header")
	}
	h.Set("a", "3") // the first a
	h.Set("c", "")  // an empty value is a header too
	want := eventbus.Headers{{Key: "a", Value: "3"}, {Key: "b", Value: "2"}, {Key: "a", Value: "repeated"}, {Key: "c", Value: ""}}
	if len(h) != len(want) {
		t.Fatalf("headers = %v; want %v", h, want)
	}
	for i := range want {
		if h[i] != want[i] {
			t.Fatalf("headers = %v; want %v", h, want)
		}
	}
	if m := h.Map(); !maps.Equal(m, map[string]string{"a": "3", "b": "2", "c": ""}) {
		t.Errorf("Map = %v; want the first value of each key", m)
	}
	h.Del("a")
	if len(h) != 2 || h.Get("a") != "" || h.Get("b") != "2" {
		t.Errorf("after Del(a): %v", h)
	}
}
