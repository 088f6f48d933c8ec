package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/storage/postgres/internal/db"
)

// outbox is a DB seen as an eventbus.Outbox.
type outbox struct{ d *DB }

var _ eventbus.Outbox = outbox{}

// Pending returns up to limit unpublished records in seq order. It sees
// committed records only. Records of one sale come out in commit order
// because each status change locks the sale's row before enqueueing, so
// the later change's seq is drawn after the earlier one committed.
func (o outbox) Pending(ctx context.Context, limit int) ([]eventbus.OutboxRecord, error) {
	rows, err := o.d.q.PendingOutbox(ctx, int64(max(limit, 0)))
	if err != nil {
		return nil, fmt.Errorf("outbox pending: %w", err)
	}
	out := make([]eventbus.OutboxRecord, len(rows))
	for i, r := range rows {
		headers, err := decodeHeaders(r.Headers)
		if err != nil {
			return nil, fmt.Errorf("outbox record %d: headers: %w", r.Seq, err)
		}
		out[i] = eventbus.OutboxRecord{
			Seq: r.Seq, EventID: r.EventID, CreatedAt: r.CreatedAt.UTC(),
			Message: eventbus.Message{Topic: r.Topic, Key: r.Key, Headers: headers, Value: r.Value},
		}
	}
	return out, nil
}

// MarkPublished stamps the records with these seqs as published now;
// records already published keep their first stamp. Its transaction
// commits without waiting for the WAL flush (synchronous_commit off, for
// it alone): a mark that a crash of PostgreSQL loses makes the relay
// publish those records again, which consumers drop by their event ids as
// they drop any other duplicate, while the relay need not wait a flush
// per pass.
func (o outbox) MarkPublished(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	err := runPipe(ctx, o.d.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(p *pipe) error {
		q := db.New(p)
		return p.collect(func() error {
			if _, err := p.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
			return q.MarkPublished(ctx, seqs)
		}, checkErr)
	})
	if err != nil {
		return fmt.Errorf("outbox mark published: %w", err)
	}
	return nil
}

// Backlog returns the number of unpublished records and the creation time
// of the oldest (zero when none waits).
func (o outbox) Backlog(ctx context.Context) (int64, time.Time, error) {
	row, err := o.d.q.OutboxBacklog(ctx)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox backlog: %w", err)
	}
	if row.Waiting == 0 {
		return 0, time.Time{}, nil
	}
	return row.Waiting, row.Oldest.UTC(), nil
}

// encodeHeaders stores headers in the outbox as a JSON object, as releases
// before ordered headers did and still read (a rolling upgrade keeps
// their relay working), unless a key repeats: then as a JSON array of
// [key, value] pairs, which keeps every header and their order.
func encodeHeaders(h eventbus.Headers) ([]byte, error) {
	if m := h.Map(); len(m) == len(h) {
		return json.Marshal(m)
	}
	pairs := make([][2]string, len(h))
	for i, x := range h {
		pairs[i] = [2]string{x.Key, x.Value}
	}
	return json.Marshal(pairs)
}

// decodeHeaders reads what encodeHeaders wrote: a JSON object, its keys
// sorted (CloudEvents attributes have no order), or an array of pairs.
func decodeHeaders(b []byte) (eventbus.Headers, error) {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(t, &m); err != nil {
			return nil, err
		}
		h := make(eventbus.Headers, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			h = append(h, eventbus.Header{Key: k, Value: m[k]})
		}
		return h, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(b, &pairs); err != nil {
		return nil, err
	}
	h := make(eventbus.Headers, len(pairs))
	for i, p := range pairs {
		h[i] = eventbus.Header{Key: p[0], Value: p[1]}
	}
	return h, nil
}

// pruneBatch bounds one DELETE of PruneEvents, so that pruning a large
// backlog holds no lock for long.
const pruneBatch = 10_000

// PruneEvents deletes the outbox records published before cutoff and the
// processed-event records (of every consumer group) written before it,
// and returns how many of each it deleted. Unpublished records are never
// deleted. Keep cutoff older than the broker's retention and the longest
// a consumer may lag: an event redelivered after its record was pruned
// would be handled again (the worker's version check still keeps it from
// being applied twice).
func (d *DB) PruneEvents(ctx context.Context, cutoff time.Time) (outbox, processed int64, err error) {
	for {
		n, err := d.q.PrunePublished(ctx, db.PrunePublishedParams{Cutoff: cutoff, RowLimit: pruneBatch})
		if err != nil {
			return outbox, processed, fmt.Errorf("prune outbox: %w", err)
		}
		if outbox += n; n < pruneBatch {
			break
		}
	}
	for {
		n, err := d.q.PruneProcessed(ctx, db.PruneProcessedParams{Cutoff: cutoff, RowLimit: pruneBatch})
		if err != nil {
			return outbox, processed, fmt.Errorf("prune processed events: %w", err)
		}
		if processed += n; n < pruneBatch {
			break
		}
	}
	return outbox, processed, nil
}
