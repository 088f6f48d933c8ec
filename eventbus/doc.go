// Package eventbus holds the message contract that sales events travel on:
// Message, the CloudEvents 1.0 binary-mode mapping (Event, Decode), and the
// transactional outbox record (OutboxRecord) written next to every change.
//
// Implementations live in subpackages named after their dependency
// (eventbus/kafka, eventbus/memory).
package eventbus
