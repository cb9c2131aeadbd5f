package registry

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/opencontainers/go-digest"
)

// chopped returns p in reads of random length up to 300 KiB, as a network
// body arrives.
type chopped struct {
	p   []byte
	rng *rand.Rand
}

func (r *chopped) Read(b []byte) (int, error) {
	if len(r.p) == 0 {
		return 0, io.EOF
	}
	n := min(len(b), len(r.p), 1+r.rng.IntN(300<<10))
	copy(b, r.p[:n])
	r.p = r.p[n:]
	return n, nil
}

// TestHashingReader checks the count and digest of bodies around the size
// where hashing moves to a goroutine of its own, read in buffers of
// several sizes; the reader's buffer is scribbled over after each read,
// as a store reusing it does, which must not reach the hash.
func TestHashingReader(t *testing.T) {
	sizes := []int{0, 1, syncHashMax - 1, syncHashMax, syncHashMax + 1, 3*hashPipeBufferLen + 12345}
	for _, size := range sizes {
		body := make([]byte, size)
		_, _ = rand.NewChaCha8([32]byte{byte(size)}).Read(body)
		want := sha256.Sum256(body)
		for _, bufLen := range []int{4 << 10, 1 << 20, 3 << 20} {
			hr := &hashingReader{r: &chopped{p: body, rng: rand.New(rand.NewPCG(uint64(size), 7))}, h: sha256.New()}
			buf := make([]byte, bufLen)
			for {
				n, err := hr.Read(buf)
				clear(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			hr.wait()
			hr.wait() // a second wait is harmless
			if got := hr.h.Sum(nil); !bytes.Equal(got, want[:]) || hr.n != int64(size) {
				t.Errorf("size %d, %d-byte reads: %d bytes hashing to %x, want %x", size, bufLen, hr.n, got, want)
			}
		}
	}
}

// TestStoreHashedUploads pushes bodies larger than what Read hashes itself
// into the filesystem store, which shows the registry what it stores and
// so hashes the rest: chunked uploads resumed at offsets, chunks that start
// inline and outgrow it, chunks a client breaks off, and whole-blob PUTs.
// Every commit must find the digest of exactly the bytes pushed.
func TestStoreHashedUploads(t *testing.T) {
	const mib = 1 << 20
	data := make([]byte, 5*mib+7)
	_, _ = rand.NewChaCha8([32]byte{9}).Read(data)
	type chunk = testChunk
	tests := []struct {
		name      string
		inlineMax int64
		chunks    []chunk
	}{
		{"one large chunk", 0, []chunk{{n: 3*mib + 5}}},
		{"exactly the synchronous share", 0, []chunk{{n: syncHashMax}}},
		{"one byte past it", 0, []chunk{{n: syncHashMax + 1}}},
		{"resumed at an odd offset", 0, []chunk{{n: 12345}, {n: 2*mib + 3}, {n: mib + 1}}},
		{"two chunks of the share each", 0, []chunk{{n: syncHashMax}, {n: syncHashMax}}},
		{"inline first, then outgrown by a large chunk", 16 << 10, []chunk{{n: 10}, {n: 3 * mib}}},
		{"outgrown within the first chunk", 16 << 10, []chunk{{n: 2*mib + 1}}},
		{"broken large chunk, then resumed", 0, []chunk{{n: mib + 4097, broken: true}, {n: 2 * mib}}},
		{"broken after inline bytes", 16 << 10, []chunk{{n: 100}, {n: 3*mib + 1, broken: true}, {n: 17}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			r, _ := newTestRegistry(t, tt.inlineMax)
			up, err := r.StartUpload(ctx, "repo")
			if err != nil {
				t.Fatalf("StartUpload: %v", err)
			}
			off := patchChunks(t, r, up.ID, data, tt.chunks, func(i int, p []byte) io.Reader {
				return &chopped{p: p, rng: rand.New(rand.NewPCG(uint64(i), 3))}
			})
			checkCommitted(t, r, func(d digest.Digest) (BlobInfo, error) {
				return r.FinishUpload(ctx, "repo", up.ID, d, nil, -1)
			}, data[:off])
		})
	}
	for _, size := range []int{syncHashMax - 1, syncHashMax, syncHashMax + 1, 5*mib + 7} {
		t.Run(fmt.Sprintf("whole blob of %d bytes", size), func(t *testing.T) {
			r, _ := newTestRegistry(t, 16<<10)
			body := data[:size]
			wrong := digest.FromBytes(append(bytes.Clone(body[:size-1]), body[size-1]^1))
			if _, err := r.PutBlob(t.Context(), "repo", wrong, &chopped{p: body, rng: rand.New(rand.NewPCG(1, 2))}); err == nil {
				t.Fatalf("PutBlob with the digest of other bytes succeeded")
			}
			checkCommitted(t, r, func(d digest.Digest) (BlobInfo, error) {
				return r.PutBlob(t.Context(), "repo", d, &chopped{p: body, rng: rand.New(rand.NewPCG(1, 2))})
			}, body)
		})
	}
}

// checkCommitted commits with the digest of want and reads the blob back.
func checkCommitted(t *testing.T, r *Registry, commit func(digest.Digest) (BlobInfo, error), want []byte) {
	t.Helper()
	d := digest.FromBytes(want)
	info, err := commit(d)
	if err != nil {
		t.Fatalf("commit as %s: %v", d, err)
	}
	if info.Size != int64(len(want)) {
		t.Errorf("size %d, want %d", info.Size, len(want))
	}
	c, _, err := r.OpenBlob(t.Context(), "repo", d)
	if err != nil {
		t.Fatalf("OpenBlob: %v", err)
	}
	defer c.Close()
	back, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(back, want) {
		t.Errorf("read back %d bytes (%v), want the %d pushed", len(back), err, len(want))
	}
}
