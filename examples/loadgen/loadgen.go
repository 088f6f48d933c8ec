package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is one run of the load generator.
type Config struct {
	BaseURL    string // the server; ignored with ServerBin
	AdminToken string // role admin: makes the catalog, changes statuses, polls movements
	UserToken  string // role user: creates the sales; empty: AdminToken

	Clients  int           // concurrent clients, each running one lifecycle at a time
	Duration time.Duration // measured window, after Warmup
	Warmup   time.Duration // load before measuring
	Count    int64         // at most this many lifecycles in all, warm-up included; 0: no bound but Duration
	Rate     float64       // lifecycles per second over all clients; 0: as fast as they go

	Books      int     // catalog size
	Stock      int64   // initial stock of each book
	CancelRate float64 // share of sales cancelled while pending
	ReturnRate float64 // share of sales completed, then cancelled (returned)

	SampleEvery  int           // poll the projection of every n-th completion; 0: none
	PollInterval time.Duration // between polls of one sampled completion
	DrainTimeout time.Duration // how long to wait for the projections after the load

	ServerPID int      // read the server's CPU and memory from /proc/<pid>
	ServerBin string   // start this server binary (serve, on a free port) and stop it at the end
	ServerEnv []string // extra environment of the started server
	ServerLog io.Writer

	KafkaBrokers  []string // also read the consumer group's committed lag from these brokers
	ConsumerGroup string

	Seed     uint64    // of the random choices; 0: random
	Progress io.Writer // progress lines and the summary; nil: none
}

// Bounds that keep a run finite.
const (
	maxDuration = time.Hour
	maxCount    = 10_000_000
	maxClients  = 1024
	maxBooks    = 100_000
)

