// Package proxy is wharf's pull-through cache. Cached repositories are
// ordinary repositories named <upstream>/<path> (docker.io/library/alpine);
// the registry consults the Proxy when a pull of one misses, and the Proxy
// fills it from the upstream through the registry's own verified commit
// path, so pulls, GC, scrub and du see cached content like pushed content.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

// Options configure a Proxy.
type Options struct {
	Upstreams     []config.Upstream // resolved: config.Proxy.Resolved
	ProbeInterval time.Duration
	NegativeTTL   time.Duration
	// SpoolDir holds the spool files of blobs being fetched (os.TempDir
	// when empty).
	SpoolDir string
	// FetchTimeout bounds one upstream blob fetch (default 1h).
	FetchTimeout time.Duration
	// Lock, when set, makes one node of a cluster fetch a blob while the
	// others wait for it (PostgreSQL: LeaseLocker).
	Lock BlobLocker
	// Usage records pulls and measures the caches for eviction; MaxSize
	// caps all caches together (0: no total cap), checked every
	// EvictInterval (default 1m).
	Usage         meta.CacheUsage
	MaxSize       int64
	EvictInterval time.Duration
	Metrics       *Metrics
	Log           *slog.Logger
}

// BlobLocker serialises the fetch of one blob across nodes. Lock blocks
// until the caller holds the lock for key, and returns its release.
type BlobLocker interface {
	Lock(ctx context.Context, key string) (func(), error)
}

// Proxy is the pull-through cache: it implements registry.Upstream.
type Proxy struct {
	reg    *registry.Registry
	ups    []*upstream
	byName map[string]*upstream // canonical names and aliases
	def    *upstream
	opts   Options
	log    *slog.Logger
	m      *Metrics

	tags singleflight.Group

	mu       sync.Mutex
	fresh    map[string]time.Time // repo:tag -> when the upstream last confirmed it
	negative map[string]time.Time // key -> until when the upstream's 404 stands
	fetches  map[string]*blobFetch
	touched  map[string]time.Time // repo@digest -> when its pull was last recorded
}

// New builds the Proxy over reg and hooks it into reg.
func New(reg *registry.Registry, opts Options) (*Proxy, error) {
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = config.DefaultProxyProbeInterval
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = config.DefaultProxyNegativeTTL
	}
	if opts.EvictInterval <= 0 {
		opts.EvictInterval = time.Minute
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = time.Hour
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{reg: reg, byName: map[string]*upstream{}, opts: opts, log: opts.Log, m: opts.Metrics,
		fresh: map[string]time.Time{}, negative: map[string]time.Time{}, fetches: map[string]*blobFetch{}, touched: map[string]time.Time{}}
	for _, cfg := range opts.Upstreams {
		u, err := newUpstream(cfg, opts.ProbeInterval)
		if err != nil {
			return nil, err
		}
		p.ups = append(p.ups, u)
		p.m.watchHealth(cfg.Name, u.healthy)
		for _, n := range append([]string{cfg.Name}, cfg.Aliases...) {
			p.byName[n] = u
		}
		if cfg.Default {
			p.def = u
		}
	}
	reg.SetUpstream(p)
	return p, nil
}

// split returns the upstream owning cached repository repo and the
// repository's path on it.
func (p *Proxy) split(repo string) (*upstream, string, bool) {
	first, rest, ok := strings.Cut(repo, "/")
	if !ok {
		return nil, "", false
	}
	u := p.byName[first]
	if u == nil || u.cfg.Name != first {
		return nil, "", false
	}
	return u, rest, true
}

// Cached reports whether repo lies in a cached namespace.
func (p *Proxy) Cached(repo string) bool {
	_, _, ok := p.split(repo)
	return ok
}

func scope(path string) string { return "repository:" + path + ":pull" }

// Manifest implements registry.Upstream: a digest is served from the cache
// when there; a tag while the upstream confirmed it within the TTL, else
// after one HEAD shared by all concurrent requests.
func (p *Proxy) Manifest(ctx context.Context, repo, ref string) (registry.ManifestInfo, error) {
	u, path, _ := p.split(repo)
	local, lerr := p.reg.LocalManifest(ctx, repo, ref)
	if lerr != nil && !isUnknown(lerr) {
		return registry.ManifestInfo{}, lerr
	}
	m, err := p.manifest(ctx, u, repo, path, ref, local, lerr)
	if err == nil {
		p.touch(ctx, repo, m.Digest)
	}
	return m, err
}

