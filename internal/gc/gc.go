// Package gc is wharf's online garbage collector and tag retention. It
// reviews the candidates the metadata store queued when their last
// reference went, re-checks each inside the transaction that removes it,
// and removes blob bytes inside that same transaction, so it can run while
// pushes go on, in any number of processes, without losing what a push
// needs.
package gc

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/glob"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/metrics"
)

const (
	// batchSize is how many candidates one transaction reviews: large
	// enough to spread the commit's fsync, small enough that pushes wait
	// only milliseconds for the write lock.
	batchSize = 64
	// maxRounds bounds one pass even if pushes keep queueing candidates.
	maxRounds = 100000
)

// RemovalMemory is how long a repository remembers content it lost (a
// removed link or manifest): that long, a sparse manifest referencing it
// is refused rather than accepted without it. A client that saw the
// content and skipped pushing it sends its manifest within seconds.
const RemovalMemory = 24 * time.Hour

// Policy is a retention policy: for repositories matching Repositories (a
// glob where * matches any run of characters, slashes included), a tag
// survives if it is among the KeepLast most recently pushed, was pushed
// within KeepWithin, or matches one of KeepTags; the other tags go.
type Policy struct {
	Repositories string
	KeepLast     int
	KeepWithin   time.Duration
	KeepTags     []string
}

// Options steer one pass.
type Options struct {
	// GracePeriod protects pushed content no manifest references yet.
	GracePeriod time.Duration
	// DeleteUntagged removes manifests no tag, index or kept subject needs.
	DeleteUntagged bool
	// KeepReferrers keeps referrers of removed manifests.
	KeepReferrers bool
	// DryRun reports what a pass would remove and removes nothing.
	DryRun bool
	// Sweep first queues everything unreferenced, not only what the store
	// recorded as it happened: a full check, at the cost of a scan.
	Sweep bool
	// Retention policies, applied before the review.
	Retention []Policy
	// IgnoreTouches collects links a HEAD or GET reported present within
	// the grace period as if nobody had asked for them: an operator's
	// explicit collection frees a deleted image's layers at once, where
	// the server's own collector keeps them for pushes that rely on them.
	IgnoreTouches bool
}

// Event is one thing a pass removed (or would remove, in a dry run).
type Event struct {
	// Kind is "tag", "manifest", "link" or "blob".
	Kind   string
	Repo   string
	Tag    string
	Digest digest.Digest
	Size   int64
}

// Report sums up a pass.
type Report struct {
	Tags, Manifests, Links, Blobs int
	Bytes                         int64
	Duration                      time.Duration
}

func (r *Report) add(e Event) {
	switch e.Kind {
	case "tag":
		r.Tags++
	case "manifest":
		r.Manifests++
	case "link":
		r.Links++
	case "blob":
		r.Blobs++
		r.Bytes += e.Size
	}
}

// Collector runs garbage collection passes.
type Collector struct {
	meta    meta.Store
	blobs   blob.Store
	log     *slog.Logger
	metrics *metrics.Metrics
	now     func() time.Time
}

// New returns a collector over the stores; m may be nil.
func New(md meta.Store, blobs blob.Store, log *slog.Logger, m *metrics.Metrics) *Collector {
	return &Collector{meta: md, blobs: blobs, log: log, metrics: m, now: time.Now}
}

// Run makes one pass. onEvent, if not nil, is called for each removal as it
// happens (after its transaction committed, or in a dry run as found).
func (c *Collector) Run(ctx context.Context, opts Options, onEvent func(Event)) (Report, error) {
	start := c.now()
	var rep Report
	emit := func(e Event) {
		rep.add(e)
		if !opts.DryRun {
			c.metrics.GCRemoved(e.Kind, e.Size)
		}
		if onEvent != nil {
			onEvent(e)
		}
	}
	var err error
	if opts.DryRun {
		// One transaction, rolled back: the dry run follows exactly the
		// path a real pass would, link to blob, manifest to layers.
		err = c.meta.GC(ctx, false, func(tx meta.GCTx) error {
			return c.pass(ctx, tx, nil, opts, emit)
		})
	} else {
		err = c.pass(ctx, nil, c.blobs, opts, emit)
	}
	rep.Duration = c.now().Sub(start)
	if !opts.DryRun {
		c.metrics.GCPass(err)
	}
	return rep, err
}