func (c *Config) check() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Clients < 1 || c.Clients > maxClients {
		bad("clients %d: want 1 to %d", c.Clients, maxClients)
	}
	if c.Duration < 0 || c.Duration > maxDuration {
		bad("duration %v: want at most %v", c.Duration, maxDuration)
	}
	if c.Duration == 0 && c.Count == 0 {
		bad("give a duration or a count")
	}
	if c.Duration == 0 {
		c.Duration = maxDuration
	}
	if c.Warmup < 0 || c.Warmup > 10*time.Minute {
		bad("warmup %v: want 0 to 10m", c.Warmup)
	}
	if c.Count < 0 || c.Count > maxCount {
		bad("count %d: want 0 to %d", c.Count, maxCount)
	}
	if c.Rate < 0 {
		bad("rate %v: want 0 or more", c.Rate)
	}
	if c.Books < 5 || c.Books > maxBooks {
		bad("books %d: want 5 to %d", c.Books, maxBooks)
	}
	if c.Stock < 1 {
		bad("stock %d: want at least 1", c.Stock)
	}
	if c.CancelRate < 0 || c.ReturnRate < 0 || c.CancelRate+c.ReturnRate > 1 {
		bad("cancel rate %v and return rate %v: want shares adding up to at most 1", c.CancelRate, c.ReturnRate)
	}
	if c.SampleEvery < 0 {
		bad("sample-every %d: want 0 or more", c.SampleEvery)
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Millisecond
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	for _, b := range c.KafkaBrokers {
		host := b
		if h, _, ok := strings.Cut(b, ":"); ok && !strings.HasPrefix(b, "[") {
			host = h
		} else if u, err := url.Parse("//" + b); err == nil {
			host = u.Hostname()
		}
		if !isLoopbackHost(host) {
			bad("kafka broker %q: loopback only", b)
		}
	}
	if c.ConsumerGroup == "" {
		c.ConsumerGroup = "analytics-group"
	}
	if c.ServerBin == "" {
		if c.AdminToken == "" {
			bad("an admin token is needed (-admin-token or ADMIN_TOKEN), or a server to start (-server)")
		}
		if _, err := checkLoopback(c.BaseURL); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// book is a catalog entry.
type book struct {
	id    string
	price int64 // cents
}

// run is one load generation: it starts the server if asked, makes the
// catalog, runs the lifecycles, waits for the projections and reports.
type run struct {
	cfg      Config
	api      *api
	out      io.Writer
	books    []book
	runID    string
	pid      int
	admin    string
	seller   string
	kadm     *kadm.Client
	measured atomic.Bool // false during the warm-up

	// counters over the whole load
	started, created, completed, cancelled, returned, finished, createFailed, changeFailed, retries atomic.Int64

	lagMu     sync.Mutex
	lagTotal  hist // completion→projection, as the load generator saw it
	lagServer hist // from the server's stamps
	lagWindow hist
	sampled   atomic.Int64
	observed  atomic.Int64
	timedOut  atomic.Int64
	skipped   atomic.Int64
	polls     atomic.Int64
	pollers   sync.WaitGroup
	pollSlots chan struct{}

	errMu  sync.Mutex
	errors map[string]int
}

// Run runs cfg and returns its report; progress lines and the summary go
// to cfg.Progress.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	out := cfg.Progress
	if out == nil {
		out = io.Discard
	}
	r := &run{cfg: cfg, out: out, errors: map[string]int{}, pollSlots: make(chan struct{}, max(8, 2*cfg.Clients))}
	r.runID = strings.ToLower(rand.Text()[:8])
	r.admin, r.seller = cfg.AdminToken, cfg.UserToken
	r.pid = cfg.ServerPID

	if cfg.ServerBin != "" {
		logw := cfg.ServerLog
		if logw == nil {
			logw = io.Discard
		}
		srv, err := startServer(ctx, cfg.ServerBin, cfg.ServerEnv, logw, 60*time.Second)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := srv.Stop(30 * time.Second); err != nil {
				fmt.Fprintf(out, "loadgen: server: %v\n", err)
			}
		}()
		r.cfg.BaseURL, r.pid = srv.baseURL, srv.PID()
		if r.admin == "" {
			r.admin = srv.token
		}
		if r.admin == "" {
			tok, err := mintToken(ctx, cfg.ServerBin, cfg.ServerEnv, "admin", "loadgen-admin")
			if err != nil {
				return nil, err
			}
			r.admin = tok
		}
		if r.seller == "" && srv.token == "" {
			// The secret is in the environment: sell as a user.
			if tok, err := mintToken(ctx, cfg.ServerBin, cfg.ServerEnv, "user", "loadgen-seller"); err == nil {
				r.seller = tok
			}
		}
		fmt.Fprintf(out, "loadgen: started %s (pid %d) on %s\n", cfg.ServerBin, r.pid, r.cfg.BaseURL)
	}
	if r.seller == "" {
		r.seller = r.admin
	}
	base, err := checkLoopback(r.cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	r.cfg.BaseURL = strings.TrimSuffix(base.String(), "/")
	conns := cfg.Clients + cap(r.pollSlots) + 4
	r.api = &api{
		base: r.cfg.BaseURL,
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
		}},
		rec: newRecorder(),
	}
	defer r.api.hc.CloseIdleConnections()
	if len(cfg.KafkaBrokers) > 0 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.KafkaBrokers...))
		if err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		defer cl.Close()
		r.kadm = kadm.NewClient(cl)
	}
	return r.run(ctx)
}

