// Package blobtest is the conformance suite every blob.Store implementation
// must pass. A backend's own test calls Run with a constructor for empty
// stores; the suite then checks the contract documented on blob.Store through
// the interface only, so the filesystem store, the S3 store and any later one
// are held to exactly the same behaviour.
package blobtest

import (
	"bytes"
	"context"
	_ "crypto/sha512" // registers sha512 for digest.SHA512
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// chunkBoundary is larger than the copy buffers implementations commonly use
// (1 MiB), so multi-megabyte cases cross internal buffer boundaries.
const chunkBoundary = 1 << 20

// concurrency bounds the goroutines of the concurrent cases.
const concurrency = 16

// Run runs the blob.Store conformance suite. newStore is called once per
// subtest and must return an empty store that shares nothing with the stores
// of other subtests; it should register any cleanup it needs with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, s *Tracker)
	}{
		{"MissingBlob", testMissingBlob},
		{"SingleWrite", testSingleWrite},
		{"ChunkedWrite", testChunkedWrite},
		{"OpenIsSeekable", testOpenIsSeekable},
		{"WriteTruncatesPastOffset", testWriteTruncatesPastOffset},
		{"WriteFailingReader", testWriteFailingReader},
		{"UnknownUploadSize", testUnknownUploadSize},
		{"OpenUpload", testOpenUpload},
		{"CommitEmptyUpload", testCommitEmptyUpload},
		{"CommitTruncatesToSize", testCommitTruncatesToSize},
		{"CommitSizeLargerThanHeld", testCommitSizeLargerThanHeld},
		{"CommitSameDigestTwice", testCommitSameDigestTwice},
		{"CancelUpload", testCancelUpload},
		{"ListUploads", testListUploads},
		{"Delete", testDelete},
		{"ConcurrentCommits", testConcurrentCommits},
		{"ConcurrentCommitsSameDigest", testConcurrentCommitsSameDigest},
		{"SHA512", testSHA512},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, Track(newStore(t)))
		})
	}
}

// content returns n deterministic pseudo-random bytes; different seeds give
// different content.
func content(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// write writes data to upload id at offset and fails the test unless every
// byte was written without error.
func write(t *testing.T, s *Tracker, id string, offset int64, data []byte) {
	t.Helper()
	n, err := s.WriteUpload(t.Context(), id, offset, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("WriteUpload(%q, offset %d, %d bytes): %v", id, offset, len(data), err)
	}
	if n != int64(len(data)) {
		t.Fatalf("WriteUpload(%q, offset %d, %d bytes) wrote %d bytes", id, offset, len(data), n)
	}
}

// commit writes data as upload id in one write and commits it under its
// sha256 digest, which it returns.
func commit(t *testing.T, s *Tracker, id string, data []byte) digest.Digest {
	t.Helper()
	write(t, s, id, 0, data)
	d := digest.FromBytes(data)
	if err := s.CommitUpload(t.Context(), id, int64(len(data)), d); err != nil {
		t.Fatalf("CommitUpload(%q, %d, %s): %v", id, len(data), d, err)
	}
	return d
}

// checkBlob asserts blob d exists with exactly want as its content, through
// both Stat and Open.
func checkBlob(t *testing.T, s *Tracker, d digest.Digest, want []byte) {
	t.Helper()
	CheckBlob(t, s.Store, d, want)
}

// CheckBlob asserts blob d of any store exists with exactly want as its
// content, through both Stat and Open; store-specific tests use it too.
func CheckBlob(t *testing.T, s blob.Store, d digest.Digest, want []byte) {
	t.Helper()
	ctx := t.Context()
	size, err := s.Stat(ctx, d)
	if err != nil {
		t.Fatalf("Stat(%s): %v", d, err)
	}
	if size != int64(len(want)) {
		t.Errorf("Stat(%s) size = %d, want %d", d, size, len(want))
	}
	c, size, err := s.Open(ctx, d)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer c.Close()
	if size != int64(len(want)) {
		t.Errorf("Open(%s) size = %d, want %d", d, size, len(want))
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read blob %s: %v", d, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("blob %s content differs: got %d bytes (%s), want %d bytes (%s)",
			d, len(got), digest.FromBytes(got), len(want), digest.FromBytes(want))
	}
}

// checkNoBlob asserts blob d is not visible through Stat or Open.
func checkNoBlob(t *testing.T, s *Tracker, d digest.Digest) {
	t.Helper()
	ctx := t.Context()
	if size, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat(%s) = %d, %v; want blob.ErrNotFound", d, size, err)
	}
	c, _, err := s.Open(ctx, d)
	if !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open(%s) error = %v; want blob.ErrNotFound", d, err)
	}
	if err == nil && c != nil {
		c.Close()
	}
}

