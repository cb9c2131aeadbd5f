// Package bench runs the same registry workloads against wharf and against
// distribution (Debian's docker-registry 2.8.2), interleaved over several
// rounds, and reports medians side by side with each server's peak RSS and
// CPU time. It also has a scale run that fills wharf's metadata store with
// many repositories and tags and reports how listing and manifest latency
// grow.
package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// Options configures a side-by-side run.
type Options struct {
	WharfBin  string        // path of the wharf binary
	Rounds    int           // rounds of A B per workload (medians are reported)
	Only      []string      // workload names to run; empty: all
	Duration  time.Duration // length of the timed workloads
	Quick     bool          // smoke-run sizes
	WharfOnly bool          // skip distribution
	Out       string        // also write the table as Markdown here
	TmpDir    string        // parent of the servers' storage directories
	Stdout    io.Writer     // the table
	Stderr    io.Writer     // progress
}

// figure is one measurement of one round on one server.
type figure struct {
	value  float64
	lat    *Latency
	rssMiB float64 // peak VmRSS sampled during the measurement
	cpuSec float64 // server utime+stime during the measurement
}

// series collects the figures of one measured quantity.
type series struct {
	label, unit string
	byKind      map[Kind][]figure
}

// results keeps series in the order they were first measured.
type results struct {
	order []*series
}

func (r *results) add(label, unit string, k Kind, f figure) {
	i := slices.IndexFunc(r.order, func(s *series) bool { return s.label == label })
	if i < 0 {
		r.order = append(r.order, &series{label: label, unit: unit, byKind: map[Kind][]figure{}})
		i = len(r.order) - 1
	}
	s := r.order[i]
	s.byKind[k] = append(s.byKind[k], f)
}

// meter measures the figures of a workload on one server: the server's CPU
// time and peak RSS around each measured function.
type meter struct {
	srv   *server
	round int
	res   *results
	logf  func(string, ...any)
}

// measure runs f, which returns the figure and optionally latencies, and
// records it with the server's CPU seconds and peak RSS over the call.
func (m *meter) measure(label, unit string, f func() (float64, *Latency, error)) error {
	pid := m.srv.pid()
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	self0, _ := cpuSeconds(os.Getpid())
	rss := startRSSSampler(pid)
	value, lat, err := f()
	peak := rss.Stop()
	if aerr := m.srv.alive(); aerr != nil {
		err = aerr
	}
	if err != nil {
		return fmt.Errorf("%s on %s: %w", label, m.srv.kind, err)
	}
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	self1, _ := cpuSeconds(os.Getpid())
	fig := figure{value: value, lat: lat, rssMiB: peak, cpuSec: cpu1 - cpu0}
	m.res.add(label, unit, m.srv.kind, fig)
	extra := ""
	if lat != nil {
		extra = fmt.Sprintf(" p50 %.2fms p99 %.2fms n=%d", ms(lat.P50), ms(lat.P99), lat.Count)
	}
	m.logf("round %d %-13s %-30s %10s %s%s  (server cpu %.2fs, rss %.0f MiB; bench cpu %.2fs)",
		m.round, m.srv.kind, label, FormatFigure(value), unit, extra, fig.cpuSec, peak, self1-self0)
	return nil
}

// Run runs the selected workloads against wharf and (unless WharfOnly)
// distribution, A B A B for o.Rounds rounds with a fresh server each time,
// and prints the table of medians.
func Run(ctx context.Context, o Options) error {
	logf := func(format string, args ...any) { fmt.Fprintf(o.Stderr, "bench: "+format+"\n", args...) }
	selected, err := selectWorkloads(o.Only)
	if err != nil {
		return err
	}
	kinds := []Kind{Wharf}
	if !o.WharfOnly {
		if err := ensureDistribution(ctx, logf); err != nil {
			return err
		}
		kinds = append(kinds, Distribution)
	}
	if _, err := os.Stat(o.WharfBin); err != nil {
		return fmt.Errorf("wharf binary: %w", err)
	}
	data := &dataset{sz: sizesFor(o.Quick, o.Duration)}
	logf("generating test data")
	data.large()
	data.small()
	res := &results{}
	hc := newHTTPClient()
	for _, w := range selected {
		for round := 1; round <= o.Rounds; round++ {
			for _, k := range kinds {
				if err := runOne(ctx, o, w, k, round, data, hc, res, logf); err != nil {
					return err
				}
			}
		}
	}
	return report(o, kinds, res)
}

