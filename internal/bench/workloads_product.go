package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// This file holds the wharf-only workloads: they compare wharf with itself
// (a pull-through cache hit against hosted content, a push with a webhook
// endpoint against one without), so peers are skipped and show "-".

// fleet starts the wharfs a wharf-only workload needs, each with its own
// extra configuration, and stops them all when the workload ends.
type fleet struct {
	o       Options
	bin     string
	hc      *http.Client
	servers []*server
	roles   []string
	clients []*client
}

// start starts a fresh wharf with extra appended to its config; role names
// it in error messages.
func (f *fleet) start(ctx context.Context, role, extra string) (*server, *client, error) {
	if f.o.Fair {
		if err := dropCaches(); err != nil {
			return nil, nil, err
		}
	}
	srv, err := startServerWith(ctx, Wharf, f.bin, f.o.TmpDir, extra)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the %s wharf: %w", role, err)
	}
	f.servers = append(f.servers, srv)
	f.roles = append(f.roles, role)
	c, err := newClient(srv.base, f.hc)
	if err != nil {
		return nil, nil, err
	}
	f.clients = append(f.clients, c)
	return srv, c, nil
}

// logTails returns the log tail of every wharf still running.
func (f *fleet) logTails() string {
	var b strings.Builder
	for i, s := range f.servers {
		if !s.stopped {
			fmt.Fprintf(&b, "%s wharf log tail:\n%s\n", f.roles[i], s.logTail())
		}
	}
	return b.String()
}