// checkUpload asserts upload id holds exactly want, through UploadSize and
// OpenUpload.
func checkUpload(t *testing.T, s *Tracker, id string, want []byte) {
	t.Helper()
	ctx := t.Context()
	size, err := s.UploadSize(ctx, id)
	if err != nil {
		t.Fatalf("UploadSize(%q): %v", id, err)
	}
	if size != int64(len(want)) {
		t.Errorf("UploadSize(%q) = %d, want %d", id, size, len(want))
	}
	rc, err := s.OpenUpload(ctx, id)
	if err != nil {
		t.Fatalf("OpenUpload(%q): %v", id, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read upload %q: %v", id, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("upload %q content differs: got %d bytes %q..., want %d bytes %q...",
			id, len(got), prefix(got), len(want), prefix(want))
	}
}

func prefix(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

// uploadIDs returns the ids ListUploads reports, sorted.
func uploadIDs(t *testing.T, s *Tracker) []string {
	t.Helper()
	infos, err := s.ListUploads(t.Context())
	if err != nil {
		t.Fatalf("ListUploads: %v", err)
	}
	ids := make([]string, 0, len(infos))
	for _, info := range infos {
		ids = append(ids, info.ID)
	}
	slices.Sort(ids)
	return ids
}

func testMissingBlob(t *testing.T, s *Tracker) {
	for _, d := range []digest.Digest{
		digest.FromString("never written"),
		digest.SHA512.FromString("never written"),
		digest.FromBytes(nil),
	} {
		checkNoBlob(t, s, d)
	}
}

func testSingleWrite(t *testing.T, s *Tracker) {
	for _, tc := range []struct {
		name string
		size int
	}{
		{"one byte", 1},
		{"small", 4099},
		{"multi-buffer", 2*chunkBoundary + 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := content(tc.size, uint64(tc.size))
			id := fmt.Sprintf("single-%d", tc.size)
			d := commit(t, s, id, data)
			checkBlob(t, s, d, data)
			if size, err := s.UploadSize(t.Context(), id); err != nil || size != 0 {
				t.Errorf("UploadSize(%q) after commit = %d, %v; want 0, nil (bytes gone)", id, size, err)
			}
			if ids := uploadIDs(t, s); slices.Contains(ids, id) {
				t.Errorf("ListUploads after commit still lists %q: %v", id, ids)
			}
		})
	}
}

func testChunkedWrite(t *testing.T, s *Tracker) {
	// Chunk sizes straddle the 1 MiB buffer boundary on purpose.
	chunks := []int{1, 4095, chunkBoundary + 3, 7, chunkBoundary - 1, 12345}
	total := 0
	for _, c := range chunks {
		total += c
	}
	data := content(total, 7)
	const id = "chunked"
	var off int64
	for i, c := range chunks {
		write(t, s, id, off, data[off:off+int64(c)])
		off += int64(c)
		size, err := s.UploadSize(t.Context(), id)
		if err != nil {
			t.Fatalf("UploadSize after chunk %d: %v", i, err)
		}
		if size != off {
			t.Fatalf("UploadSize after chunk %d = %d, want %d", i, size, off)
		}
	}
	checkUpload(t, s, id, data)
	d := digest.FromBytes(data)
	if err := s.CommitUpload(t.Context(), id, int64(total), d); err != nil {
		t.Fatalf("CommitUpload: %v", err)
	}
	checkBlob(t, s, d, data)
}

