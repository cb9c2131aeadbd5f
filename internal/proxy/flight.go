package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// flight is one upstream fetch of a blob, shared by every request for it
// while it runs: the bytes go to a spool file as they arrive, and each
// request reads the spool at its own offset (Range included), waiting for
// bytes not yet there. The registry's verified commit runs on the same
// stream; the last byte is released only once the digest has been checked,
// so no client receives a whole blob that is not what it asked for.
type flight struct {
	size  int64
	spool *os.File

	mu      sync.Mutex
	written int64
	done    bool
	err     error
	wake    chan struct{} // closed and replaced on every change
	readers int
	ended   bool // the fetch finished and left the flights map
}

func newFlight(dir string, size int64) (*flight, error) {
	f, err := os.CreateTemp(dir, "wharf-proxy-*")
	if err != nil {
		return nil, fmt.Errorf("create spool: %w", err)
	}
	// The spool is unlinked at once: readers hold it open, and a crash
	// leaves nothing behind.
	os.Remove(f.Name())
	return &flight{size: size, spool: f, wake: make(chan struct{})}, nil
}

// Write appends fetched bytes to the spool and wakes the readers.
func (f *flight) Write(p []byte) (int, error) {
	f.mu.Lock()
	off := f.written
	f.mu.Unlock()
	n, err := f.spool.WriteAt(p, off)
	f.mu.Lock()
	f.written += int64(n)
	f.signal()
	f.mu.Unlock()
	if err != nil {
		return n, fmt.Errorf("write spool: %w", err)
	}
	return n, nil
}

// finish ends the fetch: err nil means the blob is committed.
func (f *flight) finish(err error) {
	f.mu.Lock()
	f.done, f.err = true, err
	f.ended = true
	f.signal()
	f.maybeClose()
	f.mu.Unlock()
}

// signal wakes every waiting reader; f.mu is held.
func (f *flight) signal() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// maybeClose closes the spool once the fetch ended and no reader is left;
// f.mu is held.
func (f *flight) maybeClose() {
	if f.ended && f.readers == 0 && f.spool != nil {
		f.spool.Close()
		f.spool = nil
	}
}

// wait blocks until the fetch ended and returns its error.
func (f *flight) wait(ctx context.Context) error {
	for {
		f.mu.Lock()
		done, err, wake := f.done, f.err, f.wake
		f.mu.Unlock()
		if done {
			return err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reader returns a blob.Content over the flight for one request.
func (f *flight) reader(ctx context.Context) *flightReader {
	f.mu.Lock()
	f.readers++
	f.mu.Unlock()
	return &flightReader{f: f, ctx: ctx}
}

// readable returns how many bytes from the start a reader may have now, or
// the fetch's error; f.mu is held.
func (f *flight) readable() (int64, error) {
	if f.done && f.err != nil {
		return 0, f.err
	}
	if !f.done && f.written >= f.size {
		return f.size - 1, nil // the last byte waits for the digest check
	}
	return min(f.written, f.size), nil
}

// flightReader reads a flight's spool at its own offset.
type flightReader struct {
	f      *flight
	ctx    context.Context
	off    int64
	closed bool
}

// Read waits until bytes at the offset are there, the fetch fails or the
// request goes away.
func (r *flightReader) Read(p []byte) (int, error) {
	if r.off >= r.f.size {
		return 0, io.EOF
	}
	for {
		r.f.mu.Lock()
		avail, err := r.f.readable()
		wake := r.f.wake
		spool := r.f.spool
		r.f.mu.Unlock()
		if err != nil {
			return 0, err
		}
		if avail > r.off {
			n := int64(len(p))
			n = min(n, avail-r.off)
			got, err := spool.ReadAt(p[:n], r.off)
			r.off += int64(got)
			if got > 0 {
				return got, nil
			}
			return 0, fmt.Errorf("read spool: %w", err)
		}
		select {
		case <-wake:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

// Seek moves the offset; the size is known from the start, so
// http.ServeContent can answer Range requests before the bytes arrive.
func (r *flightReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.f.size
	default:
		return 0, errors.New("seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative offset")
	}
	r.off = offset
	return offset, nil
}

// Close lets the spool go once the fetch is over and no reader is left.
func (r *flightReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.f.mu.Lock()
	r.f.readers--
	r.f.maybeClose()
	r.f.mu.Unlock()
	return nil
}
