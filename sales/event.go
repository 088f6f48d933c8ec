package sales

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/eventbus"
)

// The event types a sale emits; each is also its topic's name (after an
// optional configurable prefix).
const (
	EventCreated   = "sale.created"
	EventCompleted = "sale.completed"
	EventCancelled = "sale.cancelled"
)

// EventTypes lists the event types in the order a sale can emit them.
var EventTypes = []string{EventCreated, EventCompleted, EventCancelled}

// DefaultSource is the CloudEvents source of sale events.
const DefaultSource = "/salesflow/sales"

// eventType returns the event a sale in status st emitted when it got there.
func eventType(st Status) string {
	switch st {
	case StatusCompleted:
		return EventCompleted
	case StatusCancelled:
		return EventCancelled
	}
	return EventCreated
}

// newEvent builds the outbox record of the change that brought s to its
// current status, in the trace of traceparent (W3C; empty for none).
func (svc *Service) newEvent(s *Sale, traceparent string) (eventbus.OutboxRecord, error) {
	// MarshalJSON itself: through json.Marshal its output would be
	// scanned and copied again.
	data, err := s.MarshalJSON()
	if err != nil {
		return eventbus.OutboxRecord{}, fmt.Errorf("encode sale event: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return eventbus.OutboxRecord{}, fmt.Errorf("event id: %w", err)
	}
	typ := eventType(s.Status)
	ev := eventbus.Event{
		ID: id, Type: typ, Source: svc.source, Subject: s.ID.String(),
		Time: s.UpdatedAt, Data: data, TraceParent: traceparent,
	}
	return eventbus.OutboxRecord{
		EventID:   id,
		Message:   ev.Message(svc.topicPrefix+typ, s.ID.String()),
		CreatedAt: s.UpdatedAt,
	}, nil
}

// DecodeEvent reads a sale event: its CloudEvent envelope and the sale it
// carries. It returns an error wrapping eventbus.ErrMalformed when the
// envelope is bad, the type is not a sale event, or the data is not a sale
// whose status matches the type.
func DecodeEvent(m eventbus.Message) (eventbus.Event, *Sale, error) {
	ev, err := eventbus.Decode(m)
	if err != nil {
		return eventbus.Event{}, nil, err
	}
	s, err := SaleFromEvent(ev)
	if err != nil {
		return eventbus.Event{}, nil, err
	}
	return ev, s, nil
}

// SaleFromEvent reads the sale a decoded sale event carries. It returns an
// error wrapping eventbus.ErrMalformed when the type is not a sale event or
// the data is not a sale whose status matches the type.
func SaleFromEvent(ev eventbus.Event) (*Sale, error) {
	// UnmarshalJSON itself: json.Unmarshal would validate the data once
	// more before calling it.
	var s Sale
	if err := s.UnmarshalJSON(ev.Data); err != nil {
		return nil, fmt.Errorf("%w: data: %v", eventbus.ErrMalformed, err)
	}
	want := map[string]Status{EventCreated: StatusPending, EventCompleted: StatusCompleted, EventCancelled: StatusCancelled}
	st, ok := want[ev.Type]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: ce_type %q is not a sale event", eventbus.ErrMalformed, ev.Type)
	case s.Status != st:
		return nil, fmt.Errorf("%w: %s carries a %s sale", eventbus.ErrMalformed, ev.Type, s.Status)
	case s.ID == uuid.Nil || s.Version < 1:
		return nil, fmt.Errorf("%w: sale id and version are required", eventbus.ErrMalformed)
	}
	return &s, nil
}

// eventTime is the clock resolution stored everywhere: PostgreSQL keeps microseconds.
func eventTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