func testOpenIsSeekable(t *testing.T, s *Tracker) {
	data := content(100_000, 11)
	d := commit(t, s, "seek", data)
	c, size, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if size != int64(len(data)) {
		t.Fatalf("Open size = %d, want %d", size, len(data))
	}

	pos, err := c.Seek(31_337, io.SeekStart)
	if err != nil || pos != 31_337 {
		t.Fatalf("Seek(31337, SeekStart) = %d, %v; want 31337, nil", pos, err)
	}
	mid := make([]byte, 4096)
	if _, err := io.ReadFull(c, mid); err != nil {
		t.Fatalf("read middle range: %v", err)
	}
	if !bytes.Equal(mid, data[31_337:31_337+4096]) {
		t.Errorf("bytes [31337, 35433) differ from the content")
	}

	pos, err = c.Seek(-100, io.SeekCurrent)
	if err != nil || pos != 31_337+4096-100 {
		t.Fatalf("Seek(-100, SeekCurrent) = %d, %v; want %d, nil", pos, err, 31_337+4096-100)
	}
	back := make([]byte, 10)
	if _, err := io.ReadFull(c, back); err != nil {
		t.Fatalf("read after SeekCurrent: %v", err)
	}
	if !bytes.Equal(back, data[pos:pos+10]) {
		t.Errorf("bytes after SeekCurrent differ from the content")
	}

	pos, err = c.Seek(-10, io.SeekEnd)
	if err != nil || pos != int64(len(data))-10 {
		t.Fatalf("Seek(-10, SeekEnd) = %d, %v; want %d, nil", pos, err, len(data)-10)
	}
	tail, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read tail: %v", err)
	}
	if !bytes.Equal(tail, data[len(data)-10:]) {
		t.Errorf("tail = %x, want %x", tail, data[len(data)-10:])
	}

	if pos, err := c.Seek(0, io.SeekStart); err != nil || pos != 0 {
		t.Fatalf("Seek(0, SeekStart) = %d, %v", pos, err)
	}
	all, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(all, data) {
		t.Errorf("re-reading from the start: %d bytes, %v; want the whole content", len(all), err)
	}
}

func testWriteTruncatesPastOffset(t *testing.T, s *Tracker) {
	t.Run("rewrite tail", func(t *testing.T) {
		const id = "trunc"
		write(t, s, id, 0, []byte("hello world"))
		write(t, s, id, 5, []byte("XYZ"))
		checkUpload(t, s, id, []byte("helloXYZ"))
		want := []byte("helloXYZ")
		d := digest.FromBytes(want)
		if err := s.CommitUpload(t.Context(), id, int64(len(want)), d); err != nil {
			t.Fatalf("CommitUpload: %v", err)
		}
		checkBlob(t, s, d, want)
	})
	t.Run("empty write at offset", func(t *testing.T) {
		const id = "trunc-empty"
		write(t, s, id, 0, []byte("0123456789"))
		write(t, s, id, 4, nil)
		checkUpload(t, s, id, []byte("0123"))
	})
	t.Run("rewrite from zero", func(t *testing.T) {
		const id = "trunc-zero"
		big := content(chunkBoundary+500, 3)
		write(t, s, id, 0, big)
		write(t, s, id, 0, []byte("short"))
		checkUpload(t, s, id, []byte("short"))
	})
}

// errReader yields data in small pieces, then fails with err.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data[:min(len(r.data), 7001)])
	r.data = r.data[n:]
	return n, nil
}

var errBroken = errors.New("blobtest: reader broke")

func testWriteFailingReader(t *testing.T, s *Tracker) {
	for _, tc := range []struct {
		name   string
		before int // bytes written by an earlier, successful write
		sent   int // bytes the failing reader yields before failing
		err    error
	}{
		{"fails at once", 0, 0, errBroken},
		{"fails after a few bytes", 0, 100, errBroken},
		{"fails after several buffers", 0, 2*chunkBoundary + 5, errBroken},
		{"fails after offset", 1000, 5000, errBroken},
		// net/http reports a request body cut short (the client went away
		// before Content-Length bytes) as io.ErrUnexpectedEOF: that is a
		// failure of the reader, not the end of the upload.
		{"fails with io.ErrUnexpectedEOF", 0, 5000, io.ErrUnexpectedEOF},
		{"fails with io.ErrUnexpectedEOF after offset", 300, 10, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("failing-%d-%d-%t", tc.before, tc.sent, tc.err == io.ErrUnexpectedEOF)
			first := content(tc.before, 21)
			if tc.before > 0 {
				write(t, s, id, 0, first)
			}
			sent := content(tc.sent, 22)
			n, err := s.WriteUpload(t.Context(), id, int64(tc.before), &errReader{data: sent, err: tc.err})
			if !errors.Is(err, tc.err) {
				t.Errorf("WriteUpload with a reader failing with %q: error = %v; want one matching it", tc.err, err)
			}
			if n != int64(tc.sent) {
				t.Errorf("WriteUpload with a failing reader wrote n = %d, want %d (every byte the reader gave)", n, tc.sent)
			}
			checkUpload(t, s, id, append(slices.Clip(first), sent[:min(max(n, 0), int64(len(sent)))]...))
		})
	}
}

func testUnknownUploadSize(t *testing.T, s *Tracker) {
	size, err := s.UploadSize(t.Context(), "never-written")
	if err != nil || size != 0 {
		t.Errorf("UploadSize of an unknown upload = %d, %v; want 0, nil", size, err)
	}
}

