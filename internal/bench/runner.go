// Package bench runs the same registry workloads against wharf and against
// distribution (Debian's docker-registry 2.8.2, and v3 as registry:3 runs
// it), interleaved over several rounds, and reports medians and every
// round's figures side by side with each server's peak RSS and CPU time.
// Wharf-only workloads (workloads_product.go) measure wharf features
// against wharf itself in the same tables. It also has a scale run that
// fills wharf's metadata store with many repositories and tags and reports
// how listing and manifest latency grow.
package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
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
	// Peers are the other registries to run beside wharf (Distribution,
	// DistributionV3); empty: both.
	Peers []Kind
	// CacheDir keeps what the bench installs (distribution v3's binary).
	CacheDir string
	// Fair syncs and drops the page cache before every server starts, so
	// one server's deferred writeback is not billed to the next.
	Fair   bool
	Out    string    // also write the table as Markdown here
	TmpDir string    // parent of the servers' storage directories
	Stdout io.Writer // the table
	Stderr io.Writer // progress
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
	// probe marks a measurement of the machine taken before a server
	// starts, not of the server: no ratio, latency, RSS or CPU.
	probe bool
}

// results keeps series in the order they were first measured.
type results struct {
	order []*series
}

func (r *results) add(label, unit string, k Kind, f figure) { r.series(label, unit).addFigure(k, f) }

// addProbe records a machine probe taken before server k started.
func (r *results) addProbe(label, unit string, k Kind, value float64) {
	s := r.series(label, unit)
	s.probe = true
	s.addFigure(k, figure{value: value})
}

// series returns the series called label, made on first use.
func (r *results) series(label, unit string) *series {
	i := slices.IndexFunc(r.order, func(s *series) bool { return s.label == label })
	if i < 0 {
		r.order = append(r.order, &series{label: label, unit: unit, byKind: map[Kind][]figure{}})
		i = len(r.order) - 1
	}
	return r.order[i]
}

func (s *series) addFigure(k Kind, f figure) { s.byKind[k] = append(s.byKind[k], f) }

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
	mach0, machErr := readMachineTimes()
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
	busy := ""
	if mach1, err := readMachineTimes(); err == nil && machErr == nil {
		if share := busyShare(mach0, mach1); share >= 0 {
			busy = fmt.Sprintf("; machine busy %.0f%%", 100*share)
		}
	}
	fig := figure{value: value, lat: lat, rssMiB: peak, cpuSec: cpu1 - cpu0}
	m.res.add(label, unit, m.srv.kind, fig)
	extra := ""
	if lat != nil {
		extra = fmt.Sprintf(" p50 %.2fms p99 %.2fms n=%d", ms(lat.P50), ms(lat.P99), lat.Count)
	}
	m.logf("round %d %-13s %-30s %10s %s%s  (server cpu %.2fs, rss %.0f MiB; bench cpu %.2fs%s)",
		m.round, m.srv.kind, label, FormatFigure(value), unit, extra, fig.cpuSec, peak, self1-self0, busy)
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
	if _, err := os.Stat(o.WharfBin); err != nil {
		return fmt.Errorf("wharf binary: %w", err)
	}
	kinds, bins, err := prepareKinds(ctx, o, logf)
	if err != nil {
		return err
	}
	data := &dataset{sz: sizesFor(o.Quick, o.Duration)}
	logf("generating test data")
	data.large()
	data.small()
	if err := warmUp(ctx, data.large()); err != nil {
		return err
	}
	res := &results{}
	hc := newHTTPClient()
	for _, w := range selected {
		for round := 1; round <= o.Rounds; round++ {
			for _, k := range roundOrder(kinds, round) {
				if err := runOne(ctx, o, w, k, bins[k], round, data, hc, res, logf); err != nil {
					return err
				}
			}
		}
	}
	return report(o, kinds, res)
}

