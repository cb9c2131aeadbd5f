package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ScaleOptions configures the scale run.
type ScaleOptions struct {
	WharfBin    string
	TmpDir      string
	Out         string        // also write the table as Markdown here
	Quick       bool          // stages of 100 and 1,000 repositories
	Budget      time.Duration // time allowed for filling, all stages together
	MaxRepos    int           // the last stage
	TagsPerRepo int
	Stdout      io.Writer
	Stderr      io.Writer
}

// scaleRepo names the i-th repository of the scale run.
func scaleRepo(i int) string { return fmt.Sprintf("scale/r%06d", i) }

// scaleStages returns the repository counts at which latencies are
// measured: powers of ten from 1,000 (100 when quick) up to max, and max.
func scaleStages(quick bool, maxRepos int) []int {
	var out []int
	start := 1000
	if quick {
		start, maxRepos = 100, min(maxRepos, 1000)
	}
	for n := start; n < maxRepos; n *= 10 {
		out = append(out, n)
	}
	return append(out, maxRepos)
}

// scaleState is the progress of the fill: which repositories are complete.
type scaleState struct {
	im    *image
	tags  int
	done  []bool // done[i]: scaleRepo(i) has all its tags
	count int    // repositories created so far (complete or not)
}

func (s *scaleState) complete() []int {
	var out []int
	for i, ok := range s.done {
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// Scale starts one wharf, fills it stage by stage with one-image
// repositories (blobs pushed once, then mounted; every repository tagged
// TagsPerRepo times) and after each stage measures catalog pages, tag-list
// pages and manifest GETs. When the fill budget runs out it measures what
// was reached and says so.
func Scale(ctx context.Context, o ScaleOptions) error {
	logf := func(format string, args ...any) { fmt.Fprintf(o.Stderr, "bench-scale: "+format+"\n", args...) }
	srv, err := startServer(ctx, Wharf, o.WharfBin, o.TmpDir)
	if err != nil {
		return err
	}
	defer srv.stop()
	c, err := newClient(srv.base, newHTTPClient())
	if err != nil {
		return err
	}
	defer c.close()
	im := smallImage(1<<60, 1, 4<<10)
	st := &scaleState{im: &im, tags: o.TagsPerRepo, done: make([]bool, o.MaxRepos)}
	if err := pushSmallImage(ctx, c, scaleRepo(0), "t0", st.im); err != nil {
		return fmt.Errorf("scale setup: %w", err)
	}
	t := &Table{Header: []string{"repos", "tags", "fill repos/s", "catalog page p50 / p99 ms",
		"tag list page p50 / p99 ms", "manifest GET p50 / p99 ms", "catalog walk n=1000 ms", "RSS / VmHWM MiB", "metadata MiB"}}
	fillCtx, cancel := context.WithTimeout(ctx, o.Budget)
	defer cancel()
	note := ""
	for _, target := range scaleStages(o.Quick, o.MaxRepos) {
		rate, err := fillTo(fillCtx, c, st, target)
		if err != nil && !(errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) {
			return err
		}
		done := st.complete()
		if err != nil {
			note = fmt.Sprintf("The fill budget (%s) ran out at %d complete repositories, short of %d.", o.Budget, len(done), target)
			logf("%s", note)
		}
		row, merr := measureScale(ctx, c, srv, st, done, rate)
		if merr != nil {
			return merr
		}
		logf("%v", row)
		t.AddRow(row...)
		if err != nil {
			break
		}
	}
	return writeScaleReport(o, t, note)
}

// fillTo creates repositories up to target (one mount per blob, then a
// manifest PUT per tag), 32 at a time, and returns repositories per second.
func fillTo(ctx context.Context, c *client, st *scaleState, target int) (float64, error) {
	from, n := st.count, target-st.count
	if n <= 0 {
		return 0, nil
	}
	st.count = target
	elapsed, _, err := queueLoop(ctx, 32, n, func(ctx context.Context, j int) error {
		i := from + j
		if i > 0 {
			if err := mountImage(ctx, c, scaleRepo(i), scaleRepo(0), "t0", st.im); err != nil {
				return err
			}
		}
		if err := tagAll(ctx, c, scaleRepo(i), st, 1); err != nil {
			return err
		}
		st.done[i] = true
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// tagAll PUTs the manifest under the tags t<from>..t<tags-1>.
func tagAll(ctx context.Context, c *client, repo string, st *scaleState, from int) error {
	for k := from; k < st.tags; k++ {
		if err := c.putManifest(ctx, repo, "t"+strconv.Itoa(k), st.im); err != nil {
			return err
		}
	}
	return nil
}

// measureScale samples catalog pages from random positions, tag lists and
// manifests of random complete repositories, and one full catalog walk.
func measureScale(ctx context.Context, c *client, srv *server, st *scaleState, done []int, rate float64) ([]string, error) {
	if len(done) == 0 {
		return nil, fmt.Errorf("no complete repository to measure")
	}
	rng := rand.New(rand.NewPCG(uint64(len(done)), 6))
	pick := make([]int, 4000)
	for i := range pick {
		pick[i] = done[rng.IntN(len(done))]
	}
	catalog, err := timedN(ctx, 8, 400, func(ctx context.Context, i int) error {
		return checkCatalogPage(ctx, c, scaleRepo(pick[i]))
	})
	if err != nil {
		return nil, err
	}
	tags, err := timedN(ctx, 8, 400, func(ctx context.Context, i int) error {
		var l listing
		if _, err := c.getJSON(ctx, "/v2/"+scaleRepo(pick[i])+"/tags/list?n=100", &l); err != nil {
			return err
		}
		if len(l.Tags) != st.tags {
			return fmt.Errorf("tag list of %s: %d tags, want %d", scaleRepo(pick[i]), len(l.Tags), st.tags)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	manifests, err := timedN(ctx, 16, len(pick), func(ctx context.Context, i int) error {
		tag := "t" + strconv.Itoa(i%st.tags)
		return c.getManifest(ctx, scaleRepo(pick[i]), tag, st.im.manifest.digest)
	})
	if err != nil {
		return nil, err
	}
	walkStart := time.Now()
	names, err := c.walk(ctx, "/v2/_catalog?n=1000")
	if err != nil {
		return nil, err
	}
	walk := time.Since(walkStart)
	if len(names) < len(done) {
		return nil, fmt.Errorf("catalog walk: %d repositories, want at least %d", len(names), len(done))
	}
	rss, _ := statusKiB(srv.pid(), "VmRSS")
	hwm, _ := statusKiB(srv.pid(), "VmHWM")
	return []string{
		strconv.Itoa(len(done)), strconv.Itoa(len(done) * st.tags), FormatFigure(rate),
		latPair(catalog), latPair(tags), latPair(manifests), FormatFigure(ms(walk)),
		fmt.Sprintf("%.0f / %.0f", float64(rss)/1024, float64(hwm)/1024),
		FormatFigure(float64(dirSize(filepath.Join(srv.dir, "storage", "metadata"))) / (1 << 20)),
	}, nil
}

// checkCatalogPage GETs the page after last and checks it is ordered and
// starts after last.
func checkCatalogPage(ctx context.Context, c *client, last string) error {
	var l listing
	if _, err := c.getJSON(ctx, "/v2/_catalog?n=100&last="+last, &l); err != nil {
		return err
	}
	if len(l.Repositories) > 100 {
		return fmt.Errorf("catalog page after %s: %d entries, asked for 100", last, len(l.Repositories))
	}
	prev := last
	for _, r := range l.Repositories {
		if r <= prev {
			return fmt.Errorf("catalog page after %s: %q out of order", last, r)
		}
		prev = r
	}
	return nil
}

// timedN runs n calls on workers goroutines and summarizes their latency.
func timedN(ctx context.Context, workers, n int, op func(ctx context.Context, i int) error) (Latency, error) {
	_, lat, err := queueLoop(ctx, workers, n, op)
	return lat, err
}

func latPair(l Latency) string { return FormatPair(ms(l.P50), ms(l.P99)) }

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func writeScaleReport(o ScaleOptions, t *Table, note string) error {
	text := fmt.Sprintf("One wharf, %d tags per repository, one image (1 KiB config + 4 KiB layer) mounted into every repository; "+
		"catalog pages n=100 after a random repository (8 concurrent), tag lists n=100 of random repositories (8 concurrent), "+
		"manifest GETs by tag (16 concurrent). %s", o.TagsPerRepo, note)
	fmt.Fprintln(o.Stdout)
	fmt.Fprint(o.Stdout, t.Text())
	fmt.Fprintln(o.Stdout, text)
	if o.Out == "" {
		return nil
	}
	if err := os.WriteFile(o.Out, []byte(t.Markdown()+"\n"+text+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", o.Out, err)
	}
	return nil
}