func (p *Proxy) manifest(ctx context.Context, u *upstream, repo, path, ref string, local registry.ManifestInfo, lerr error) (registry.ManifestInfo, error) {
	if registry.IsDigest(ref) {
		if lerr == nil {
			p.m.hit(u.cfg.Name, "manifest")
			return local, nil
		}
		p.m.miss(u.cfg.Name, "manifest")
		return p.sharedManifest(ctx, repo+"@"+ref, func(ctx context.Context) (registry.ManifestInfo, error) {
			return p.fetchManifest(ctx, u, repo, path, ref, nil)
		})
	}
	if lerr == nil && p.isFresh(repo, ref, u.cfg.TTL) {
		p.m.hit(u.cfg.Name, "manifest")
		return local, nil
	}
	var have *registry.ManifestInfo
	if lerr == nil {
		have = &local
	}
	return p.sharedManifest(ctx, repo+":"+ref, func(ctx context.Context) (registry.ManifestInfo, error) {
		return p.refreshTag(ctx, u, repo, path, ref, have)
	})
}

// sharedManifest runs fn once for all concurrent callers with the same key,
// on a context no single client can cancel.
func (p *Proxy) sharedManifest(ctx context.Context, key string, fn func(context.Context) (registry.ManifestInfo, error)) (registry.ManifestInfo, error) {
	ch := p.tags.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		return fn(fctx)
	})
	select {
	case res := <-ch:
		if res.Shared {
			p.m.coalesced("manifest")
		}
		if res.Err != nil {
			return registry.ManifestInfo{}, res.Err
		}
		return res.Val.(registry.ManifestInfo), nil
	case <-ctx.Done():
		return registry.ManifestInfo{}, ctx.Err()
	}
}

// refreshTag asks the upstream what tag ref points at now. have is the
// cached manifest, served when the upstream cannot answer.
func (p *Proxy) refreshTag(ctx context.Context, u *upstream, repo, path, ref string, have *registry.ManifestInfo) (registry.ManifestInfo, error) {
	key := repo + ":" + ref
	if have == nil && p.isNegative(key) {
		return registry.ManifestInfo{}, manifestUnknown(u, path, ref, errNotFound)
	}
	resp, err := u.do(ctx, http.MethodHead, path+"/manifests/"+ref, manifestAccept, scope(path))
	if err != nil {
		p.m.upstreamError(u.cfg.Name)
		if have != nil && errors.Is(err, errUnavailable) {
			p.log.WarnContext(ctx, "upstream unavailable; serving cached tag past its TTL", "upstream", u.cfg.Name, "repo", repo, "tag", ref, "err", err)
			p.m.stale(u.cfg.Name)
			return *have, nil
		}
		if errors.Is(err, errNotFound) {
			p.setNegative(key)
		}
		return registry.ManifestInfo{}, manifestUnknown(u, path, ref, err)
	}
	resp.Body.Close()
	d, _ := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	if have != nil && d != "" && have.Digest == d {
		p.setFresh(repo, ref)
		p.m.hit(u.cfg.Name, "manifest")
		return *have, nil
	}
	p.m.miss(u.cfg.Name, "manifest")
	target := ref
	if d != "" {
		target = d.String()
	}
	m, err := p.fetchManifest(ctx, u, repo, path, target, []string{ref})
	if err != nil {
		if have != nil {
			if _, ok := registry.AsError(err); !ok || errors.Is(err, errUnavailable) {
				return *have, nil
			}
		}
		return registry.ManifestInfo{}, err
	}
	p.setFresh(repo, ref)
	return m, nil
}

