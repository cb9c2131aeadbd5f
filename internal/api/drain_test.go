package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/registry"
)

// rawRequest is a PATCH written by hand, so the test controls how the body
// is sent and sees what a proxy would see on the wire.
type rawRequest struct {
	size    int64 // body bytes
	chunked bool
	// stallAfter, when positive, stops sending after this many body
	// bytes and keeps the connection open, like a stalled client.
	stallAfter int64
}

// send writes the request to c. It returns how many body bytes went out
// and the first write error.
func (q rawRequest) send(c net.Conn) (int64, error) {
	hdr := "PATCH /v2/a/blobs/uploads/x HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\n"
	if q.chunked {
		hdr += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		hdr += fmt.Sprintf("Content-Length: %d\r\n\r\n", q.size)
	}
	if _, err := io.WriteString(c, hdr); err != nil {
		return 0, err
	}
	chunk := make([]byte, 64<<10)
	var sent int64
	for sent < q.size {
		if q.stallAfter > 0 && sent >= q.stallAfter {
			return sent, nil
		}
		p := chunk[:min(int64(len(chunk)), q.size-sent)]
		if q.chunked {
			if _, err := fmt.Fprintf(c, "%x\r\n", len(p)); err != nil {
				return sent, err
			}
		}
		n, err := c.Write(p)
		sent += int64(n)
		if err != nil {
			return sent, err
		}
		if q.chunked {
			if _, err := io.WriteString(c, "\r\n"); err != nil {
				return sent, err
			}
		}
	}
	if q.chunked {
		_, err := io.WriteString(c, "0\r\n\r\n")
		return sent, err
	}
	return sent, nil
}

// sendResult is what the sending side of a rawRequest saw.
type sendResult struct {
	sent int64
	err  error
}

// exchange sends q on a new connection to addr while reading the response,
// as a proxy streaming a body does. It returns the response (its body
// read), what the sender saw, and the connection with its reader for a
// further request.
func exchange(t *testing.T, addr string, q rawRequest) (*http.Response, sendResult, net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A liveness guard, not a measurement: nothing here should take long.
	c.SetDeadline(time.Now().Add(time.Minute))
	sent := make(chan sendResult, 1)
	go func() {
		n, err := q.send(c)
		sent <- sendResult{n, err}
	}()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, <-sent, c, br
}

// TestEarlyErrorDrainsBody: an error answered without reading a
// multi-MB body reaches the sender, which can send its whole body without
// a reset, and a body of known length leaves the connection usable.
func TestEarlyErrorDrainsBody(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeError(w, r, log, &registry.Error{Code: registry.CodeBlobUploadUnknown, Message: "no such upload"})
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	for _, tc := range []struct {
		name      string
		req       rawRequest
		wantClose bool
	}{
		{"32 MiB with Content-Length", rawRequest{size: 32 << 20}, false},
		{"32 MiB chunked", rawRequest{size: 32 << 20, chunked: true}, true},
		{"1 KiB with Content-Length", rawRequest{size: 1 << 10}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, res, c, br := exchange(t, addr, tc.req)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("status %d, want 404", resp.StatusCode)
			}
			if res.err != nil || res.sent != tc.req.size {
				t.Errorf("sender: %d of %d bytes sent, err %v; want all, no error", res.sent, tc.req.size, res.err)
			}
			if resp.Close != tc.wantClose {
				t.Errorf("Connection: close is %t, want %t", resp.Close, tc.wantClose)
			}
			if tc.wantClose {
				return
			}
			// The drained body leaves the connection at a request boundary.
			io.WriteString(c, "GET /v2/ HTTP/1.1\r\nHost: test\r\n\r\n")
			next, err := http.ReadResponse(br, nil)
			if err != nil || next.StatusCode != http.StatusNoContent {
				t.Errorf("next request on the connection: %v, err %v; want 204", next, err)
			}
		})
	}
}

// TestEarlyErrorDrainBounds: a client that keeps sending past the byte
// limit, or stalls, still gets its answer first, and the handler ends.
func TestEarlyErrorDrainBounds(t *testing.T) {
	limits := drainLimits{maxBytes: 1 << 20, maxTime: 3 * time.Second, idle: 200 * time.Millisecond}
	ended := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { ended <- struct{}{} }()
		defer limits.start(w, r)()
		writeJSONError(w, http.StatusUnauthorized, errorEntry{Code: registry.CodeUnauthorized, Message: "no"})
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	for _, tc := range []struct {
		name string
		req  rawRequest
	}{
		{"past the byte limit", rawRequest{size: 256 << 20}},
		{"past the byte limit, chunked", rawRequest{size: 256 << 20, chunked: true}},
		{"stalled", rawRequest{size: 8 << 20, stallAfter: 64 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, res, c, br := exchange(t, addr, tc.req)
			if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
				t.Errorf("status %d, Connection: close %t; want 401 and close", resp.StatusCode, resp.Close)
			}
			select {
			case <-ended:
			case <-time.After(time.Minute):
				t.Fatal("handler still draining after a minute")
			}
			if res.sent >= tc.req.size {
				t.Errorf("the server read all %d bytes, past its limit", res.sent)
			}
			// The server closed the connection: reads end.
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				t.Errorf("after the drain: read %v, want the connection closed", err)
			}
			c.Close()
		})
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
