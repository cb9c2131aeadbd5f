package bench

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ten := make([]time.Duration, 10)
	for i := range ten {
		ten[i] = time.Duration(i+1) * time.Millisecond
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value p50", []time.Duration{7}, 50, 7},
		{"one value p99", []time.Duration{7}, 99, 7},
		{"ten p50", ten, 50, 5 * time.Millisecond},
		{"ten p90", ten, 90, 9 * time.Millisecond},
		{"ten p99", ten, 99, 10 * time.Millisecond},
		{"ten p100", ten, 100, 10 * time.Millisecond},
		{"ten tiny p", ten, 0.1, 1 * time.Millisecond},
		{"hundred p50", hundred, 50, 50},
		{"hundred p99", hundred, 99, 99},
		{"hundred p99.9", hundred, 99.9, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd unsorted", []float64{9, 1, 5}, 5},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"duplicates", []float64{2, 2, 7}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.xs...)
			if got := Median(tt.xs); got != tt.want {
				t.Errorf("Median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.xs[i] {
					t.Fatalf("Median modified its input: %v, was %v", tt.xs, in)
				}
			}
		})
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}

func TestSummarize(t *testing.T) {
	lat := []time.Duration{5, 1, 4, 2, 3}
	got := Summarize(lat)
	want := Latency{Count: 5, P50: 3, P99: 5}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
}

func TestSummarizeRounds(t *testing.T) {
	figs := []figure{
		{value: 100, lat: &Latency{P50: 2 * time.Millisecond, P99: 9 * time.Millisecond}, rssMiB: 30, cpuSec: 1},
		{value: 300, lat: &Latency{P50: 4 * time.Millisecond, P99: 7 * time.Millisecond}, rssMiB: 50, cpuSec: 3},
		{value: 200, lat: &Latency{P50: 3 * time.Millisecond, P99: 8 * time.Millisecond}, rssMiB: 40, cpuSec: 2},
	}
	got := summarize(figs)
	want := summary{value: 200, p50: 3, p99: 8, rss: 50, cpu: 2}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if s := summarize(nil); !math.IsNaN(s.value) || !math.IsNaN(s.rss) {
		t.Errorf("summarize(nil) = %+v, want NaNs", s)
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    float64
		wantErr bool
	}{
		{"plain", "1234 (wharf) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1000 0 0", 3, false},
		{"name with spaces and parens", "99 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0", 0.1, false},
		{"short", "1 (x) S 1 2 3", 0, true},
		{"no parenthesis", "garbage", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStatCPU error = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("parseStatCPU = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseMachineTimes(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    machineTimes
		wantErr bool
	}{
		{"linux 6", "cpu  100 5 50 800 20 1 4 0 30 0\ncpu0 50 2 25 400 10 0 2 0 15 0\n", machineTimes{total: 980, idle: 820}, false},
		{"no steal or guest", "cpu 10 0 10 70 10 0 0\n", machineTimes{total: 100, idle: 80}, false},
		{"only four fields", "cpu 1 2 3 4\n", machineTimes{total: 10, idle: 4}, false},
		{"not the cpu line", "intr 5 6 7 8\n", machineTimes{}, true},
		{"too short", "cpu 1 2\n", machineTimes{}, true},
		{"not a number", "cpu 1 x 3 4 5\n", machineTimes{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMachineTimes([]byte(tt.raw))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseMachineTimes error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseMachineTimes = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBusyShare(t *testing.T) {
	tests := []struct {
		name string
		a, b machineTimes
		want float64
	}{
		{"three quarters busy", machineTimes{total: 1000, idle: 100}, machineTimes{total: 1200, idle: 150}, 0.75},
		{"all idle", machineTimes{total: 0, idle: 0}, machineTimes{total: 50, idle: 50}, 0},
		{"no time passed", machineTimes{total: 10, idle: 5}, machineTimes{total: 10, idle: 5}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := busyShare(tt.a, tt.b); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("busyShare = %v, want %v", got, tt.want)
			}
		})
	}
}
