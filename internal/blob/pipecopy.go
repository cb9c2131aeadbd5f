package blob

import (
	"fmt"
	"io"
	"os"
)

// writebackStep is how many written bytes accumulate before their
// writeback to the disk is started, so the fdatasync that ends a request
// waits for the last few megabytes instead of the whole body.
const writebackStep = 4 << 20

// flushStep is how many written bytes accumulate before a flush to stable
// storage (fdatasync) is started beside the writes. Started writeback only
// reaches a disk's volatile cache, or a virtual disk's host page cache,
// and the cache flush at the end then writes most of the body: measured
// here, 130-170 ms of a 256 MiB upload's ~430. Flushed as it goes, what
// is left at the end (the flush in flight, then the bytes after it) took
// a median 15 ms per 256 MiB upload with 16 MiB steps and writeback
// started every 8 MiB, 9 ms with 8 and 4, 21 ms with 32 and 8: that wait
// is a push's alone, with both cores idle. A slow flush does not stack
// up smaller steps: the next starts only when the one in flight is done.
const flushStep = 8 << 20

// copyToFile copies r into f from off, reading the next buffer while the
// previous one is written and its writeback started. Done one after the
// other, receive and hash, copy into the page cache, and the final
// fdatasync added up to about 1.9 s per GB here; overlapped, the slowest
// of them bounds a push. It reports how many bytes reached f even when r
// or a write fails midway; only io.EOF ends the copy cleanly. Every
// flushStep bytes, fl (if not nil) flushes what was written so far in the
// background; the caller waits for it (fl.wait) before its final sync.
//
// If stored is not nil, each written buffer then goes to a goroutine of its
// own that hands it to stored (with its file offset) before the buffer is
// reused, so the caller hashes the bytes in place, beside the reads and the
// writes, and every call has returned when copyToFile does.
func copyToFile(f *os.File, off int64, r io.Reader, fl *backgroundFlush, stored func([]byte, int64)) (int64, error) {
	// One filling, one being written, and one queued or being shown to
	// stored. A fourth buffer gained nothing measurable (medians within
	// 1% over 12 rounds) and held 2 MiB more per upload.
	const buffers = 3
	bufs := &bufferSet{free: make(chan *[]byte, buffers)}
	full := make(chan chunk, buffers-1)
	done := make(chan copyResult, 1)
	stop := make(chan struct{}) // closed when a write failed
	go writeChunks(f, off, full, newReleaser(bufs.free, stored), fl, stop, done)
	readErr := fillChunks(r, bufs, full, stop)
	close(full)
	res := <-done
	bufs.giveBack()
	if res.err != nil {
		return res.n, res.err
	}
	return res.n, readErr
}

// chunk is a filled copy buffer on its way to the file, and then, written,
// to stored.
type chunk struct {
	buf *[]byte
	n   int
	at  int64 // file offset of the first byte, once written
}

// copyResult is how many bytes writeChunks wrote and the error that stopped
// it.
type copyResult struct {
	n   int64
	err error
}

// writeChunks writes the chunks from full to f one after the other from
// off, hands each to rel and, once full is closed and rel has seen every
// chunk, reports on done. After a failed write it closes stop and only
// passes the remaining chunks on unwritten.
func writeChunks(f *os.File, off int64, full <-chan chunk, rel *releaser, fl *backgroundFlush, stop chan<- struct{}, done chan<- copyResult) {
	var res copyResult
	unsynced := off
	for c := range full {
		before := res.n
		if res.err == nil {
			res.err = writeChunk(f, (*c.buf)[:c.n], &res.n, off, &unsynced)
			if res.err != nil {
				close(stop)
			} else {
				fl.maybeStart(off + res.n)
			}
		}
		// After a failure only what reached the file is shown.
		c.n, c.at = int(res.n-before), off+before
		rel.release(c)
	}
	rel.close()
	done <- res
}

// releaser gives written buffers back for reading, by way of stored when
// there is one.
type releaser struct {
	free    chan<- *[]byte
	stored  func([]byte, int64)
	written chan chunk    // to the goroutine calling stored; nil without it
	shown   chan struct{} // closed when that goroutine has ended
}

func newReleaser(free chan<- *[]byte, stored func([]byte, int64)) *releaser {
	rel := &releaser{free: free, stored: stored}
	if stored != nil {
		rel.written = make(chan chunk, cap(free))
		rel.shown = make(chan struct{})
		go rel.show()
	}
	return rel
}

func (rel *releaser) release(c chunk) {
	if rel.written != nil {
		rel.written <- c
		return
	}
	rel.free <- c.buf
}

// show hands each written chunk to stored, then frees its buffer.
func (rel *releaser) show() {
	defer close(rel.shown)
	for c := range rel.written {
		if c.n > 0 {
			rel.stored((*c.buf)[:c.n], c.at)
		}
		rel.free <- c.buf
	}
}

// close waits until stored has seen every released chunk.
func (rel *releaser) close() {
	if rel.written != nil {
		close(rel.written)
		<-rel.shown
	}
}

