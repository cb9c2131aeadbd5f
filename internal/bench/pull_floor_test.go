package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pullFloorEnv, when set to "addr mode dir" in this test binary's
// environment, makes it serve the blobs stored in dir (one file per
// digest, named by its hex) with the given pull floor mode instead of
// running tests.
const pullFloorEnv = "WHARF_BENCH_PULL_FLOOR"

// pullFloorModes are the two ways a server can send a file it has in
// the page cache: sendfile, as wharf does (the kernel hands the cached
// pages to the socket), and a copy through a 32 KiB buffer, as
// distribution does.
var pullFloorModes = []string{"sendfile", "copy"}

// pullFloor serves blobs from a directory, nothing else.
type pullFloor struct {
	dir  string
	copy bool
}

// newPullFloor returns the pull floor of the named mode over dir.
func newPullFloor(mode, dir string) (*pullFloor, error) {
	switch mode {
	case "sendfile":
		return &pullFloor{dir: dir}, nil
	case "copy":
		return &pullFloor{dir: dir, copy: true}, nil
	}
	return nil, fmt.Errorf("no pull floor mode %q (have %s)", mode, strings.Join(pullFloorModes, ", "))
}

func (p *pullFloor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" {
		return
	}
	_, hexDigest, ok := strings.Cut(filepath.Base(r.URL.Path), "sha256:")
	if !ok {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(p.dir, filepath.Base(hexDigest)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.Header().Set("Content-Type", "application/octet-stream")
	if p.copy {
		// Hidden behind plain Reader and Writer, neither side offers
		// ReadFrom/WriteTo, so nothing reaches sendfile.
		_, _ = io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{f}, make([]byte, 32<<10))
		return
	}
	_, _ = io.Copy(w, f)
}

// storeBlobs writes each blob into dir under its digest's hex and syncs
// it, so the files are in the page cache with no writeback pending.
func storeBlobs(dir string, blobs []blob) error {
	for _, b := range blobs {
		name := filepath.Join(dir, strings.TrimPrefix(b.digest, "sha256:"))
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("storing %s: %w", name, err)
		}
		_, err = f.Write(b.data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("storing %s: %w", name, err)
		}
	}
	return nil
}

// BenchmarkPullFloor GETs pull-large's four 256 MiB layers, one reader
// hashing as it reads (the bench's pull-large x1), from a server in a
// process of its own that has them in the page cache and sends them with
// sendfile or copies them, and reports MB/s and both sides' CPU per GiB.
// When the client bounds the pull, as on two shared cores, where the read
// from the page cache lands is part of the figure: with sendfile the
// client's copy does it. Run as
//
//	go test -run '^$' -bench PullFloor -benchtime 2x -count 4 ./internal/bench
func BenchmarkPullFloor(b *testing.B) {
	data := (&dataset{sz: sizesFor(false, 10*time.Second)}).large()
	dir := b.TempDir()
	if err := storeBlobs(dir, data.layers); err != nil {
		b.Fatal(err)
	}
	if err := warmUp(b.Context(), data); err != nil {
		b.Fatal(err)
	}
	for _, mode := range pullFloorModes {
		b.Run("mode="+mode, func(b *testing.B) {
			c, pid := startFloorProcess(b, pullFloorEnv, mode+" "+dir)
			timeFloor(b, pid, data, func(ctx context.Context, l blob) error {
				return c.pullVerify(ctx, "floor/large", l)
			})
		})
	}
}

// TestPullFloorModes pulls a stored blob through both modes and checks
// that what arrives hashes to its digest, and that an unknown digest is
// a 404.
func TestPullFloorModes(t *testing.T) {
	dir := t.TempDir()
	stored := newBlob(randomBytes(9, 3<<20+5))
	if err := storeBlobs(dir, []blob{stored}); err != nil {
		t.Fatal(err)
	}
	missing := newBlob([]byte("not stored"))
	for _, mode := range pullFloorModes {
		t.Run(mode, func(t *testing.T) {
			p, err := newPullFloor(mode, dir)
			if err != nil {
				t.Fatal(err)
			}
			c := testFloorClient(t, p)
			if err := c.pullVerify(t.Context(), "floor/test", stored); err != nil {
				t.Errorf("pull: %v", err)
			}
			if err := c.pullVerify(t.Context(), "floor/test", missing); err == nil {
				t.Error("an unknown digest was served")
			}
		})
	}
	if _, err := newPullFloor("mmap", dir); err == nil {
		t.Error("an unknown mode was accepted")
	}
}