// warmUp sends the large layers once over loopback to a sink in this
// process before anything is measured. The first send of that much data
// cost the client 1.3-1.6 CPU-seconds instead of 0.3 (memory the VM had
// not handed to the kernel yet), and the server measured first paid for it.
func warmUp(ctx context.Context, im *image) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	defer ln.Close()
	drained := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			_, err = io.Copy(io.Discard, conn)
			conn.Close()
		}
		drained <- err
	}()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for _, b := range im.layers {
		if _, err := conn.Write(b.data); err != nil {
			conn.Close()
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	conn.Close()
	if err := <-drained; err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	return nil
}

// roundOrder rotates the servers by round, so none always runs first:
// whatever the machine still does after a server stops (writeback, freed
// memory) falls on the next one, and before warmUp the first measurement
// cost the client 1.5 s of CPU instead of 0.3.
func roundOrder(kinds []Kind, round int) []Kind {
	out := make([]Kind, 0, len(kinds))
	for i := range kinds {
		out = append(out, kinds[(i+round-1)%len(kinds)])
	}
	return out
}

// prepareKinds returns the registries to run, wharf first, and the binary
// of each, installing distribution 2.8.2 (apt) and v3 (go install) when
// missing.
func prepareKinds(ctx context.Context, o Options, logf func(string, ...any)) ([]Kind, map[Kind]string, error) {
	kinds, bins := []Kind{Wharf}, map[Kind]string{Wharf: o.WharfBin}
	if o.WharfOnly {
		return kinds, bins, nil
	}
	peers := o.Peers
	if len(peers) == 0 {
		peers = []Kind{Distribution, DistributionV3}
	}
	for _, k := range peers {
		switch k {
		case Distribution:
			if err := ensureDistribution(ctx, logf); err != nil {
				return nil, nil, err
			}
			bins[k] = DistributionBinary
		case DistributionV3:
			if o.CacheDir == "" {
				return nil, nil, fmt.Errorf("distribution v3 needs a cache directory (-cache)")
			}
			if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
				return nil, nil, fmt.Errorf("cache directory: %w", err)
			}
			bin, err := ensureDistributionV3(ctx, o.CacheDir, logf)
			if err != nil {
				return nil, nil, err
			}
			bins[k] = bin
		default:
			return nil, nil, fmt.Errorf("unknown peer %q (have %s, %s)", k, Distribution, DistributionV3)
		}
		kinds = append(kinds, k)
	}
	return kinds, bins, nil
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
func runOne(ctx context.Context, o Options, w workload, k Kind, bin string, round int, data *dataset, hc *http.Client, res *results, logf func(string, ...any)) error {
	if w.wharfOnly {
		if k != Wharf {
			return nil // a wharf feature: the peers' columns stay "-"
		}
		return runWharfOnly(ctx, o, w, bin, round, data, hc, res, logf)
	}
	if w.diskProbe {
		mbps, err := probeDisk(o.TmpDir)
		if err != nil {
			return err
		}
		res.addProbe("disk before "+w.name, "MB/s", k, mbps)
		logf("round %d %-13s disk before %-18s %10s MB/s  (%d MiB written and synced)", round, k, w.name, FormatFigure(mbps), probeBytes>>20)
	}
	if w.writeFloor {
		// In the memory state the server will meet, not the one the disk
		// probe just left.
		if o.Fair {
			if err := dropCaches(); err != nil {
				return err
			}
		}
		mbps, err := probeWriteFloor(ctx, o.TmpDir, data.large())
		if err != nil {
			return err
		}
		res.addProbe("write floor before "+w.name, "MB/s", k, mbps)
		logf("round %d %-13s write floor before %-10s %10s MB/s  (received, written durably and hashed; no registry)", round, k, w.name, FormatFigure(mbps))
	}
	if o.Fair {
		if err := dropCaches(); err != nil {
			return err
		}
	}
	srv, err := startServer(ctx, k, bin, o.TmpDir)
	if err != nil {
		return err
	}
	c, err := newClient(srv.base, hc)
	if err != nil {
		srv.stop()
		return err
	}
	defer c.close()
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
	rounds := buildRoundsTable(kinds, res)
	notes := tableNotes(o, kinds)
	if slices.ContainsFunc(res.order, func(s *series) bool { return s.probe }) {
		notes += fmt.Sprintf(" disk before W = %d MiB written in 1 MiB writes and fsynced beside the servers' storage, "+
			"just before that server started for W: the disk's speed then, which a registry that syncs pays for.", probeBytes>>20)
	}
	if slices.ContainsFunc(res.order, func(s *series) bool { return strings.HasPrefix(s.label, "write floor") }) {
		notes += " write floor before W = W's layers pushed the same way, just before that server started, to a server " +
			"that only receives them, writes them durably and hashes them as wharf does, with no registry around it " +
			"(go test -bench PushFloor ./internal/bench has it and its parts): about the most a registry that verifies and syncs could reach then."
	}
	fmt.Fprintln(o.Stdout)
	fmt.Fprint(o.Stdout, t.Text())
	fmt.Fprintln(o.Stdout, notes)
	fmt.Fprintln(o.Stdout)
	fmt.Fprint(o.Stdout, rounds.Text())
	if o.Out == "" {
		return nil
	}
	md := t.Markdown() + "\n" + notes + "\n\nEvery round (in the order run):\n\n" + rounds.Markdown()
	if err := os.WriteFile(o.Out, []byte(md), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", o.Out, err)
	}
	return nil
}

func tableNotes(o Options, kinds []Kind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Label()
	}
	fair := ""
	if o.Fair {
		fair = "; page cache synced and dropped before every server start"
	}
	return fmt.Sprintf("Medians of %d rounds (%s interleaved, a fresh server each time%s); "+
		"best peer = the better of the others on that line (higher, or lower for ms/ units); "+
		"MB = 10^6 bytes; p50/p99 in ms (per request, per image for push-small, per walk/list for catalog); "+
		"RSS = highest VmRSS sampled every 50 ms during the measurement, max over rounds; "+
		"CPU = server utime+stime during the measurement.", o.Rounds, strings.Join(names, ", "), fair)
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

// lowerIsBetter reports whether a smaller figure of unit is the better one
// (times per walk or list), as opposed to throughputs.
func lowerIsBetter(unit string) bool { return strings.HasPrefix(unit, "ms/") }

// peersOf returns the kinds other than wharf; with none, distribution's
// column stays, empty, so tables keep one shape.
func peersOf(kinds []Kind) []Kind {
	var peers []Kind
	for _, k := range kinds {
		if k != Wharf {
			peers = append(peers, k)
		}
	}
	if len(peers) == 0 {
		peers = []Kind{Distribution}
	}
	return peers
}

// buildTable lays out one row per series: wharf's and each peer's medians,
// wharf against the best peer, and latencies, RSS and CPU as
// "wharf / peer / peer".
func buildTable(kinds []Kind, res *results) *Table {
	peers := peersOf(kinds)
	header := []string{"workload", "unit", Wharf.Label()}
	for _, p := range peers {
		header = append(header, p.Label())
	}
	header = append(header, "wharf vs best peer", "p50 ms", "p99 ms", "peak RSS MiB", "CPU s")
	t := &Table{Header: header}
	for _, s := range res.order {
		sums := []summary{summarize(s.byKind[Wharf])}
		for _, p := range peers {
			if slices.Contains(kinds, p) {
				sums = append(sums, summarize(s.byKind[p]))
			} else {
				sums = append(sums, summarize(nil))
			}
		}
		row := []string{s.label, s.unit}
		for _, sm := range sums {
			row = append(row, FormatFigure(sm.value))
		}
		if s.probe {
			t.AddRow(append(row, "-", "-", "-", "-", "-")...)
			continue
		}
		row = append(row, versusBest(s.unit, sums[0].value, sums[1:]),
			formatAll(sums, func(sm summary) float64 { return sm.p50 }),
			formatAll(sums, func(sm summary) float64 { return sm.p99 }),
			formatAll(sums, func(sm summary) float64 { return sm.rss }),
			formatAll(sums, func(sm summary) float64 { return sm.cpu }))
		t.AddRow(row...)
	}
	return t
}

// versusBest is wharf's figure over the best peer's, as a factor where more
// is better for wharf (the inverse ratio for ms/ units).
func versusBest(unit string, wharf float64, peers []summary) string {
	best := math.NaN()
	for _, p := range peers {
		switch {
		case math.IsNaN(p.value):
		case math.IsNaN(best), lowerIsBetter(unit) && p.value < best, !lowerIsBetter(unit) && p.value > best:
			best = p.value
		}
	}
	if lowerIsBetter(unit) {
		return FormatRatio(best, wharf)
	}
	return FormatRatio(wharf, best)
}

// formatAll prints one figure of every summary as "a / b / c"; "-" when
// all are missing, trailing missing ones left out.
func formatAll(sums []summary, f func(summary) float64) string {
	vals := make([]float64, len(sums))
	for i, sm := range sums {
		vals[i] = f(sm)
	}
	return FormatList(vals...)
}

// buildRoundsTable lists every round's figure of every series on every
// server, in the order run, so a bimodal result shows.
func buildRoundsTable(kinds []Kind, res *results) *Table {
	rounds := 0
	for _, s := range res.order {
		for _, figs := range s.byKind {
			rounds = max(rounds, len(figs))
		}
	}
	header := []string{"workload", "unit", "server"}
	for r := 1; r <= rounds; r++ {
		header = append(header, fmt.Sprintf("round %d", r))
	}
	t := &Table{Header: header}
	for _, s := range res.order {
		for _, k := range kinds {
			if len(s.byKind[k]) == 0 && k != Wharf {
				continue // a wharf-only workload: no rows for the peers
			}
			row := []string{s.label, s.unit, k.Label()}
			for _, f := range s.byKind[k] {
				row = append(row, FormatFigure(f.value))
			}
			t.AddRow(row...)
		}
	}
	return t
}
