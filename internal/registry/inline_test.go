package registry

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
)

// newTestRegistry returns a registry over real stores in a temporary
// directory, keeping blobs of up to inlineMax bytes inline.
func newTestRegistry(t *testing.T, inlineMax int64) (*Registry, *blob.Filesystem) {
	t.Helper()
	dir := t.TempDir()
	md, err := meta.OpenSQLite(t.Context(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { md.Close() })
	fs, err := blob.NewFilesystem(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatalf("NewFilesystem: %v", err)
	}
	return New(fs, md, Options{InlineMax: inlineMax}, slog.New(slog.DiscardHandler)), fs
}

// brokenBody yields data, then fails as a client that hung up would.
type brokenBody struct{ r io.Reader }

var errHungUp = errors.New("client hung up")

func (b *brokenBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errHungUp
	}
	return n, err
}

// testChunk is one PATCH of a test upload.
type testChunk struct {
	n      int
	broken bool // the body fails after its n bytes
}

// patchChunks sends data in chunks to upload id of "repo" (body makes
// each chunk's reader), checks every offset the registry reports (what
// arrived before a break is kept) and returns the bytes sent.
func patchChunks(t *testing.T, r *Registry, id string, data []byte, chunks []testChunk, body func(i int, p []byte) io.Reader) int {
	t.Helper()
	off := 0
	for i, c := range chunks {
		b := body(i, data[off:off+c.n])
		if c.broken {
			b = &brokenBody{r: b}
		}
		got, err := r.PatchUpload(t.Context(), "repo", id, b, int64(off))
		if c.broken != (err != nil) {
			t.Fatalf("chunk %d: PatchUpload error %v, broken %t", i, err, c.broken)
		}
		off += c.n
		if got.Offset != int64(off) {
			t.Fatalf("chunk %d: offset %d, want %d (what arrived before a break is kept)", i, got.Offset, off)
		}
	}
	return off
}

// TestInlineUploads drives chunked uploads across the inline limit, with
// and without a client breaking off, and checks what the session records,
// where the committed bytes live and that they read back intact.
func TestInlineUploads(t *testing.T) {
	const limit = 100
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(i * 7)
	}
	type chunk = testChunk
	tests := []struct {
		name       string
		chunks     []chunk
		wantInline bool
	}{
		{"one chunk at the limit", []chunk{{n: 100}}, true},
		{"one chunk over the limit", []chunk{{n: 101}}, false},
		{"chunks within the limit", []chunk{{n: 40}, {n: 60}}, true},
		{"chunks outgrowing the limit", []chunk{{n: 60}, {n: 50}, {n: 190}}, false},
		{"broken inline chunk, then resumed", []chunk{{n: 30, broken: true}, {n: 50}}, true},
		{"broken chunk past the limit, then resumed", []chunk{{n: 30}, {n: 150, broken: true}, {n: 20}}, false},
		{"broken chunk exactly one past the room", []chunk{{n: 99}, {n: 2, broken: true}, {n: 10}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			r, fs := newTestRegistry(t, limit)
			up, err := r.StartUpload(ctx, "repo")
			if err != nil {
				t.Fatalf("StartUpload: %v", err)
			}
			off := patchChunks(t, r, up.ID, data, tt.chunks, func(_ int, p []byte) io.Reader { return bytes.NewReader(p) })
			d := digest.FromBytes(data[:off])
			info, err := r.FinishUpload(ctx, "repo", up.ID, d, nil, -1)
			if err != nil {
				t.Fatalf("FinishUpload: %v", err)
			}
			if info.Size != int64(off) {
				t.Errorf("size %d, want %d", info.Size, off)
			}
			_, inline, err := r.meta.RepoBlob(ctx, "repo", d)
			if err != nil {
				t.Fatalf("RepoBlob: %v", err)
			}
			if (inline != nil) != tt.wantInline {
				t.Errorf("inline %t, want %t", inline != nil, tt.wantInline)
			}
			if _, err := fs.Stat(ctx, d); (err == nil) == tt.wantInline {
				t.Errorf("blob file present %t, want %t", err == nil, !tt.wantInline)
			}
			c, _, err := r.OpenBlob(ctx, "repo", d)
			if err != nil {
				t.Fatalf("OpenBlob: %v", err)
			}
			defer c.Close()
			back, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(back, data[:off]) {
				t.Errorf("read back %d bytes (%v), want the %d pushed", len(back), err, off)
			}
		})
	}
}

// TestInlineMonolithic: a whole blob in one request is kept inline when
// small, stored when not, and refused without a trace on a wrong digest.
func TestInlineMonolithic(t *testing.T) {
	ctx := t.Context()
	r, fs := newTestRegistry(t, 64)
	for _, size := range []int{1, 64, 65, 1000} {
		data := bytes.Repeat([]byte{byte(size)}, size)
		d := digest.FromBytes(data)
		if _, err := r.PutBlob(ctx, "repo", d, bytes.NewReader(data)); err != nil {
			t.Fatalf("PutBlob(%d bytes): %v", size, err)
		}
		_, inline, err := r.meta.RepoBlob(ctx, "repo", d)
		if err != nil {
			t.Fatalf("RepoBlob: %v", err)
		}
		if want := size <= 64; (inline != nil) != want || (want && !bytes.Equal(inline, data)) {
			t.Errorf("%d bytes: inline %q, want inline %t", size, inline, want)
		}
		if _, err := fs.Stat(ctx, d); (err == nil) != (size > 64) {
			t.Errorf("%d bytes: blob file present %t", size, err == nil)
		}
	}
	wrong := digest.FromString("something else")
	_, err := r.PutBlob(ctx, "repo", wrong, bytes.NewReader([]byte("small")))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeDigestInvalid {
		t.Fatalf("PutBlob with a wrong digest: %v, want DIGEST_INVALID", err)
	}
	if _, _, err := r.meta.RepoBlob(ctx, "repo", wrong); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("a refused blob was recorded: %v", err)
	}
}