func (r *run) run(ctx context.Context) (*Report, error) {
	rep := &Report{BaseURL: r.cfg.BaseURL, StartedAt: time.Now().UTC(), Config: RunConfig{
		Clients: r.cfg.Clients, DurationSec: r.cfg.Duration.Seconds(), WarmupSec: r.cfg.Warmup.Seconds(),
		Count: r.cfg.Count, Rate: r.cfg.Rate, Books: r.cfg.Books, CancelRate: r.cfg.CancelRate,
		ReturnRate: r.cfg.ReturnRate, SampleEvery: r.cfg.SampleEvery, PollIntervalMs: ms(r.cfg.PollInterval),
		Procs: runtime.GOMAXPROCS(0),
	}}
	t := time.Now()
	if err := r.makeCatalog(ctx); err != nil {
		return nil, err
	}
	rep.CatalogSeconds = round2(time.Since(t).Seconds())
	fmt.Fprintf(r.out, "loadgen: catalog of %d books in %.1f s (run %s)\n", len(r.books), rep.CatalogSeconds, r.runID)
	r.api.rec.reset()

	obs := newObserver(r)
	obs.sample(ctx) // the baseline of every delta
	before := obs.last
	obs.tickPrev = before

	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	loadStart := time.Now()
	measureStart := loadStart.Add(r.cfg.Warmup)
	var warm snapshot // counters when the measured window began
	if r.cfg.Warmup == 0 {
		r.measured.Store(true)
		warm = r.snapshot()
	}
	var clients sync.WaitGroup
	for i := range r.cfg.Clients {
		clients.Go(func() { r.client(ctx, i, loadStart, stop) })
	}
	clientsDone := make(chan struct{})
	go func() { clients.Wait(); close(clientsDone) }()

	// Each second: the progress line and the timeline; at the end of the
	// warm-up, the start of the measured window; at its end, stop.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.NewTimer(r.cfg.Warmup + r.cfg.Duration)
	defer deadline.Stop()
	var warmup <-chan time.Time
	if r.cfg.Warmup > 0 {
		wt := time.NewTimer(r.cfg.Warmup)
		defer wt.Stop()
		warmup = wt.C
	}
	var measuredObs obsPoint
	if r.cfg.Warmup == 0 {
		measuredObs = before
	}
	interrupted := false
	phase := "load"
	if r.cfg.Warmup > 0 {
		phase = "warmup"
	}
	var loadEnd time.Time
loop:
	for {
		select {
		case <-warmup:
			r.api.rec.reset()
			r.resetLag()
			warm = r.snapshot()
			obs.sample(ctx)
			measuredObs = obs.last
			r.measured.Store(true)
			phase = "load"
		case <-tick.C:
			rep.Timeline = append(rep.Timeline, obs.second(ctx, phase, measureStart))
		case <-deadline.C:
			halt()
		case <-ctx.Done():
			if !interrupted {
				fmt.Fprintln(r.out, "loadgen: interrupted: finishing the lifecycles in flight")
				interrupted = true
			}
			halt()
		case <-clientsDone:
			loadEnd = time.Now()
			break loop
		}
	}
	if !r.measured.Load() { // stopped within the warm-up: measure what there was
		warm, measuredObs, measureStart = snapshot{}, before, loadStart
	}
	end := r.snapshot()
	rep.LoadSeconds = round2(loadEnd.Sub(measureStart).Seconds())
	obs.sample(ctx)
	afterLoad := obs.last

	// Drain: the sampled polls end, the outbox empties and the worker
	// handles every event the run made.
	drainStart := time.Now()
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.DrainTimeout)
	defer cancel()
	pollersDone := make(chan struct{})
	go func() { r.pollers.Wait(); close(pollersDone) }()
	expected := end.writes()
	rep.Drained = true
