package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
)

// Upload is the state of an upload session as a client sees it.
type Upload struct {
	ID     string
	Repo   string
	Offset int64
}

// uploadLocks serialises requests on one upload session within a process,
// so two PATCHes racing on one session cannot interleave their bytes.
type uploadLocks struct {
	mu    sync.Mutex
	locks map[string]*uploadLock
}

type uploadLock struct {
	sync.Mutex
	refs int
}

func (l *uploadLocks) lock(id string) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*uploadLock{}
	}
	k := l.locks[id]
	if k == nil {
		k = &uploadLock{}
		l.locks[id] = k
	}
	k.refs++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.locks, id)
		}
		l.mu.Unlock()
	}
}

// StartUpload opens an upload session in repo.
func (r *Registry) StartUpload(ctx context.Context, repo string) (Upload, error) {
	if err := r.checkWrite(); err != nil {
		return Upload{}, err
	}
	if err := r.refuseCached(repo); err != nil {
		return Upload{}, err
	}
	if err := r.checkSpace(); err != nil {
		return Upload{}, err
	}
	state, err := marshalHash(sha256.New())
	if err != nil {
		return Upload{}, err
	}
	u := &meta.Upload{ID: uuid.NewString(), Repo: repo, HashState: state}
	if err := r.meta.CreateUpload(ctx, u); err != nil {
		return Upload{}, wrap(err, "start upload")
	}
	return Upload{ID: u.ID, Repo: repo}, nil
}

// UploadStatus returns how far upload id has come.
func (r *Registry) UploadStatus(ctx context.Context, repo, id string) (Upload, error) {
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return Upload{}, err
	}
	return Upload{ID: id, Repo: repo, Offset: u.Offset}, nil
}

func (r *Registry) getUpload(ctx context.Context, repo, id string) (*meta.Upload, error) {
	u, err := r.meta.GetUpload(ctx, repo, id)
	if isNotFound(err) {
		return nil, errorf(CodeBlobUploadUnknown, "upload %q unknown to repository %q", id, repo)
	}
	if err != nil {
		return nil, wrap(err, "load upload")
	}
	return u, nil
}

// PatchUpload appends body to upload id. start is the offset the client
// says the chunk begins at, or -1 when it sent no Content-Range.
func (r *Registry) PatchUpload(ctx context.Context, repo, id string, body io.Reader, start int64) (Upload, error) {
	if err := r.checkWrite(); err != nil {
		return Upload{}, err
	}
	if err := r.checkSpace(); err != nil {
		return Upload{}, err
	}
	defer r.locks.lock(id)()
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return Upload{}, err
	}
	if start >= 0 && start != u.Offset {
		return Upload{ID: id, Repo: repo, Offset: u.Offset},
			errorf(CodeRangeInvalid, "chunk starts at %d but the upload holds %d bytes", start, u.Offset)
	}
	if err := r.appendUpload(ctx, u, body); err != nil {
		return Upload{ID: id, Repo: repo, Offset: u.Offset}, err
	}
	return Upload{ID: id, Repo: repo, Offset: u.Offset}, nil
}

// appendUpload streams body into the upload's bytes while the running hash
// consumes it, then records the new offset and hash state. When the body
// fails midway, what arrived is kept and recorded so the client can resume.
func (r *Registry) appendUpload(ctx context.Context, u *meta.Upload, body io.Reader) error {
	h, err := unmarshalSHA256(u.HashState)
	if err != nil {
		return wrap(err, "upload %s", u.ID)
	}
	hr := r.newHashingReader(body, h, u.Offset)
	defer hr.wait()
	n, backend, content, writeErr := r.writeUploadBytes(ctx, u, r.limitBySpace(hr), hr)
	hr.wait()
	if outOfSpace(writeErr) {
		writeErr = r.withReserveRefusal(writeErr)
		// The chunk's bytes are given back now: unrecorded, they would
		// only hold space the disk lacks until the next write or the purge.
		r.dropChunk(ctx, u)
		return fmt.Errorf("upload %s: chunk dropped after %d bytes: %w", u.ID, n, writeErr)
	}
	if n != hr.n {
		// Bytes were hashed that did not reach storage: recording this state
		// would corrupt the blob. Keep the old state; the next write starts
		// over from the recorded offset.
		return fmt.Errorf("upload %s: stored %d of %d bytes: %w", u.ID, n, hr.n, writeErr)
	}
	if n > 0 {
		state, err := marshalHash(h)
		if err != nil {
			return err
		}
		if err := r.meta.AdvanceUpload(ctx, u.ID, u.Offset, u.Offset+n, state, backend, content); err != nil {
			if errors.Is(err, meta.ErrConflict) {
				return errorf(CodeBlobUploadInvalid, "upload %s was changed by another request", u.ID)
			}
			return wrap(err, "record upload progress")
		}
		u.Offset += n
		u.HashState, u.BackendState, u.Content = state, backend, content
	}
	return bodyError(writeErr, hr, n)
}

