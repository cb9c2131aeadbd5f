package blob_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// Bodies sent in read-ahead steps arrive whole and in order over real
// HTTP, for sizes around the step and for Range requests, whose body
// ServeContent also copies as a limited file.
func TestWithReadAheadServesExactBytes(t *testing.T) {
	s := newFilesystem(t, t.TempDir())
	data := make([]byte, 2*(8<<20)+4321)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	d := digest.FromBytes(data)
	commitBytes(t, s, "readahead", data, d)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := s.Open(r.Context(), d)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer c.Close()
		http.ServeContent(blob.WithReadAhead(w), r, "", time.Time{}, c)
	}))
	defer srv.Close()
	size := len(data)
	tests := []struct {
		name     string
		rng      string
		from, to int // expected body data[from:to]
		status   int
	}{
		{"whole", "", 0, size, http.StatusOK},
		{"one step exactly", "bytes=0-8388607", 0, 8 << 20, http.StatusPartialContent},
		{"across a step", "bytes=8388000-8389999", 8388000, 8390000, http.StatusPartialContent},
		{"from the middle to the end", fmt.Sprintf("bytes=%d-", 5<<20+3), 5<<20 + 3, size, http.StatusPartialContent},
		{"last byte", "bytes=-1", size - 1, size, http.StatusPartialContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !bytes.Equal(body, data[tt.from:tt.to]) {
				t.Fatalf("body of %d bytes differs from data[%d:%d]", len(body), tt.from, tt.to)
			}
		})
	}
}
