package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. sorted must be in ascending order; an empty slice gives 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// Median returns the median of xs (the mean of the two middle values when
// the count is even); an empty slice gives NaN. xs is not modified.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Latency summarizes a set of request latencies.
type Latency struct {
	Count    int
	P50, P99 time.Duration
}

// Summarize sorts lat in place and returns its count, p50 and p99.
func Summarize(lat []time.Duration) Latency {
	slices.Sort(lat)
	return Latency{Count: len(lat), P50: Percentile(lat, 50), P99: Percentile(lat, 99)}
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