// bodyError tells a client that stopped sending (its fault: 400) from a
// storage failure (ours: 500).
func bodyError(err error, hr *hashingReader, n int64) error {
	switch {
	case err == nil:
		return nil
	case hr.err != nil && errors.Is(err, hr.err):
		return errorf(CodeBlobUploadInvalid, "reading the request body failed after %d bytes: %v", n, err)
	default:
		return fmt.Errorf("store upload bytes after %d bytes: %w", n, err)
	}
}

// FinishUpload appends an optional last chunk, checks the digest and commits
// the blob. On a digest mismatch the session is discarded.
func (r *Registry) FinishUpload(ctx context.Context, repo, id string, d digest.Digest, body io.Reader, start int64) (BlobInfo, error) {
	if err := r.checkWrite(); err != nil {
		return BlobInfo{}, err
	}
	if body != nil {
		// Only new bytes are refused: committing what arrived already
		// takes no space and completes the client's push.
		if err := r.checkSpace(); err != nil {
			return BlobInfo{}, err
		}
	}
	defer r.locks.lock(id)()
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return BlobInfo{}, err
	}
	if start >= 0 && start != u.Offset {
		return BlobInfo{}, errorf(CodeRangeInvalid, "chunk starts at %d but the upload holds %d bytes", start, u.Offset)
	}
	if body != nil {
		if err := r.appendUpload(ctx, u, body); err != nil {
			return BlobInfo{}, err
		}
	}
	got, err := r.uploadDigest(ctx, u, d.Algorithm())
	if err != nil {
		return BlobInfo{}, err
	}
	if got != d {
		r.discardUpload(ctx, id, u.BackendState)
		return BlobInfo{}, errorf(CodeDigestInvalid, "uploaded content has digest %s, not %s", got, d)
	}
	if u.Content != nil {
		err = r.commitInlineBlob(ctx, repo, d, u.Content, id)
	} else {
		err = r.commitBlob(ctx, repo, id, u.BackendState, d, u.Offset, id)
	}
	if outOfSpace(err) {
		// An object store's commit copies the bytes: the upload's own
		// copy is given back at once rather than held until the purge.
		if derr := r.discardUpload(ctx, id, u.BackendState); derr != nil {
			r.log.Warn("discarding an upload that did not fit failed", "upload", id, "err", derr)
		}
	}
	if err != nil {
		return BlobInfo{}, err
	}
	return BlobInfo{Digest: d, Size: u.Offset}, nil
}

// uploadDigest returns the digest of the upload's bytes under alg: from the
// saved sha256 state, or by reading the bytes again for another algorithm.
func (r *Registry) uploadDigest(ctx context.Context, u *meta.Upload, alg digest.Algorithm) (digest.Digest, error) {
	if alg == digest.SHA256 {
		h, err := unmarshalSHA256(u.HashState)
		if err != nil {
			return "", err
		}
		return digest.NewDigest(alg, h), nil
	}
	if u.Content != nil {
		return alg.FromBytes(u.Content), nil
	}
	rc, err := r.blobs.OpenUpload(ctx, u.ID, u.BackendState, u.Offset)
	if err != nil {
		return "", wrap(err, "read upload")
	}
	defer rc.Close()
	d, err := alg.FromReader(io.LimitReader(rc, u.Offset))
	if err != nil {
		return "", wrap(err, "hash upload")
	}
	return d, nil
}

// PutBlob stores a whole blob in one request (POST ?digest=) without an
// upload session.
func (r *Registry) PutBlob(ctx context.Context, repo string, d digest.Digest, body io.Reader) (BlobInfo, error) {
	if err := r.refuseCached(repo); err != nil {
		return BlobInfo{}, err
	}
	return r.putBlob(ctx, repo, d, body)
}

func (r *Registry) putBlob(ctx context.Context, repo string, d digest.Digest, body io.Reader) (BlobInfo, error) {
	if err := r.checkWrite(); err != nil {
		return BlobInfo{}, err
	}
	if err := r.checkSpace(); err != nil {
		return BlobInfo{}, err
	}
	h := d.Algorithm().Hash()
	hr := r.newHashingReader(body, h, 0)
	defer hr.wait()
	var src io.Reader = hr
	if r.opts.InlineMax > 0 {
		head, err := readAtMost(hr, r.opts.InlineMax+1)
		if err != nil {
			return BlobInfo{}, bodyError(err, hr, int64(len(head)))
		}
		if r.inlineSize(int64(len(head))) {
			hr.wait()
			return r.putInlineBlob(ctx, repo, d, h, head)
		}
		// Too large to keep inline: the head (already hashed and counted)
		// goes to the store first, then the rest of the body.
		src = io.MultiReader(bytes.NewReader(head), hr)
	}
	id := uuid.NewString()
	n, state, err := r.writeToStore(ctx, id, nil, 0, r.limitBySpace(src), hr)
	hr.wait()
	if err != nil || n != hr.n {
		err = r.withReserveRefusal(err)
		r.blobs.CancelUpload(ctx, id, state)
		if err == nil {
			err = fmt.Errorf("stored %d of %d bytes", n, hr.n)
		}
		return BlobInfo{}, bodyError(err, hr, n)
	}
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		r.blobs.CancelUpload(ctx, id, state)
		return BlobInfo{}, errorf(CodeDigestInvalid, "uploaded content has digest %s, not %s", got, d)
	}
	if err := r.commitBlob(ctx, repo, id, state, d, n, ""); err != nil {
		r.blobs.CancelUpload(ctx, id, state)
		return BlobInfo{}, err
	}
	return BlobInfo{Digest: d, Size: n}, nil
}

