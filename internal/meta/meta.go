// Package meta is wharf's metadata store: repositories, manifests and the
// references parsed from them, tags, which blobs a repository may serve, and
// upload sessions. One SQL schema serves SQLite and (later) PostgreSQL; the
// store knows nothing of HTTP and checks no spec rules beyond referential
// ones.
package meta

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound is returned for a missing repository, manifest, tag, blob link
// or upload session.
var ErrNotFound = errors.New("meta: not found")

// ErrConflict is returned when an upload session moved on since it was read
// (another request wrote to it first).
var ErrConflict = errors.New("meta: concurrent update")

// RefKind says what a manifest reference points at.
type RefKind int

// Reference kinds.
const (
	RefBlob     RefKind = 1 // a layer or config blob that must be linked to the repository
	RefManifest RefKind = 2 // a child manifest of an index, in the same repository
)

// Ref is one reference from a manifest to content it needs.
type Ref struct {
	Digest digest.Digest
	Kind   RefKind
	// Optional lets the reference be absent when the manifest is pushed (a
	// sparse manifest: an index mirrored for one platform, an image whose
	// layers live elsewhere). It is stored by digest all the same, so that
	// content pushed later is referenced, and kept, from its arrival.
	Optional bool
	// Absent, as read back by the Inspector, says the content was not in
	// the repository when the manifest was pushed: its absence is by
	// design, not damage.
	Absent bool
}

// Manifest is a stored manifest with what was parsed from it.
type Manifest struct {
	Digest       digest.Digest
	MediaType    string
	ArtifactType string        // for referrers: artifactType, else the config media type
	Subject      digest.Digest // empty when the manifest has no subject
	Annotations  []byte        // JSON object of the manifest's annotations, or nil
	Payload      []byte
	Refs         []Ref
	CreatedAt    time.Time
}

// MissingRefsError lists references a manifest needs that the repository
// does not hold.
type MissingRefsError struct {
	Refs []Ref
}

func (e *MissingRefsError) Error() string {
	return "meta: manifest references unknown content " + string(e.Refs[0].Digest)
}

// Referrer is a manifest whose subject is a given digest.
type Referrer struct {
	Digest       digest.Digest
	MediaType    string
	ArtifactType string
	Size         int64
	Annotations  []byte
}

// Upload is a blob upload session. HashState is the marshalled state of the
// running sha256 over the first Offset bytes, so any process can resume it.
type Upload struct {
	ID        string
	Repo      string
	Offset    int64
	HashState []byte
	// BackendState is the blob store's record of the upload (blob.UploadState).
	BackendState []byte
	// Content holds the upload's bytes when they are kept inline, in the
	// metadata store, rather than in the blob store (small uploads); nil
	// otherwise.
	Content   []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Store is the metadata backend.
type Store interface {
	// CommitBlob records that blob d (size bytes) exists, links it to repo
	// (creating the repository) and removes upload session uploadID if it is
	// not empty, in one transaction. commitBytes, if not nil, runs inside
	// that transaction to put the bytes in place; if it fails nothing is
	// recorded.
	CommitBlob(ctx context.Context, repo string, d digest.Digest, size int64, uploadID string, commitBytes func() error) error
	// CommitInlineBlob is CommitBlob for a small blob whose bytes, content,
	// are kept in its row instead of the blob store. A blob already
	// recorded keeps the bytes it has.
	CommitInlineBlob(ctx context.Context, repo string, d digest.Digest, content []byte, uploadID string) error
	// BlobSize returns the size of blob d if it exists anywhere.
	BlobSize(ctx context.Context, d digest.Digest) (int64, error)
	// RepoBlobSize returns the size of blob d if repo may serve it. A link
	// it reports present that no manifest references is kept from garbage
	// collection for the grace period (a client told "present" puts a
	// manifest next); a link the collector removes meanwhile is reported
	// absent.
	RepoBlobSize(ctx context.Context, repo string, d digest.Digest) (int64, error)
	// RepoBlob returns the size of blob d if repo may serve it, and its
	// bytes when they are kept inline (nil when they are in the blob store).
	// It keeps the link as RepoBlobSize does.
	RepoBlob(ctx context.Context, repo string, d digest.Digest) (int64, []byte, error)
	// LinkBlob lets repo serve existing blob d (a cross-repository mount).
	LinkBlob(ctx context.Context, repo string, d digest.Digest) error
	// UnlinkBlob removes repo's link to blob d.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error

	// PutManifest stores m in repo and points tag (if not empty) at it, in
	// one transaction, after checking every reference is present in repo
	// (*MissingRefsError otherwise). An Optional reference may be absent,
	// unless repo lost that content lately (a collector's removal or a
	// DELETE not yet forgotten, GCTx.ForgetRemovals): a client that saw it
	// there and skipped pushing it must be told, not left with a broken
	// image.
	PutManifest(ctx context.Context, repo string, m *Manifest, tag string) error
	// PutManifestTags is PutManifest pointing every one of tags at m, all
	// in the same transaction: none is set unless all are.
	PutManifestTags(ctx context.Context, repo string, m *Manifest, tags []string) error
	// GetManifest returns a manifest of repo by digest.
	GetManifest(ctx context.Context, repo string, d digest.Digest) (*Manifest, error)
	// GetTaggedManifest returns the manifest tag points at.
	GetTaggedManifest(ctx context.Context, repo, tag string) (*Manifest, error)
	// ResolveTag returns the digest tag points at.
	ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error)
	// DeleteManifest removes a manifest and every tag pointing at it, and
	// unless keepReferrers the manifests whose subject it is (recursively).
	// It returns the digests of the manifests removed.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest, keepReferrers bool) ([]digest.Digest, error)
	// DeleteTag removes one tag.
	DeleteTag(ctx context.Context, repo, tag string) error
	// Tags lists repo's tags after last in byte order, at most n (n < 0: all).
	Tags(ctx context.Context, repo, last string, n int) ([]string, error)
	// Repositories lists repository names after last in byte order, at most n.
	Repositories(ctx context.Context, last string, n int) ([]string, error)
	// RepoExists reports whether repo has ever received content.
	RepoExists(ctx context.Context, repo string) (bool, error)
	// Referrers lists the manifests of repo whose subject is d.
	Referrers(ctx context.Context, repo string, d digest.Digest) ([]Referrer, error)

	// CreateUpload starts an upload session.
	CreateUpload(ctx context.Context, u *Upload) error
	// GetUpload returns an upload session of repo (of any repository when
	// repo is empty).
	GetUpload(ctx context.Context, repo, id string) (*Upload, error)
	// AdvanceUpload moves an upload from offset from to offset to with a new
	// hash state, blob store state and inline content (nil when the bytes
	// are in the blob store); ErrConflict if its offset is no longer from.
	AdvanceUpload(ctx context.Context, id string, from, to int64, hashState, backendState, content []byte) error
	// DeleteUpload removes an upload session.
	DeleteUpload(ctx context.Context, id string) error
	// StaleUploads lists sessions not updated since before.
	StaleUploads(ctx context.Context, before time.Time) ([]Upload, error)

	// SigningKey returns the key stored under name (PEM), storing
	// candidate first when none is: concurrent first starts of several
	// nodes all end up with the one key stored.
	SigningKey(ctx context.Context, name string, candidate []byte) ([]byte, error)

	Inspector
	RepoInfoStore
	SearchTextStore
	Browser
	SessionStore

	// GC runs fn in one transaction of the garbage collector, committed
	// when commit is true and fn succeeds, rolled back otherwise.
	GC(ctx context.Context, commit bool, fn func(GCTx) error) error

	// Close releases the store's connections.
	Close() error
}
