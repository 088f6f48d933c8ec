package eventbus

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// OutboxRecord is a message waiting in the outbox table: written in the
// transaction of the change it describes, published after commit.
type OutboxRecord struct {
	Seq         int64     // assigned by the store, increasing in insertion order
	EventID     uuid.UUID // the CloudEvents id
	Message     Message
	CreatedAt   time.Time
	PublishedAt time.Time // zero until published
}

// Outbox is the store side of the transactional outbox, as the relay uses it.
type Outbox interface {
	// Pending returns up to limit committed, unpublished records in Seq
	// order. A record committed late is returned late, never skipped.
	// Records of one key come out in the order their transactions
	// committed as long as the writers of a key are serialized (the sales
	// service locks the sale row before it enqueues).
	Pending(ctx context.Context, limit int) ([]OutboxRecord, error)
	// MarkPublished records that the records with these sequence numbers
	// were published. Marking a record twice is not an error.
	MarkPublished(ctx context.Context, seqs []int64) error
	// Backlog returns how many records wait and when the oldest was written
	// (zero time when none waits).
	Backlog(ctx context.Context) (int64, time.Time, error)
}