// fetchManifest GETs manifest ref and stores its exact bytes with tags.
func (p *Proxy) fetchManifest(ctx context.Context, u *upstream, repo, path, ref string, tags []string) (registry.ManifestInfo, error) {
	key := repo + "@" + ref
	if p.isNegative(key) {
		return registry.ManifestInfo{}, manifestUnknown(u, path, ref, errNotFound)
	}
	resp, err := u.do(ctx, http.MethodGet, path+"/manifests/"+ref, manifestAccept, scope(path))
	if err != nil {
		p.m.upstreamError(u.cfg.Name)
		if errors.Is(err, errNotFound) {
			p.setNegative(key)
		}
		return registry.ManifestInfo{}, manifestUnknown(u, path, ref, err)
	}
	defer resp.Body.Close()
	limit := p.reg.MaxManifestSize()
	payload, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		p.m.upstreamError(u.cfg.Name)
		return registry.ManifestInfo{}, fmt.Errorf("read manifest %s from %s: %w", ref, u.cfg.Name, err)
	}
	p.m.bytes(u.cfg.Name, len(payload))
	if int64(len(payload)) > limit {
		return registry.ManifestInfo{}, &registry.Error{Code: registry.CodeManifestInvalid, Message: fmt.Sprintf("upstream %s manifest %s exceeds %d bytes", u.cfg.Name, ref, limit)}
	}
	if err := checkManifestDigest(ref, resp.Header.Get("Docker-Content-Digest"), payload); err != nil {
		return registry.ManifestInfo{}, &registry.Error{Code: registry.CodeManifestInvalid, Message: fmt.Sprintf("upstream %s: %v", u.cfg.Name, err)}
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return p.storeManifest(ctx, u, repo, path, tags, mediaType, payload)
}

// storeManifest stores fetched bytes; references the repository lost lately
// (evicted content) are fetched again first, as a client push would.
func (p *Proxy) storeManifest(ctx context.Context, u *upstream, repo, path string, tags []string, mediaType string, payload []byte) (registry.ManifestInfo, error) {
	m, missing, err := p.reg.PutCachedManifest(ctx, repo, tags, mediaType, payload)
	if err == nil || len(missing) == 0 {
		return m, err
	}
	for _, ref := range missing {
		if err := p.refetch(ctx, u, repo, path, ref); err != nil {
			return registry.ManifestInfo{}, err
		}
	}
	m, _, err = p.reg.PutCachedManifest(ctx, repo, tags, mediaType, payload)
	return m, err
}

func (p *Proxy) refetch(ctx context.Context, u *upstream, repo, path string, ref meta.Ref) error {
	if ref.Kind == meta.RefManifest {
		_, err := p.fetchManifest(ctx, u, repo, path, ref.Digest.String(), nil)
		return err
	}
	c, _, err := p.OpenBlob(ctx, repo, ref.Digest)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = io.Copy(io.Discard, c)
	return err
}

// checkManifestDigest makes sure the bytes are what was asked for: a
// digest reference must match them, and so must the upstream's header.
func checkManifestDigest(ref, header string, payload []byte) error {
	for _, want := range []string{ref, header} {
		if !registry.IsDigest(want) {
			continue
		}
		d, err := digest.Parse(want)
		if err != nil {
			return fmt.Errorf("digest %q: %w", want, err)
		}
		if got := d.Algorithm().FromBytes(payload); got != d {
			return fmt.Errorf("manifest has digest %s, not %s", got, d)
		}
	}
	return nil
}

// StatBlob implements registry.Upstream: a HEAD upstream, nothing stored.
func (p *Proxy) StatBlob(ctx context.Context, repo string, d digest.Digest) (registry.BlobInfo, error) {
	u, path, _ := p.split(repo)
	if p.isNegative(repo + "@" + d.String()) {
		return registry.BlobInfo{}, blobUnknown(u, path, d, errNotFound)
	}
	resp, err := u.do(ctx, http.MethodHead, path+"/blobs/"+d.String(), "", scope(path))
	if err != nil {
		p.m.upstreamError(u.cfg.Name)
		if errors.Is(err, errNotFound) {
			p.setNegative(repo + "@" + d.String())
		}
		return registry.BlobInfo{}, blobUnknown(u, path, d, err)
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return registry.BlobInfo{}, blobUnknown(u, path, d, fmt.Errorf("%w: %s sent no Content-Length", errUnavailable, u.cfg.Name))
	}
	return registry.BlobInfo{Digest: d, Size: resp.ContentLength}, nil
}