// putInlineBlob finishes a monolithic upload small enough to keep inline.
func (r *Registry) putInlineBlob(ctx context.Context, repo string, d digest.Digest, h hash.Hash, content []byte) (BlobInfo, error) {
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		return BlobInfo{}, errorf(CodeDigestInvalid, "uploaded content has digest %s, not %s", got, d)
	}
	if err := r.commitInlineBlob(ctx, repo, d, content, ""); err != nil {
		return BlobInfo{}, err
	}
	return BlobInfo{Digest: d, Size: int64(len(content))}, nil
}

// commitBlob records blob d in repo and moves the upload's bytes into place
// inside the same metadata transaction, so garbage collection, which removes
// bytes inside its own transaction, can never interleave with it.
func (r *Registry) commitBlob(ctx context.Context, repo, uploadID string, state blob.UploadState, d digest.Digest, size int64, session string) error {
	err := r.meta.CommitBlob(ctx, repo, d, size, session, func() error {
		return r.blobs.CommitUpload(ctx, uploadID, state, size, d)
	})
	return wrap(err, "commit blob %s", d)
}

// CancelUpload ends an upload session and discards its bytes.
func (r *Registry) CancelUpload(ctx context.Context, repo, id string) error {
	if err := r.checkWrite(); err != nil {
		return err
	}
	defer r.locks.lock(id)()
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return err
	}
	return r.discardUpload(ctx, id, u.BackendState)
}

// discardUpload removes the session row first, so no request can resume an
// upload whose bytes are about to go.
func (r *Registry) discardUpload(ctx context.Context, id string, state blob.UploadState) error {
	if err := r.meta.DeleteUpload(ctx, id); err != nil && !isNotFound(err) {
		return wrap(err, "cancel upload")
	}
	return wrap(r.blobs.CancelUpload(ctx, id, state), "cancel upload")
}

// PurgeUploads removes upload sessions, and upload bytes without a session,
// untouched for longer than age. With dryRun it only reports them.
func (r *Registry) PurgeUploads(ctx context.Context, age time.Duration, dryRun bool) (int, error) {
	cutoff := time.Now().Add(-age)
	stale, err := r.meta.StaleUploads(ctx, cutoff)
	if err != nil {
		return 0, err
	}
	purged := 0
	for _, u := range stale {
		r.log.Info("purging stale upload", "upload", u.ID, "repo", u.Repo, "bytes", u.Offset, "updated", u.UpdatedAt, "dryrun", dryRun)
		if !dryRun {
			unlock := r.locks.lock(u.ID)
			err := r.discardUpload(ctx, u.ID, u.BackendState)
			unlock()
			if err != nil {
				return purged, err
			}
		}
		purged++
	}
	n, err := r.purgeOrphanUploadBytes(ctx, cutoff, dryRun)
	return purged + n, err
}

// purgeOrphanUploadBytes removes upload bytes whose session is gone (a crash
// between writing and recording, or a monolithic upload cut short).
func (r *Registry) purgeOrphanUploadBytes(ctx context.Context, cutoff time.Time, dryRun bool) (int, error) {
	infos, err := r.blobs.ListUploads(ctx)
	if err != nil {
		return 0, err
	}
	purged := 0
	for _, info := range infos {
		if info.ModTime.After(cutoff) {
			continue
		}
		if _, err := r.meta.GetUpload(ctx, "", info.ID); err == nil || !isNotFound(err) {
			continue // a live session, or we cannot tell: keep the bytes
		}
		r.log.Info("purging orphaned upload bytes", "upload", info.ID, "modified", info.ModTime, "dryrun", dryRun)
		if !dryRun {
			if err := r.blobs.CancelUpload(ctx, info.ID, nil); err != nil {
				return purged, err
			}
		}
		purged++
	}
	return purged, nil
}

func marshalHash(h hash.Hash) ([]byte, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, errors.New("hash state cannot be saved")
	}
	state, err := m.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("save hash state: %w", err)
	}
	return state, nil
}

func unmarshalSHA256(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(state) == 0 {
		return h, nil
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("restore hash state: %w", err)
	}
	return h, nil
}