// fillChunks reads r into buffers from bufs and queues them until r ends,
// fails, or stop closes. A clean end (io.EOF) returns nil.
func fillChunks(r io.Reader, bufs *bufferSet, full chan<- chunk, stop <-chan struct{}) error {
	for {
		buf := bufs.get(stop)
		if buf == nil {
			return nil
		}
		k, err := fill(r, *buf)
		if k > 0 {
			full <- chunk{buf: buf, n: k}
		} else {
			bufs.free <- buf
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// bufferSet lends a copy up to cap(free) buffers, taking one from
// copyBuffers only when none of those it has is free: a body smaller than
// a buffer uses one. Only the reading goroutine calls get.
type bufferSet struct {
	free  chan *[]byte // buffers done with, to be filled again
	taken int
}

// get returns a free buffer, waiting for one when all are lent, or nil
// once stop is closed: after a failed write the rest of a body is not
// read.
func (s *bufferSet) get(stop <-chan struct{}) *[]byte {
	select {
	case <-stop:
		return nil
	default:
	}
	select {
	case buf := <-s.free:
		return buf
	default:
	}
	if s.taken < cap(s.free) {
		s.taken++
		return copyBuffers.Get().(*[]byte)
	}
	select {
	case buf := <-s.free:
		return buf
	case <-stop:
		return nil
	}
}

// giveBack returns every buffer taken to copyBuffers, once all are free.
func (s *bufferSet) giveBack() {
	for range s.taken {
		copyBuffers.Put(<-s.free)
	}
}

// pageCacheSlice is the most one write hands the page cache, and the file
// offsets writes are aligned to. Linux (6.x, ext4 and other filesystems
// with large folios) sizes the page-cache folios a write allocates by the
// write's length: a 1 MiB write gets 1 MiB folios, a 32 KiB one 32 KiB
// folios. On a VM whose host takes back free guest memory (virtio-balloon
// free page reporting: Firecracker, this project's bench machine), new
// folios larger than 32 KiB cost several times more: measured, 1 GiB put
// into such memory took 1.2-1.6 CPU-seconds in 1 MiB writes, 0.9-2.9 in
// 64 KiB to 4 MiB ones, and 0.2-0.3 in 32 KiB ones; into memory freed a
// moment before, 0.12-0.16 and 0.23-0.53. With 1 MiB writes a push took
// wharf twice the CPU for half the throughput: 3.0-3.3 CPU-seconds per
// GiB at 430-480 MB/s, against 1.5-1.8 at 760-870 sliced. distribution
// writes 32 KiB at a time (io.Copy's buffer) and never paid this. The
// price elsewhere: more write calls, and sendfile of small folios costs a
// puller a little more than of large ones.
const pageCacheSlice = 32 << 10

// writeChunk writes p at the end of what was written so far, in slices
// aligned to pageCacheSlice, and starts writeback of every full step
// behind it.
func writeChunk(f *os.File, p []byte, written *int64, off int64, unsynced *int64) error {
	for len(p) > 0 {
		k, err := f.Write(p[:sliceLen(off+*written, len(p))])
		*written += int64(k)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		p = p[k:]
	}
	if end := off + *written; end-*unsynced >= writebackStep {
		startWriteback(f, *unsynced, end-*unsynced)
		*unsynced = end
	}
	return nil
}

// sliceLen is how much of n bytes to write at file offset pos: up to the
// next pageCacheSlice boundary, so every later write starts aligned and
// fills whole folios.
func sliceLen(pos int64, n int) int {
	return min(n, pageCacheSlice-int(pos%pageCacheSlice))
}

// backgroundFlush runs at most one flush of a file to stable storage at a
// time beside the writes to it, and keeps the first failure: after a
// failed fdatasync the kernel reports the error once, to that call only,
// so a later sync of the same file could succeed over lost data.
type backgroundFlush struct {
	f    *os.File
	sync func(*os.File) error // syncData; tests substitute failures
	// from is where the bytes not yet covered by a started flush begin.
	from    int64
	running chan struct{} // closed when the flush in flight ends
	err     error         // written before running closes
}

// newBackgroundFlush returns a backgroundFlush for f whose first flush
// covers the bytes written after off.
func newBackgroundFlush(f *os.File, off int64) *backgroundFlush {
	return &backgroundFlush{f: f, sync: syncData, from: off}
}

// maybeStart starts a flush when flushStep bytes were written since the
// last one started, none is in flight, and none has failed.
func (b *backgroundFlush) maybeStart(end int64) {
	if b == nil || end-b.from < flushStep {
		return
	}
	if b.running != nil {
		select {
		case <-b.running:
			b.running = nil
		default:
			return
		}
	}
	if b.err != nil {
		return
	}
	done := make(chan struct{})
	b.running, b.from = done, end
	go func() {
		defer close(done)
		if err := b.sync(b.f); err != nil {
			b.err = fmt.Errorf("background flush: %w", err)
		}
	}()
}

// wait waits for the flush in flight, if any, and returns the first
// failure of any flush.
func (b *backgroundFlush) wait() error {
	if b == nil {
		return nil
	}
	if b.running != nil {
		<-b.running
		b.running = nil
	}
	return b.err
}
