// Package metrics defines wharf's Prometheus metrics. main (through the
// server package) builds one Metrics on its own registry; the packages that
// count things receive it, and a nil *Metrics counts nothing.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every metric wharf exports.
type Metrics struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	gcRemoved       *prometheus.CounterVec
	gcFreedBytes    prometheus.Counter
	gcPasses        *prometheus.CounterVec
	uploadsPurged   prometheus.Counter
	// series caches requests' and requestDuration's children by label
	// values (requestKey → *requestSeries): WithLabelValues hashes and
	// compares every label on each call, twice per request.
	series sync.Map
}

// requestKey names one request series.
type requestKey struct {
	endpoint, method string
	code             int
}

// requestSeries is one request series' counter and duration observer.
type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// New creates the metrics and registers them, with the Go runtime and
// process collectors, on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_http_requests_total",
			Help: "HTTP requests by endpoint, method and status code.",
		}, []string{"endpoint", "method", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wharf_http_request_duration_seconds",
			Help:    "Time to the end of the response, by endpoint and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"endpoint", "method"}),
		gcRemoved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_gc_removed_total",
			Help: "Things removed by garbage collection and retention, by kind (tag, manifest, link, blob).",
		}, []string{"kind"}),
		gcFreedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_gc_freed_bytes_total",
			Help: "Blob bytes freed by garbage collection.",
		}),
		gcPasses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_gc_passes_total",
			Help: "Garbage collection passes, by result (ok, error).",
		}, []string{"result"}),
		uploadsPurged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_uploads_purged_total",
			Help: "Stale upload sessions and orphaned upload bytes removed.",
		}),
	}
	reg.MustRegister(m.requests, m.requestDuration, m.gcRemoved, m.gcFreedBytes, m.gcPasses, m.uploadsPurged,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Request counts one HTTP request.
func (m *Metrics) Request(endpoint, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	// Codes statusText folds into "other" keep keys of their own, which
	// resolve to the same series.
	k := requestKey{endpoint, methodLabel(method), code}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, &requestSeries{
			count:    m.requests.WithLabelValues(k.endpoint, k.method, statusText(code)),
			duration: m.requestDuration.WithLabelValues(k.endpoint, k.method),
		})
	}
	s := v.(*requestSeries)
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

// methodLabel is method for the methods HTTP defines and "other" for the
// rest: a client chooses the method, and every distinct value would be a
// series kept for the life of the process.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// GCRemoved counts one removal by garbage collection.
func (m *Metrics) GCRemoved(kind string, bytes int64) {
	if m == nil {
		return
	}
	m.gcRemoved.WithLabelValues(kind).Inc()
	if bytes > 0 {
		m.gcFreedBytes.Add(float64(bytes))
	}
}

// GCPass counts one garbage collection pass.
func (m *Metrics) GCPass(err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.gcPasses.WithLabelValues(result).Inc()
}

// UploadsPurged counts purged uploads.
func (m *Metrics) UploadsPurged(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.uploadsPurged.Add(float64(n))
}

// statusText keeps the code label's values few and stable.
func statusText(code int) string {
	switch {
	case code >= 100 && code < 600:
		return itoa3(code)
	default:
		return "other"
	}
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}