func testOpenUpload(t *testing.T, s *Tracker) {
	data := content(chunkBoundary+123, 5)
	const id = "open-upload"
	write(t, s, id, 0, data[:1000])
	checkUpload(t, s, id, data[:1000])
	write(t, s, id, 1000, data[1000:])
	checkUpload(t, s, id, data)
}

func testCommitEmptyUpload(t *testing.T, s *Tracker) {
	const id = "never-written-empty"
	d := digest.FromBytes(nil)
	if err := s.CommitUpload(t.Context(), id, 0, d); err != nil {
		t.Fatalf("CommitUpload of an upload never written, size 0: %v", err)
	}
	checkBlob(t, s, d, []byte{})
	if ids := uploadIDs(t, s); slices.Contains(ids, id) {
		t.Errorf("ListUploads after commit still lists %q: %v", id, ids)
	}
}

func testCommitTruncatesToSize(t *testing.T, s *Tracker) {
	data := content(10_000, 9)
	const id = "commit-trunc"
	write(t, s, id, 0, data)
	want := data[:6000]
	d := digest.FromBytes(want)
	if err := s.CommitUpload(t.Context(), id, int64(len(want)), d); err != nil {
		t.Fatalf("CommitUpload(size %d of %d): %v", len(want), len(data), err)
	}
	checkBlob(t, s, d, want)
}

func testCommitSizeLargerThanHeld(t *testing.T, s *Tracker) {
	t.Run("written upload", func(t *testing.T) {
		data := content(500, 13)
		const id = "commit-short"
		write(t, s, id, 0, data)
		d := digest.FromBytes(append(slices.Clip(data), 0))
		if err := s.CommitUpload(t.Context(), id, int64(len(data))+1, d); err == nil {
			t.Errorf("CommitUpload with size %d of a %d-byte upload succeeded; want an error", len(data)+1, len(data))
		}
		checkNoBlob(t, s, d)
	})
	t.Run("unknown upload", func(t *testing.T) {
		d := digest.FromString("x")
		if err := s.CommitUpload(t.Context(), "commit-unknown", 1, d); err == nil {
			t.Errorf("CommitUpload with size 1 of an upload never written succeeded; want an error")
		}
		checkNoBlob(t, s, d)
	})
}

func testCommitSameDigestTwice(t *testing.T, s *Tracker) {
	data := content(70_000, 17)
	d1 := commit(t, s, "twice-1", data)
	d2 := commit(t, s, "twice-2", data)
	if d1 != d2 {
		t.Fatalf("same content, different digests %s, %s", d1, d2)
	}
	checkBlob(t, s, d1, data)
	ids := uploadIDs(t, s)
	if slices.Contains(ids, "twice-1") || slices.Contains(ids, "twice-2") {
		t.Errorf("ListUploads after both commits = %v; want neither upload", ids)
	}
}

func testCancelUpload(t *testing.T, s *Tracker) {
	ctx := t.Context()
	write(t, s, "cancel", 0, content(3000, 19))
	write(t, s, "keep", 0, []byte("kept"))
	if err := s.CancelUpload(ctx, "cancel"); err != nil {
		t.Fatalf("CancelUpload: %v", err)
	}
	checkUpload(t, s, "cancel", nil)
	if err := s.CancelUpload(ctx, "cancel"); err != nil {
		t.Errorf("CancelUpload again: %v; want nil (idempotent)", err)
	}
	if err := s.CancelUpload(ctx, "never-written"); err != nil {
		t.Errorf("CancelUpload of an unknown upload: %v; want nil", err)
	}
	if got, want := uploadIDs(t, s), []string{"keep"}; !slices.Equal(got, want) {
		t.Errorf("ListUploads after cancel = %v, want %v", got, want)
	}
	checkUpload(t, s, "keep", []byte("kept"))
	// A cancelled id may be used again from scratch.
	write(t, s, "cancel", 0, []byte("again"))
	checkUpload(t, s, "cancel", []byte("again"))
}

