package kafka

import (
	"strconv"
	"strings"

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

// fromRecord maps r to a message, its headers in order. The key and the
// header values are copied into one string; the message shares r's value.
func fromRecord(r *kgo.Record) eventbus.Message {
	n := len(r.Key)
	for _, h := range r.Headers {
		n += len(h.Value)
	}
	var b strings.Builder
	b.Grow(n)
	b.Write(r.Key)
	for _, h := range r.Headers {
		b.Write(h.Value)
	}
	all := b.String()
	m := eventbus.Message{Topic: r.Topic, Key: all[:len(r.Key)], Value: r.Value}
	if len(r.Headers) > 0 {
		m.Headers = make(eventbus.Headers, len(r.Headers))
		off := len(r.Key)
		for i, h := range r.Headers {
			m.Headers[i] = eventbus.Header{Key: h.Key, Value: all[off : off+len(h.Value)]}
			off += len(h.Value)
		}
	}
	return m
}

var dlqHeaders = map[string]bool{
	eventbus.HeaderDLQError:         true,
	eventbus.HeaderDLQTopic:         true,
	eventbus.HeaderDLQPartition:     true,
	eventbus.HeaderDLQOffset:        true,
	eventbus.HeaderDLQAttempts:      true,
	eventbus.HeaderDLQConsumerGroup: true,
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
	errText := "<nil>"
	if cause != nil {
		errText = cause.Error()
	}
	hs = append(hs,
		kgo.RecordHeader{Key: eventbus.HeaderDLQError, Value: []byte(errText)},
		kgo.RecordHeader{Key: eventbus.HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: eventbus.HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: eventbus.HeaderDLQOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
		kgo.RecordHeader{Key: eventbus.HeaderDLQAttempts, Value: strconv.AppendInt(nil, int64(attempts), 10)},
		kgo.RecordHeader{Key: eventbus.HeaderDLQConsumerGroup, Value: []byte(group)},
	)
	return &kgo.Record{
		Topic:   r.Topic + eventbus.DeadLetterSuffix,
		Key:     r.Key,
		Value:   r.Value,
		Headers: hs,
	}
}
