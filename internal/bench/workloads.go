package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// sizes are the parameters of every workload (full or -quick).
type sizes struct {
	largeLayers   int           // push-large, push-chunked, push-docker, pull-large: layer count
	largeSize     int           // bytes per large layer
	chunk         int           // push-chunked PATCH size
	smallImages   int           // push-small: images
	smallRepos    int           // push-small: repositories
	smallConc     int           // push-small: concurrent image pushes
	smallLayers   int           // layers per small image
	smallLayerLen int           // bytes per small layer
	readRefs      int           // pull-manifest, head-blob: images to read from
	readConc      int           // pull-manifest, head-blob: concurrent clients
	catalogRepos  int           // catalog: one-image repositories
	catalogTags   int           // catalog: tags of the big repository
	mountConc     int           // mount: concurrent clients
	mountBlobs    int           // mount: distinct blobs mounted
	duration      time.Duration // timed workloads
}

// sizesFor returns the workload sizes of issue 6, or the smoke-run sizes.
func sizesFor(quick bool, duration time.Duration) sizes {
	s := sizes{
		largeLayers: 4, largeSize: 256 << 20, chunk: 8 << 20,
		smallImages: 500, smallRepos: 50, smallConc: 32, smallLayers: 3, smallLayerLen: 4 << 10,
		readRefs: 50, readConc: 64,
		catalogRepos: 2000, catalogTags: 1000,
		mountConc: 16, mountBlobs: 64,
		duration: duration,
	}
	if quick {
		s.largeSize = 16 << 20
		s.smallImages = 100
		s.catalogRepos, s.catalogTags = 200, 100
		if duration == 10*time.Second {
			s.duration = 2 * time.Second
		}
	}
	return s
}

// dataset is the content every workload pushes, generated and hashed once
// and shared by all rounds and both servers.
type dataset struct {
	sz        sizes
	largeOnce sync.Once
	largeImg  image
	smallOnce sync.Once
	smallImgs []image
}

// large returns the image of big random layers.
func (d *dataset) large() *image {
	d.largeOnce.Do(func() {
		layers := make([]blob, d.sz.largeLayers)
		var wg sync.WaitGroup
		for i := range layers {
			wg.Go(func() { layers[i] = newBlob(randomBytes(1<<40+uint64(i), d.sz.largeSize)) })
		}
		wg.Wait()
		d.largeImg = newImage(configBlob(1<<40), layers)
	})
	return &d.largeImg
}

// small returns the small images (1 KiB config, small layers), unique.
func (d *dataset) small() []image {
	d.smallOnce.Do(func() {
		d.smallImgs = make([]image, d.sz.smallImages)
		for i := range d.smallImgs {
			d.smallImgs[i] = smallImage(uint64(i+1), d.sz.smallLayers, d.sz.smallLayerLen)
		}
	})
	return d.smallImgs
}

// env is what a workload works with: a client of the server under test,
// the sizes and the shared data.
type env struct {
	c    *client
	sz   sizes
	data *dataset
	// fleet starts wharfs with extra config; wharf-only workloads only
	// (c is nil for them).
	fleet *fleet
}

// workload is one named benchmark: it prepares the server as it needs and
// measures one or more figures through the meter.
type workload struct {
	name string
	run  func(ctx context.Context, e *env, m *meter) error
	// wharfOnly workloads measure wharf features against wharf itself:
	// they start their own wharfs (env.fleet) and are skipped for peers.
	wharfOnly bool
	// diskProbe workloads are bound by the disk: a probe of it
	// (probeDisk) is recorded before every server starts.
	diskProbe bool
	// writeFloor workloads also record, before every server starts, what
	// a server that only receives, durably writes and hashes the large
	// layers gets (probeWriteFloor).
	writeFloor bool
}

// workloads lists every workload in the order they run.
var workloads = []workload{
	{name: "push-large", run: runPushLarge, diskProbe: true, writeFloor: true},
	{name: "push-chunked", run: runPushChunked, diskProbe: true},
	{name: "push-docker", run: runPushDocker, diskProbe: true},
	{name: "pull-large", run: runPullLarge},
	{name: "push-small", run: runPushSmall},
	{name: "pull-manifest", run: runPullManifest},
	{name: "head-blob", run: runHeadBlob},
	{name: "catalog", run: runCatalog},
	{name: "mount", run: runMount},
	{name: "mirror-hit", run: runMirrorHit, wharfOnly: true},
	{name: "push-webhook", run: runPushWebhook, wharfOnly: true},
}

