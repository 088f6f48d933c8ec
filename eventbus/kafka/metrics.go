package kafka

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

const metricsNamespace = "salesflow_kafka"

// metrics are the bus's own counters; a nil *metrics records nothing, so
// callers need not check whether WithMetrics was given.
type metrics struct {
	reg        prometheus.Registerer
	labels     prometheus.Labels
	subsystem  string
	collectors []prometheus.Collector

	published      *prometheus.CounterVec // publisher: messages acknowledged
	publishErrs    *prometheus.CounterVec // publisher: messages that failed
	handled        *prometheus.CounterVec // subscriber: handler returned nil
	handlerErrs    *prometheus.CounterVec // subscriber: handler returned an error
	deadLetters    *prometheus.CounterVec // subscriber: messages dead-lettered
	deadLetterErrs *prometheus.CounterVec // subscriber: dead-letter produces that failed
	handlerTime    *prometheus.HistogramVec
}

// newMetrics registers the bus counters for r on reg; it returns nil, nil
// when reg is nil.
func newMetrics(reg prometheus.Registerer, r role, labels prometheus.Labels) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{reg: reg, labels: labels, subsystem: r.String()}
	counter := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: m.subsystem, Name: name, Help: help, ConstLabels: labels,
		}, []string{"topic"})
		m.collectors = append(m.collectors, c)
		return c
	}
	if r == rolePublisher {
		m.published = counter("messages_published_total", "Messages the brokers acknowledged.")
		m.publishErrs = counter("publish_errors_total", "Messages whose publish failed.")
	} else {
		m.handled = counter("messages_handled_total", "Messages whose handler returned nil.")
		m.handlerErrs = counter("handler_errors_total", "Handler calls that returned an error.")
		m.deadLetters = counter("dead_letters_total", "Messages sent to the dead-letter topic.")
		m.deadLetterErrs = counter("dead_letter_errors_total", "Dead-letter produce tries that failed, and each 10 s one was still under way; its partition waits meanwhile.")
		m.handlerTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: m.subsystem, Name: "handler_seconds",
			Help: "Handler call latency.", ConstLabels: labels, Buckets: prometheus.DefBuckets,
		}, []string{"topic"})
		m.collectors = append(m.collectors, m.handlerTime)
	}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("%w: WithMetrics: %v (wrap the registerer with prometheus.WrapRegistererWith to tell clients apart)", ErrInvalid, err)
		}
	}
	return m, nil
}

// hook returns the kprom hook for a client, or nil.
func (m *metrics) hook() kgo.Hook {
	if m == nil {
		return nil
	}
	return kprom.NewMetrics(metricsNamespace,
		kprom.Registerer(m.reg),
		kprom.Subsystem(m.subsystem),
		kprom.WithStaticLabel(m.labels),
	)
}

func (m *metrics) unregister() {
	if m == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

func (m *metrics) publishDone(topic string, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.publishErrs.WithLabelValues(topic).Inc()
		return
	}
	m.published.WithLabelValues(topic).Inc()
}

func (m *metrics) handlerDone(topic string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.handlerTime.WithLabelValues(topic).Observe(took.Seconds())
	if err != nil {
		m.handlerErrs.WithLabelValues(topic).Inc()
		return
	}
	m.handled.WithLabelValues(topic).Inc()
}

func (m *metrics) deadLettered(topic string) {
	if m == nil {
		return
	}
	m.deadLetters.WithLabelValues(topic).Inc()
}

func (m *metrics) deadLetterFailed(topic string) {
	if m == nil {
		return
	}
	m.deadLetterErrs.WithLabelValues(topic).Inc()
}
