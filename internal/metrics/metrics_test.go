package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRequestSeries checks the cached series count into the right labels,
// and that client-chosen methods and odd codes fold into "other".
func TestRequestSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	calls := []struct {
		endpoint, method string
		code             int
	}{
		{"manifest", "GET", 200},
		{"manifest", "GET", 200},
		{"manifest", "HEAD", 404},
		{"blob", "GET", 200},
		{"manifest", "BREW", 200},
		{"manifest", "get", 200},
		{"manifest", "GET", 99},
		{"manifest", "GET", 600},
	}
	for _, c := range calls {
		m.Request(c.endpoint, c.method, c.code, time.Millisecond)
	}
	want := `
# HELP wharf_http_requests_total HTTP requests by endpoint, method and status code.
# TYPE wharf_http_requests_total counter
wharf_http_requests_total{code="200",endpoint="blob",method="GET"} 1
wharf_http_requests_total{code="200",endpoint="manifest",method="GET"} 2
wharf_http_requests_total{code="200",endpoint="manifest",method="other"} 2
wharf_http_requests_total{code="404",endpoint="manifest",method="HEAD"} 1
wharf_http_requests_total{code="other",endpoint="manifest",method="GET"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wharf_http_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.requestDuration); n != 4 {
		t.Errorf("%d duration series, want 4 (manifest GET, HEAD, other; blob GET)", n)
	}
	var nilMetrics *Metrics
	nilMetrics.Request("manifest", "GET", 200, time.Millisecond) // counts nothing, does not panic
}
