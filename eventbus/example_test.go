package eventbus_test

import (
	"fmt"
	"log"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/eventbus"
)

// An event travels as a message in the CloudEvents Kafka binding (binary
// mode): its attributes are ce_ headers, its data the value. A consumer
// decodes it back.
func ExampleEvent_Message() {
	ev := eventbus.Event{
		ID:      uuid.MustParse("0190a5c8-6f1e-7b3a-9c2d-4e5f60718293"),
		Type:    "sale.created",
		Source:  "/salesflow/sales",
		Subject: "sale-42",
		Time:    time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC),
		Data:    []byte(`{"id":"sale-42"}`),
	}
	m := ev.Message("sale.created", "sale-42")
	for _, h := range m.Headers {
		fmt.Printf("%s: %s\n", h.Key, h.Value)
	}

	got, err := eventbus.Decode(m)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.ID == ev.ID, got.Type, string(got.Data))
	// Output:
	// ce_specversion: 1.0
	// ce_id: 0190a5c8-6f1e-7b3a-9c2d-4e5f60718293
	// ce_type: sale.created
	// ce_source: /salesflow/sales
	// ce_time: 2026-03-14T12:00:00Z
	// content-type: application/json
	// ce_subject: sale-42
	// true sale.created {"id":"sale-42"}
}

// Headers keep Kafka's order and repeated keys; Get and Set work on the
// first of a key, and Set appends a key not there yet.
func ExampleHeaders() {
	h := eventbus.Headers{{Key: "x-tag", Value: "a"}, {Key: "x-tag", Value: "b"}}
	h.Set("x-tag", "c")
	h.Set("x-tenant", "acme")
	fmt.Println(h.Get("x-tag"), h.Get("x-tenant"), len(h))
	// Output: c acme 3
}
