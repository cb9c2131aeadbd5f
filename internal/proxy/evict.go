package proxy

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

// touchEvery is how often a pull of the same cached manifest is written
// down: eviction needs the order of last pulls, not every pull.
const touchEvery = time.Minute

// touch records a pull of a cached manifest, at most once per touchEvery,
// off the request path.
func (p *Proxy) touch(ctx context.Context, repo string, d digest.Digest) {
	if p.opts.Usage == nil || d == "" {
		return
	}
	key := repo + "@" + d.String()
	p.mu.Lock()
	last, ok := p.touched[key]
	now := time.Now()
	if ok && now.Sub(last) < touchEvery {
		p.mu.Unlock()
		return
	}
	if len(p.touched) > 100000 {
		clear(p.touched)
	}
	p.touched[key] = now
	p.mu.Unlock()
	go func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := p.opts.Usage.TouchCached(tctx, repo, d); err != nil {
			p.log.WarnContext(tctx, "recording a cached pull failed", "repo", repo, "digest", d, "err", err)
		}
	}()
}

// Run probes unhealthy upstreams once per probe interval and, with a size
// cap, evicts every EvictInterval, until ctx ends.
func (p *Proxy) Run(ctx context.Context) {
	go p.probeLoop(ctx)
	if p.opts.Usage == nil || !p.capped() {
		return
	}
	t := time.NewTicker(p.opts.EvictInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := p.Evict(ctx); isReadOnly(err) {
				p.log.DebugContext(ctx, "cache eviction skipped", "err", err)
			} else if err != nil {
				p.log.ErrorContext(ctx, "cache eviction failed", "err", err)
			} else if n > 0 {
				p.log.InfoContext(ctx, "cache eviction", "manifests", n)
			}
		}
	}
}

func (p *Proxy) capped() bool {
	if p.opts.MaxSize > 0 {
		return true
	}
	return slices.ContainsFunc(p.ups, func(u *upstream) bool { return u.cfg.MaxSize > 0 })
}

// Evict deletes the least recently pulled cached manifests of every
// upstream over its cap, then of all upstreams over the total cap, until
// the bytes they reference fit. Blobs are not touched here: the garbage
// collector frees those no other manifest, cached or hosted, references,
// so a shared blob stays as long as anything needs it. It returns how many
// manifests it deleted.
func (p *Proxy) Evict(ctx context.Context) (int, error) {
	total := 0
	for _, u := range p.ups {
		if u.cfg.MaxSize <= 0 {
			continue
		}
		n, err := p.evictUnder(ctx, []string{u.cfg.Name + "/"}, int64(u.cfg.MaxSize))
		total += n
		if err != nil {
			return total, err
		}
	}
	if p.opts.MaxSize > 0 {
		prefixes := make([]string, len(p.ups))
		for i, u := range p.ups {
			prefixes[i] = u.cfg.Name + "/"
		}
		n, err := p.evictUnder(ctx, prefixes, p.opts.MaxSize)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// evictPage bounds the manifests one eviction pass considers per cap.
const evictPage = 500

// evictUnder evicts from the repositories under prefixes until their
// referenced bytes are estimated to fit limit. The estimate counts a
// manifest's blobs as freed even when shared, so a pass may stop short;
// the next pass, after the collector ran, measures again.
func (p *Proxy) evictUnder(ctx context.Context, prefixes []string, limit int64) (int, error) {
	var used int64
	var cands []meta.CachedManifest
	for _, pre := range prefixes {
		n, err := p.opts.Usage.PrefixBytes(ctx, pre)
		if err != nil {
			return 0, err
		}
		used += n
	}
	if used <= limit {
		return 0, nil
	}
	for _, pre := range prefixes {
		c, err := p.opts.Usage.LeastRecentlyPulled(ctx, pre, evictPage)
		if err != nil {
			return 0, err
		}
		cands = append(cands, c...)
	}
	slices.SortStableFunc(cands, func(a, b meta.CachedManifest) int { return a.AccessedAt.Compare(b.AccessedAt) })
	evicted := 0
	for _, c := range cands {
		if used <= limit {
			break
		}
		if err := p.reg.EvictCached(ctx, c.Repo, c.Digest); err != nil {
			return evicted, fmt.Errorf("evict: %w", err)
		}
		if err := p.opts.Usage.ForgetCached(ctx, c.Repo, c.Digest); err != nil {
			return evicted, err
		}
		p.mu.Lock()
		delete(p.touched, c.Repo+"@"+c.Digest.String())
		p.mu.Unlock()
		p.m.evicted()
		used -= c.Bytes
		evicted++
	}
	return evicted, nil
}

// isReadOnly reports the registry's refusal to write in maintenance mode.
func isReadOnly(err error) bool {
	e, ok := registry.AsError(err)
	return ok && e.Code == registry.CodeUnsupported
}
