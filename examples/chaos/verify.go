package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/storage/postgres"
	"github.com/salesflow/salesflow/worker"
)

// Check is the result of one check.
type Check struct {
	Name       string   `json:"name"`
	Checked    int      `json:"checked"` // how many things it looked at
	Failures   int      `json:"failures"`
	Violations []string `json:"violations,omitempty"` // the first ones
}

func (c *Check) fail(format string, args ...any) {
	c.Failures++
	if len(c.Violations) < 20 {
		c.Violations = append(c.Violations, fmt.Sprintf(format, args...))
	}
}

// Drain is how the backlog emptied after the faults.
type Drain struct {
	Drained          bool   `json:"drained"`
	AfterLastFaultMS int64  `json:"afterLastFaultMs"` // from the end of the last fault to drained
	AfterWorkloadMS  int64  `json:"afterWorkloadMs"`  // from the last acknowledged answer to drained
	Backlog          int64  `json:"backlog"`          // outbox records unpublished at the end
	Unapplied        int64  `json:"unapplied"`        // outbox records without a processed-event row
	Lag              int64  `json:"lag"`              // consumer group lag
	LagErr           string `json:"lagErr,omitempty"`
	// BrokerRecoveries lists the times the run restarted its own broker
	// because the consumer group stayed stuck in a rebalance with events
	// waiting (a kfake coordinator livelock: every member waits in
	// JoinGroup and is never answered); an operator's remedy, not a fault.
	BrokerRecoveries []string `json:"brokerRecoveries,omitempty"`
}

// stuckRebalance is how long the group may stay in a rebalance, with
// events waiting, before the run restarts its own broker.
const stuckRebalance = 90 * time.Second

