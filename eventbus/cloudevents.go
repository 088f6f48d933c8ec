package eventbus

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// CloudEvents 1.0 Kafka protocol binding, binary content mode: the
// attributes travel as headers prefixed with "ce_", the data is the value;
// the distributed-tracing extension's traceparent travels unprefixed, as
// W3C trace context does elsewhere.
const (
	HeaderSpecVersion = "ce_specversion"
	HeaderID          = "ce_id"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderSubject     = "ce_subject"
	HeaderTime        = "ce_time"
	HeaderContentType = "content-type"
	HeaderTraceParent = "traceparent"

	SpecVersion = "1.0"
	ContentJSON = "application/json"
)

// ErrMalformed means a message is not a valid CloudEvent; the error names
// the attribute at fault.
var ErrMalformed = errors.New("malformed event")

// Event is a CloudEvent as this project uses it: JSON data, a UUID id.
type Event struct {
	ID          uuid.UUID // unique per event; consumers deduplicate on it
	Type        string    // such as "sale.created"
	Source      string    // URI reference of the producer, such as "/salesflow/sales"
	Subject     string    // the entity the event is about (the sale id)
	Time        time.Time // when the change was committed, UTC
	TraceParent string    // W3C traceparent, optional
	Data        []byte    // JSON
}

// Message encodes e for topic with key in binary content mode.
func (e Event) Message(topic, key string) Message {
	h := make(Headers, 0, 8)
	h = append(h,
		Header{HeaderSpecVersion, SpecVersion},
		Header{HeaderID, e.ID.String()},
		Header{HeaderType, e.Type},
		Header{HeaderSource, e.Source},
		Header{HeaderTime, e.Time.UTC().Format(time.RFC3339Nano)},
		Header{HeaderContentType, ContentJSON},
	)
	if e.Subject != "" {
		h = append(h, Header{HeaderSubject, e.Subject})
	}
	if e.TraceParent != "" {
		h = append(h, Header{HeaderTraceParent, e.TraceParent})
	}
	return Message{Topic: topic, Key: key, Headers: h, Value: e.Data}
}

// Decode reads the CloudEvent carried by m. It returns an error wrapping
// ErrMalformed when a required attribute (specversion 1.0, id as a UUID,
// type, source, time in RFC 3339) is missing or wrong, or when the content
// type is not JSON.
func Decode(m Message) (Event, error) {
	bad := func(attr, why string) (Event, error) {
		return Event{}, fmt.Errorf("%w: %s %s", ErrMalformed, attr, why)
	}
	h := m.Headers
	if v := h.Get(HeaderSpecVersion); v != SpecVersion {
		return bad(HeaderSpecVersion, "must be "+SpecVersion)
	}
	id, err := uuid.Parse(h.Get(HeaderID))
	if err != nil {
		return bad(HeaderID, "must be a UUID")
	}
	e := Event{
		ID: id, Type: h.Get(HeaderType), Source: h.Get(HeaderSource),
		Subject: h.Get(HeaderSubject), TraceParent: h.Get(HeaderTraceParent),
		Data: m.Value,
	}
	if e.Type == "" {
		return bad(HeaderType, "is required")
	}
	if e.Source == "" {
		return bad(HeaderSource, "is required")
	}
	if ct := h.Get(HeaderContentType); ct != ContentJSON {
		return bad(HeaderContentType, "must be "+ContentJSON)
	}
	if e.Time, err = time.Parse(time.RFC3339Nano, h.Get(HeaderTime)); err != nil {
		return bad(HeaderTime, "must be an RFC 3339 time")
	}
	return e, nil
}
