package sales

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/eventbus"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestCanMoveTo(t *testing.T) {
	t.Parallel()
	all := []Status{StatusPending, StatusCompleted, StatusCancelled}
	allowed := map[[2]Status]bool{
		{StatusPending, StatusCompleted}:   true,
		{StatusPending, StatusCancelled}:   true,
		{StatusCompleted, StatusCancelled}: true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanMoveTo(to); got != allowed[[2]Status{from, to}] {
				t.Errorf("%s.CanMoveTo(%s) = %v; want %v", from, to, got, !got)
			}
		}
	}
}

func goldenSale() Sale {
	created := time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)
	return Sale{
		ID:     uuid.MustParse("01950000-0000-7000-8000-000000000001"),
		Status: StatusCompleted, Version: 2, SellerID: "user-1",
		CustomerName: "Ana", CustomerEmail: "ana@example.com",
		Lines: []Line{
			{BookID: uuid.MustParse("01950000-0000-7000-8000-0000000000b1"), Quantity: 2, UnitPrice: 1000, Discount: 100, Subtotal: 1900},
			{BookID: uuid.MustParse("01950000-0000-7000-8000-0000000000b2"), Quantity: 1, UnitPrice: 550, Subtotal: 550},
		},
		Subtotal: 2450, Discount: 200, Tax: 428, Total: 2678, Currency: USD,
		PaymentMethod: PaymentCreditCard, PaidAt: created.Add(time.Hour),
		CreatedAt: created, UpdatedAt: created.Add(time.Hour),
	}
}

// TestSaleJSONGolden pins the wire form of a sale, which is both the API's
// response and the value of every sale event. Run with -update to refresh.
func TestSaleJSONGolden(t *testing.T) {
	t.Parallel()
	got, err := json.MarshalIndent(goldenSale(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "sale.golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("sale JSON changed (run with -update if intended):\n%s", got)
	}
	var back Sale
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("decode: %v", err)
	}
	again, _ := json.MarshalIndent(back, "", "  ")
	if !bytes.Equal(got, again) {
		t.Errorf("round trip changed the sale:\n%s\nwant\n%s", again, got)
	}
}

func TestNetByBook(t *testing.T) {
	t.Parallel()
	s := goldenSale()
	s.Lines = append(s.Lines, Line{BookID: s.Lines[0].BookID, Quantity: 1, UnitPrice: 1000, Subtotal: 1000})
	s.Subtotal += 1000
	got := s.NetByBook()
	var sum Money
	for _, n := range got {
		sum += n.Net
	}
	if len(got) != 2 || got[s.Lines[0].BookID].Units != 3 || sum != s.Subtotal-s.Discount {
		t.Errorf("NetByBook = %+v; want 2 books, 3 units of the first, nets adding to %d", got, s.Subtotal-s.Discount)
	}
}