// blobFetch is a fetch being started: waiters block on ready, then read
// the flight, or the blob from the store when it was already held.
type blobFetch struct {
	repo  string // the repository the blob is fetched for
	ready chan struct{}
	f     *flight
	local bool
	err   error
}

// OpenBlob implements registry.Upstream. Concurrent requests for the same
// blob share one upstream GET; each reads the stream from the first byte
// (or its Range) while the registry stores it.
//
// The fetch is shared by the upstream's repositories: a layer that several
// images share is fetched once even when they are pulled from different
// repositories at the same time. A request for another repository than the
// one the fetch is for first asks the upstream (HEAD) whether that
// repository serves the blob, so no repository gets content its upstream
// would not give it, and links the blob once the fetch committed it.
func (p *Proxy) OpenBlob(ctx context.Context, repo string, d digest.Digest) (blob.Content, registry.BlobInfo, error) {
	u, path, _ := p.split(repo)
	if p.isNegative(repo + "@" + d.String()) {
		return nil, registry.BlobInfo{}, blobUnknown(u, path, d, errNotFound)
	}
	key := u.cfg.Name + "@" + d.String()
	p.mu.Lock()
	bf, waiting := p.fetches[key]
	if !waiting {
		bf = &blobFetch{repo: repo, ready: make(chan struct{})}
		p.fetches[key] = bf
	}
	p.mu.Unlock()
	if waiting {
		p.m.coalesced("blob")
	} else {
		p.m.miss(u.cfg.Name, "blob")
		go p.startFetch(ctx, u, repo, path, d, key, bf)
	}
	select {
	case <-bf.ready:
	case <-ctx.Done():
		return nil, registry.BlobInfo{}, ctx.Err()
	}
	if bf.repo != repo {
		return p.openShared(ctx, u, repo, path, d, key, bf)
	}
	if bf.err != nil {
		return nil, registry.BlobInfo{}, bf.err
	}
	if bf.local {
		return p.reg.LocalOpenBlob(ctx, repo, d)
	}
	if r := p.flightReader(ctx, key, bf); r != nil {
		return r, registry.BlobInfo{Digest: d, Size: bf.f.size}, nil
	}
	return p.reg.LocalOpenBlob(ctx, repo, d)
}

// flightReader registers a reader of bf's flight while the fetch is still
// in the map: it leaves the map before it ends, so the spool stays open
// for a reader registered here. nil means the fetch is over.
func (p *Proxy) flightReader(ctx context.Context, key string, bf *blobFetch) *flightReader {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fetches[key] != bf || bf.f == nil {
		return nil
	}
	return bf.f.reader(ctx)
}

// openShared serves repo from a fetch started for another repository of
// the same upstream, once the upstream confirmed repo serves the blob.
func (p *Proxy) openShared(ctx context.Context, u *upstream, repo, path string, d digest.Digest, key string, bf *blobFetch) (blob.Content, registry.BlobInfo, error) {
	if bf.err != nil {
		// The other repository's fetch failed; this one may still have it.
		return p.openAlone(ctx, u, repo, path, d)
	}
	resp, err := u.do(ctx, http.MethodHead, path+"/blobs/"+d.String(), "", scope(path))
	if err != nil {
		p.m.upstreamError(u.cfg.Name)
		if errors.Is(err, errNotFound) {
			p.setNegative(repo + "@" + d.String())
		}
		return nil, registry.BlobInfo{}, blobUnknown(u, path, d, err)
	}
	resp.Body.Close()
	if r := p.flightReader(ctx, key, bf); r != nil {
		f := bf.f
		go p.linkWhenStored(ctx, f, repo, d)
		return r, registry.BlobInfo{Digest: d, Size: f.size}, nil
	}
	if _, err := p.reg.LinkCachedBlob(ctx, repo, d); err != nil {
		return nil, registry.BlobInfo{}, err
	}
	return p.reg.LocalOpenBlob(ctx, repo, d)
}

