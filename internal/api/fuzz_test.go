package api

// Native fuzz tests for the request headers the API parses: Content-Range
// on upload chunks and Range on blob GETs. `make fuzz` runs each briefly;
// testdata/fuzz/Fuzz*/ keeps the corpus and any crasher found.

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

// FuzzContentRange: an accepted chunk range starts at or after 0, covers
// exactly Content-Length bytes, and formats back to itself.
func FuzzContentRange(f *testing.F) {
	for _, s := range []struct {
		h  string
		cl int64
	}{
		{"0-973", 974}, {"974-2446", 1473}, {"bytes 0-973/974", 974}, {"bytes=0-0", 1},
		{"0-973/*", 974}, {"0-973", -1}, {"5-4", 0}, {"-1-3", 5}, {"0-9223372036854775807", -1},
		{"9223372036854775807-9223372036854775807", 1}, {"+0-+5", 6}, {"", 3}, {"0-", 1}, {"a-b", 1},
	} {
		f.Add(s.h, s.cl)
	}
	f.Fuzz(func(t *testing.T, header string, contentLength int64) {
		r := httptest.NewRequest(http.MethodPatch, "/v2/fuzz/app/blobs/uploads/x", nil)
		r.Header.Set("Content-Range", header)
		r.ContentLength = contentLength
		start, err := chunkStart(r)
		if header == "" {
			if start != -1 || err != nil {
				t.Fatalf("no header: %d, %v", start, err)
			}
			return
		}
		if err != nil {
			if e, ok := registry.AsError(err); !ok || e.Code != registry.CodeRangeInvalid {
				t.Fatalf("%q: error with code other than RANGE_INVALID: %v", header, err)
			}
			return
		}
		if start < 0 {
			t.Fatalf("%q: negative start %d", header, start)
		}
		if contentLength < 0 {
			return
		}
		if contentLength == 0 || start > math.MaxInt64-contentLength+1 {
			t.Fatalf("%q with Content-Length %d: accepted, start %d", header, contentLength, start)
		}
		again := httptest.NewRequest(http.MethodPatch, "/v2/fuzz/app/blobs/uploads/x", nil)
		again.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+contentLength-1))
		again.ContentLength = contentLength
		if s2, err := chunkStart(again); err != nil || s2 != start {
			t.Errorf("%q: start %d, but its canonical form gives %d, %v", header, start, s2, err)
		}
	})
}

// rangeBlobs are the blobs FuzzBlobRange reads: one kept inline in the
// metadata store, one in the blob store, so both ways of serving are
// fuzzed.
var rangeBlobs = [][]byte{
	{},
	bytes.Repeat([]byte("hello-world "), 82), // 984 bytes, inline
	bytes.Repeat([]byte("0123456789abcdef"), 1500),
}

