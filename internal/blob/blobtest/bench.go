package blobtest

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// Bench measures a store's push and pull throughput through the
// blob.Store interface: "push" writes a blob of size bytes in chunks of
// chunk bytes (a PATCH each, continued from the state the last returned)
// and commits it; "pull" opens a committed blob and reads it through.
// Bytes per second are reported as MB/s, and the commit's share of a push
// as commit-ms/op.
func Bench(b *testing.B, s blob.Store, size, chunk int) {
	data := content(size, 99)
	seq := 0 // across the runs of the sub-benchmark, which restart b.N
	b.Run(fmt.Sprintf("push-%dMiB-chunks-%dMiB", size>>20, chunk>>20), func(b *testing.B) {
		b.SetBytes(int64(size))
		var commits time.Duration
		for range b.N {
			// Distinct content per push, so no commit finds its blob in
			// place already.
			seq++
			data[0], data[1], data[2] = byte(seq), byte(seq>>8), 0xff
			_, took := benchPush(b, s, fmt.Sprintf("bench-%d", seq), data, chunk)
			commits += took
		}
		b.ReportMetric(float64(commits.Milliseconds())/float64(b.N), "commit-ms/op")
	})
	d, _ := benchPush(b, s, "bench-pull", content(size, 98), chunk)
	b.Run(fmt.Sprintf("pull-%dMiB", size>>20), func(b *testing.B) {
		b.SetBytes(int64(size))
		for range b.N {
			c, n, err := s.Open(b.Context(), d)
			if err != nil {
				b.Fatalf("Open: %v", err)
			}
			m, err := io.Copy(io.Discard, c)
			c.Close()
			if err != nil || m != n || n != int64(size) {
				b.Fatalf("read %d of %d bytes: %v", m, n, err)
			}
		}
	})
}

// benchPush pushes data as upload id and returns its digest and how long
// the commit took.
func benchPush(b *testing.B, s blob.Store, id string, data []byte, chunk int) (digest.Digest, time.Duration) {
	ctx := b.Context()
	var state blob.UploadState
	var off int64
	for off < int64(len(data)) {
		end := min(off+int64(chunk), int64(len(data)))
		n, st, err := s.WriteUpload(ctx, id, state, off, bytes.NewReader(data[off:end]))
		if err != nil || n != end-off {
			b.Fatalf("WriteUpload at %d: wrote %d: %v", off, n, err)
		}
		state, off = st, end
	}
	d := digest.FromBytes(data)
	start := time.Now()
	if err := s.CommitUpload(ctx, id, state, int64(len(data)), d); err != nil {
		b.Fatalf("CommitUpload: %v", err)
	}
	return d, time.Since(start)
}
