package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/internal/harness"
)

// The summary over a large history: summarySales completed sales of 1 to
// 3 lines, paid over the last 90 days, are written straight into a fresh
// database with the daily rollups the worker would have kept for them
// (zone UTC, the server's default TIME_ZONE). Then GET /sales/summary for
// the last 30 days, which the server answers from the rollups, is timed
// against the plain aggregate over the sales table: the three queries the
// summary ran before the rollups (storage/postgres/queries/summary.sql),
// in one snapshot. Both are warmed once, then timed five times; the
// medians are compared.

// SummaryResult is the summary phase.
type SummaryResult struct {
	Sales          int     `json:"sales"`
	SeedSeconds    float64 `json:"seedSeconds"`
	RollupsMs      float64 `json:"rollupsMs"` // GET /sales/summary, HTTP included
	PlainMs        float64 `json:"plainMs"`   // the plain aggregate, in the database
	Speedup        float64 `json:"speedup"`   // PlainMs / RollupsMs
	SalesInRange   int64   `json:"salesInRange"`
	RollupsAgree   bool    `json:"rollupsAgree"` // the API's totalSales equals the plain count
	RangeStartDate string  `json:"startDate"`
	RangeEndDate   string  `json:"endDate"`
}

func summarySeed(n int) []string {
	return []string{
		// The rows are consistent by construction: skip the foreign-key
		// triggers (superuser only; without the right, they run).
		`DO $$ BEGIN SET session_replication_role = replica; EXCEPTION WHEN insufficient_privilege THEN NULL; END $$`,
		`INSERT INTO books (id, title, author, price, available, created_at, updated_at)
		 SELECT md5(i::text)::uuid, 'Book ' || i, 'Author', 1999, true, now(), now() FROM generate_series(1, 1000) i`,
		`INSERT INTO stock_levels (book_id, on_hand, reserved, min_stock)
		 SELECT md5(i::text)::uuid, 1000000000, 0, 0 FROM generate_series(1, 1000) i`,
		// Ids and payment times ascend together, as they do in a real
		// history, which keeps the inserts into the indexes sequential.
		fmt.Sprintf(`INSERT INTO sales (id, status, version, seller_id, subtotal, discount, tax, total, currency,
		     payment_method, paid_at, created_at, updated_at)
		 SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'COMPLETED', 2, 'seed',
		     3998 * (1 + i %% 3), 0, 0, 3998 * (1 + i %% 3), 'USD', 'CASH', p, p - interval '1 minute', p
		 FROM (SELECT i, (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - interval '90 days'
		              + (i::bigint * (90 * 86400 - 2) / %d) * interval '1 second' AS p
		       FROM generate_series(1, %d) i) s`, n, n),
		fmt.Sprintf(`INSERT INTO sale_items (sale_id, line_no, book_id, quantity, unit_price, discount, subtotal, net)
		 SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, k,
		     md5((((i * 31 + k * 337) %% 1000) + 1)::text)::uuid, 2, 1999, 0, 3998, 3998
		 FROM generate_series(1, %d) i, generate_series(0, 2) k WHERE k <= i %% 3`, n),
		`INSERT INTO daily_sales (zone, day, sales, revenue, net_revenue, tax, discount, items)
		 SELECT 'UTC', (s.paid_at AT TIME ZONE 'UTC')::date, count(*), sum(s.total), sum(s.subtotal - s.discount),
		        sum(s.tax), sum(s.discount + i.line_discount), sum(i.items)
		 FROM sales s JOIN (SELECT sale_id, sum(quantity) AS items, sum(discount) AS line_discount FROM sale_items GROUP BY sale_id) i
		   ON i.sale_id = s.id
		 WHERE s.status = 'COMPLETED'
		 GROUP BY 2`,
		`INSERT INTO daily_book_sales (zone, day, book_id, units, net_revenue)
		 SELECT 'UTC', (s.paid_at AT TIME ZONE 'UTC')::date, i.book_id, sum(i.quantity), sum(i.net)
		 FROM sales s JOIN sale_items i ON i.sale_id = s.id
		 WHERE s.status = 'COMPLETED'
		 GROUP BY 2, 3`,
		`RESET session_replication_role`,
		`VACUUM ANALYZE`,
	}
}