drain:
	for {
		select {
		case <-tick.C:
			rep.Timeline = append(rep.Timeline, obs.second(ctx, "drain", measureStart))
		case <-time.After(50 * time.Millisecond):
		case <-drainCtx.Done():
			rep.Drained = false
			break drain
		}
		select {
		case <-pollersDone:
		default:
			continue
		}
		obs.sample(drainCtx)
		if obs.caughtUp(before, expected) {
			break drain
		}
	}
	rep.DrainSeconds = round2(time.Since(drainStart).Seconds())
	<-pollersDone // polls are bounded by the drain timeout too
	obs.sample(context.WithoutCancel(ctx))
	final := obs.last

	load := rep.LoadSeconds
	rep.Lifecycles = end.minus(warm).report()
	rep.Totals = end.report()
	l := end.minus(warm)
	if load > 0 {
		rep.Lifecycles.PerSecond = round2(float64(l.finished) / load)
		rep.Lifecycles.CreatedPerSecond = round2(float64(l.created) / load)
		rep.Lifecycles.CompletedPerSecond = round2(float64(l.completed) / load)
		rep.Lifecycles.ProjectedPerSecond = round2(float64(l.finished) / (load + rep.DrainSeconds))
	}
	rep.Routes = r.api.rec.report()
	r.lagMu.Lock()
	rep.Projection = ProjectionReport{
		Sampled: r.sampled.Load(), Observed: r.observed.Load(), TimedOut: r.timedOut.Load(),
		Skipped: r.skipped.Load(), Polls: r.polls.Load(),
		Lag: r.lagTotal.quantiles(), ServerLag: r.lagServer.quantiles(),
	}
	r.lagMu.Unlock()
	rep.Events = obs.events(before, final, expected)
	rep.Server = obs.process(measuredObs, afterLoad, true)
	rep.Loadgen = obs.process(measuredObs, afterLoad, false)
	r.errMu.Lock()
	if len(r.errors) > 0 {
		rep.Errors = r.errors
	}
	r.errMu.Unlock()
	if rep.Timeline == nil {
		rep.Timeline = []Second{}
	}
	return rep, nil
}

// snapshot is the lifecycle counters at one moment.
type snapshot struct {
	started, created, completed, cancelled, returned, finished, createFailed, changeFailed, retries int64
}

func (r *run) snapshot() snapshot {
	return snapshot{
		started: r.started.Load(), created: r.created.Load(), completed: r.completed.Load(),
		cancelled: r.cancelled.Load(), returned: r.returned.Load(), finished: r.finished.Load(),
		createFailed: r.createFailed.Load(), changeFailed: r.changeFailed.Load(), retries: r.retries.Load(),
	}
}

func (s snapshot) minus(o snapshot) snapshot {
	return snapshot{
		started: s.started - o.started, created: s.created - o.created, completed: s.completed - o.completed,
		cancelled: s.cancelled - o.cancelled, returned: s.returned - o.returned, finished: s.finished - o.finished,
		createFailed: s.createFailed - o.createFailed, changeFailed: s.changeFailed - o.changeFailed, retries: s.retries - o.retries,
	}
}

func (s snapshot) report() LifecycleReport {
	return LifecycleReport{
		Started: s.started, Created: s.created, Completed: s.completed, Cancelled: s.cancelled,
		Returned: s.returned, Finished: s.finished, Failed: s.createFailed + s.changeFailed,
		CreateFailed: s.createFailed, ChangeFailed: s.changeFailed, Retries: s.retries,
	}
}

// writes is the number of committed sale writes, each with its one event.
func (s snapshot) writes() int64 { return s.created + s.completed + s.cancelled + s.returned }

func (r *run) noteError(err error) {
	msg := err.Error()
	var p *problem
	if errors.As(err, &p) {
		msg = fmt.Sprintf("%s: %d %s", p.route, p.Status, p.Code)
	}
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if _, ok := r.errors[msg]; ok || len(r.errors) < 10 {
		r.errors[msg]++
	}
}

// makeCatalog creates the books, several at a time.
func (r *run) makeCatalog(ctx context.Context) error {
	rng := mrand.New(mrand.NewPCG(r.seed(), 1))
	books := make([]book, r.cfg.Books)
	for i := range books {
		books[i].price = 500 + rng.Int64N(4500) // 5.00 to 49.99
	}
	idx := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range min(r.cfg.Clients, 16) + 2 {
		wg.Go(func() {
			for i := range idx {
				var out struct {
					ID string `json:"id"`
				}
				body := map[string]any{
					"title":  fmt.Sprintf("Loadgen %s #%04d", r.runID, i),
					"author": fmt.Sprintf("Author %d", i%97),
					"price":  money(books[i].price),
					"stock":  r.cfg.Stock,
				}
				_, err := r.api.callRetrying(ctx, 3, routeCreateBook, http.MethodPost, "/books", r.admin, "", body, &out)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("catalog: %w", err)
				}
				mu.Unlock()
				books[i].id = out.ID
			}
		})
	}
	for i := range books {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		idx <- i
	}
	close(idx)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.books = books
	return nil
}