func TestDecodeEvent(t *testing.T) {
	t.Parallel()
	s := goldenSale()
	data, _ := json.Marshal(s)
	ev := eventbus.Event{ID: uuid.New(), Type: EventCompleted, Source: DefaultSource, Subject: s.ID.String(), Time: s.UpdatedAt, Data: data}
	good := ev.Message(EventCompleted, s.ID.String())
	if _, got, err := DecodeEvent(good); err != nil || got.ID != s.ID || got.Version != 2 {
		t.Fatalf("DecodeEvent(good) = %+v, %v", got, err)
	}
	mutate := func(f func(m *eventbus.Message)) eventbus.Message {
		m := good
		m.Headers = slices.Clone(good.Headers)
		f(&m)
		return m
	}
	cases := map[string]eventbus.Message{
		"wrong type for status": mutate(func(m *eventbus.Message) { m.Headers.Set(eventbus.HeaderType, EventCreated) }),
		"unknown type":          mutate(func(m *eventbus.Message) { m.Headers.Set(eventbus.HeaderType, "sale.exploded") }),
		"no spec version":       mutate(func(m *eventbus.Message) { m.Headers.Del(eventbus.HeaderSpecVersion) }),
		"bad id":                mutate(func(m *eventbus.Message) { m.Headers.Set(eventbus.HeaderID, "42") }),
		"bad time":              mutate(func(m *eventbus.Message) { m.Headers.Set(eventbus.HeaderTime, "yesterday") }),
		"not json":              mutate(func(m *eventbus.Message) { m.Value = []byte("{") }),
		"bad money":             mutate(func(m *eventbus.Message) { m.Value = bytes.Replace(m.Value, []byte(`"26.78"`), []byte(`"26.785"`), 1) }),
		"xml":                   mutate(func(m *eventbus.Message) { m.Headers.Set(eventbus.HeaderContentType, "application/xml") }),
	}
	for name, m := range cases {
		if _, _, err := DecodeEvent(m); !errors.Is(err, eventbus.ErrMalformed) {
			t.Errorf("%s: error = %v; want ErrMalformed", name, err)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	s := goldenSale()
	data, _ := json.Marshal(s)
	f.Add(data, EventCompleted, "1.0", uuid.NewString(), "2026-03-14T10:00:00Z")
	f.Add([]byte(`{"status":"PENDING"}`), EventCreated, "1.0", "x", "")
	f.Fuzz(func(t *testing.T, value []byte, typ, spec, id, at string) {
		m := eventbus.Message{Topic: typ, Key: "k", Value: value, Headers: eventbus.Headers{
			{Key: eventbus.HeaderSpecVersion, Value: spec},
			{Key: eventbus.HeaderID, Value: id},
			{Key: eventbus.HeaderType, Value: typ},
			{Key: eventbus.HeaderSource, Value: DefaultSource},
			{Key: eventbus.HeaderTime, Value: at},
			{Key: eventbus.HeaderContentType, Value: eventbus.ContentJSON},
		}}
		ev, sale, err := DecodeEvent(m)
		if err != nil {
			if !errors.Is(err, eventbus.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if sale == nil || sale.ID == uuid.Nil || sale.Version < 1 || ev.ID == uuid.Nil || eventType(sale.Status) != ev.Type {
			t.Fatalf("accepted an inconsistent event: %+v %+v", ev, sale)
		}
	})
}

// TestEventValue checks that an event carries the sale's JSON, byte for
// byte what json.Marshal makes of it, and that the worker's decoding
// gives the sale back.
func TestEventValue(t *testing.T) {
	t.Parallel()
	svc := &Service{source: DefaultSource}
	s := goldenSale()
	// What json.Marshal escapes or mends: HTML, the JavaScript line
	// separators, bytes that are not UTF-8.
	s.CustomerName, s.Notes = "A & <B>", "x\u2028y\u2029z\xff"
	rec, err := svc.newEvent(&s, "")
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Message.Value, want) {
		t.Errorf("event value:\n%s\nwant json.Marshal's\n%s", rec.Message.Value, want)
	}
	ev, err := eventbus.Decode(rec.Message)
	if err != nil {
		t.Fatal(err)
	}
	got, err := SaleFromEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	// Encoding mended the byte that is not UTF-8 into U+FFFD.
	back := s
	back.Notes = strings.ToValidUTF8(s.Notes, "\uFFFD")
	if again, wantBack := mustJSON(t, got), mustJSON(t, back); !bytes.Equal(again, wantBack) {
		t.Errorf("decoded sale:\n%s\nwant\n%s", again, wantBack)
	}
	for name, data := range map[string]string{
		"null": "null", "cut short": "{", "id a number": `{"id":1}`, "empty object": `{}`, "array": "[]",
		"trailing bytes": string(want) + "garbage", "two values": string(want) + " {}",
	} {
		ev.Data = []byte(data)
		if _, err := SaleFromEvent(ev); !errors.Is(err, eventbus.ErrMalformed) {
			t.Errorf("%s: SaleFromEvent = %v, want ErrMalformed", name, err)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkEventCodec encodes a sale's event as the service does in each
// change, and decodes it as the worker does.
func BenchmarkEventCodec(b *testing.B) {
	svc := &Service{source: DefaultSource}
	s := goldenSale()
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.newEvent(&s, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	rec, err := svc.newEvent(&s, "")
	if err != nil {
		b.Fatal(err)
	}
	ev, err := eventbus.Decode(rec.Message)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := SaleFromEvent(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
