package gcs

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/wharf-registry/wharf/internal/blob"
)

// brokenServer serves one object whose first download stops half-way
// (the connection is closed after half the body) and records the Range
// and generation each download asked for.
type brokenServer struct {
	data []byte
	crc  string

	mu       sync.Mutex
	requests []string
}

func (b *brokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.requests = append(b.requests, r.Header.Get("Range")+" gen="+r.URL.Query().Get("generation"))
	first := len(b.requests) == 1
	b.mu.Unlock()
	if !strings.HasSuffix(r.URL.Path, "/o/obj") || r.URL.Query().Get("alt") != "media" {
		http.NotFound(w, r)
		return
	}
	var off int
	if rg := r.Header.Get("Range"); rg != "" {
		fmt.Sscanf(rg, "bytes=%d-", &off)
	}
	w.Header().Set("X-Goog-Generation", "42")
	w.Header().Set("X-Goog-Hash", "crc32c="+b.crc+",md5=AAAA")
	w.Header().Set("Content-Length", fmt.Sprint(len(b.data)-off))
	if off > 0 {
		w.WriteHeader(http.StatusPartialContent)
	}
	if !first {
		w.Write(b.data[off:])
		return
	}
	w.Write(b.data[:len(b.data)/2])
	w.(http.Flusher).Flush()
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func testStore(t *testing.T, h http.Handler) *Store {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	svc, err := storage.NewService(t.Context(), option.WithEndpoint(srv.URL+"/storage/v1/"),
		option.WithoutAuthentication(), option.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return &Store{svc: svc, bucketName: "b"}
}

func crc32c(data []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(data, crc32cTable))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestReadReopens: a download that breaks is reopened where it stopped,
// pinned to the generation first read, and the whole object's CRC32C is
// checked over both bodies.
func TestReadReopens(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	srv := &brokenServer{data: data, crc: crc32c(data)}
	s := testStore(t, srv)
	rc, err := s.read(t.Context(), "obj", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v; want the %d bytes", len(got), err, len(data))
	}
	want := []string{" gen=", fmt.Sprintf("bytes=%d- gen=42", len(data)/2)}
	if fmt.Sprint(srv.requests) != fmt.Sprint(want) {
		t.Errorf("requests %q, want %q", srv.requests, want)
	}
}

// TestReadChecksCRC: a whole-object read whose bytes do not match the
// service's CRC32C fails at the end.
func TestReadChecksCRC(t *testing.T) {
	data := []byte("some bytes")
	srv := &brokenServer{data: data, crc: crc32c([]byte("other bytes"))}
	srv.requests = []string{"(not the first)"}
	s := testStore(t, srv)
	rc, err := s.read(t.Context(), "obj", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "CRC32C") {
		t.Errorf("read of damaged bytes: %v, want a CRC32C error", err)
	}
	if _, err := s.read(t.Context(), "missing", 0, -1); err != blob.ErrNotFound {
		t.Errorf("read of a missing object: %v, want ErrNotFound", err)
	}
}
