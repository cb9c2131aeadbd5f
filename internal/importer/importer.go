// Package importer takes over a data directory written by distribution
// (registry:2): it records distribution's repositories, layer links,
// manifests and tags in wharf's metadata store, while the blob bytes stay
// where distribution put them and the blob store serves them in place.
//
// An import is idempotent: every write is an upsert, so running it again,
// or after a kill, changes nothing that is already there. A marker file is
// written at the end; `wharf serve` imports automatically while it is
// missing.
package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

// MarkerFile, under the blob store's root, records a finished import.
const MarkerFile = "registry2-imported.json"

// Options tune an import.
type Options struct {
	// Verify re-hashes every blob before recording it; without it only
	// the size is read (a stat), so an import costs no blob reads.
	Verify bool
	// Workers is how many repositories' items are written at once
	// (default 8): SQLite's group commit shares one fsync among them.
	Workers int
	// ProgressEvery is how often progress is logged (default 5s).
	ProgressEvery time.Duration
}

// Report counts what an import recorded and what it left out.
type Report struct {
	Repositories int `json:"repositories"`
	Blobs        int `json:"blobs"`
	Manifests    int `json:"manifests"`
	Tags         int `json:"tags"`
	// Skipped are links, manifests and tags that could not be imported
	// (bytes missing, a manifest wharf refuses); each is logged.
	Skipped int `json:"skipped"`
	// Uploads are distribution's uploads in progress, dropped.
	Uploads  int           `json:"uploads_dropped"`
	Duration time.Duration `json:"duration_ns"`
}

// Present reports whether the store's root holds distribution's layout.
func Present(ctx context.Context, tree blob.Tree) (bool, error) {
	entries, err := tree.List(ctx, reposDir())
	return len(entries) > 0, err
}

// Done reports whether an import into the store finished.
func Done(ctx context.Context, tree blob.Tree) (bool, error) {
	_, err := tree.Read(ctx, MarkerFile)
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Store is a blob store whose other files the importer can read.
type Store interface {
	blob.Store
	blob.Tree
}

// Importer imports distribution's layout under a blob store's root into a
// registry's stores.
type Importer struct {
	blobs Store
	meta  meta.Store
	reg   *registry.Registry
	log   *slog.Logger
	opts  Options

	progress struct{ blobs, manifests, tags, skipped atomic.Int64 }
}

// New returns an importer of the distribution layout in blobs. reg stores
// the manifests, so they are validated and referenced as if pushed; it
// must not be read-only.
func New(blobs Store, md meta.Store, reg *registry.Registry, log *slog.Logger, opts Options) *Importer {
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 5 * time.Second
	}
	return &Importer{blobs: blobs, meta: md, reg: reg, log: log, opts: opts}
}

// Run imports everything and writes the marker file.
func (im *Importer) Run(ctx context.Context) (Report, error) {
	start := time.Now()
	l := layout{tree: im.blobs}
	names, err := l.repositories(ctx)
	if err != nil {
		return Report{}, err
	}
	im.log.Info("importing registry:2 data", "path", blob.LegacyDir, "repositories", len(names))
	stop := im.logProgress(ctx, len(names))
	repos, uploads, err := im.readAll(ctx, l, names)
	if err == nil {
		err = im.importAll(ctx, repos)
	}
	stop()
	if err != nil {
		return Report{}, err
	}
	rep := Report{
		Repositories: len(repos),
		Blobs:        int(im.progress.blobs.Load()),
		Manifests:    int(im.progress.manifests.Load()),
		Tags:         int(im.progress.tags.Load()),
		Skipped:      int(im.progress.skipped.Load()),
		Uploads:      uploads,
		Duration:     time.Since(start),
	}
	if err := im.writeMarker(ctx, rep); err != nil {
		return rep, err
	}
	im.log.Info("imported registry:2 data", "repositories", rep.Repositories, "blobs", rep.Blobs,
		"manifests", rep.Manifests, "tags", rep.Tags, "skipped", rep.Skipped,
		"uploads_dropped", rep.Uploads, "duration", rep.Duration.Round(time.Millisecond))
	return rep, nil
}