func testListUploads(t *testing.T, s *Tracker) {
	if got := uploadIDs(t, s); len(got) != 0 {
		t.Fatalf("ListUploads of an empty store = %v, want none", got)
	}
	start := time.Now()
	for _, id := range []string{"list-c", "list-a", "list-b"} {
		write(t, s, id, 0, []byte(id))
	}
	infos, err := s.ListUploads(t.Context())
	if err != nil {
		t.Fatalf("ListUploads: %v", err)
	}
	var ids []string
	for _, info := range infos {
		ids = append(ids, info.ID)
		// Generous bounds: filesystems and object stores round times.
		if info.ModTime.Before(start.Add(-time.Minute)) || info.ModTime.After(time.Now().Add(time.Minute)) {
			t.Errorf("upload %q ModTime = %v, not near now (%v)", info.ID, info.ModTime, start)
		}
	}
	slices.Sort(ids)
	if want := []string{"list-a", "list-b", "list-c"}; !slices.Equal(ids, want) {
		t.Errorf("ListUploads = %v, want %v", ids, want)
	}

	commit(t, s, "list-d", []byte("committed"))
	if err := s.CancelUpload(t.Context(), "list-b"); err != nil {
		t.Fatalf("CancelUpload: %v", err)
	}
	if got, want := uploadIDs(t, s), []string{"list-a", "list-c"}; !slices.Equal(got, want) {
		t.Errorf("ListUploads after a commit and a cancel = %v, want %v", got, want)
	}
}

func testDelete(t *testing.T, s *Tracker) {
	ctx := t.Context()
	keep := commit(t, s, "del-keep", []byte("keep me"))
	d := commit(t, s, "del", []byte("delete me"))
	if err := s.Delete(ctx, d); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkNoBlob(t, s, d)
	if err := s.Delete(ctx, d); err != nil {
		t.Errorf("Delete again: %v; want nil (idempotent)", err)
	}
	if err := s.Delete(ctx, digest.FromString("never written")); err != nil {
		t.Errorf("Delete of a blob never written: %v; want nil", err)
	}
	checkBlob(t, s, keep, []byte("keep me"))
	// The same content may be committed again after a delete.
	commit(t, s, "del-again", []byte("delete me"))
	checkBlob(t, s, d, []byte("delete me"))
}

// runBounded runs fn(i) for i in [0, n) on concurrency goroutines and waits.
func runBounded(n int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// writeAndCommit is commit without t.Fatal, for use off the test goroutine.
func writeAndCommit(ctx context.Context, s *Tracker, id string, chunks [][]byte, d digest.Digest) error {
	var off int64
	for _, c := range chunks {
		n, err := s.WriteUpload(ctx, id, off, bytes.NewReader(c))
		if err != nil {
			return fmt.Errorf("WriteUpload(%q, %d): %w", id, off, err)
		}
		if n != int64(len(c)) {
			return fmt.Errorf("WriteUpload(%q, %d) wrote %d of %d bytes", id, off, n, len(c))
		}
		off += n
	}
	if err := s.CommitUpload(ctx, id, off, d); err != nil {
		return fmt.Errorf("CommitUpload(%q, %d, %s): %w", id, off, d, err)
	}
	return nil
}

func testConcurrentCommits(t *testing.T, s *Tracker) {
	const n = 2 * concurrency
	blobs := make([][]byte, n)
	for i := range blobs {
		blobs[i] = content(20_000+i*997, uint64(1000+i))
	}
	runBounded(n, func(i int) {
		data := blobs[i]
		half := len(data) / 2
		err := writeAndCommit(t.Context(), s, fmt.Sprintf("conc-%d", i),
			[][]byte{data[:half], data[half:]}, digest.FromBytes(data))
		if err != nil {
			t.Errorf("blob %d: %v", i, err)
		}
	})
	for _, data := range blobs {
		checkBlob(t, s, digest.FromBytes(data), data)
	}
	if ids := uploadIDs(t, s); len(ids) != 0 {
		t.Errorf("ListUploads after all commits = %v, want none", ids)
	}
}

func testConcurrentCommitsSameDigest(t *testing.T, s *Tracker) {
	data := content(300_000, 77)
	d := digest.FromBytes(data)
	runBounded(concurrency, func(i int) {
		if err := writeAndCommit(t.Context(), s, fmt.Sprintf("same-%d", i), [][]byte{data}, d); err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
	})
	checkBlob(t, s, d, data)
}

func testSHA512(t *testing.T, s *Tracker) {
	data := content(chunkBoundary+999, 31)
	const id = "sha512"
	write(t, s, id, 0, data)
	d := digest.SHA512.FromBytes(data)
	if err := s.CommitUpload(t.Context(), id, int64(len(data)), d); err != nil {
		t.Fatalf("CommitUpload(%s): %v", d, err)
	}
	checkBlob(t, s, d, data)
	// The sha256 key of the same content is a different blob.
	checkNoBlob(t, s, digest.SHA256.FromBytes(data))
	if err := s.Delete(t.Context(), d); err != nil {
		t.Fatalf("Delete(%s): %v", d, err)
	}
	checkNoBlob(t, s, d)
}
