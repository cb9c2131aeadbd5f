package registry

import (
	"context"
	"hash"
	"io"
	"sync"

	"github.com/wharf-registry/wharf/internal/blob"
)

// syncHashMax is how much of a body is hashed on the goroutine reading it.
// Past it the rest is hashed on a goroutine of its own. One core hashes
// sha256 at about 1.7 GB/s here (SHA-NI), less with the client and the
// network on the same two cores; received and hashed on one goroutine, a
// 256 MiB upload took 300-350 ms while the goroutine writing it to disk sat
// idle three quarters of that time, and 240-290 ms hashed beside. Small
// bodies, most pushes, stay on the request goroutine: they would pay a
// goroutine and the copies for nothing.
const syncHashMax = 1 << 20

// hashingReader feeds everything read through it to h, counts it, and
// remembers the error reading failed with, so a client's broken body can
// be told from a storage failure. Until wait returns, h may still be
// hashing what was read: call wait before reading h, and on every path
// (it ends the hashing goroutine).
//
// With a store that shows what it stores (blob.ObservingStore), Read
// hashes only the first syncMax bytes and the store's writer hands the
// rest to stored: the store's buffers are hashed in place, with no copy.
type hashingReader struct {
	r     io.Reader
	h     hash.Hash
	n     int64
	err   error
	async *hashPipe // nil until the body grows past syncHashMax

	// syncMax > 0: Read hashes that many bytes and stored the rest.
	syncMax int64
	// base is the upload offset of the body's first byte.
	base int64
}

// newHashingReader returns a hashingReader of a body whose first byte
// goes to upload offset base. When the store can show what it stores, the
// reader leaves all but the body's start to writeToStore's stored calls;
// it still hashes more than any inline blob holds, since inline bytes
// never reach the store.
func (r *Registry) newHashingReader(body io.Reader, h hash.Hash, base int64) *hashingReader {
	hr := &hashingReader{r: body, h: h}
	if r.observing != nil {
		hr.syncMax, hr.base = max(syncHashMax, r.opts.InlineMax+1), base
	}
	return hr
}

// writeToStore writes body (which reads hr) to the blob store, and has the
// store hash what hr leaves to it.
func (r *Registry) writeToStore(ctx context.Context, id string, state blob.UploadState, offset int64, body io.Reader, hr *hashingReader) (int64, blob.UploadState, error) {
	if hr.syncMax > 0 {
		return r.observing.WriteUploadObserved(ctx, id, state, offset, body, hr.stored)
	}
	return r.blobs.WriteUpload(ctx, id, state, offset, body)
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	if n > 0 {
		hr.hash(p[:n])
		hr.n += int64(n)
	}
	if err != nil && err != io.EOF {
		hr.err = err
	}
	return n, err
}

// hash hashes p here while the body is small and hands it to the hashing
// goroutine once it is not, or leaves it to stored.
func (hr *hashingReader) hash(p []byte) {
	if hr.syncMax > 0 {
		if room := hr.syncMax - hr.n; room > 0 {
			hr.h.Write(p[:min(int64(len(p)), room)])
		}
		return
	}
	if hr.async == nil {
		if hr.n+int64(len(p)) <= syncHashMax {
			hr.h.Write(p)
			return
		}
		hr.async = startHashPipe(hr.h)
	}
	hr.async.write(p)
}

// stored hashes what the store wrote at upload offset off that Read left
// to it: the body's bytes from syncMax on. The store calls it in order,
// after Read returned those bytes, so Read's share of h comes first.
func (hr *hashingReader) stored(p []byte, off int64) {
	from := hr.base + hr.syncMax
	if off+int64(len(p)) <= from {
		return
	}
	if off < from {
		p = p[from-off:]
	}
	hr.h.Write(p)
}

// wait returns once h has consumed everything read. It may be called more
// than once.
func (hr *hashingReader) wait() {
	if hr.async != nil {
		hr.async.close()
		hr.async = nil
	}
}

// hashPipe hashes on its own goroutine what is written to it. The bytes
// are copied into its buffers, since the reader's caller reuses its buffer
// as soon as Read returns; a copy costs a small fraction of hashing them.
type hashPipe struct {
	cur  *[]byte // being filled; nil when none is
	free chan *[]byte
	full chan *[]byte
	done chan struct{}
}

// hashPipeBuffers are one being filled, one queued and one being hashed.
const (
	hashPipeBuffers   = 3
	hashPipeBufferLen = 1 << 20
)

var hashBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, hashPipeBufferLen)
	return &b
}}

func startHashPipe(h hash.Hash) *hashPipe {
	p := &hashPipe{
		free: make(chan *[]byte, hashPipeBuffers),
		full: make(chan *[]byte, hashPipeBuffers),
		done: make(chan struct{}),
	}
	for range hashPipeBuffers {
		p.free <- hashBuffers.Get().(*[]byte)
	}
	go func() {
		defer close(p.done)
		for b := range p.full {
			h.Write(*b)
			p.free <- b
		}
	}()
	return p
}

// write copies b into the pipe's buffers, queueing each one that fills.
func (p *hashPipe) write(b []byte) {
	for len(b) > 0 {
		if p.cur == nil {
			p.cur = <-p.free
			*p.cur = (*p.cur)[:0]
		}
		buf := *p.cur
		k := copy(buf[len(buf):cap(buf)], b)
		*p.cur = buf[:len(buf)+k]
		b = b[k:]
		if len(*p.cur) == cap(*p.cur) {
			p.full <- p.cur
			p.cur = nil
		}
	}
}

// close queues the partly filled buffer, waits until everything queued is
// hashed and gives the buffers back.
func (p *hashPipe) close() {
	if p.cur != nil {
		if len(*p.cur) > 0 {
			p.full <- p.cur
		} else {
			p.free <- p.cur
		}
		p.cur = nil
	}
	close(p.full)
	<-p.done
	for range hashPipeBuffers {
		hashBuffers.Put(<-p.free)
	}
}
