// Package scrub checks a registry's stored content end to end: every blob's
// bytes hash to its digest and size, every manifest's bytes to its digest,
// every reference points at content that is there, and it lists bytes in
// the blob store that no metadata row knows.
package scrub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
)

const pageSize = 500

// Problem is one integrity failure.
type Problem struct {
	// Kind is "blob-missing", "blob-corrupt", "blob-size", "manifest-corrupt"
	// or "dangling-reference".
	Kind   string
	Repo   string
	Digest digest.Digest
	Detail string
}

func (p Problem) String() string {
	if p.Repo != "" {
		return fmt.Sprintf("%s: %s@%s: %s", p.Kind, p.Repo, p.Digest, p.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", p.Kind, p.Digest, p.Detail)
}

// Report sums up a scrub.
type Report struct {
	Blobs, Manifests int
	Bytes            int64
	Problems         int
	// Orphans are blob files no row refers to: left by a crash between
	// writing bytes and recording them. Harmless, and not a problem.
	Orphans []digest.Digest
	// Sparse counts references to content a sparse manifest was pushed
	// without and that is still absent: absent by design, not a problem.
	Sparse int
}

// Run checks everything and calls onProblem for each failure found.
func Run(ctx context.Context, md meta.Store, blobs blob.Store, onProblem func(Problem)) (Report, error) {
	var rep Report
	report := func(p Problem) {
		rep.Problems++
		if onProblem != nil {
			onProblem(p)
		}
	}
	known := map[digest.Digest]bool{}
	if err := checkBlobs(ctx, md, blobs, &rep, known, report); err != nil {
		return rep, err
	}
	if err := checkManifests(ctx, md, &rep, report); err != nil {
		return rep, err
	}
	err := blobs.Walk(ctx, func(d digest.Digest, _ int64) error {
		if !known[d] {
			rep.Orphans = append(rep.Orphans, d)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("walk blob store: %w", err)
	}
	return rep, nil
}

func checkBlobs(ctx context.Context, md meta.Store, blobs blob.Store, rep *Report, known map[digest.Digest]bool, report func(Problem)) error {
	after := ""
	for {
		page, err := md.BlobPage(ctx, after, pageSize)
		if err != nil {
			return err
		}
		for _, b := range page {
			known[b.Digest] = true
			rep.Blobs++
			rep.Bytes += b.Size
			if p, bad, err := checkBlob(ctx, blobs, b); err != nil {
				return err
			} else if bad {
				report(p)
			}
		}
		if len(page) < pageSize {
			return nil
		}
		after = page[len(page)-1].Digest.String()
	}
}

// checkBlob re-hashes one blob's bytes, inline or in the blob store.
func checkBlob(ctx context.Context, blobs blob.Store, b meta.BlobRecord) (Problem, bool, error) {
	if b.Content != nil {
		return checkBytes(b, int64(len(b.Content)), bytes.NewReader(b.Content))
	}
	c, size, err := blobs.Open(ctx, b.Digest)
	if errors.Is(err, blob.ErrNotFound) {
		return Problem{Kind: "blob-missing", Digest: b.Digest, Detail: "recorded in metadata, no bytes in the blob store"}, true, nil
	}
	if err != nil {
		return Problem{}, false, err
	}
	defer c.Close()
	return checkBytes(b, size, c)
}

// checkBytes compares a blob's bytes, size bytes read from r, with its row.
func checkBytes(b meta.BlobRecord, size int64, r io.Reader) (Problem, bool, error) {
	if size != b.Size {
		return Problem{Kind: "blob-size", Digest: b.Digest, Detail: fmt.Sprintf("holds %d bytes, metadata says %d", size, b.Size)}, true, nil
	}
	v := b.Digest.Verifier()
	if _, err := io.Copy(v, r); err != nil {
		return Problem{}, false, fmt.Errorf("read blob %s: %w", b.Digest, err)
	}
	if !v.Verified() {
		return Problem{Kind: "blob-corrupt", Digest: b.Digest, Detail: "bytes do not hash to the digest"}, true, nil
	}
	return Problem{}, false, nil
}

func checkManifests(ctx context.Context, md meta.Store, rep *Report, report func(Problem)) error {
	var afterRepo int64
	afterDigest := ""
	for {
		page, err := md.ManifestPage(ctx, afterRepo, afterDigest, pageSize)
		if err != nil {
			return err
		}
		for _, m := range page {
			rep.Manifests++
			if err := checkManifest(ctx, md, m, rep, report); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		last := page[len(page)-1]
		afterRepo, afterDigest = last.RepoID, last.Digest.String()
	}
}

func checkManifest(ctx context.Context, md meta.Store, m meta.ManifestRecord, rep *Report, report func(Problem)) error {
	if m.Digest.Algorithm().FromBytes(m.Payload) != m.Digest {
		report(Problem{Kind: "manifest-corrupt", Repo: m.Repo, Digest: m.Digest, Detail: "stored bytes do not hash to the digest"})
	}
	for _, ref := range m.Refs {
		var err error
		what := "blob"
		if ref.Kind == meta.RefManifest {
			what = "manifest"
			_, err = md.GetManifest(ctx, m.Repo, ref.Digest)
		} else {
			_, err = md.RepoBlobSize(ctx, m.Repo, ref.Digest)
		}
		switch {
		case errors.Is(err, meta.ErrNotFound) && ref.Absent:
			rep.Sparse++
		case errors.Is(err, meta.ErrNotFound):
			report(Problem{Kind: "dangling-reference", Repo: m.Repo, Digest: m.Digest,
				Detail: fmt.Sprintf("references %s %s, which the repository does not hold", what, ref.Digest)})
		case err != nil:
			return err
		}
	}
	return nil
}
