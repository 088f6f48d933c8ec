package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/eventbus/kafka"
	membus "github.com/salesflow/salesflow/eventbus/memory"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/memory"
	"github.com/salesflow/salesflow/storage/postgres"
)

// Role of a process: serve runs the API, the outbox relay and the worker;
// worker runs the worker alone (and /healthz, /readyz, /metrics).
type mode int

const (
	serveMode mode = iota
	workerMode
)

// App is one process of the reference deployment, wired from a Config:
// store, services, event bus, relay, worker and HTTP handler. main runs
// one; tests run many, side by side.
type App struct {
	cfg  Config
	mode mode
	log  *slog.Logger

	mem *memory.Store // the embedded store, when there is no DATABASE_URL
	pg  *postgres.DB  // PostgreSQL, with DATABASE_URL
	bus *membus.Bus   // the in-memory bus, when there is no KAFKA_BROKERS
	kcl *kgo.Client   // pings the brokers for /readyz, with KAFKA_BROKERS

	sales   *sales.Service
	inv     *inventory.Service
	metrics *metrics
	pub     eventbus.Publisher  // serve only
	relay   *eventbus.Relay     // serve only
	work    workerWiring        // from wireWorker
	sub     eventbus.Subscriber // the worker's
	srv     *server

	closers []func()
}

// Open wires an App for mode m. With a DATABASE_URL it connects and
// migrates; with KAFKA_BROKERS it creates the sale topics (and their
// dead-letter twins). Close releases what Open made, also after an error.
func Open(ctx context.Context, cfg Config, m mode, log *slog.Logger) (_ *App, err error) {
	a := &App{cfg: cfg, mode: m, log: log, metrics: newMetrics()}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	var (
		salesStore sales.Store
		invStore   inventory.Store
		outbox     eventbus.Outbox
		leader     eventbus.Leader
		waker      eventbus.Waker
		rollups    sales.Summarizer // the worker's daily rollups: GET /sales/summary reads a row per day
	)
	if cfg.DatabaseURL != "" {
		if a.pg, err = postgres.Open(ctx, cfg.DatabaseURL, postgres.WithLogger(log)); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, a.pg.Close)
		if err = a.pg.Migrate(ctx); err != nil {
			return nil, err
		}
		log.Info("database migrated")
		salesStore, invStore, outbox, leader, waker = a.pg.Sales(), a.pg.Inventory(), a.pg.Outbox(), a.pg.Leader(), a.pg.Waker()
		rollups = a.pg.Rollups()
	} else {
		a.mem = memory.New()
		salesStore, invStore, outbox, leader, waker = a.mem.Sales(), a.mem.Inventory(), a.mem.Outbox(), a.mem.Leader(), a.mem.Waker()
		rollups = a.mem.Rollups()
	}

	if a.sales, err = sales.NewService(salesStore, sales.WithCurrency(cfg.Currency), sales.WithTaxRate(cfg.TaxRate),
		sales.WithLocation(cfg.Location), sales.WithTopicPrefix(cfg.TopicPrefix), sales.WithLogger(log),
		sales.WithSummarizer(rollups)); err != nil {
		return nil, err
	}
	if a.inv, err = inventory.NewService(invStore, inventory.WithCurrency(cfg.Currency)); err != nil {
		return nil, err
	}

	if len(cfg.KafkaBrokers) > 0 {
		if err = kafka.CreateTopics(ctx, cfg.KafkaBrokers, cfg.KafkaPartitions, cfg.KafkaReplication, saleTopics(cfg.TopicPrefix)...); err != nil {
			return nil, err
		}
		log.Info("topics ready", "topics", saleTopics(cfg.TopicPrefix))
		if a.kcl, err = kgo.NewClient(kgo.SeedBrokers(cfg.KafkaBrokers...)); err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		a.closers = append(a.closers, a.kcl.Close)
	} else if a.bus, err = membus.New(membus.WithLogger(log)); err != nil {
		return nil, err
	}

	if a.work, err = wireWorker(a); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}

	if m == serveMode {
		if a.bus != nil {
			a.pub = a.bus.Publisher()
		} else if a.pub, err = kafka.NewPublisher(cfg.KafkaBrokers, kafka.WithLogger(log), kafka.WithMetrics(a.metrics.reg)); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { _ = a.pub.Close() })
		if a.relay, err = eventbus.NewRelay(outbox, a.pub, eventbus.WithLeader(leader), eventbus.WithWaker(waker),
			eventbus.WithLinger(a.cfg.RelayLinger), eventbus.WithRelayLogger(log)); err != nil {
			return nil, err
		}
		a.metrics.watchRelay(a.relay, log)
	}

	a.work.Handler = a.metrics.countEvents(a.work.Handler)
	a.work.Batch = a.metrics.countBatches(a.work.Batch)
	a.metrics.watchWorker(a.work.Applied)
	{
		if a.bus != nil {
			if a.sub, err = a.bus.Subscriber(cfg.ConsumerGroup, a.work.Topics, membus.WithRetry(workerRetry)); err != nil {
				return nil, err
			}
			a.metrics.watchDeadLetters(func() int {
				n := 0
				for _, t := range a.work.Topics {
					n += len(a.bus.Messages(t + eventbus.DeadLetterSuffix))
				}
				return n
			})
		} else if a.sub, err = kafka.NewSubscriber(cfg.KafkaBrokers, cfg.ConsumerGroup, a.work.Topics,
			kafka.WithLogger(log), kafka.WithMetrics(a.metrics.reg), kafka.WithRetry(workerRetry),
			// A worker that dies holds its partitions until its session
			// times out, and a rebalance waits for members that do not
			// rejoin (one that died, one shutting down mid-join) up to the
			// rebalance timeout; franz-go's 45 s and 60 s defaults stall
			// partitions, and a graceful shutdown, that long.
			// Handlers in flight get half of it to finish when partitions
			// move, so that the member rejoins within the rebalance timeout.
			kafka.WithClientOptions(kgo.SessionTimeout(cfg.KafkaSession), kgo.HeartbeatInterval(cfg.KafkaSession/10),
				kgo.RebalanceTimeout(cfg.KafkaSession)),
			kafka.WithDrainTimeout(cfg.KafkaSession/2)); err != nil {
			return nil, err
		}
		if a.kcl != nil {
			a.metrics.watchLag(kadm.NewClient(a.kcl), cfg.ConsumerGroup, log)
		}
	}

	a.srv = newServer(&server{
		sales: a.sales, inv: a.inv, auth: cfg.Auth, stats: a.work.Stats, loc: cfg.Location,
		log: log, metrics: a.metrics, ready: a.ready, opsOnly: m == workerMode,
	})
	return a, nil
}

