package eventbus

// Message is one record on a topic.
//
// Key decides the partition, and so the order: messages with the same key on
// the same topic are delivered in the order they were published. Headers hold
// the CloudEvents attributes (see Event); Kafka header keys are unique here,
// a later duplicate replaces an earlier one.
type Message struct {
	Topic   string
	Key     string
	Headers map[string]string
	Value   []byte
}