// openAlone fetches for repo by itself, after a shared fetch failed.
func (p *Proxy) openAlone(ctx context.Context, u *upstream, repo, path string, d digest.Digest) (blob.Content, registry.BlobInfo, error) {
	key := repo + "@" + d.String() // apart from the shared key: no second sharing round
	bf := &blobFetch{repo: repo, ready: make(chan struct{})}
	p.mu.Lock()
	if other, ok := p.fetches[key]; ok {
		bf = other
	} else {
		p.fetches[key] = bf
		go p.startFetch(ctx, u, repo, path, d, key, bf)
	}
	p.mu.Unlock()
	select {
	case <-bf.ready:
	case <-ctx.Done():
		return nil, registry.BlobInfo{}, ctx.Err()
	}
	if bf.err != nil {
		return nil, registry.BlobInfo{}, bf.err
	}
	if r := p.flightReader(ctx, key, bf); r != nil && !bf.local {
		return r, registry.BlobInfo{Digest: d, Size: bf.f.size}, nil
	}
	return p.reg.LocalOpenBlob(ctx, repo, d)
}

// linkWhenStored links the blob of a shared fetch into repo once the fetch
// committed it, whether or not the client is still there.
func (p *Proxy) linkWhenStored(ctx context.Context, f *flight, repo string, d digest.Digest) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.FetchTimeout)
	defer cancel()
	if err := f.wait(ctx); err != nil {
		return // the fetch failed: nothing to link
	}
	if _, err := p.reg.LinkCachedBlob(ctx, repo, d); err != nil {
		p.log.WarnContext(ctx, "linking a shared cached blob failed", "repo", repo, "digest", d, "err", err)
	}
}

// startFetch is the one fetch of a blob: on a context of its own, so it
// completes (and fills the cache) even when the clients leave.
func (p *Proxy) startFetch(ctx context.Context, u *upstream, repo, path string, d digest.Digest, key string, bf *blobFetch) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.FetchTimeout)
	fail := func(err error) {
		p.mu.Lock()
		delete(p.fetches, key)
		p.mu.Unlock()
		bf.err = err
		close(bf.ready)
		cancel()
	}
	done := func() { // the blob is in the store
		p.mu.Lock()
		delete(p.fetches, key)
		p.mu.Unlock()
		bf.local = true
		close(bf.ready)
		cancel()
	}
	release, err := p.lockFetch(fctx, key)
	if err != nil {
		fail(err)
		return
	}
	// Another node may have stored it while this one waited for the lock.
	if _, err := p.reg.LocalStatBlob(fctx, repo, d); err == nil {
		release()
		done()
		return
	}
	if ok, err := p.linkHeld(fctx, u, repo, path, d); err != nil || ok {
		release()
		if err != nil {
			fail(err)
			return
		}
		done()
		return
	}
	resp, err := u.do(fctx, http.MethodGet, path+"/blobs/"+d.String(), "", scope(path))
	if err != nil {
		release()
		p.m.upstreamError(u.cfg.Name)
		if errors.Is(err, errNotFound) {
			p.setNegative(repo + "@" + d.String())
		}
		fail(blobUnknown(u, path, d, err))
		return
	}
	if resp.ContentLength < 0 {
		// Without a length the stream cannot be served by Range as it
		// arrives: store first, then serve from the store.
		_, err := p.reg.StoreCachedBlob(fctx, repo, d, p.m.countBody(u.cfg.Name, resp.Body))
		resp.Body.Close()
		release()
		if err != nil {
			fail(err)
			return
		}
		done()
		return
	}
	f, err := newFlight(p.opts.SpoolDir, resp.ContentLength)
	if err != nil {
		resp.Body.Close()
		release()
		fail(err)
		return
	}
	bf.f = f
	close(bf.ready)
	go func() {
		defer cancel()
		defer release()
		defer resp.Body.Close()
		_, err := p.reg.StoreCachedBlob(fctx, repo, d, io.TeeReader(p.m.countBody(u.cfg.Name, resp.Body), f))
		if err != nil {
			p.m.upstreamError(u.cfg.Name)
			p.log.ErrorContext(fctx, "pull-through blob fetch failed", "upstream", u.cfg.Name, "repo", repo, "digest", d, "err", err)
		}
		p.mu.Lock()
		delete(p.fetches, key)
		p.mu.Unlock()
		f.finish(err)
	}()
}

