package notify

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-registry/wharf/internal/meta"
)

// metrics are the webhooks' Prometheus metrics, labelled by endpoint name
// only: URLs, headers and secrets never appear.
type metrics struct {
	attempts *prometheus.CounterVec
	failures *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	leases   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, store meta.EventStore, endpoints []string) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_webhook_attempts_total",
			Help: "Webhook delivery attempts, by endpoint and result (delivered, retry, dead).",
		}, []string{"endpoint", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_webhook_failures_total",
			Help: "Webhook delivery attempts that did not get a 2xx answer, by endpoint.",
		}, []string{"endpoint"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wharf_webhook_attempt_duration_seconds",
			Help:    "Time of one webhook delivery attempt, by endpoint.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		leases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_webhook_leases_lost_total",
			Help: "Deliveries another node took over while this one attempted them (the event may arrive twice).",
		}, []string{"endpoint"}),
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.failures, m.latency, m.leases, &backlogCollector{store: store, endpoints: endpoints})
	}
	return m
}

// laneMetrics are one endpoint's metrics.
type laneMetrics struct {
	m    *metrics
	name string
}

func (l *laneMetrics) attempt(r meta.AttemptResult) {
	result := map[meta.DeliveryState]string{meta.DeliveryDelivered: "delivered", meta.DeliveryPending: "retry", meta.DeliveryDead: "dead"}[r.State]
	l.m.attempts.WithLabelValues(l.name, result).Inc()
	if r.State != meta.DeliveryDelivered {
		l.m.failures.WithLabelValues(l.name).Inc()
	}
	l.m.latency.WithLabelValues(l.name).Observe(r.Duration.Seconds())
}

func (l *laneMetrics) leaseLost() { l.m.leases.WithLabelValues(l.name).Inc() }

// backlogCollector reads the backlog from the database at each scrape: the
// backlog is shared by every node, so each reports the same, true figure.
type backlogCollector struct {
	store     meta.EventStore
	endpoints []string
}

var (
	backlogDesc = prometheus.NewDesc("wharf_webhook_backlog", "Events waiting for delivery to an endpoint.", []string{"endpoint"}, nil)
	oldestDesc  = prometheus.NewDesc("wharf_webhook_oldest_pending_seconds", "Age of the oldest event waiting for an endpoint (0 when none).", []string{"endpoint"}, nil)
)

// Describe implements prometheus.Collector.
func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogDesc
	ch <- oldestDesc
}

// Collect implements prometheus.Collector.
func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, ep := range c.endpoints {
		n, oldest, err := c.store.EventBacklog(ctx, ep)
		if err != nil {
			continue
		}
		age := 0.0
		if !oldest.IsZero() {
			age = time.Since(oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n), ep)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, ep)
	}
}
