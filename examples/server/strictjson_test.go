package main

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// TestStrictJSONDeepBody: a body nested as deep as the body limit allows
// costs the walk no more than the decoder's own bounded depth; it used to
// hold a location string per level, memory growing with the square of the
// depth (300 MB for 14 KB of brackets).
func TestStrictJSONDeepBody(t *testing.T) {
	s := newServer(&server{})
	op := s.api.OpenAPI().Paths["/sales"].Post
	schema := op.RequestBody.Content["application/json"].Schema
	reg := s.api.OpenAPI().Components.Schemas
	for _, body := range []string{
		`{"items":` + strings.Repeat("[", MaxBodyBytes/2-20) + strings.Repeat("]", MaxBodyBytes/2-20) + `}`,
		`{"items":[{"bookId":` + strings.Repeat(`{"a":`, MaxBodyBytes/6) + `1` + strings.Repeat(`}`, MaxBodyBytes/6) + `}]}`,
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		strictJSON([]byte(body), schema, reg, true)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
			t.Errorf("a %d-byte nested body allocated %d MiB", len(body), got>>20)
		}
	}
}

// TestNullOnCreate: outside a PATCH, null for an optional field is a field
// left out, as Huma and the seed's API take it.
func TestNullOnCreate(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil, nil)
	book := tg.createBook(t, "9.99", 10)
	r := tg.req(t, "POST", "/sales", tg.user, `{"customerName":null,"items":[{"bookId":"`+book+`","quantity":1}]}`)
	want(t, r, http.StatusCreated, "a sale with a null customerName")
	if v, ok := r.obj(t)["customerName"]; !ok || v != nil {
		t.Errorf("customerName = %v; want null", v)
	}
}