func (r *run) seed() uint64 {
	if r.cfg.Seed != 0 {
		return r.cfg.Seed
	}
	return mrand.Uint64()
}

// money formats cents as a decimal string.
func money(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

var paymentMethods = []string{"CASH", "CREDIT_CARD", "DEBIT_CARD", "TRANSFER", "OTHER"}

// saleView is the part of a sale the load generator reads.
type saleView struct {
	ID      string     `json:"id"`
	Status  string     `json:"status"`
	Version int64      `json:"version"`
	PaidAt  *time.Time `json:"paidAt"`
	Items   []struct {
		BookID string `json:"bookId"`
	} `json:"items"`
}

// client runs lifecycles one after another until stop is closed, paced by
// the shared rate if there is one.
func (r *run) client(ctx context.Context, n int, loadStart time.Time, stop <-chan struct{}) {
	rng := mrand.New(mrand.NewPCG(r.seed(), uint64(n)+2))
	// Requests run to their end even when ctx ends (bounded by the HTTP
	// client's timeout), so that no sale is left half-changed.
	rctx := context.WithoutCancel(ctx)
	var interval time.Duration
	if r.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / r.cfg.Rate)
	}
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		ticket := r.started.Add(1)
		if r.cfg.Count > 0 && ticket > r.cfg.Count {
			// The count is reached: the others finish the lifecycles
			// they drew, and the run ends when every client has.
			r.started.Add(-1)
			return
		}
		if interval > 0 {
			due := loadStart.Add(time.Duration(ticket-1) * interval)
			if wait := time.Until(due); wait > 0 {
				select {
				case <-stop:
					r.started.Add(-1)
					return
				case <-time.After(wait):
				}
			}
		}
		r.lifecycle(rctx, rng, fmt.Sprintf("%s-%d-%d", r.runID, n, seq), seq)
	}
}

// lifecycle creates one sale and completes, cancels or returns it.
func (r *run) lifecycle(ctx context.Context, rng *mrand.Rand, id string, seq int) {
	lines := 1 + rng.IntN(5)
	picked := map[int]bool{}
	items := make([]map[string]any, 0, lines)
	for len(items) < lines {
		i := rng.IntN(len(r.books))
		if picked[i] {
			continue
		}
		picked[i] = true
		it := map[string]any{"bookId": r.books[i].id, "quantity": 1 + rng.IntN(3)}
		if rng.IntN(10) == 0 {
			it["discount"] = "0.50"
		}
		items = append(items, it)
	}
	body := map[string]any{"customerName": fmt.Sprintf("Customer %d", rng.IntN(10000)), "items": items}
	if rng.IntN(10) == 0 {
		body["discount"] = "1.00"
	}
	var sale saleView
	retries, err := r.api.callRetrying(ctx, 4, routeCreateSale, http.MethodPost, "/sales", r.seller, "lg-"+id+"-c", body, &sale)
	r.retries.Add(int64(retries))
	if err != nil {
		r.createFailed.Add(1)
		r.noteError(err)
		return
	}
	r.created.Add(1)

	x := rng.Float64()
	path := "/sales/" + sale.ID + "/status"
	if x < r.cfg.CancelRate {
		if r.change(ctx, path, "lg-"+id+"-x", map[string]any{"status": "CANCELLED", "reason": "loadgen: changed mind"}, nil) {
			r.cancelled.Add(1)
			r.finished.Add(1)
		}
		return
	}
	pay := map[string]any{"status": "COMPLETED", "paymentMethod": paymentMethods[rng.IntN(len(paymentMethods))]}
	if rng.IntN(2) == 0 {
		pay["paymentReference"] = "ref-" + id
	}
	var done saleView
	if !r.change(ctx, path, "lg-"+id+"-p", pay, &done) {
		return
	}
	answered := time.Now()
	r.completed.Add(1)
	if r.cfg.SampleEvery > 0 && seq%r.cfg.SampleEvery == 0 && r.measured.Load() {
		r.sample(ctx, done, answered)
	}
	if x < r.cfg.CancelRate+r.cfg.ReturnRate {
		if !r.change(ctx, path, "lg-"+id+"-r", map[string]any{"status": "CANCELLED", "reason": "loadgen: returned"}, nil) {
			return
		}
		r.returned.Add(1)
	}
	r.finished.Add(1)
}

