package kafka

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salesflow/salesflow/eventbus"
)

// toRecord maps m to a record. The key is always set, an empty one too, so
// that the default partitioner hashes every key (as the memory bus does)
// and messages with the same key keep their order. The record shares m's
// value.
func toRecord(m eventbus.Message) *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Key: []byte(m.Key), Value: m.Value}
	if r.Key == nil {
		r.Key = []byte{}
	}
	if len(m.Headers) > 0 {
		r.Headers = make([]kgo.RecordHeader, 0, len(m.Headers))
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
		}
	}
	return r
}

// deliveries maps rs to first deliveries, in a new slice, each
// message's headers in order. Their headers take one allocation (see
// headersFor).
func deliveries(rs []*kgo.Record) []eventbus.Delivery {
	all := headersFor(rs)
	ds := make([]eventbus.Delivery, len(rs))
	for i, r := range rs {
		ds[i], all = delivery(r, all)
	}
	return ds
}

// headersFor returns room for the headers of all of rs, to be handed out
// by delivery in their order: one allocation for a chunk of records.
func headersFor(rs []*kgo.Record) eventbus.Headers {
	n := 0
	for _, r := range rs {
		n += len(r.Headers)
	}
	return make(eventbus.Headers, n)
}

// delivery maps r to its first delivery, its headers written at the
// front of all, capped so that appending to them cannot reach the next
// message's; it returns the rest of all. The message's strings and value
// share the record's memory rather than copy it: the client never reuses
// a record's bytes (no kgo.WithPools here), and nothing writes to them,
// so the strings stay immutable, as strings must.
func delivery(r *kgo.Record, all eventbus.Headers) (eventbus.Delivery, eventbus.Headers) {
	var hs eventbus.Headers
	if n := len(r.Headers); n > 0 {
		hs, all = all[:n:n], all[n:]
		for j, h := range r.Headers {
			hs[j] = eventbus.Header{Key: h.Key, Value: bytesString(h.Value)}
		}
	}
	return eventbus.Delivery{
		Message:   eventbus.Message{Topic: r.Topic, Key: bytesString(r.Key), Headers: hs, Value: r.Value},
		Partition: r.Partition, Offset: r.Offset, Attempt: 1,
	}, all
}

// bytesString is b as a string without a copy; b must never change.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

var dlqHeaders = map[string]bool{
	eventbus.HeaderDLQError:         true,
	eventbus.HeaderDLQTopic:         true,
	eventbus.HeaderDLQPartition:     true,
	eventbus.HeaderDLQOffset:        true,
	eventbus.HeaderDLQAttempts:      true,
	eventbus.HeaderDLQConsumerGroup: true,
	eventbus.HeaderDLQOmitted:       true,
}

// deadLetterRecord returns the record that dead-letters r: same key, value
// and headers, on r's topic plus eventbus.DeadLetterSuffix, with the DLQ
// headers added (replacing those of an earlier dead-lettering).
func deadLetterRecord(r *kgo.Record, group string, attempts int, cause error) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+len(dlqHeaders))
	for _, h := range r.Headers {
		if !dlqHeaders[h.Key] {
			hs = append(hs, h)
		}
	}
	return &kgo.Record{
		Topic:   r.Topic + eventbus.DeadLetterSuffix,
		Key:     r.Key,
		Value:   r.Value,
		Headers: appendDLQHeaders(hs, r, group, attempts, errorText(cause)),
	}
}

// stubErrorBytes bounds the error text a dead-letter stub carries.
const stubErrorBytes = 1 << 10

// deadLetterStub returns the record that dead-letters r when
// deadLetterRecord's is too large for the dead-letter topic: r's key and
// the DLQ headers (the error cut to stubErrorBytes), with
// eventbus.HeaderDLQOmitted giving the size of the value and original
// headers it leaves out.
func deadLetterStub(r *kgo.Record, group string, attempts int, cause error) *kgo.Record {
	omitted := len(r.Value)
	for _, h := range r.Headers {
		if !dlqHeaders[h.Key] {
			omitted += len(h.Key) + len(h.Value)
		}
	}
	text := errorText(cause)
	if len(text) > stubErrorBytes {
		text = strings.ToValidUTF8(text[:stubErrorBytes-len("…")], "") + "…"
	}
	hs := make([]kgo.RecordHeader, 0, len(dlqHeaders))
	hs = appendDLQHeaders(hs, r, group, attempts, text)
	hs = append(hs, kgo.RecordHeader{Key: eventbus.HeaderDLQOmitted, Value: strconv.AppendInt(nil, int64(omitted), 10)})
	return &kgo.Record{Topic: r.Topic + eventbus.DeadLetterSuffix, Key: r.Key, Headers: hs}
}

func errorText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// appendDLQHeaders appends the DLQ headers of r, but eventbus.HeaderDLQOmitted,
// to hs.
func appendDLQHeaders(hs []kgo.RecordHeader, r *kgo.Record, group string, attempts int, errText string) []kgo.RecordHeader {
	return append(hs,
		kgo.RecordHeader{Key: eventbus.HeaderDLQError, Value: []byte(errText)},
		kgo.RecordHeader{Key: eventbus.HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: eventbus.HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: eventbus.HeaderDLQOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
		kgo.RecordHeader{Key: eventbus.HeaderDLQAttempts, Value: strconv.AppendInt(nil, int64(attempts), 10)},
		kgo.RecordHeader{Key: eventbus.HeaderDLQConsumerGroup, Value: []byte(group)},
	)
}