// pass runs sweep, retention and review. With a transaction (dry run) every
// step runs in it; without, each step gets its own committed transaction.
func (c *Collector) pass(ctx context.Context, dry meta.GCTx, blobs blob.Store, opts Options, emit func(Event)) error {
	step := func(fn func(meta.GCTx) error) error {
		if dry != nil {
			return fn(dry)
		}
		return c.meta.GC(ctx, true, fn)
	}
	if opts.Sweep {
		if err := step(func(tx meta.GCTx) error {
			_, err := tx.EnqueueUnreferenced(ctx, opts.DeleteUntagged)
			return err
		}); err != nil {
			return err
		}
	}
	if err := step(func(tx meta.GCTx) error {
		_, err := tx.ForgetRemovals(ctx, c.now().Add(-RemovalMemory))
		return err
	}); err != nil {
		return err
	}
	if err := c.applyRetention(ctx, step, opts.Retention, emit); err != nil {
		return err
	}
	return c.review(ctx, step, blobs, opts, emit)
}

// review works through the due candidates until none is left.
func (c *Collector) review(ctx context.Context, step func(func(meta.GCTx) error) error, blobs blob.Store, opts Options, emit func(Event)) error {
	ro := meta.ReviewOptions{DeleteUntagged: opts.DeleteUntagged, KeepReferrers: opts.KeepReferrers}
	if blobs != nil {
		ro.RemoveBytes = func(d digest.Digest) error { return blobs.Delete(ctx, d) }
	}
	for round := 0; round < maxRounds; round++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var removed []meta.Removal
		var due int
		err := step(func(tx meta.GCTx) error {
			removed = removed[:0]
			if opts.IgnoreTouches {
				tx.IgnoreTouches()
			}
			cands, err := tx.Due(ctx, c.now().Add(-opts.GracePeriod), batchSize)
			if err != nil {
				return err
			}
			due = len(cands)
			for _, cand := range cands {
				r, err := tx.Review(ctx, cand, ro)
				if err != nil {
					return err
				}
				removed = append(removed, r...)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("garbage review: %w", err)
		}
		for _, r := range removed {
			emit(Event{Kind: r.Kind.String(), Repo: r.Repo, Digest: r.Digest, Size: r.Size})
		}
		if due == 0 {
			return nil
		}
	}
	return nil
}

// applyRetention deletes the tags the policies do not keep.
func (c *Collector) applyRetention(ctx context.Context, step func(func(meta.GCTx) error) error, policies []Policy, emit func(Event)) error {
	if len(policies) == 0 {
		return nil
	}
	last := ""
	for {
		repos, err := c.meta.Repositories(ctx, last, 1000)
		if err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		for _, repo := range repos {
			p, ok := matchPolicy(policies, repo)
			if !ok {
				continue
			}
			if err := step(func(tx meta.GCTx) error { return c.retainRepo(ctx, tx, repo, p, emit) }); err != nil {
				return fmt.Errorf("retention in %s: %w", repo, err)
			}
		}
		if len(repos) < 1000 {
			return nil
		}
		last = repos[len(repos)-1]
	}
}

func (c *Collector) retainRepo(ctx context.Context, tx meta.GCTx, repo string, p Policy, emit func(Event)) error {
	tags, err := tx.RetentionTags(ctx, repo)
	if err != nil {
		return err
	}
	for _, t := range Expired(p, tags, c.now()) {
		if err := tx.DeleteTag(ctx, repo, t.Name); err != nil {
			return err
		}
		emit(Event{Kind: "tag", Repo: repo, Tag: t.Name, Digest: t.Digest})
	}
	return nil
}

// Expired returns the tags policy p does not keep. tags must be ordered
// newest first, as meta.GCTx.RetentionTags returns them.
func Expired(p Policy, tags []meta.TagInfo, now time.Time) []meta.TagInfo {
	var out []meta.TagInfo
	for i, t := range tags {
		switch {
		case i < p.KeepLast:
		case p.KeepWithin > 0 && now.Sub(t.UpdatedAt) <= p.KeepWithin:
		case matchAny(p.KeepTags, t.Name):
		default:
			out = append(out, t)
		}
	}
	return out
}

func matchPolicy(policies []Policy, repo string) (Policy, bool) {
	for _, p := range policies {
		if glob.Match(p.Repositories, repo) {
			return p, true
		}
	}
	return Policy{}, false
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if glob.Match(p, s) {
			return true
		}
	}
	return false
}