// change sends one status change and reports whether it was answered 200.
func (r *run) change(ctx context.Context, path, key string, body map[string]any, out *saleView) bool {
	var o any
	if out != nil {
		o = out
	}
	retries, err := r.api.callRetrying(ctx, 4, routeStatus, http.MethodPatch, path, r.admin, key, body, o)
	r.retries.Add(int64(retries))
	if err != nil {
		r.changeFailed.Add(1)
		r.noteError(err)
		return false
	}
	return true
}

// sample polls the projection of one completion in the background.
func (r *run) sample(ctx context.Context, s saleView, answered time.Time) {
	select {
	case r.pollSlots <- struct{}{}:
	default:
		r.skipped.Add(1)
		return
	}
	r.sampled.Add(1)
	books := map[string]bool{}
	for _, it := range s.Items {
		books[it.BookID] = true
	}
	r.pollers.Go(func() {
		defer func() { <-r.pollSlots }()
		r.poll(ctx, s, len(books), answered)
	})
}

// movementPage is the part of GET /stock-movements the poll reads.
type movementPage struct {
	Data []struct {
		Type      string    `json:"type"`
		CreatedAt time.Time `json:"createdAt"`
	} `json:"data"`
}

func (r *run) poll(ctx context.Context, s saleView, books int, answered time.Time) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.DrainTimeout)
	defer cancel()
	path := "/stock-movements?type=SALE&limit=100&saleId=" + url.QueryEscape(s.ID)
	for {
		var page movementPage
		r.polls.Add(1)
		err := r.api.call(ctx, routeMovements, http.MethodGet, path, r.admin, "", nil, &page)
		seen := time.Now()
		if err == nil && len(page.Data) >= books {
			r.observed.Add(1)
			r.lagMu.Lock()
			d := seen.Sub(answered)
			r.lagTotal.add(d)
			r.lagWindow.add(d)
			if s.PaidAt != nil {
				r.lagServer.add(page.Data[0].CreatedAt.Sub(*s.PaidAt))
			}
			r.lagMu.Unlock()
			return
		}
		if err != nil && ctx.Err() == nil {
			r.noteError(err)
		}
		// Poll often while the lag is short, and less as it grows, so
		// that the polls neither load a slow server nor blur a fast one:
		// the wait is at most 5 % of the lag so far, or PollInterval.
		wait := max(r.cfg.PollInterval, min(seen.Sub(answered)/20, 100*time.Millisecond))
		select {
		case <-ctx.Done():
			r.timedOut.Add(1)
			return
		case <-time.After(wait):
		}
	}
}

func (r *run) resetLag() {
	r.lagMu.Lock()
	defer r.lagMu.Unlock()
	r.lagTotal, r.lagServer, r.lagWindow = hist{}, hist{}, hist{}
}

func (r *run) takeLagWindow() hist {
	r.lagMu.Lock()
	defer r.lagMu.Unlock()
	w := r.lagWindow
	r.lagWindow = hist{}
	return w
}

// sortedErrors returns the error messages by count, most frequent first.
func sortedErrors(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return m[out[i]] > m[out[j]] || m[out[i]] == m[out[j]] && out[i] < out[j] })
	return out
}

// osPID is this process's id, for the load generator's own CPU and memory.
var osPID = os.Getpid()
