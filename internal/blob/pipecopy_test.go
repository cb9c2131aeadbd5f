package blob

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/iotest"
)

// TestCopyToFileBackgroundFlush copies bodies of several flush steps and
// checks the bytes that land, how many flushes ran beside the writes, and
// that a failed flush is reported by wait even though the copy went on.
func TestCopyToFileBackgroundFlush(t *testing.T) {
	tests := []struct {
		name       string
		off, size  int64
		fail       bool
		minFlushes int64 // at least; more start as earlier ones finish
		maxFlushes int64
	}{
		{"below one step", 0, flushStep - 1, false, 0, 0},
		{"one step", 0, flushStep, false, 1, 1},
		{"several steps", 0, 5*flushStep + 12345, false, 1, 5},
		{"resumed at an offset", 3 << 20, 2 * flushStep, false, 1, 2},
		{"failing flush", 0, 5 * flushStep, true, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "upload")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			head := bytes.Repeat([]byte{'h'}, int(tt.off))
			if _, err := f.Write(head); err != nil {
				t.Fatal(err)
			}
			body := make([]byte, tt.size)
			rng := rand.NewChaCha8([32]byte{1})
			_, _ = rng.Read(body)

			var flushes atomic.Int64
			fl := newBackgroundFlush(f, tt.off)
			fl.sync = func(f *os.File) error {
				flushes.Add(1)
				if tt.fail {
					return syscall.EIO
				}
				return syncData(f)
			}
			n, err := copyToFile(f, tt.off, bytes.NewReader(body), fl, nil)
			if err != nil || n != tt.size {
				t.Fatalf("copyToFile = %d, %v; want %d bytes", n, err, tt.size)
			}
			werr := fl.wait()
			if tt.fail != (werr != nil) || (tt.fail && !errors.Is(werr, syscall.EIO)) {
				t.Fatalf("wait = %v; want a failure: %v", werr, tt.fail)
			}
			if got := flushes.Load(); got < tt.minFlushes || got > tt.maxFlushes {
				t.Errorf("%d background flushes, want %d to %d", got, tt.minFlushes, tt.maxFlushes)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := append(head, body...); sha256.Sum256(got) != sha256.Sum256(want) {
				t.Errorf("file holds %d bytes that differ from the %d written", len(got), len(want))
			}
		})
	}
}

