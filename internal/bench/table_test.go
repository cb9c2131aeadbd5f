package bench

import (
	"math"
	"testing"
)

func TestTableText(t *testing.T) {
	tab := &Table{Header: []string{"workload", "unit", "wharf"}}
	tab.AddRow("push-large", "MB/s", "512")
	tab.AddRow("mount", "ops/s", "4200", "extra")
	want := "" +
		"workload     unit  wharf\n" +
		"----------  -----  -----  -----\n" +
		"push-large   MB/s    512\n" +
		"mount       ops/s   4200  extra\n"
	if got := tab.Text(); got != want {
		t.Errorf("Text() =\n%s\nwant\n%s", got, want)
	}
}

func TestTableMarkdown(t *testing.T) {
	tab := &Table{Header: []string{"workload", "p50 ms (w / d)"}}
	tab.AddRow("head-blob", "2.16 / 23.4")
	tab.AddRow("odd|name")
	want := "" +
		"| workload | p50 ms (w / d) |\n" +
		"| --- | ---: |\n" +
		"| head-blob | 2.16 / 23.4 |\n" +
		`| odd\|name |  |` + "\n"
	if got := tab.Markdown(); got != want {
		t.Errorf("Markdown() =\n%s\nwant\n%s", got, want)
	}
}

func TestFormatFigure(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{math.NaN(), "-"},
		{0, "0.00"},
		{0.567, "0.57"},
		{9.994, "9.99"},
		{12.345, "12.3"},
		{99.94, "99.9"},
		{100, "100"},
		{26139.4, "26139"},
		{-3.5, "-3.50"},
	}
	for _, tt := range tests {
		if got := FormatFigure(tt.v); got != tt.want {
			t.Errorf("FormatFigure(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestFormatRatioAndPair(t *testing.T) {
	nan := math.NaN()
	ratios := []struct {
		a, b float64
		want string
	}{
		{472, 198, "2.38x"},
		{10, 0, "-"},
		{nan, 1, "-"},
		{1, nan, "-"},
		{0.57, 8.8, "0.06x"},
	}
	for _, tt := range ratios {
		if got := FormatRatio(tt.a, tt.b); got != tt.want {
			t.Errorf("FormatRatio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
	pairs := []struct {
		a, b float64
		want string
	}{
		{4.39, 22.6, "4.39 / 22.6"},
		{18.1, nan, "18.1"},
		{nan, nan, "-"},
		{nan, 3, "- / 3.00"},
	}
	for _, tt := range pairs {
		if got := FormatPair(tt.a, tt.b); got != tt.want {
			t.Errorf("FormatPair(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestBuildTable(t *testing.T) {
	res := &results{}
	res.add("push-large", "MB/s", Wharf, figure{value: 500, rssMiB: 20, cpuSec: 1})
	res.add("push-large", "MB/s", Distribution, figure{value: 100, rssMiB: 30, cpuSec: 4})
	res.add("mount", "ops/s", Wharf, figure{value: 4000, lat: &Latency{P50: 2e6, P99: 8e6}, rssMiB: 25, cpuSec: 2})
	tab := buildTable([]Kind{Wharf}, res)
	if len(tab.Rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(tab.Rows))
	}
	want := [][]string{
		{"push-large", "MB/s", "500", "-", "-", "-", "-", "20.0", "1.00"},
		{"mount", "ops/s", "4000", "-", "-", "2.00", "8.00", "25.0", "2.00"},
	}
	for i, row := range want {
		for j, c := range row {
			if tab.Rows[i][j] != c {
				t.Errorf("row %d col %d (%s) = %q, want %q", i, j, tab.Header[j], tab.Rows[i][j], c)
			}
		}
	}
	both := buildTable([]Kind{Wharf, Distribution}, res)
	if got := both.Rows[0][4]; got != "5.00x" {
		t.Errorf("ratio = %q, want 5.00x", got)
	}
	if got := both.Rows[0][7]; got != "20.0 / 30.0" {
		t.Errorf("RSS pair = %q, want %q", got, "20.0 / 30.0")
	}
}

func TestScaleStages(t *testing.T) {
	tests := []struct {
		quick bool
		max   int
		want  []int
	}{
		{false, 100000, []int{1000, 10000, 100000}},
		{false, 50000, []int{1000, 10000, 50000}},
		{false, 1000, []int{1000}},
		{true, 100000, []int{100, 1000}},
	}
	for _, tt := range tests {
		got := scaleStages(tt.quick, tt.max)
		if len(got) != len(tt.want) {
			t.Errorf("scaleStages(%v, %d) = %v, want %v", tt.quick, tt.max, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("scaleStages(%v, %d) = %v, want %v", tt.quick, tt.max, got, tt.want)
			}
		}
	}
}

func TestCheckNames(t *testing.T) {
	tests := []struct {
		name      string
		got, want []string
		ok        bool
	}{
		{"same order", []string{"a", "b"}, []string{"a", "b"}, true},
		{"other order", []string{"b", "a"}, []string{"a", "b"}, true},
		{"missing", []string{"a"}, []string{"a", "b"}, false},
		{"duplicate", []string{"a", "a", "b"}, []string{"a", "b"}, false},
		{"extra", []string{"a", "b", "c"}, []string{"a", "b"}, false},
	}
	for _, tt := range tests {
		if err := checkNames("x", tt.got, tt.want); (err == nil) != tt.ok {
			t.Errorf("%s: checkNames error = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestBuildTableThreeServers: wharf is compared with the better peer on
// each line, higher for throughputs and lower for ms/ units, and every
// round of every server is listed.
func TestBuildTableThreeServers(t *testing.T) {
	res := &results{}
	for _, f := range []struct {
		label, unit string
		k           Kind
		v           float64
	}{
		{"push-large", "MB/s", Wharf, 600}, {"push-large", "MB/s", Distribution, 100}, {"push-large", "MB/s", DistributionV3, 200},
		{"push-large", "MB/s", Wharf, 300}, {"push-large", "MB/s", Distribution, 120}, {"push-large", "MB/s", DistributionV3, 250},
		{"catalog walk", "ms/walk", Wharf, 20}, {"catalog walk", "ms/walk", Distribution, 4400}, {"catalog walk", "ms/walk", DistributionV3, 400},
	} {
		res.add(f.label, f.unit, f.k, figure{value: f.v, rssMiB: f.v / 10})
	}
	kinds := []Kind{Wharf, Distribution, DistributionV3}
	tab := buildTable(kinds, res)
	tests := []struct {
		row, col int
		want     string
	}{
		{0, 2, "450"},   // wharf's median of 600 and 300
		{0, 4, "225"},   // v3's median
		{0, 5, "2.00x"}, // 450 over the best peer, v3's 225
		{0, 8, "60.0 / 12.0 / 25.0"},
		{1, 5, "20.0x"}, // 400 ms over wharf's 20 ms: lower is better
	}
	for _, tt := range tests {
		if got := tab.Rows[tt.row][tt.col]; got != tt.want {
			t.Errorf("row %d %s = %q, want %q", tt.row, tab.Header[tt.col], got, tt.want)
		}
	}
	rounds := buildRoundsTable(kinds, res)
	if len(rounds.Rows) != 6 || rounds.Rows[0][3] != "600" || rounds.Rows[0][4] != "300" || rounds.Rows[2][2] != DistributionV3.Label() {
		t.Errorf("rounds table = %q", rounds.Rows)
	}
}

func TestFormatList(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		vals []float64
		want string
	}{
		{[]float64{1, 2, 3}, "1.00 / 2.00 / 3.00"},
		{[]float64{1, nan, 3}, "1.00 / - / 3.00"},
		{[]float64{1, nan, nan}, "1.00"},
		{[]float64{nan, nan}, "-"},
		{nil, "-"},
	}
	for _, tt := range tests {
		if got := FormatList(tt.vals...); got != tt.want {
			t.Errorf("FormatList(%v) = %q, want %q", tt.vals, got, tt.want)
		}
	}
}