// saleTopics returns the topics the sales service publishes to.
func saleTopics(prefix string) []string {
	out := make([]string, len(sales.EventTypes))
	for i, t := range sales.EventTypes {
		out[i] = prefix + t
	}
	return out
}

// Handler returns the HTTP handler: the API (serve) or the operations
// routes (worker).
func (a *App) Handler() http.Handler { return a.srv }

// ready checks the database and the broker, for /readyz.
func (a *App) ready(ctx context.Context) map[string]error {
	checks := map[string]error{"database": nil, "broker": nil}
	if a.pg != nil {
		checks["database"] = a.pg.Ping(ctx)
	}
	if a.kcl != nil {
		checks["broker"] = a.kcl.Ping(ctx)
	}
	return checks
}

// Start runs the background work until the returned stop is called: the
// outbox relay (serve), the worker's subscriber when a worker is wired, and
// the hourly sweep (serve) of expired idempotency keys and of event records
// older than EVENT_RETENTION. stop lets the worker finish the events in hand
// (an event or a batch) and commit, then returns.
func (a *App) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if a.relay != nil {
		wg.Go(func() { _ = a.relay.Run(ctx) })
		wg.Go(func() { a.sweep(ctx, time.Hour) })
	}
	if a.sub != nil {
		wg.Go(func() {
			// Close, not ctx, stops the subscriber, so that the handler in
			// flight finishes and its offset is committed.
			err := eventbus.Consume(context.WithoutCancel(ctx), a.sub, a.work.Handler, a.work.Batch, a.work.BatchSize)
			if err != nil {
				a.log.Error("worker stopped", "err", err)
			}
		})
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if a.sub != nil {
				if err := a.sub.Close(); err != nil {
					a.log.Warn("worker close", "err", err)
				}
			}
			wg.Wait()
		})
	}
}

// sweep deletes expired idempotency keys now and every interval, and the
// published outbox records and processed-event records older than
// EVENT_RETENTION.
func (a *App) sweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := a.sales.SweepKeys(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("idempotency keys not swept", "err", err)
		case n > 0:
			a.metrics.keysSwept.Add(float64(n))
			a.log.Info("idempotency keys swept", "deleted", n)
		}
		a.pruneEvents(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneEvents deletes the published outbox records and processed-event
// records older than EVENT_RETENTION from the store.
func (a *App) pruneEvents(ctx context.Context) {
	cutoff := time.Now().Add(-a.cfg.EventRetention)
	var outbox, processed int64
	var err error
	if a.pg != nil {
		outbox, processed, err = a.pg.PruneEvents(ctx, cutoff)
	} else {
		outbox, processed, err = a.mem.PruneEvents(ctx, cutoff)
	}
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("event records not pruned", "err", err)
	case outbox+processed > 0:
		a.log.Info("event records pruned", "outbox", outbox, "processed", processed, "older_than", a.cfg.EventRetention)
	}
}

// Serve serves HTTP on ln and runs the background work until ctx is done,
// then shuts down: it stops accepting, lets requests in flight finish
// (within the shutdown timeout), stops the relay and lets the worker finish
// its event. It returns nil after a shutdown asked by ctx.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	stop := a.Start(ctx)
	defer stop()
	hs := &http.Server{
		Handler:           a.srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	a.log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil {
		a.log.Warn("shutdown", "err", serr)
	}
	stop()
	a.log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases the store, the bus clients and the publisher.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// workerRetry is how long the worker retries an event before it
// dead-letters it: 30 attempts with backoff from 100 ms doubling to 30 s,
// about ten minutes in all. A failing event is most often a database or
// network outage, which must delay events, not dead-letter them; a
// malformed one still reaches the dead-letter topic in bounded time.
var workerRetry = eventbus.RetryPolicy{MaxAttempts: 30, MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second}
