// Package blob holds wharf's content-addressed blob stores: the bytes of
// committed blobs, keyed by digest and written once, and the bytes of uploads
// still in progress. It knows nothing of repositories, HTTP or the spec.
package blob

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound is returned for a blob or upload the store does not hold.
var ErrNotFound = errors.New("blob: not found")

// ErrFull marks a write the store refused for lack of space: a full disk or
// quota on the filesystem, a storage-full or quota error from an object
// store. The bytes of that write are not kept.
var ErrFull = errors.New("blob: storage is full")

// FullError is a write the store refused for lack of space. It is ErrFull
// and its cause; Reason says what the store reported, for clients.
type FullError struct {
	Reason string
	Err    error
}

func (e *FullError) Error() string {
	return "blob store out of space (" + e.Reason + "): " + e.Err.Error()
}

// Unwrap makes a FullError both ErrFull and its cause.
func (e *FullError) Unwrap() []error { return []error{ErrFull, e.Err} }

// Content is an open committed blob. On the filesystem it is an *os.File, so
// http.ServeContent can use sendfile and answer Range requests.
type Content interface {
	io.ReadSeekCloser
}

// UploadState is a backend's own record of an upload in progress, such as
// an object store's multipart upload id and parts. The registry keeps it in
// the metadata store with the upload session and hands it back on every
// call, so any process may continue the upload. The filesystem needs none.
type UploadState []byte

// UploadInfo describes upload bytes found in the store, for purging uploads
// whose session row is gone.
type UploadInfo struct {
	ID      string
	ModTime time.Time
}

// Store is a blob backend. Implementations must make a blob visible under its
// final key only after all its bytes are durable, so a crash never exposes a
// partial blob.
type Store interface {
	// Stat returns the size of a committed blob or ErrNotFound.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open opens a committed blob for reading, with its size.
	Open(ctx context.Context, d digest.Digest) (Content, int64, error)
	// Delete removes a committed blob. Deleting a missing blob is not an error.
	Delete(ctx context.Context, d digest.Digest) error

	// WriteUpload writes r to upload id starting at offset, discarding any
	// bytes past offset left by an earlier interrupted write, and makes what
	// it wrote durable before returning. It returns the bytes written, which
	// may be fewer than r holds when r fails; those bytes are kept. state is
	// what the previous call returned (nil for a new upload); the caller
	// keeps the returned state with the upload session.
	WriteUpload(ctx context.Context, id string, state UploadState, offset int64, r io.Reader) (int64, UploadState, error)
	// UploadSize returns how many bytes upload id holds (0 if it has none).
	UploadSize(ctx context.Context, id string, state UploadState) (int64, error)
	// OpenUpload reads the first size bytes of upload id, e.g. to hash them
	// with another algorithm than the one computed while streaming.
	OpenUpload(ctx context.Context, id string, state UploadState, size int64) (io.ReadCloser, error)
	// CommitUpload makes the first size bytes of upload id the blob d. The
	// caller has verified the digest. The upload's bytes are gone afterwards.
	CommitUpload(ctx context.Context, id string, state UploadState, size int64, d digest.Digest) error
	// CancelUpload discards upload id's bytes. A missing upload is not an
	// error; state may be nil when the session's record is lost.
	CancelUpload(ctx context.Context, id string, state UploadState) error
	// ListUploads lists the uploads whose bytes the store holds.
	ListUploads(ctx context.Context) ([]UploadInfo, error)
	// Walk calls fn for every committed blob, in no particular order.
	Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error
}

// ObservingStore is implemented by stores that can show the caller every
// byte they store, so it can hash the bytes without copying them first.
// The filesystem store does: a push there is bound by CPU, and hashing the
// buffers the store writes from, on a goroutine of their own, saved the
// copy that hashing beside the store needed (about a tenth of the server's
// CPU per pushed GiB).
type ObservingStore interface {
	// WriteUploadObserved is WriteUpload that also calls stored with each
	// run of bytes once it is written, and the upload offset of its first
	// byte: in order, one call at a time, all before it returns. p is only
	// valid during the call. A byte that did not reach the store is never
	// shown; one that did always is.
	WriteUploadObserved(ctx context.Context, id string, state UploadState, offset int64, r io.Reader, stored func(p []byte, off int64)) (int64, UploadState, error)
}

// Redirector is implemented by stores whose blobs clients can fetch
// directly (an object store's presigned URLs), so the registry answers a
// blob GET with a redirect instead of streaming the bytes itself.
type Redirector interface {
	// RedirectURL returns a short-lived URL serving blob d to any client.
	RedirectURL(ctx context.Context, d digest.Digest) (string, error)
}

// UploadTruncater is implemented by stores that can drop an upload's
// bytes past size at once, so a chunk that failed for lack of space does
// not hold its disk space until the next write or the upload purge.
type UploadTruncater interface {
	TruncateUpload(ctx context.Context, id string, size int64) error
}

// ChunkSizer is implemented by stores that need upload chunks of a minimum
// size (an object store's multipart part size); the API advertises it in
// OCI-Chunk-Min-Length. Smaller chunks still work, at some cost.
type ChunkSizer interface {
	MinChunkSize() int64
}

// Tree is implemented by stores that can list and read the other files
// under their root, such as the data directory registry:2 left there
// (LegacyDir), which the importer reads. Paths are slash-separated and
// relative to the root.
type Tree interface {
	// List returns the names directly under dir (none if it is missing).
	List(ctx context.Context, dir string) ([]string, error)
	// Files returns the paths, relative to dir, of every file below dir:
	// in a bucket one listing per thousand keys, instead of a request per
	// directory.
	Files(ctx context.Context, dir string) ([]string, error)
	// Read returns a small file's bytes, or ErrNotFound.
	Read(ctx context.Context, path string) ([]byte, error)
	// Write stores a small file durably.
	Write(ctx context.Context, path string, content []byte) error
}
