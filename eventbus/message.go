package eventbus

import "slices"

// Message is one record on a topic.
//
// Key decides the partition, and so the order: messages with the same key on
// the same topic are delivered in the order they were published. Headers hold
// the CloudEvents attributes (see Event).
type Message struct {
	Topic   string
	Key     string
	Headers Headers
	Value   []byte
}

// Header is one message header.
type Header struct {
	Key   string
	Value string
}

// Headers are a message's headers in order, as Kafka keeps them. A slice
// rather than a map: a subscriber builds one per message, and a map costs
// a fifth of a Kafka consumer's time. Kafka allows a key more than once;
// Get returns the first, Set changes the first.
type Headers []Header

// Get returns the value of the first header named key, or "".
func (h Headers) Get(key string) string {
	v, _ := h.Lookup(key)
	return v
}

// Lookup returns the value of the first header named key and whether
// there is one.
func (h Headers) Lookup(key string) (string, bool) {
	for _, x := range h {
		if x.Key == key {
			return x.Value, true
		}
	}
	return "", false
}

// Set sets the value of the first header named key, or appends the header.
func (h *Headers) Set(key, value string) {
	for i := range *h {
		if (*h)[i].Key == key {
			(*h)[i].Value = value
			return
		}
	}
	*h = append(*h, Header{Key: key, Value: value})
}

// Del removes every header named key.
func (h *Headers) Del(key string) {
	*h = slices.DeleteFunc(*h, func(x Header) bool { return x.Key == key })
}

// Map returns the headers as a map; of a key given more than once, the
// first value.
func (h Headers) Map() map[string]string {
	m := make(map[string]string, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		m[h[i].Key] = h[i].Value
	}
	return m
}