// WorkloadNames returns the names -only accepts.
func WorkloadNames() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.name
	}
	return names
}

// mbPerSec converts bytes moved in d to MB/s (10^6 bytes).
func mbPerSec(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

func (im *image) layerBytes() int64 {
	var n int64
	for _, l := range im.layers {
		n += int64(len(l.data))
	}
	return n
}

// pushLarge pushes the large image with push (streamed or chunked), then
// its manifest.
func pushLarge(ctx context.Context, e *env, repo string, push func(context.Context, string, blob) error) error {
	im := e.data.large()
	for _, b := range im.blobs() {
		if err := push(ctx, repo, b); err != nil {
			return fmt.Errorf("pushing %s: %w", b.digest, err)
		}
	}
	return e.c.putManifest(ctx, repo, "latest", im)
}

func runPushLarge(ctx context.Context, e *env, m *meter) error {
	return measurePush(ctx, e, m, "push-large", "bench/large", e.c.pushStreamed)
}

func runPushChunked(ctx context.Context, e *env, m *meter) error {
	chunked := func(ctx context.Context, repo string, b blob) error {
		return e.c.pushChunked(ctx, repo, b, e.sz.chunk)
	}
	return measurePush(ctx, e, m, "push-chunked", "bench/chunked", chunked)
}

// runPushDocker pushes the large image as push-large does, but in the
// 32 KiB HTTP chunks docker sends: a server pays per chunk for parsing and
// for reads no bigger than one.
func runPushDocker(ctx context.Context, e *env, m *meter) error {
	return measurePush(ctx, e, m, "push-docker", "bench/docker", e.c.pushDockerChunks)
}

// measurePush times pushLarge into repo with push and records the layer
// bytes' MB/s under label.
func measurePush(ctx context.Context, e *env, m *meter, label, repo string, push func(context.Context, string, blob) error) error {
	im := e.data.large()
	return m.measure(label, "MB/s", func() (float64, *Latency, error) {
		start := time.Now()
		if err := pushLarge(ctx, e, repo, push); err != nil {
			return 0, nil, err
		}
		return mbPerSec(im.layerBytes(), time.Since(start)), nil, nil
	})
}

func runPullLarge(ctx context.Context, e *env, m *meter) error {
	const repo = "bench/large"
	im := e.data.large()
	if err := pushLarge(ctx, e, repo, e.c.pushStreamed); err != nil {
		return fmt.Errorf("pull-large setup: %w", err)
	}
	for _, readers := range []int{1, 4} {
		label := fmt.Sprintf("pull-large x%d", readers)
		if err := measurePullLarge(ctx, e.c, m, label, repo, im, readers); err != nil {
			return err
		}
	}
	return nil
}

// measurePullLarge GETs (and verifies) im's layers from repo with readers
// at once and records MB/s under label.
func measurePullLarge(ctx context.Context, c *client, m *meter, label, repo string, im *image, readers int) error {
	return m.measure(label, "MB/s", func() (float64, *Latency, error) {
		start := time.Now()
		err := parallel(ctx, readers, len(im.layers), func(ctx context.Context, i int) error {
			return c.pullVerify(ctx, repo, im.layers[i])
		})
		return mbPerSec(im.layerBytes(), time.Since(start)), nil, err
	})
}

// smallRepo is the repository of the i-th small image.
func smallRepo(prefix string, i, repos int) string { return fmt.Sprintf("%s/r%02d", prefix, i%repos) }

// pushSmallImage pushes every blob of im (HEAD + POST + PATCH + PUT), then
// its manifest under tag.
func pushSmallImage(ctx context.Context, c *client, repo, tag string, im *image) error {
	for _, b := range im.blobs() {
		if err := c.pushSmall(ctx, repo, b); err != nil {
			return fmt.Errorf("pushing %s to %s: %w", b.digest, repo, err)
		}
	}
	return c.putManifest(ctx, repo, tag, im)
}

func runPushSmall(ctx context.Context, e *env, m *meter) error {
	return measurePushSmall(ctx, e.c, e.sz, e.data.small(), m, "push-small")
}

// measurePushSmall pushes imgs sz.smallConc at a time into sz.smallRepos
// repositories and records images/s and the latency per image under label.
func measurePushSmall(ctx context.Context, c *client, sz sizes, imgs []image, m *meter, label string) error {
	return m.measure(label, "images/s", func() (float64, *Latency, error) {
		elapsed, lat, err := queueLoop(ctx, sz.smallConc, len(imgs), func(ctx context.Context, i int) error {
			tag := fmt.Sprintf("v%d", i/sz.smallRepos)
			return pushSmallImage(ctx, c, smallRepo("small", i, sz.smallRepos), tag, &imgs[i])
		})
		return float64(len(imgs)) / elapsed.Seconds(), &lat, err
	})
}

// imageRef is an image pushed as repo:tag.
type imageRef struct {
	repo, tag string
	im        *image
}

// setupReadImages pushes the first sz.readRefs small images into 10
// repositories for the read workloads.
func setupReadImages(ctx context.Context, e *env) ([]imageRef, error) {
	imgs := e.data.small()
	refs := make([]imageRef, min(e.sz.readRefs, len(imgs)))
	for i := range refs {
		refs[i] = imageRef{smallRepo("read", i, 10), fmt.Sprintf("t%d", i), &imgs[i]}
	}
	err := parallel(ctx, 8, len(refs), func(ctx context.Context, i int) error {
		return pushSmallImage(ctx, e.c, refs[i].repo, refs[i].tag, refs[i].im)
	})
	if err != nil {
		return nil, fmt.Errorf("read workload setup: %w", err)
	}
	return refs, nil
}

func runPullManifest(ctx context.Context, e *env, m *meter) error {
	refs, err := setupReadImages(ctx, e)
	if err != nil {
		return err
	}
	return measureManifests(ctx, e.c, e.sz, m, "pull-manifest", "", refs)
}

// measureManifests GETs the manifests of refs by tag, their repositories
// prefixed with prefix, from sz.readConc clients for sz.duration and
// records req/s and latencies under label.
func measureManifests(ctx context.Context, c *client, sz sizes, m *meter, label, prefix string, refs []imageRef) error {
	return m.measure(label, "req/s", func() (float64, *Latency, error) {
		rate, lat, err := timedLoop(ctx, sz.readConc, sz.duration, func(ctx context.Context, w, i int) error {
			r := refs[(w*7+i)%len(refs)]
			return c.getManifest(ctx, prefix+r.repo, r.tag, r.im.manifest.digest)
		})
		return rate, &lat, err
	})
}

func runHeadBlob(ctx context.Context, e *env, m *meter) error {
	refs, err := setupReadImages(ctx, e)
	if err != nil {
		return err
	}
	type repoBlob struct {
		repo string
		b    blob
	}
	var blobs []repoBlob
	for _, r := range refs {
		for _, b := range r.im.blobs() {
			blobs = append(blobs, repoBlob{r.repo, b})
		}
	}
	return m.measure("head-blob", "req/s", func() (float64, *Latency, error) {
		rate, lat, err := timedLoop(ctx, e.sz.readConc, e.sz.duration, func(ctx context.Context, w, i int) error {
			rb := blobs[(w*13+i)%len(blobs)]
			return e.c.headBlob(ctx, rb.repo, rb.b)
		})
		return rate, &lat, err
	})
}

// catalogRepo names the i-th catalog repository; the zero padding makes
// lexical order numeric order.
func catalogRepo(i int) string { return fmt.Sprintf("cat/r%05d", i) }

// setupCatalog creates sz.catalogRepos one-image repositories (blobs pushed
// once, then mounted) and gives the first one sz.catalogTags tags.
func setupCatalog(ctx context.Context, e *env) error {
	im := &e.data.small()[0]
	first := catalogRepo(0)
	if err := pushSmallImage(ctx, e.c, first, "latest", im); err != nil {
		return fmt.Errorf("catalog setup: %w", err)
	}
	err := parallel(ctx, 16, e.sz.catalogRepos-1, func(ctx context.Context, i int) error {
		return mountImage(ctx, e.c, catalogRepo(i+1), first, "latest", im)
	})
	if err != nil {
		return fmt.Errorf("catalog setup: %w", err)
	}
	err = parallel(ctx, 16, e.sz.catalogTags-1, func(ctx context.Context, i int) error {
		return e.c.putManifest(ctx, first, fmt.Sprintf("t%04d", i+1), im)
	})
	if err != nil {
		return fmt.Errorf("catalog tags setup: %w", err)
	}
	return nil
}

// mountImage creates repo:tag holding im by mounting its blobs from from.
func mountImage(ctx context.Context, c *client, repo, from, tag string, im *image) error {
	for _, b := range im.blobs() {
		if err := c.mount(ctx, repo, from, b.digest); err != nil {
			return fmt.Errorf("%s: %w", repo, err)
		}
	}
	return c.putManifest(ctx, repo, tag, im)
}

// listing is the JSON of a catalog or tag list page.
type listing struct {
	Repositories []string `json:"repositories"`
	Tags         []string `json:"tags"`
}

// walk GETs path and every page its Link headers lead to, and returns all
// the names listed.
func (c *client) walk(ctx context.Context, path string) ([]string, error) {
	var names []string
	for pages := 0; path != ""; pages++ {
		if pages > 100000 {
			return nil, fmt.Errorf("walk of %s: more than 100000 pages", path)
		}
		var l listing
		link, err := c.getJSON(ctx, path, &l)
		if err != nil {
			return nil, err
		}
		names = append(names, l.Repositories...)
		names = append(names, l.Tags...)
		path = link
	}
	return names, nil
}

// checkNames fails unless got holds exactly the want names, each once, in
// any order.
func checkNames(what string, got, want []string) error {
	g := slices.Clone(got)
	slices.Sort(g)
	if len(slices.Compact(slices.Clone(g))) != len(g) {
		return fmt.Errorf("%s: duplicate names among %d", what, len(g))
	}
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		return fmt.Errorf("%s: got %d names, want %d (first got %q)", what, len(g), len(w), first(g))
	}
	return nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// repeatTimed runs op at least 3 times and until 2s have passed, at most
// 50 times, and returns the median duration (ms) with the spread.
func repeatTimed(ctx context.Context, op func(ctx context.Context) error) (float64, *Latency, error) {
	var lats []time.Duration
	start := time.Now()
	for len(lats) < 3 || (time.Since(start) < 2*time.Second && len(lats) < 50) {
		t0 := time.Now()
		if err := op(ctx); err != nil {
			return 0, nil, err
		}
		lats = append(lats, time.Since(t0))
	}
	secs := make([]float64, len(lats))
	for i, l := range lats {
		secs[i] = ms(l)
	}
	lat := Summarize(lats)
	return Median(secs), &lat, nil
}

func runCatalog(ctx context.Context, e *env, m *meter) error {
	if err := setupCatalog(ctx, e); err != nil {
		return err
	}
	wantRepos := make([]string, e.sz.catalogRepos)
	for i := range wantRepos {
		wantRepos[i] = catalogRepo(i)
	}
	wantTags := []string{"latest"}
	for i := 1; i < e.sz.catalogTags; i++ {
		wantTags = append(wantTags, fmt.Sprintf("t%04d", i))
	}
	label := fmt.Sprintf("catalog walk (%d repos, n=100)", e.sz.catalogRepos)
	err := m.measure(label, "ms/walk", func() (float64, *Latency, error) {
		return repeatTimed(ctx, func(ctx context.Context) error {
			names, err := e.c.walk(ctx, "/v2/_catalog?n=100")
			if err != nil {
				return err
			}
			return checkNames("catalog", names, wantRepos)
		})
	})
	if err != nil {
		return err
	}
	label = fmt.Sprintf("tag list (%d tags)", e.sz.catalogTags)
	return m.measure(label, "ms/list", func() (float64, *Latency, error) {
		return repeatTimed(ctx, func(ctx context.Context) error {
			names, err := e.c.walk(ctx, "/v2/"+catalogRepo(0)+"/tags/list")
			if err != nil {
				return err
			}
			return checkNames("tag list", names, wantTags)
		})
	})
}

func runMount(ctx context.Context, e *env, m *meter) error {
	const src = "mount/src"
	blobs := make([]blob, e.sz.mountBlobs)
	for i := range blobs {
		blobs[i] = newBlob(randomBytes(1<<50+uint64(i), 4<<10))
	}
	err := parallel(ctx, 8, len(blobs), func(ctx context.Context, i int) error {
		return e.c.pushSmall(ctx, src, blobs[i])
	})
	if err != nil {
		return fmt.Errorf("mount setup: %w", err)
	}
	return m.measure("mount", "ops/s", func() (float64, *Latency, error) {
		rate, lat, err := timedLoop(ctx, e.sz.mountConc, e.sz.duration, func(ctx context.Context, w, i int) error {
			repo := fmt.Sprintf("mount/w%02d-%07d", w, i)
			return e.c.mount(ctx, repo, src, blobs[(w+i)%len(blobs)].digest)
		})
		return rate, &lat, err
	})
}

var acceptJSON = http.Header{"Accept": {"application/json"}}
