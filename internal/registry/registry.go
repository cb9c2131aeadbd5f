// Package registry is wharf's domain: push, pull, mount, delete, list and
// referrers, with the rules of the OCI distribution spec. It speaks neither
// HTTP nor SQL: the api package calls it, and it calls a blob.Store and a
// meta.Store.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
)

// DefaultMaxManifestSize is the largest manifest accepted, as in distribution.
const DefaultMaxManifestSize = 4 << 20

// Options are the registry's behaviour switches.
type Options struct {
	DeleteEnabled bool
	ReadOnly      bool
	// KeepReferrers keeps a deleted manifest's referrers (signatures,
	// SBOMs); by default they are deleted with it.
	KeepReferrers bool
	// DisableRedirect streams blobs through wharf even when the blob store
	// can hand out direct URLs (storage.redirect.disable).
	DisableRedirect bool
	MaxManifestSize int64
	// InlineMax is the largest blob whose bytes are kept in the metadata
	// store instead of the blob store (storage.inline.maxsize); 0 keeps
	// every blob in the blob store.
	InlineMax int64
	// Sparse says which references of a pushed manifest may be missing
	// from the repository (validation.manifests.sparse); content that is
	// present is checked against its descriptor whatever it says.
	Sparse SparsePolicy
	// URLs is which URLs manifests' layers may name.
	URLs URLPolicy
	// RequiredPlatforms are the platforms whose children an index must
	// hold even when the sparse policy lets children be absent.
	RequiredPlatforms []ocispec.Platform
	// Space, when set, refuses new upload bytes below storage.reserve.
	Space Space
}

// SparsePolicy is which references a manifest may push without.
type SparsePolicy int

// Sparse policies, from strict to lenient.
const (
	// SparseNone: every reference must be present.
	SparseNone SparsePolicy = iota
	// SparseIndexes: an index may list children the repository lacks;
	// an image's blobs must be present, since an image missing one cannot
	// be pulled.
	SparseIndexes
	// SparseAll: images may also reference blobs the repository lacks,
	// as the spec allows.
	SparseAll
)

// allows reports whether the policy lets a reference of kind k be missing.
func (p SparsePolicy) allows(k meta.RefKind) bool {
	switch k {
	case meta.RefManifest:
		return p >= SparseIndexes
	case meta.RefBlob:
		return p >= SparseAll
	}
	return false
}

// Registry implements the distribution API's operations.
type Registry struct {
	blobs blob.Store
	// observing is blobs when it shows what it stores, else nil: uploads
	// then leave most of their hashing to it (hashing.go).
	observing blob.ObservingStore
	meta      meta.Store
	opts      Options
	log       *slog.Logger
	locks     uploadLocks
	// configs caches parsed image configs for listings (browse.go).
	configs memo[digest.Digest, ocispec.Image]
	// descs caches what a repository's manifest says about it, by
	// repository and digest, for search records (repoinfo.go).
	descs memo[meta.RepoDigest, describedAs]
	// upstream fills cached repositories; nil without a pull-through cache.
	upstream Upstream
}

// New returns a Registry over the given stores.
func New(blobs blob.Store, md meta.Store, opts Options, log *slog.Logger) *Registry {
	if opts.MaxManifestSize <= 0 {
		opts.MaxManifestSize = DefaultMaxManifestSize
	}
	observing, _ := blobs.(blob.ObservingStore)
	return &Registry{blobs: blobs, observing: observing, meta: md, opts: opts, log: log}
}

// MaxManifestSize is the manifest size limit in bytes.
func (r *Registry) MaxManifestSize() int64 { return r.opts.MaxManifestSize }

// checkWrite refuses writes in read-only mode.
func (r *Registry) checkWrite() error {
	if r.opts.ReadOnly {
		return errorf(CodeUnsupported, "the registry is in read-only mode (storage.maintenance.readonly.enabled)")
	}
	return nil
}

// checkDelete refuses deletes unless enabled.
func (r *Registry) checkDelete() error {
	if err := r.checkWrite(); err != nil {
		return err
	}
	if !r.opts.DeleteEnabled {
		return errorf(CodeUnsupported, "deletion is disabled (storage.delete.enabled is false)")
	}
	return nil
}

// repoMissing turns a missing repository into NAME_UNKNOWN, or passes other
// errors through. It is used where a listing needs the repository to exist.
func (r *Registry) requireRepo(ctx context.Context, name string) error {
	ok, err := r.meta.RepoExists(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(CodeNameUnknown, "repository %q not known to registry", name)
	}
	return nil
}

// isNotFound reports a missing row or blob from either store.
func isNotFound(err error) bool {
	return errors.Is(err, meta.ErrNotFound) || errors.Is(err, blob.ErrNotFound)
}

// wrap adds context to an internal error, leaving *Error as it is.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if _, ok := AsError(err); ok {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
