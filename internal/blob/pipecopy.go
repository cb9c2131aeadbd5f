package blob

import (
	"fmt"
	"io"
	"os"
)

// writebackStep is how many written bytes accumulate before their
// writeback to the disk is started, so the fdatasync that ends a request
// waits for the last few megabytes instead of the whole body.
const writebackStep = 8 << 20

// copyToFile copies r into f from off, reading (and, in the caller's
// reader, hashing) the next buffer while the previous one is written and
// its writeback started. Done one after the other, receive and hash, copy
// into the page cache, and the final fdatasync added up to about 1.9 s per
// GB here; overlapped, the slowest of them bounds a push. It reports how
// many bytes reached f even when r or a write fails midway; only io.EOF
// ends the copy cleanly.
func copyToFile(f *os.File, off int64, r io.Reader) (int64, error) {
	const buffers = 3 // one filling, one queued, one being written
	free := make(chan *[]byte, buffers)
	for range buffers {
		free <- copyBuffers.Get().(*[]byte)
	}
	full := make(chan chunk, buffers-1)
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	stop := make(chan struct{}) // closed when a write failed
	go func() {
		var res result
		unsynced := off
		for c := range full {
			if res.err == nil {
				res.err = writeChunk(f, (*c.buf)[:c.n], &res.n, off, &unsynced)
				if res.err != nil {
					close(stop)
				}
			}
			free <- c.buf
		}
		done <- res
	}()
	readErr := fillChunks(r, free, full, stop)
	close(full)
	res := <-done
	for range buffers {
		copyBuffers.Put(<-free)
	}
	if res.err != nil {
		return res.n, res.err
	}
	return res.n, readErr
}

// chunk is a filled copy buffer on its way to the file.
type chunk struct {
	buf *[]byte
	n   int
}

// fillChunks reads r into free buffers and queues them until r ends, fails,
// or stop closes. A clean end (io.EOF) returns nil.
func fillChunks(r io.Reader, free chan *[]byte, full chan<- chunk, stop <-chan struct{}) error {
	for {
		var buf *[]byte
		select {
		case buf = <-free:
		case <-stop:
			return nil
		}
		k, err := fill(r, *buf)
		if k > 0 {
			full <- chunk{buf, k}
		} else {
			free <- buf
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// writeChunk writes p at the end of what was written so far and starts
// writeback of every full step behind it.
func writeChunk(f *os.File, p []byte, written *int64, off int64, unsynced *int64) error {
	k, err := f.Write(p)
	*written += int64(k)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if end := off + *written; end-*unsynced >= writebackStep {
		startWriteback(f, *unsynced, end-*unsynced)
		*unsynced = end
	}
	return nil
}