// readAll reads every repository's links and logs the uploads dropped.
func (im *Importer) readAll(ctx context.Context, l layout, names []string) ([]*repository, int, error) {
	repos := make([]*repository, 0, len(names))
	for _, name := range names {
		if err := registry.ValidateName(name); err != nil {
			im.log.Warn("import: repository name refused, skipped", "repository", name, "error", err)
			im.progress.skipped.Add(1)
			continue
		}
		repos = append(repos, &repository{name: name})
	}
	// In a bucket every link is a GET: read several repositories at once.
	var uploads atomic.Int64
	err := im.parallel(ctx, repos, func(ctx context.Context, r *repository) error {
		read, err := l.readRepository(ctx, r.name)
		if err != nil {
			return fmt.Errorf("import repository %s: %w", r.name, err)
		}
		*r = *read
		if len(r.uploads) > 0 {
			im.log.Warn("import: uploads in progress are dropped; their clients must start again",
				"repository", r.name, "uploads", len(r.uploads),
				"path", path.Join(reposDir(), r.name, "_uploads"))
			uploads.Add(int64(len(r.uploads)))
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return repos, int(uploads.Load()), nil
}

// importAll records layer links first, then image manifests, then indexes,
// so an index's children are present when it is stored.
func (im *Importer) importAll(ctx context.Context, repos []*repository) error {
	sizes, err := im.blobSizes(ctx)
	if err != nil {
		return err
	}
	err = im.parallel(ctx, repos, func(ctx context.Context, r *repository) error {
		return im.importLayers(ctx, r, sizes)
	})
	if err != nil {
		return err
	}
	var indexes []*pendingManifest
	var mu sync.Mutex
	err = im.parallel(ctx, repos, func(ctx context.Context, r *repository) error {
		later, err := im.importManifests(ctx, r)
		mu.Lock()
		indexes = append(indexes, later...)
		mu.Unlock()
		return err
	})
	if err != nil {
		return err
	}
	return im.importIndexes(ctx, indexes)
}

// parallel runs fn for every repository on opts.Workers goroutines and
// returns the first error.
func (im *Importer) parallel(ctx context.Context, repos []*repository, fn func(context.Context, *repository) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *repository)
	errs := make(chan error, im.opts.Workers)
	var wg sync.WaitGroup
	for range im.opts.Workers {
		wg.Go(func() {
			for r := range work {
				if err := fn(ctx, r); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
feed:
	for _, r := range repos {
		select {
		case work <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// blobSizes lists every blob the store holds with its size: one walk
// (in a bucket a listing per thousand keys) instead of a stat per link.
func (im *Importer) blobSizes(ctx context.Context) (map[digest.Digest]int64, error) {
	sizes := map[digest.Digest]int64{}
	err := im.blobs.Walk(ctx, func(d digest.Digest, size int64) error {
		sizes[d] = size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	return sizes, nil
}

// importLayers records each linked blob (size from the store's listing,
// or a stat) and the repository's link to it.
func (im *Importer) importLayers(ctx context.Context, r *repository, sizes map[digest.Digest]int64) error {
	for _, d := range r.layers {
		size, ok := sizes[d]
		var err error
		if !ok {
			size, err = im.blobs.Stat(ctx, d)
		}
		if errors.Is(err, blob.ErrNotFound) {
			im.skip("layer link without bytes", r.name, d, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("import %s@%s: %w", r.name, d, err)
		}
		if im.opts.Verify {
			if err := im.verify(ctx, d); err != nil {
				im.skip("blob does not match its digest", r.name, d, err)
				continue
			}
		}
		if err := im.meta.CommitBlob(ctx, r.name, d, size, "", nil); err != nil {
			return fmt.Errorf("import %s@%s: %w", r.name, d, err)
		}
		im.progress.blobs.Add(1)
	}
	return nil
}

// verify re-hashes blob d.
func (im *Importer) verify(ctx context.Context, d digest.Digest) error {
	rc, _, err := im.blobs.Open(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	v := d.Verifier()
	if _, err := io.Copy(v, rc); err != nil {
		return err
	}
	if !v.Verified() {
		return fmt.Errorf("content of %s does not hash to it", d)
	}
	return nil
}

func (im *Importer) skip(why, repo string, d digest.Digest, err error) {
	im.progress.skipped.Add(1)
	im.log.Warn("import: "+why+", skipped", "repository", repo, "digest", d, "error", err)
}

// pendingManifest is a manifest read and waiting to be stored.
type pendingManifest struct {
	repo      string
	digest    digest.Digest
	mediaType string
	payload   []byte
	tags      []string
}

// importManifests stores r's image manifests with their tags and returns
// its indexes for later.
func (im *Importer) importManifests(ctx context.Context, r *repository) ([]*pendingManifest, error) {
	byDigest := map[digest.Digest][]string{}
	for tag, d := range r.tags {
		byDigest[d] = append(byDigest[d], tag)
	}
	var indexes []*pendingManifest
	revisions := map[digest.Digest]bool{}
	for _, d := range r.revisions {
		revisions[d] = true
		pm, err := im.readManifest(ctx, r.name, d)
		if err != nil {
			return nil, err
		}
		if pm == nil {
			continue
		}
		pm.tags = byDigest[d]
		if isIndex(pm.mediaType) {
			indexes = append(indexes, pm)
			continue
		}
		if err := im.store(ctx, pm); err != nil {
			return nil, err
		}
	}
	for tag, d := range r.tags {
		if !revisions[d] {
			im.skip("tag of a deleted manifest", r.name+":"+tag, d, nil)
		}
	}
	return indexes, nil
}

// importIndexes stores indexes, those whose children are indexes after
// them: each round stores what it can, until a round stores nothing.
func (im *Importer) importIndexes(ctx context.Context, pending []*pendingManifest) error {
	for len(pending) > 0 {
		var retry []*pendingManifest
		var lastErr error
		for _, pm := range pending {
			err := im.put(ctx, pm)
			var rerr *registry.Error
			if errors.As(err, &rerr) && rerr.Code == registry.CodeManifestBlobUnknown {
				retry, lastErr = append(retry, pm), err
				continue
			}
			if err := im.settle(pm, err); err != nil {
				return err
			}
		}
		if len(retry) == len(pending) {
			for _, pm := range retry {
				_ = im.settle(pm, lastErr)
			}
			return nil
		}
		pending = retry
	}
	return nil
}

// readManifest reads manifest d's bytes where distribution keeps them;
// nil when they are gone. One read, not the blob store's lookup: in a
// bucket that is one GET instead of four requests per manifest.
func (im *Importer) readManifest(ctx context.Context, repo string, d digest.Digest) (*pendingManifest, error) {
	payload, err := im.blobs.Read(ctx, blobDataPath(d))
	if errors.Is(err, blob.ErrNotFound) {
		im.skip("manifest revision without bytes", repo, d, err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("import %s@%s: %w", repo, d, err)
	}
	return &pendingManifest{repo: repo, digest: d, mediaType: mediaType(payload), payload: payload}, nil
}

// mediaType is the manifest's own mediaType, or what its shape says for
// an OCI manifest without one.
func mediaType(payload []byte) string {
	var f struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
	}
	if json.Unmarshal(payload, &f) != nil || f.MediaType != "" {
		return f.MediaType
	}
	if f.Manifests != nil {
		return ocispec.MediaTypeImageIndex
	}
	return ocispec.MediaTypeImageManifest
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

// store puts a manifest and its tags, skipping one wharf refuses.
func (im *Importer) store(ctx context.Context, pm *pendingManifest) error {
	return im.settle(pm, im.put(ctx, pm))
}

// put stores a manifest through the registry, as a push by digest with
// its tags, at most registry.MaxTagParams at a time.
func (im *Importer) put(ctx context.Context, pm *pendingManifest) error {
	tags := pm.tags
	for {
		n := min(len(tags), registry.MaxTagParams)
		if _, err := im.reg.PutManifestTags(ctx, pm.repo, pm.digest.String(), tags[:n], pm.mediaType, pm.payload); err != nil {
			return err
		}
		tags = tags[n:]
		if len(tags) == 0 {
			return nil
		}
	}
}

// settle counts a stored manifest, or logs and counts one the registry
// refused; any other error stops the import.
func (im *Importer) settle(pm *pendingManifest, err error) error {
	if err == nil {
		im.progress.manifests.Add(1)
		im.progress.tags.Add(int64(len(pm.tags)))
		return nil
	}
	if _, ok := registry.AsError(err); ok {
		im.skip("manifest refused", pm.repo, pm.digest, err)
		im.progress.skipped.Add(int64(len(pm.tags)))
		return nil
	}
	return fmt.Errorf("import %s@%s: %w", pm.repo, pm.digest, err)
}

// logProgress logs the counts every ProgressEvery until stopped.
func (im *Importer) logProgress(ctx context.Context, repos int) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(im.opts.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				im.log.Info("import progress", "repositories", repos,
					"blobs", im.progress.blobs.Load(), "manifests", im.progress.manifests.Load(),
					"tags", im.progress.tags.Load(), "skipped", im.progress.skipped.Load())
			}
		}
	}()
	return func() { cancel(); <-done }
}

// writeMarker records the finished import durably.
func (im *Importer) writeMarker(ctx context.Context, rep Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := im.blobs.Write(ctx, MarkerFile, append(b, '\n')); err != nil {
		return fmt.Errorf("write import marker: %w", err)
	}
	return nil
}
