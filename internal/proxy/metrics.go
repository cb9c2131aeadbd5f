package proxy

import (
	"io"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pull-through cache's Prometheus metrics. A nil *Metrics
// counts nothing.
type Metrics struct {
	hits      *prometheus.CounterVec
	misses    *prometheus.CounterVec
	stales    *prometheus.CounterVec
	bytesIn   *prometheus.CounterVec
	errors    *prometheus.CounterVec
	coalesces *prometheus.CounterVec
	evictions prometheus.Counter
	reg       prometheus.Registerer
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_proxy_hits_total",
			Help: "Pulls of cached repositories answered from the cache, by upstream and kind (manifest, blob).",
		}, []string{"upstream", "kind"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_proxy_misses_total",
			Help: "Pulls of cached repositories that went to the upstream, by upstream and kind.",
		}, []string{"upstream", "kind"}),
		stales: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_proxy_stale_served_total",
			Help: "Tags served from the cache past their TTL because the upstream was unavailable.",
		}, []string{"upstream"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_proxy_upstream_bytes_total",
			Help: "Bytes read from upstream registries.",
		}, []string{"upstream"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_proxy_upstream_errors_total",
			Help: "Upstream requests that failed (unreachable, 5xx, 429, 404, refused credentials).",
		}, []string{"upstream"}),
		coalesces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_proxy_coalesced_total",
			Help: "Requests that waited for a fetch already in flight instead of asking the upstream, by kind.",
		}, []string{"kind"}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_proxy_evicted_manifests_total",
			Help: "Cached manifests evicted by the size caps (their blobs go with garbage collection).",
		}),
	}
	reg.MustRegister(m.hits, m.misses, m.stales, m.bytesIn, m.errors, m.coalesces, m.evictions)
	return m
}

func (m *Metrics) hit(upstream, kind string) {
	if m != nil {
		m.hits.WithLabelValues(upstream, kind).Inc()
	}
}

func (m *Metrics) miss(upstream, kind string) {
	if m != nil {
		m.misses.WithLabelValues(upstream, kind).Inc()
	}
}

func (m *Metrics) stale(upstream string) {
	if m != nil {
		m.stales.WithLabelValues(upstream).Inc()
	}
}

func (m *Metrics) upstreamError(upstream string) {
	if m != nil {
		m.errors.WithLabelValues(upstream).Inc()
	}
}

func (m *Metrics) coalesced(kind string) {
	if m != nil {
		m.coalesces.WithLabelValues(kind).Inc()
	}
}

// watchHealth exports an upstream's health as wharf_proxy_upstream_up.
func (m *Metrics) watchHealth(upstream string, healthy func() bool) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "wharf_proxy_upstream_up",
		Help:        "1 while the upstream answers, 0 while it is marked unhealthy and only probed.",
		ConstLabels: prometheus.Labels{"upstream": upstream},
	}, func() float64 {
		if healthy() {
			return 1
		}
		return 0
	}))
}

func (m *Metrics) evicted() {
	if m != nil {
		m.evictions.Inc()
	}
}

func (m *Metrics) bytes(upstream string, n int) {
	if m != nil {
		m.bytesIn.WithLabelValues(upstream).Add(float64(n))
	}
}

// countBody counts the bytes read from an upstream body.
func (m *Metrics) countBody(upstream string, r io.Reader) io.Reader {
	if m == nil {
		return r
	}
	return &countingReader{r: r, c: m.bytesIn.WithLabelValues(upstream)}
}

type countingReader struct {
	r io.Reader
	c prometheus.Counter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.c.Add(float64(n))
	return n, err
}
