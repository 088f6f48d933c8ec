package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/salesflow/salesflow/eventbus"
)

// metrics are the server's Prometheus metrics, on a registry of their own
// (one per App, so that tests can run several).
type metrics struct {
	reg           *prometheus.Registry
	httpDuration  *prometheus.HistogramVec
	eventsHandled *prometheus.CounterVec
	eventErrors   *prometheus.CounterVec
	keysSwept     prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "salesflow_http_request_duration_seconds", Help: "HTTP request latency by route and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "status"}),
		eventsHandled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salesflow_events_handled_total", Help: "Deliveries the worker acknowledged, by topic (redeliveries and stale events included).",
		}, []string{"topic"}),
		eventErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salesflow_event_errors_total", Help: "Worker handler calls that failed (retried, then dead-lettered).",
		}, []string{"topic"}),
		keysSwept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salesflow_idempotency_keys_swept_total", Help: "Expired idempotency keys deleted.",
		}),
	}
	m.reg.MustRegister(m.httpDuration, m.eventsHandled, m.eventErrors, m.keysSwept,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// countEvents wraps the worker's handler to count its outcomes by topic.
func (m *metrics) countEvents(h eventbus.Handler) eventbus.Handler {
	return func(ctx context.Context, d eventbus.Delivery) error {
		err := h(ctx, d)
		if err != nil {
			m.eventErrors.WithLabelValues(d.Topic).Inc()
		} else {
			m.eventsHandled.WithLabelValues(d.Topic).Inc()
		}
		return err
	}
}

// countBatches is countEvents for a batch handler: a batch that fails is
// handed to the single handler, which counts its errors.
func (m *metrics) countBatches(h eventbus.BatchHandler) eventbus.BatchHandler {
	return func(ctx context.Context, ds []eventbus.Delivery) error {
		err := h(ctx, ds)
		if err == nil {
			for _, d := range ds {
				m.eventsHandled.WithLabelValues(d.Topic).Inc()
			}
		}
		return err
	}
}

// watchWorker reports the events the worker applied: first deliveries,
// committed with their effects.
func (m *metrics) watchWorker(applied func() int64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "salesflow_events_applied_total", Help: "Sale events the worker applied and committed (each event once).",
	}, func() float64 { return float64(applied()) }))
}

// relayCollector reports the outbox backlog at scrape time.
type relayCollector struct {
	relay     *eventbus.Relay
	log       *slog.Logger
	backlog   *prometheus.Desc
	oldest    *prometheus.Desc
	published *prometheus.Desc
}

func (m *metrics) watchRelay(r *eventbus.Relay, log *slog.Logger) {
	m.reg.MustRegister(&relayCollector{
		relay: r, log: log,
		backlog:   prometheus.NewDesc("salesflow_outbox_backlog", "Outbox records waiting to be published.", nil, nil),
		oldest:    prometheus.NewDesc("salesflow_outbox_oldest_age_seconds", "Age of the oldest waiting outbox record (0 when none waits).", nil, nil),
		published: prometheus.NewDesc("salesflow_outbox_published_total", "Outbox records this process's relay published.", nil, nil),
	})
}

func (c *relayCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.backlog
	ch <- c.oldest
	ch <- c.published
}

func (c *relayCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(c.relay.Published()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := c.relay.Backlog(ctx)
	if err != nil {
		c.log.Warn("metrics: outbox backlog", "err", err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = time.Since(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
}

// watchDeadLetters reports the messages in the dead-letter topics of the
// in-memory bus (the Kafka bus counts its own, see kafka.WithMetrics).
func (m *metrics) watchDeadLetters(count func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "salesflow_dead_letters", Help: "Messages in the dead-letter topics of the in-memory bus.",
	}, func() float64 { return float64(count()) }))
}

// lagCollector reports the worker's consumer lag at scrape time: for each
// topic, the messages after the group's committed offsets (kadm.Lag). A
// scrape waits at most two seconds for the broker.
type lagCollector struct {
	adm   *kadm.Client
	group string
	log   *slog.Logger
	lag   *prometheus.Desc
	up    *prometheus.Desc
}

// watchLag registers the consumer lag of group through adm.
func (m *metrics) watchLag(adm *kadm.Client, group string, log *slog.Logger) {
	m.reg.MustRegister(&lagCollector{
		adm: adm, group: group, log: log,
		lag: prometheus.NewDesc("salesflow_consumer_lag", "Messages of a topic not yet committed by the worker's consumer group.", []string{"topic"}, nil),
		up:  prometheus.NewDesc("salesflow_consumer_lag_up", "1 when the last scrape could read the consumer lag from the broker.", nil, nil),
	})
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.lag; ch <- c.up }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lags, err := c.adm.Lag(ctx, c.group)
	if err == nil {
		err = lags.Error()
	}
	if err != nil {
		c.log.Debug("consumer lag not read", "err", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, l := range lags {
		for topic, total := range l.Lag.TotalByTopic() {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(total.Lag), topic)
		}
	}
}