// TestCopyToFileNilFlush checks that a copy without background flushes
// (a nil *backgroundFlush) still works.
func TestCopyToFileNilFlush(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "upload"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fl *backgroundFlush
	n, err := copyToFile(f, 0, io.LimitReader(zeros{}, 2*flushStep), fl, nil)
	if err != nil || n != 2*flushStep || fl.wait() != nil {
		t.Fatalf("copyToFile = %d, %v", n, err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestSliceLen(t *testing.T) {
	tests := []struct {
		name string
		pos  int64
		n    int
		want int
	}{
		{"aligned, more than a slice", 0, 1 << 20, pageCacheSlice},
		{"aligned, less than a slice", 3 * pageCacheSlice, 100, 100},
		{"unaligned: up to the boundary", pageCacheSlice + 5, 1 << 20, pageCacheSlice - 5},
		{"unaligned, ends before the boundary", 7, 10, 10},
		{"one byte before the boundary", 2*pageCacheSlice - 1, 1 << 20, 1},
		{"far into a large file", 5<<30 + 1000, 1 << 20, pageCacheSlice - 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sliceLen(tt.pos, tt.n); got != tt.want {
				t.Errorf("sliceLen(%d, %d) = %d, want %d", tt.pos, tt.n, got, tt.want)
			}
		})
	}
}

// TestCopyToFileUnaligned checks the sliced writes put every byte where it
// belongs when neither the offset nor the body's length is a slice
// multiple, and the reads deliver odd sizes.
func TestCopyToFileUnaligned(t *testing.T) {
	const off = 12345
	head := bytes.Repeat([]byte{'h'}, off)
	body := make([]byte, 3<<20+7)
	for i := range body {
		body[i] = byte(rand.Uint32())
	}
	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, head, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	n, err := copyToFile(f, off, iotest.OneByteReader(io.LimitReader(bytes.NewReader(body), 1000)), nil, nil)
	if err != nil || n != 1000 {
		t.Fatalf("copyToFile = %d, %v", n, err)
	}
	n, err = copyToFile(f, off+1000, iotest.HalfReader(bytes.NewReader(body[1000:])), nil, nil)
	if err != nil || n != int64(len(body))-1000 {
		t.Fatalf("copyToFile = %d, %v", n, err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(head, body...)) {
		t.Fatalf("file differs from what was written (%d bytes, want %d)", len(got), off+len(body))
	}
}

// TestCopyToFileStored checks what stored is shown: every byte written, in
// order, with its file offset; nothing that did not reach the file; and
// all of it before copyToFile returns.
func TestCopyToFileStored(t *testing.T) {
	body := make([]byte, 5<<20+333)
	_, _ = rand.NewChaCha8([32]byte{4}).Read(body)
	errBroken := errors.New("client went away")
	tests := []struct {
		name     string
		off      int64
		r        func() io.Reader
		readOnly bool // every write fails
		wantN    int64
		wantErr  error
	}{
		{"whole body", 0, func() io.Reader { return bytes.NewReader(body) }, false, int64(len(body)), nil},
		{"resumed at an odd offset, odd reads", 777, func() io.Reader { return iotest.HalfReader(bytes.NewReader(body)) }, false, int64(len(body)), nil},
		{"reader fails midway", 0, func() io.Reader {
			return io.MultiReader(bytes.NewReader(body[:3<<20+5]), iotest.ErrReader(errBroken))
		}, false, 3<<20 + 5, errBroken},
		{"writes fail", 0, func() io.Reader { return bytes.NewReader(body) }, true, 0, os.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "upload")
			if err := os.WriteFile(path, bytes.Repeat([]byte{'h'}, int(tt.off)), 0o644); err != nil {
				t.Fatal(err)
			}
			flag := os.O_RDWR
			if tt.readOnly {
				flag = os.O_RDONLY
			}
			f, err := os.OpenFile(path, flag, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Seek(tt.off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			var shown bytes.Buffer
			next := tt.off
			stored := func(p []byte, at int64) {
				if at != next {
					t.Errorf("shown %d bytes at %d, want them at %d", len(p), at, next)
				}
				next = at + int64(len(p))
				shown.Write(p)
				clear(p) // the buffer is the copier's again afterwards
			}
			n, err := copyToFile(f, tt.off, tt.r(), nil, stored)
			if n != tt.wantN || (tt.wantErr == nil) != (err == nil) || (tt.wantErr == errBroken && !errors.Is(err, errBroken)) {
				t.Fatalf("copyToFile = %d, %v; want %d, %v", n, err, tt.wantN, tt.wantErr)
			}
			if !bytes.Equal(shown.Bytes(), body[:n]) {
				t.Errorf("shown %d bytes, want the %d written", shown.Len(), n)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[tt.off:], body[:n]) {
				t.Errorf("file holds %d bytes after the offset, want the %d written", len(got)-int(tt.off), n)
			}
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestCopyToFileStopsReading checks that once a write fails the copy stops
// reading: a client sending a large body to a full disk hears of it at
// once instead of after sending everything.
func TestCopyToFileStopsReading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path) // read-only: every write fails
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 64 * copyBufferSize
	for _, stored := range []func([]byte, int64){nil, func([]byte, int64) {}} {
		body := &countingReader{r: io.LimitReader(zeros{}, size)}
		n, err := copyToFile(f, 0, body, nil, stored)
		if n != 0 || err == nil {
			t.Fatalf("copyToFile = %d, %v; want 0 bytes and the write's error", n, err)
		}
		if read := body.n.Load(); read > 6*copyBufferSize {
			t.Errorf("read %d bytes of the body after the first write failed, want at most the buffers in flight", read)
		}
	}
}