// The plain aggregate: storage/postgres/queries/summary.sql as it was
// before the rollups.
const (
	plainTotals = `WITH paid AS (
    SELECT id, subtotal, discount, tax, total FROM sales
    WHERE status = 'COMPLETED' AND paid_at >= $1 AND paid_at < $2
), lines AS (
    SELECT coalesce(sum(i.quantity), 0)::bigint AS items, coalesce(sum(i.discount), 0)::bigint AS line_discount
    FROM sale_items i JOIN paid p ON p.id = i.sale_id
)
SELECT count(*), coalesce(sum(total), 0)::bigint, coalesce(sum(subtotal - discount), 0)::bigint,
       coalesce(sum(tax), 0)::bigint, coalesce(sum(discount), 0)::bigint,
       (SELECT line_discount FROM lines), (SELECT items FROM lines)
FROM paid`
	plainByDay = `SELECT width_bucket(paid_at, $3::timestamptz[])::integer AS day, count(*), sum(total)::bigint, sum(subtotal - discount)::bigint
FROM sales
WHERE status = 'COMPLETED' AND paid_at >= $1 AND paid_at < $2
GROUP BY day ORDER BY day`
	plainTopBooks = `SELECT i.book_id, sum(i.quantity)::bigint AS units_sold, sum(i.net)::bigint AS net_revenue
FROM sale_items i JOIN sales s ON s.id = i.sale_id
WHERE s.status = 'COMPLETED' AND s.paid_at >= $1 AND s.paid_at < $2
GROUP BY i.book_id
ORDER BY units_sold DESC, net_revenue DESC, i.book_id
LIMIT 10`
)

func (b *bench) runSummary(ctx context.Context) (*SummaryResult, error) {
	dbURL, err := b.freshDatabase(ctx, "sfbench_summary")
	if err != nil {
		return nil, err
	}
	if err := b.migrate(ctx, dbURL); err != nil {
		return nil, err
	}
	res := &SummaryResult{Sales: b.summarySales}
	t := time.Now()
	if err := b.execSQL(ctx, dbURL, summarySeed(b.summarySales)...); err != nil {
		return nil, fmt.Errorf("seed the summary's history: %w", err)
	}
	res.SeedSeconds = round1(time.Since(t).Seconds())
	b.logf("summary: %d sales and their rollups written in %.1f s", b.summarySales, res.SeedSeconds)

	today := time.Now().UTC().Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, -30), today // [from, to): the 30 days before today
	res.RangeStartDate, res.RangeEndDate = from.Format(time.DateOnly), to.AddDate(0, 0, -1).Format(time.DateOnly)

	// The plain aggregate, in one snapshot.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	days := make([]time.Time, 0, 31)
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	plain := func() (time.Duration, int64, error) {
		start := time.Now()
		var count int64
		err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			var a, c, d, e, f, g int64
			if err := tx.QueryRow(ctx, plainTotals, from, to).Scan(&count, &a, &c, &d, &e, &f, &g); err != nil {
				return err
			}
			for _, q := range []struct {
				sql  string
				args []any
			}{{plainByDay, []any{from, to, days}}, {plainTopBooks, []any{from, to}}} {
				rows, err := tx.Query(ctx, q.sql, q.args...)
				if err != nil {
					return err
				}
				for rows.Next() {
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
			}
			return nil
		})
		return time.Since(start), count, err
	}

	// The server answers from the rollups.
	port, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	secret := harness.RandomSecret()
	srv, err := b.start(b.bins.server, "server-summary.log", []string{
		"DATABASE_URL=" + dbURL, "JWT_SECRET=" + secret, "PORT=" + itoa(port), "KAFKA_BROKERS=",
	}, nil, "serve")
	if err != nil {
		return nil, err
	}
	defer srv.Stop(30 * time.Second)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := harness.WaitReady(ctx, base, srv, time.Minute); err != nil {
		return nil, err
	}
	admin, err := harness.MintToken(ctx, b.bins.server, append(os.Environ(), "JWT_SECRET="+secret), "admin", "bench-admin")
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: time.Minute}
	var apiTotal int64
	api := func() (time.Duration, error) {
		u := fmt.Sprintf("%s/sales/summary?startDate=%s&endDate=%s", base, res.RangeStartDate, res.RangeEndDate)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var sum struct {
			TotalSales int64 `json:"totalSales"`
		}
		err = json.NewDecoder(resp.Body).Decode(&sum)
		took := time.Since(start)
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET /sales/summary: %s", resp.Status)
		}
		apiTotal = sum.TotalSales
		return took, err
	}

	var rollupTimes, plainTimes []time.Duration
	for i := range 6 { // the first of each warms the caches
		d, err := api()
		if err != nil {
			return nil, err
		}
		p, count, err := plain()
		if err != nil {
			return nil, fmt.Errorf("plain aggregate: %w", err)
		}
		res.SalesInRange = count
		if i > 0 {
			rollupTimes, plainTimes = append(rollupTimes, d), append(plainTimes, p)
		}
	}
	slices.Sort(rollupTimes)
	slices.Sort(plainTimes)
	res.RollupsMs = msOf(rollupTimes[len(rollupTimes)/2])
	res.PlainMs = msOf(plainTimes[len(plainTimes)/2])
	if res.RollupsMs > 0 {
		res.Speedup = round1(res.PlainMs / res.RollupsMs)
	}
	res.RollupsAgree = apiTotal == res.SalesInRange
	b.logf("summary of %s..%s (%d sales): rollups %.2f ms (over HTTP), plain aggregate %.1f ms: %.0f× faster; totals agree: %v",
		res.RangeStartDate, res.RangeEndDate, res.SalesInRange, res.RollupsMs, res.PlainMs, res.Speedup, res.RollupsAgree)
	return res, nil
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