// lockFetch takes the cluster-wide lock for a blob fetch, when configured.
func (p *Proxy) lockFetch(ctx context.Context, key string) (func(), error) {
	if p.opts.Lock == nil {
		return func() {}, nil
	}
	release, err := p.opts.Lock.Lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("lock blob fetch: %w", err)
	}
	return release, nil
}

// linkHeld links a blob the registry already holds (pushed, or cached for
// another repository) after the upstream confirms it serves it for this
// repository: one HEAD instead of the bytes, and nothing is revealed that
// the upstream would not give.
func (p *Proxy) linkHeld(ctx context.Context, u *upstream, repo, path string, d digest.Digest) (bool, error) {
	held, err := p.reg.HoldsBlob(ctx, d)
	if err != nil || !held {
		return false, err
	}
	resp, err := u.do(ctx, http.MethodHead, path+"/blobs/"+d.String(), "", scope(path))
	if err != nil {
		p.m.upstreamError(u.cfg.Name)
		return false, blobUnknown(u, path, d, err)
	}
	resp.Body.Close()
	return p.reg.LinkCachedBlob(ctx, repo, d)
}

// isFresh reports whether the upstream confirmed tag within ttl.
func (p *Proxy) isFresh(repo, tag string, ttl time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.fresh[repo+":"+tag]
	return ok && time.Since(t) < ttl
}

func (p *Proxy) setFresh(repo, tag string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.fresh) > 100000 {
		clear(p.fresh) // bounded; a forgotten tag costs one HEAD
	}
	p.fresh[repo+":"+tag] = time.Now()
}

func (p *Proxy) isNegative(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.negative[key]
	if ok && time.Now().After(until) {
		delete(p.negative, key)
		return false
	}
	return ok
}

func (p *Proxy) setNegative(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.negative) > 100000 {
		clear(p.negative)
	}
	p.negative[key] = time.Now().Add(p.opts.NegativeTTL)
}

func isUnknown(err error) bool {
	e, ok := registry.AsError(err)
	if !ok {
		return false
	}
	switch e.Code {
	case registry.CodeManifestUnknown, registry.CodeNameUnknown, registry.CodeBlobUnknown:
		return true
	}
	return false
}

// manifestUnknown is the client's error for a manifest neither cached nor
// available upstream; it says which, never how the upstream was reached.
func manifestUnknown(u *upstream, path, ref string, cause error) error {
	if e, ok := registry.AsError(cause); ok {
		return e
	}
	if errors.Is(cause, errUnavailable) {
		return &registry.Error{Code: registry.CodeManifestUnknown, Message: fmt.Sprintf("manifest %s of %s is not cached and %v", ref, path, cause)}
	}
	if errors.Is(cause, errNotFound) {
		return &registry.Error{Code: registry.CodeManifestUnknown, Message: fmt.Sprintf("manifest %s unknown to upstream %s repository %q", ref, u.cfg.Name, path)}
	}
	return fmt.Errorf("fetch manifest %s of %s from %s: %w", ref, path, u.cfg.Name, cause)
}

func blobUnknown(u *upstream, path string, d digest.Digest, cause error) error {
	if e, ok := registry.AsError(cause); ok {
		return e
	}
	if errors.Is(cause, errUnavailable) {
		return &registry.Error{Code: registry.CodeBlobUnknown, Message: fmt.Sprintf("blob %s of %s is not cached and %v", d, path, cause)}
	}
	if errors.Is(cause, errNotFound) {
		return &registry.Error{Code: registry.CodeBlobUnknown, Message: fmt.Sprintf("blob %s unknown to upstream %s repository %q", d, u.cfg.Name, path)}
	}
	return fmt.Errorf("fetch blob %s of %s from %s: %w", d, path, u.cfg.Name, cause)
}

// probeLoop probes the unhealthy upstreams every probe interval.
func (p *Proxy) probeLoop(ctx context.Context) {
	t := time.NewTicker(p.opts.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, u := range p.ups {
				u.probe(ctx)
			}
		}
	}
}

// BlobHit implements registry.Upstream.
func (p *Proxy) BlobHit(repo string) {
	if u, _, ok := p.split(repo); ok {
		p.m.hit(u.cfg.Name, "blob")
	}
}
