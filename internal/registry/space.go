package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
)

// Space is the free space of the storage holding upload bytes and the
// metadata database, with the part kept back for metadata writes
// (storage.reserve).
type Space interface {
	// Free returns the bytes left (the reserve's own included) and the
	// reserve: uploads stop when free falls under it.
	Free() (free, reserve int64, err error)
}

// spaceCheckEvery is how many bytes of a request body may be stored between
// two looks at free space: a large upload that started with room must
// still stop at the reserve. A look (statfs) costs about a microsecond.
const spaceCheckEvery = 1 << 20

// checkSpace refuses new upload bytes while the storage is below its
// reserve, saying how much is free. A failed measurement lets the upload
// go ahead: a full disk still ends it cleanly with ErrFull.
func (r *Registry) checkSpace() error {
	if r.opts.Space == nil {
		return nil
	}
	free, reserve, err := r.opts.Space.Free()
	if err != nil {
		r.log.Warn("measuring free space failed; upload admitted", "err", err)
		return nil
	}
	if free >= reserve {
		return nil
	}
	return errorf(CodeInsufficientStorage,
		"storage is below its reserve: %s left of the %s kept for metadata (storage.reserve); "+
			"new uploads are refused until space is freed (delete images, then run garbage collection)",
		humanBytes(free), humanBytes(reserve))
}

// spaceReader stops a request body at the reserve: every spaceCheckEvery
// bytes it looks at free space again, and fails with the refusal when the
// reserve is reached.
type spaceReader struct {
	r       io.Reader
	reg     *Registry
	unseen  int64 // bytes read since the last look
	refusal error
}

// limitBySpace wraps body so that storing it stops at the reserve.
func (r *Registry) limitBySpace(body io.Reader) io.Reader {
	if r.opts.Space == nil {
		return body
	}
	return &spaceReader{r: body, reg: r}
}

func (s *spaceReader) Read(p []byte) (int, error) {
	if s.refusal != nil {
		return 0, s.refusal
	}
	if s.unseen >= spaceCheckEvery {
		s.unseen = 0
		if err := s.reg.checkSpace(); err != nil {
			s.refusal = err
			return 0, err
		}
	}
	n, err := s.r.Read(p)
	s.unseen += int64(n)
	return n, err
}

// outOfSpace reports whether storing bytes failed for lack of space: the
// reserve was reached mid-body, or the store itself found the disk full.
func outOfSpace(err error) bool {
	if errors.Is(err, blob.ErrFull) {
		return true
	}
	e, ok := AsError(err)
	return ok && e.Code == CodeInsufficientStorage
}

// withReserveRefusal returns err, a failure to store upload bytes, with
// the reserve's refusal in front when the store ran out of space while
// the storage was below its reserve. The reserve is looked at every
// spaceCheckEvery bytes read, and a store's copy pipeline can hold a few
// MiB read but not yet written, so the disk may fill before a look
// refuses the body; the client is still told the reason it would have
// been. Call it before the failed bytes are given back.
func (r *Registry) withReserveRefusal(err error) error {
	var e *Error
	if !outOfSpace(err) || errors.As(err, &e) {
		return err
	}
	if refusal := r.checkSpace(); refusal != nil {
		return fmt.Errorf("%w: %w", refusal, err)
	}
	return err
}

// dropChunk gives back, at once, the space taken by the bytes of a chunk
// that failed for lack of space: they are not recorded, and would
// otherwise wait for the next write or the upload purge. Inline uploads
// hold nothing in the blob store.
func (r *Registry) dropChunk(ctx context.Context, u *meta.Upload) {
	t, ok := r.blobs.(blob.UploadTruncater)
	if !ok {
		return
	}
	keep := u.Offset
	if u.Content != nil {
		keep = 0
	}
	if err := t.TruncateUpload(ctx, u.ID, keep); err != nil {
		r.log.Warn("dropping the bytes of a chunk that did not fit failed", "upload", u.ID, "err", err)
	}
}

// fullError turns a store's "out of space" into the client's refusal,
// naming the store's reason; any other error gives false.
func fullError(err error) (*Error, bool) {
	var me *meta.FullError
	var be *blob.FullError
	switch {
	case errors.As(err, &me):
		return errorf(CodeInsufficientStorage, "the metadata database is out of space (%s); delete images, then run garbage collection", me.Reason), true
	case errors.As(err, &be):
		return errorf(CodeInsufficientStorage, "the blob store is out of space (%s); delete images, then run garbage collection", be.Reason), true
	case errors.Is(err, meta.ErrFull), errors.Is(err, blob.ErrFull):
		return errorf(CodeInsufficientStorage, "storage is out of space; delete images, then run garbage collection"), true
	}
	return nil, false
}

// humanBytes writes n in binary units for messages.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