// newRangeHandler is the API over real stores in a temporary directory
// holding rangeBlobs in repository fuzz/app, pushed through the API.
func newRangeHandler(f *testing.F) http.Handler {
	dir := f.TempDir()
	md, err := meta.OpenSQLite(f.Context(), filepath.Join(dir, "meta.db"))
	if err != nil {
		f.Fatalf("OpenSQLite: %v", err)
	}
	f.Cleanup(func() { md.Close() })
	fs, err := blob.NewFilesystem(filepath.Join(dir, "blobs"))
	if err != nil {
		f.Fatalf("NewFilesystem: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	h := New(registry.New(fs, md, registry.Options{InlineMax: 16 << 10}, log), log, Options{})
	for _, b := range rangeBlobs {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v2/fuzz/app/blobs/uploads/?digest="+digest.FromBytes(b).String(), bytes.NewReader(b)))
		if w.Code != http.StatusCreated {
			f.Fatalf("push %d bytes: %d %s", len(b), w.Code, w.Body)
		}
	}
	return h
}

// FuzzBlobRange: whatever the Range header, a blob GET answers the whole
// blob (200), exactly the bytes it says it sends (206, one range or
// multipart/byteranges), all of them within the blob, or 416 naming the
// blob's size.
func FuzzBlobRange(f *testing.F) {
	for _, s := range []string{
		"bytes=0-973", "bytes=0-0", "bytes=-500", "bytes=100-", "bytes=0-1,5-9,-3", "bytes=984-",
		"bytes=999999-", "bytes=5-1", "bytes=-0", "bytes= 0 - 3 ", "bytes=0-9223372036854775807",
		"bytes=-9223372036854775808", "bytes=0-1,0-1,0-1", "items=0-5", "Bytes=0-5", "bytes=", "0-5", "",
	} {
		f.Add(s)
	}
	h := newRangeHandler(f)
	f.Fuzz(func(t *testing.T, rng string) {
		if strings.ContainsAny(rng, "\r\n\x00") {
			return // not a header value a client can send
		}
		for _, b := range rangeBlobs {
			checkRange(t, h, rng, b)
		}
	})
}

func checkRange(t *testing.T, h http.Handler, rng string, b []byte) {
	t.Helper()
	d := digest.FromBytes(b)
	r := httptest.NewRequest(http.MethodGet, "/v2/fuzz/app/blobs/"+d.String(), nil)
	r.Header.Set("Range", rng)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	size := int64(len(b))
	unit, spec, found := strings.Cut(rng, "=")
	if !found || !strings.EqualFold(unit, "bytes") {
		// RFC 9110 §14.2: a range unit the server does not know is ignored.
		if w.Code != http.StatusOK {
			t.Fatalf("Range %q (not bytes) on %d bytes: %d, want 200", rng, size, w.Code)
		}
	}
	if first, last, ok := oneRange(spec); found && strings.EqualFold(unit, "bytes") && ok && first < size {
		want := fmt.Sprintf("bytes %d-%d/%d", first, min(last, size-1), size)
		if w.Code != http.StatusPartialContent || w.Header().Get("Content-Range") != want {
			t.Fatalf("Range %q on %d bytes: %d %q, want 206 %q", rng, size, w.Code, w.Header().Get("Content-Range"), want)
		}
	}
	switch w.Code {
	case http.StatusOK:
		if !bytes.Equal(w.Body.Bytes(), b) {
			t.Fatalf("Range %q on %d bytes: 200 with %d other bytes", rng, size, w.Body.Len())
		}
	case http.StatusPartialContent:
		mt, params, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
		if mt != "multipart/byteranges" {
			checkPart(t, rng, b, w.Header().Get("Content-Range"), w.Body.Bytes())
			return
		}
		mr := multipart.NewReader(w.Body, params["boundary"])
		n := 0
		for ; ; n++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Range %q: bad multipart body: %v", rng, err)
			}
			body, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("Range %q: part %d: %v", rng, n, err)
			}
			checkPart(t, rng, b, p.Header.Get("Content-Range"), body)
		}
		if n < 2 {
			t.Errorf("Range %q: multipart with %d parts", rng, n)
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if got, want := w.Header().Get("Content-Range"), fmt.Sprintf("bytes */%d", size); got != want {
			t.Errorf("Range %q: 416 with Content-Range %q, want %q", rng, got, want)
		}
	default:
		t.Fatalf("Range %q on %d bytes: status %d %s", rng, size, w.Code, w.Body)
	}
	if w.Header().Get("Docker-Content-Digest") != d.String() {
		t.Errorf("Range %q: %d without Docker-Content-Digest", rng, w.Code)
	}
}

// oneRange parses a range set that is exactly one "first-last" of plain
// digits within int64: the case whose answer a test can state simply.
func oneRange(spec string) (first, last int64, ok bool) {
	a, b, found := strings.Cut(spec, "-")
	if !found || a == "" || b == "" || strings.Trim(a+b, "0123456789") != "" {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	return first, last, err1 == nil && err2 == nil && first <= last
}

// checkPart checks that body is the bytes of b that contentRange names.
func checkPart(t *testing.T, rng string, b []byte, contentRange string, body []byte) {
	t.Helper()
	var first, last, total int64
	if _, err := fmt.Sscanf(contentRange, "bytes %d-%d/%d", &first, &last, &total); err != nil {
		t.Fatalf("Range %q: 206 with Content-Range %q: %v", rng, contentRange, err)
	}
	if total != int64(len(b)) || first < 0 || first > last || last >= total {
		t.Fatalf("Range %q: Content-Range %q out of the blob's %d bytes", rng, contentRange, len(b))
	}
	if !bytes.Equal(body, b[first:last+1]) {
		t.Fatalf("Range %q: Content-Range %q but %d other bytes", rng, contentRange, len(body))
	}
}