// drain waits until every outbox record is published and applied and the
// consumer group has committed everything.
func (d *deployment) drain(ctx context.Context, timeout time.Duration) (Drain, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return Drain{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var adm *kadm.Client
	if cl, err := kgo.NewClient(kgo.SeedBrokers(d.brokers...)); err == nil {
		defer cl.Close()
		adm = kadm.NewClient(cl)
	}
	deadline := time.Now().Add(timeout)
	var dr Drain
	// Stuck: nothing left to publish or consume, yet events unapplied (they
	// went to the dead-letter topics); waiting longer changes nothing.
	stuckSince, stuckAt := time.Time{}, int64(-1)
	lastLog := time.Now()
	var rebalancingSince time.Time
	for {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := conn.QueryRow(qctx, `SELECT
			(SELECT count(*) FROM outbox WHERE published_at IS NULL),
			(SELECT count(*) FROM outbox o WHERE NOT EXISTS (
				SELECT 1 FROM processed_events p WHERE p.consumer_group = $1 AND p.event_id = o.event_id))`,
			d.group).Scan(&dr.Backlog, &dr.Unapplied)
		cancel()
		if err != nil {
			if conn.IsClosed() {
				if conn, err = d.connect(ctx); err != nil {
					return dr, err
				}
			}
			continue
		}
		dr.LagErr = ""
		state := "?"
		if adm != nil {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			lag, st, err := groupLag(lctx, adm, d.group)
			cancel()
			dr.Lag, state = lag, st
			if err != nil {
				dr.LagErr = err.Error()
			}
		}
		if rebalancing := strings.Contains(state, "Rebalance") && (dr.Lag > 0 || dr.Unapplied > 0); !rebalancing {
			rebalancingSince = time.Time{}
		} else if rebalancingSince.IsZero() {
			rebalancingSince = time.Now()
		} else if d.broker != nil && time.Since(rebalancingSince) > stuckRebalance && len(dr.BrokerRecoveries) < 3 {
			note := fmt.Sprintf("group stuck %v in %s with lag %d: broker SIGKILLed and started again", time.Since(rebalancingSince).Round(time.Second), state, dr.Lag)
			d.logf("drain: %s", note)
			dr.BrokerRecoveries = append(dr.BrokerRecoveries, note)
			d.broker.stop(syscall.SIGKILL, time.Second)
			if err := d.broker.start(); err != nil {
				return dr, err
			}
			if _, err := d.broker.waitUp(ctx, false, time.Minute); err != nil {
				return dr, err
			}
			rebalancingSince, stuckSince = time.Time{}, time.Now()
		}
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			d.logf("draining: backlog %d, unapplied %d, lag %d, group %s %s", dr.Backlog, dr.Unapplied, dr.Lag, state, dr.LagErr)
		}
		if dr.Backlog == 0 && dr.Unapplied == 0 && dr.Lag == 0 && dr.LagErr == "" {
			dr.Drained = true
			return dr, nil
		}
		if dr.Backlog == 0 && dr.Lag == 0 && dr.LagErr == "" && dr.Unapplied == stuckAt {
			if time.Since(stuckSince) > 30*time.Second {
				return dr, nil
			}
		} else {
			stuckSince, stuckAt = time.Now(), dr.Unapplied
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return dr, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (d *deployment) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, d.dbURL)
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dbSale is a sale as the database holds it.
type dbSale struct {
	status  string
	version int64
	seller  string
	paid    bool
	notes   string
	items   map[uuid.UUID]int64
}

// Events is what happened to the events.
type Events struct {
	Outbox              int   `json:"outbox"`              // events written
	Processed           int   `json:"processed"`           // processed-event rows of the group
	InTopics            int   `json:"inTopics"`            // records in the sale topics
	DuplicatesPublished int   `json:"duplicatesPublished"` // records beyond the first of their event id
	DeliveriesHandled   int64 `json:"deliveriesHandled"`   // deliveries the workers acknowledged (≥, from /metrics)
	DuplicatesSkipped   int64 `json:"duplicatesSkipped"`   // deliveries handled minus events processed (≥)
	HandlerErrors       int64 `json:"handlerErrors"`       // handler calls that failed and were retried (≥)
	DeadLetters         int64 `json:"deadLetters"`         // records in the dead-letter topics
}

// verify runs every check on the quiet deployment.
func (d *deployment) verify(ctx context.Context, w *workload, sc *scraper) ([]Check, Events, error) {
	var ev Events
	db, err := postgres.Open(ctx, d.dbURL, postgres.WithMaxConns(2))
	if err != nil {
		return nil, ev, err
	}
	defer db.Close()
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, ev, err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var checks []Check

	// DESIGN §6 through the checker.
	inv := Check{Name: "DESIGN §6 invariants 1-6 (worker.Check)"}
	vs, err := worker.Check(ctx, worker.Sources{Sales: db.Sales(), Inventory: db.Inventory(), Analytics: db.Analytics(), Progress: db.Progress})
	if err != nil {
		return nil, ev, fmt.Errorf("worker.Check: %w", err)
	}
	for _, v := range vs {
		inv.fail("%s", v)
	}

	// Faults are not the client's fault, nor a bug: the server says
	// "unavailable" (503, Retry-After) when its database or broker is
	// away, and never "internal error".
	internal := Check{Name: "no HTTP 500 (internal error) answered; outages are 503s"}
	w.mu.Lock()
	for _, n := range w.statuses {
		internal.Checked += int(n)
	}
	if n := w.statuses[http.StatusInternalServerError]; n > 0 {
		internal.fail("%d answers were 500; the server log has their errors (\"unexpected error\")", n)
	}
	w.mu.Unlock()
	checks = append(checks, internal)

	// The database's sales, lines, events and movements.
	sales := map[uuid.UUID]*dbSale{}
	rows, _ := conn.Query(ctx, `SELECT id, status, version, seller_id, paid_at IS NOT NULL, coalesce(notes, '') FROM sales`)
	for rows.Next() {
		var id uuid.UUID
		s := &dbSale{items: map[uuid.UUID]int64{}}
		if err := rows.Scan(&id, &s.status, &s.version, &s.seller, &s.paid, &s.notes); err != nil {
			return nil, ev, err
		}
		sales[id] = s
	}
	if err := rows.Err(); err != nil {
		return nil, ev, fmt.Errorf("sales: %w", err)
	}
	inv.Checked = len(sales)
	checks = append(checks, inv)
	rows, _ = conn.Query(ctx, `SELECT sale_id, book_id, sum(quantity)::bigint FROM sale_items GROUP BY 1, 2`)
	for rows.Next() {
		var sid, bid uuid.UUID
		var q int64
		if err := rows.Scan(&sid, &bid, &q); err != nil {
			return nil, ev, err
		}
		if s := sales[sid]; s != nil {
			s.items[bid] = q
		}
	}
	if err := rows.Err(); err != nil {
		return nil, ev, fmt.Errorf("sale items: %w", err)
	}
	type ver struct {
		sale    uuid.UUID
		version int64
	}
	events := map[ver]map[string]int{} // topic -> rows
	var eventIDs []string
	rows, _ = conn.Query(ctx, `SELECT event_id::text, key, (convert_from(value, 'UTF8')::jsonb->>'version')::bigint, topic FROM outbox`)
	for rows.Next() {
		var id, key, topic string
		var v int64
		if err := rows.Scan(&id, &key, &v, &topic); err != nil {
			return nil, ev, err
		}
		sid, err := uuid.Parse(key)
		if err != nil {
			return nil, ev, fmt.Errorf("outbox key %q: %w", key, err)
		}
		k := ver{sid, v}
		if events[k] == nil {
			events[k] = map[string]int{}
		}
		events[k][strings.TrimPrefix(topic, d.prefix)]++
		eventIDs = append(eventIDs, id)
	}
	if err := rows.Err(); err != nil {
		return nil, ev, fmt.Errorf("outbox: %w", err)
	}
	ev.Outbox = len(eventIDs)
	type mv struct {
		sale, book uuid.UUID
		typ        string
	}
	moves := map[mv]int{}
	rows, _ = conn.Query(ctx, `SELECT sale_id, book_id, type, count(*) FROM stock_movements WHERE sale_id IS NOT NULL GROUP BY 1, 2, 3`)
	for rows.Next() {
		var k mv
		var n int
		if err := rows.Scan(&k.sale, &k.book, &k.typ, &n); err != nil {
			return nil, ev, err
		}
		moves[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, ev, fmt.Errorf("movements: %w", err)
	}

	// Every acknowledged sale exists, as acknowledged or further along.
	acked := Check{Name: "every acknowledged sale exists with at least its acknowledged status"}
	ackedChanges := 0
	w.led.mu.Lock()
	recs := make([]*saleRec, 0, len(w.led.sales))
	for _, r := range w.led.sales {
		recs = append(recs, r)
	}
	ledgerKeys := map[string]uuid.UUID{}
	for k, v := range w.led.keys {
		ledgerKeys[k] = v
	}
	anomalies := slices.Clone(w.led.anomalies)
	w.led.mu.Unlock()
	for _, r := range recs {
		acked.Checked++
		s := sales[r.ID]
		if s == nil {
			acked.fail("sale %s (key %s) acknowledged, not in the database", r.ID, r.Key)
			continue
		}
		if r.Seller != "" && s.seller != r.Seller {
			acked.fail("sale %s: seller %q, acknowledged %q", r.ID, s.seller, r.Seller)
		}
		if !mapsEqual(s.items, r.Items) {
			acked.fail("sale %s: lines %v, acknowledged %v", r.ID, s.items, r.Items)
		}
		for _, a := range r.Acks {
			if a.Op != opCreate {
				ackedChanges++
			}
			switch {
			case s.version < a.Version:
				acked.fail("sale %s: version %d in the database, %s acknowledged version %d", r.ID, s.version, a.Op, a.Version)
			case s.version == a.Version && s.status != a.Status:
				acked.fail("sale %s: %s at version %d, acknowledged %s", r.ID, s.status, s.version, a.Status)
			case a.Status == "CANCELLED" && s.status != "CANCELLED",
				a.Status == "COMPLETED" && !s.paid:
				acked.fail("sale %s: %s (paid %t), acknowledged %s", r.ID, s.status, s.paid, a.Status)
			}
		}
	}
	for _, a := range anomalies {
		acked.fail("answer: %s", a)
	}
	checks = append(checks, acked)

	// Every committed change has exactly one event, on the right topic.
	one := Check{Name: "every committed status change has exactly one event (outbox rows per sale and version)"}
	for id, s := range sales {
		for v := int64(1); v <= s.version; v++ {
			one.Checked++
			want := wantTopic(s, v)
			got := events[ver{id, v}]
			if len(got) != 1 || got[want] != 1 {
				one.fail("sale %s version %d: events %v, want one on %s", id, v, got, want)
			}
		}
	}
	for k, got := range events {
		if s := sales[k.sale]; s == nil || k.version > s.version || k.version < 1 {
			one.fail("event for sale %s version %d, which the database does not have: %v", k.sale, k.version, got)
		}
	}
	checks = append(checks, one)
	ackedEvents := Check{Name: "every acknowledged status change has exactly one event", Checked: ackedChanges}
	for _, r := range recs {
		for _, a := range r.Acks {
			if got := events[ver{r.ID, a.Version}]; len(got) != 1 || sum(got) != 1 {
				ackedEvents.fail("sale %s version %d (%s, key %s): events %v", r.ID, a.Version, a.Op, a.Key, got)
			}
		}
	}
	checks = append(checks, ackedEvents)

	// Every event was applied exactly once.
	applied := Check{Name: "every event applied exactly once (processed_events = outbox)", Checked: len(eventIDs)}
	var unapplied, orphans int
	if err := conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM processed_events WHERE consumer_group = $1),
		(SELECT count(*) FROM outbox o WHERE NOT EXISTS (
			SELECT 1 FROM processed_events p WHERE p.consumer_group = $1 AND p.event_id = o.event_id)),
		(SELECT count(*) FROM processed_events p WHERE p.consumer_group = $1 AND NOT EXISTS (
			SELECT 1 FROM outbox o WHERE o.event_id = p.event_id))`, d.group).Scan(&ev.Processed, &unapplied, &orphans); err != nil {
		return nil, ev, fmt.Errorf("processed events: %w", err)
	}
	if unapplied > 0 {
		applied.fail("%d events never applied", unapplied)
	}
	if orphans > 0 {
		applied.fail("%d processed events that are not in the outbox", orphans)
	}
	checks = append(checks, applied)

	// Every change has exactly its effect: stock leaves once per completed
	// sale and book, and comes back once per returned one.
	effects := Check{Name: "every status change has exactly one effect (SALE/RETURN movements per sale and book)"}
	ackedIDs := map[uuid.UUID]bool{}
	for _, r := range recs {
		ackedIDs[r.ID] = true
	}
	ackedEffects := 0
	for id, s := range sales {
		for b := range s.items {
			effects.Checked++
			if ackedIDs[id] {
				ackedEffects++
			}
			wantSale, wantReturn := 0, 0
			if s.paid {
				wantSale = 1
				if s.status == "CANCELLED" {
					wantReturn = 1
				}
			}
			if got := moves[mv{id, b, "SALE"}]; got != wantSale {
				effects.fail("sale %s (%s, paid %t) book %s: %d SALE movements, want %d", id, s.status, s.paid, b, got, wantSale)
			}
			if got := moves[mv{id, b, "RETURN"}]; got != wantReturn {
				effects.fail("sale %s (%s) book %s: %d RETURN movements, want %d", id, s.status, b, got, wantReturn)
			}
		}
	}
	for k := range moves {
		if s := sales[k.sale]; s == nil || s.items[k.book] == 0 {
			effects.fail("%s movement of sale %s for book %s, which the sale does not have", k.typ, k.sale, k.book)
		}
	}
	checks = append(checks, effects)

	// No idempotency key produced two sales.
	keys := Check{Name: "no idempotency key produced two sales"}
	byKey := map[string][]uuid.UUID{}
	for id, s := range sales {
		if k, ok := strings.CutPrefix(s.notes, "chaos-key:"); ok {
			byKey[k] = append(byKey[k], id)
		}
	}
	unackedCommitted := 0
	for k, ids := range byKey {
		keys.Checked++
		if len(ids) > 1 {
			keys.fail("key %s: %d sales %v", k, len(ids), ids)
		}
		if got, ok := ledgerKeys[k]; !ok {
			unackedCommitted++
		} else if !slices.Contains(ids, got) {
			keys.fail("key %s: acknowledged sale %s, database has %v", k, got, ids)
		}
	}
	checks = append(checks, keys)

	// The broker kept every published event, and dead-lettered none.
	topics := make([]string, 0, 3)
	for _, t := range worker.Topics(d.prefix) {
		topics = append(topics, t)
	}
	kept := Check{Name: "every published event is in its topic; no dead letters"}
	byID, total, err := topicCounts(ctx, d.brokers, topics)
	if err != nil {
		kept.fail("read topics: %v", err)
	} else {
		ev.InTopics = total
		ev.DuplicatesPublished = total - len(byID)
		var published []string
		rows, _ = conn.Query(ctx, `SELECT event_id::text FROM outbox WHERE published_at IS NOT NULL`)
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return nil, ev, err
			}
			published = append(published, id)
		}
		if err := rows.Err(); err != nil {
			return nil, ev, err
		}
		kept.Checked = len(published)
		for _, id := range published {
			if byID[id] == 0 {
				kept.fail("event %s published, not in the topics", id)
			}
		}
	}
	dlq := make([]string, len(topics))
	for i, t := range topics {
		dlq[i] = t + eventbus.DeadLetterSuffix
	}
	if ev.DeadLetters, err = recordCount(ctx, d.brokers, dlq); err != nil {
		kept.fail("read dead-letter topics: %v", err)
	} else if ev.DeadLetters > 0 {
		dead, err := deadLetters(ctx, d.brokers, dlq)
		if err != nil {
			kept.fail("%d messages dead-lettered (%v)", ev.DeadLetters, err)
		}
		for _, m := range dead {
			kept.fail("dead-lettered: %s", m)
		}
	}
	checks = append(checks, kept)

	// The workload got only the answers it expected.
	w.mu.Lock()
	odd := Check{Name: "no unexpected final answers (4xx the workload did not provoke)"}
	for _, st := range w.ops {
		odd.Checked += int(st.Attempted)
	}
	for _, s := range w.samples {
		odd.fail("%s", s)
	}
	w.mu.Unlock()
	checks = append(checks, odd)

	ev.DeliveriesHandled = sc.total("salesflow_events_handled_total")
	ev.DuplicatesSkipped = max(ev.DeliveriesHandled-int64(ev.Processed), 0)
	ev.HandlerErrors = sc.total("salesflow_event_errors_total")
	d.unackedCommitted = unackedCommitted
	return checks, ev, nil
}

// wantTopic is the event type of a sale's version v.
func wantTopic(s *dbSale, v int64) string {
	switch {
	case v == 1:
		return "sale.created"
	case v == 2 && s.paid:
		return "sale.completed"
	default:
		return "sale.cancelled"
	}
}

func mapsEqual(a, b map[uuid.UUID]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