// stopAll drops the clients' idle connections and stops every wharf
// started (those stopped already are skipped); it returns the first error.
func (f *fleet) stopAll() error {
	for _, c := range f.clients {
		c.close()
	}
	var first error
	for _, s := range f.servers {
		if err := s.stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// runWharfOnly runs a wharf-only workload: it starts its own wharfs
// through the fleet, and its meters follow the wharf being measured.
func runWharfOnly(ctx context.Context, o Options, w workload, bin string, round int, data *dataset, hc *http.Client, res *results, logf func(string, ...any)) error {
	f := &fleet{o: o, bin: bin, hc: hc}
	e := &env{sz: data.sz, data: data, fleet: f}
	m := &meter{round: round, res: res, logf: logf}
	runErr := w.run(ctx, e, m)
	if runErr != nil {
		runErr = fmt.Errorf("workload %s, round %d, %s: %w\n%s", w.name, round, Wharf, runErr, f.logTails())
	}
	if err := f.stopAll(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// on returns a meter recording the CPU and RSS of srv.
func (m *meter) on(srv *server) *meter {
	c := *m
	c.srv = srv
	return &c
}

// inRoundOrder returns the variants as given in odd rounds and reversed in
// even ones, so neither variant always runs first (on a warmer machine,
// or with the other's writeback still going).
func inRoundOrder[T any](round int, variants []T) []T {
	out := slices.Clone(variants)
	if round%2 == 0 {
		slices.Reverse(out)
	}
	return out
}

// mirrorUpstream is the name under which the mirror caches its upstream:
// the cache of upstream repository R is <mirrorUpstream>/R.
const mirrorUpstream = "upstream.bench"

// mirrorLargeRepo holds the large image, on the upstream and hosted on the
// mirror alike.
const mirrorLargeRepo = "bench/large"

// mirrorConfig is the proxy section of a wharf caching the wharf at
// upstreamURL. The TTL outlasts any run, so a tag is served from the cache
// without asking the upstream.
func mirrorConfig(upstreamURL string) string {
	return fmt.Sprintf(`proxy:
  upstreams:
    - name: %s
      url: %s
      ttl: 1h
`, mirrorUpstream, upstreamURL)
}

// mirrorSide is what one line of the mirror workload reads: hosted
// repositories, or the cached ones under the upstream's prefix.
type mirrorSide struct {
	name, prefix string
}

// runMirrorHit compares cache hits of a pull-through cache with the same
// content hosted on the same wharf: an upstream wharf gets the read images
// and the large image, a mirror wharf pulls them all once through its
// cache and gets them pushed as hosted repositories as well; the upstream
// is then stopped, so every measured request must be a cache hit.
func runMirrorHit(ctx context.Context, e *env, m *meter) error {
	up, upc, err := e.fleet.start(ctx, "upstream", "")
	if err != nil {
		return err
	}
	mirror, mc, err := e.fleet.start(ctx, "mirror", mirrorConfig(up.base))
	if err != nil {
		return err
	}
	refs, err := setupMirror(ctx, e, upc, mc)
	if err != nil {
		return fmt.Errorf("mirror setup: %w", err)
	}
	// A request the cache cannot answer alone now fails the run.
	if err := up.stop(); err != nil {
		return err
	}
	mm := m.on(mirror)
	sides := inRoundOrder(m.round, []mirrorSide{{"hosted", ""}, {"mirror-hit", mirrorUpstream + "/"}})
	for _, s := range sides {
		if err := measureManifests(ctx, mc, e.sz, mm, s.name+" manifest", s.prefix, refs); err != nil {
			return err
		}
	}
	im := e.data.large()
	for _, readers := range []int{1, 4} {
		for _, s := range sides {
			label := fmt.Sprintf("%s pull-large x%d", s.name, readers)
			if err := measurePullLarge(ctx, mc, mm, label, s.prefix+mirrorLargeRepo, im, readers); err != nil {
				return err
			}
		}
	}
	return nil
}

// setupMirror pushes the read images and the large image to the upstream,
// pulls each of their manifests and the large layers once through the
// mirror (filling its cache), then pushes the same content to the mirror
// as hosted repositories. It returns the read images.
func setupMirror(ctx context.Context, e *env, upc, mc *client) ([]imageRef, error) {
	onUp := &env{c: upc, sz: e.sz, data: e.data}
	refs, err := setupReadImages(ctx, onUp)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	im := e.data.large()
	if err := pushLarge(ctx, onUp, mirrorLargeRepo, upc.pushStreamed); err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	err = parallel(ctx, 8, len(refs), func(ctx context.Context, i int) error {
		r := refs[i]
		return mc.getManifest(ctx, mirrorUpstream+"/"+r.repo, r.tag, r.im.manifest.digest)
	})
	if err != nil {
		return nil, fmt.Errorf("filling the cache: %w", err)
	}
	cached := mirrorUpstream + "/" + mirrorLargeRepo
	if err := mc.getManifest(ctx, cached, "latest", im.manifest.digest); err != nil {
		return nil, fmt.Errorf("filling the cache: %w", err)
	}
	for _, l := range im.layers {
		if err := mc.pullVerify(ctx, cached, l); err != nil {
			return nil, fmt.Errorf("filling the cache: %w", err)
		}
	}
	onMirror := &env{c: mc, sz: e.sz, data: e.data}
	if _, err := setupReadImages(ctx, onMirror); err != nil {
		return nil, fmt.Errorf("hosted: %w", err)
	}
	if err := pushLarge(ctx, onMirror, mirrorLargeRepo, mc.pushStreamed); err != nil {
		return nil, fmt.Errorf("hosted: %w", err)
	}
	return refs, nil
}

// webhookConfig is the notifications section of one endpoint at url with
// distribution's defaults otherwise (every action, every media type), and
// short retry delays so a failed attempt does not outlast the wait.
func webhookConfig(url string) string {
	return fmt.Sprintf(`notifications:
  endpoints:
    - name: bench
      url: %s
      timeout: 5s
      backoff: 100ms
      maxbackoff: 1s
`, url)
}

// pushEvents is how many push events pushing imgs into fresh repositories
// makes: one per blob and one per manifest (each is pushed with one tag).
func pushEvents(imgs []image) int {
	n := 0
	for i := range imgs {
		n += len(imgs[i].blobs()) + 1
	}
	return n
}

// hookWait bounds the wait for the last webhook events after the pushes:
// long enough for a delivery that keeps up, short enough to keep the run
// bounded.
func hookWait(d time.Duration) time.Duration { return 10*time.Second + d }

// runPushWebhook runs push-small on a wharf without notifications and on
// one with a single endpoint, the bench's own receiver, then waits (a
// bounded time) for the events and records how many arrived.
func runPushWebhook(ctx context.Context, e *env, m *meter) error {
	imgs := e.data.small()
	for _, hook := range inRoundOrder(m.round, []bool{false, true}) {
		run := pushWithoutWebhook
		if hook {
			run = pushWithWebhook
		}
		if err := run(ctx, e, m, imgs); err != nil {
			return err
		}
	}
	return nil
}

func pushWithoutWebhook(ctx context.Context, e *env, m *meter, imgs []image) error {
	srv, c, err := e.fleet.start(ctx, "no-webhook", "")
	if err != nil {
		return err
	}
	if err := measurePushSmall(ctx, c, e.sz, imgs, m.on(srv), "push-small, no webhook"); err != nil {
		return err
	}
	return srv.stop()
}

func pushWithWebhook(ctx context.Context, e *env, m *meter, imgs []image) error {
	recv, err := startHookReceiver()
	if err != nil {
		return err
	}
	defer recv.close()
	srv, c, err := e.fleet.start(ctx, "webhook", webhookConfig(recv.url+"/events"))
	if err != nil {
		return err
	}
	mm := m.on(srv)
	if err := measurePushSmall(ctx, c, e.sz, imgs, mm, "push-small, 1 webhook"); err != nil {
		return err
	}
	want := pushEvents(imgs)
	label := fmt.Sprintf("webhook events received (of %d)", want)
	err = mm.measure(label, "events", func() (float64, *Latency, error) {
		got, waited := recv.waitFor(ctx, want, hookWait(e.sz.duration))
		st := recv.stats()
		m.logf("round %d webhook: %d of %d push events after waiting %s (%d requests, %d duplicates, %d other events, %d bad bodies)",
			m.round, got, want, waited.Round(time.Millisecond), st.requests, st.duplicates, st.other, st.bad)
		return float64(got), nil, ctx.Err()
	})
	if err != nil {
		return err
	}
	return srv.stop()
}