// selectWorkloads returns the workloads named in only (all when empty), in
// their standard order.
func selectWorkloads(only []string) ([]workload, error) {
	if len(only) == 0 {
		return workloads, nil
	}
	var out []workload
	for _, name := range only {
		if !slices.Contains(WorkloadNames(), name) {
			return nil, fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(WorkloadNames(), ", "))
		}
	}
	for _, w := range workloads {
		if slices.Contains(only, w.name) {
			out = append(out, w)
		}
	}
	return out, nil
}

// runOne starts a fresh server of kind k, runs workload w against it and
// stops it again.
func runOne(ctx context.Context, o Options, w workload, k Kind, round int, data *dataset, hc *http.Client, res *results, logf func(string, ...any)) error {
	srv, err := startServer(ctx, k, o.WharfBin, o.TmpDir)
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	c, err := newClient(srv.base, hc)
	if err != nil {
		srv.stop()
		return err
	}
	e := &env{c: c, sz: data.sz, data: data}
	m := &meter{srv: srv, round: round, res: res, logf: logf}
	runErr := w.run(ctx, e, m)
	if runErr != nil {
		runErr = fmt.Errorf("workload %s, round %d, %s: %w\nserver log tail:\n%s", w.name, round, k, runErr, srv.logTail())
	}
	if err := srv.stop(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// report prints the table of medians and writes it as Markdown to o.Out.
func report(o Options, kinds []Kind, res *results) error {
	t := buildTable(kinds, res)
	notes := tableNotes(o)
	fmt.Fprintln(o.Stdout)
	fmt.Fprint(o.Stdout, t.Text())
	fmt.Fprintln(o.Stdout, notes)
	if o.Out == "" {
		return nil
	}
	md := t.Markdown() + "\n" + notes + "\n"
	if err := os.WriteFile(o.Out, []byte(md), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", o.Out, err)
	}
	return nil
}

func tableNotes(o Options) string {
	return fmt.Sprintf("Medians of %d rounds (wharf, distribution interleaved, a fresh server each time); "+
		"MB = 10^6 bytes; p50/p99 in ms (per request, per image for push-small, per walk/list for catalog); "+
		"RSS = highest VmRSS sampled every 50 ms during the measurement, max over rounds; "+
		"CPU = server utime+stime during the measurement.", o.Rounds)
}

// summary is the median figures of one series on one server.
type summary struct {
	value, p50, p99, rss, cpu float64
}

// summarize reduces the rounds: medians of every figure, the maximum of
// the peak RSS. A server with no figures gives NaNs.
func summarize(figs []figure) summary {
	nan := math.NaN()
	if len(figs) == 0 {
		return summary{nan, nan, nan, nan, nan}
	}
	var vals, p50, p99, cpu []float64
	rss := 0.0
	for _, f := range figs {
		vals = append(vals, f.value)
		cpu = append(cpu, f.cpuSec)
		rss = max(rss, f.rssMiB)
		if f.lat != nil {
			p50 = append(p50, ms(f.lat.P50))
			p99 = append(p99, ms(f.lat.P99))
		}
	}
	return summary{Median(vals), Median(p50), Median(p99), rss, Median(cpu)}
}

// buildTable lays out one row per series: wharf's and distribution's
// medians, their ratio, latencies, RSS and CPU as "wharf / distribution".
func buildTable(kinds []Kind, res *results) *Table {
	t := &Table{Header: []string{"workload", "unit", "wharf", "distribution", "wharf/dist",
		"p50 ms (w / d)", "p99 ms (w / d)", "peak RSS MiB (w / d)", "CPU s (w / d)"}}
	for _, s := range res.order {
		w := summarize(s.byKind[Wharf])
		d := summarize(nil)
		if slices.Contains(kinds, Distribution) {
			d = summarize(s.byKind[Distribution])
		}
		t.AddRow(s.label, s.unit, FormatFigure(w.value), FormatFigure(d.value), FormatRatio(w.value, d.value),
			FormatPair(w.p50, d.p50), FormatPair(w.p99, d.p99), FormatPair(w.rss, d.rss), FormatPair(w.cpu, d.cpu))
	}
	return t
}
