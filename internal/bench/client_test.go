package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"testing"
)

// TestHashPipelined checks the digest and length of bodies around the
// buffer size, and that a read error is returned.
func TestHashPipelined(t *testing.T) {
	for _, n := range []int{0, 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, 5<<20 + 7} {
		data := randomBytes(uint64(n)+1, n)
		sum, got, err := hashPipelined(bytes.NewReader(data))
		want := sha256.Sum256(data)
		if err != nil || got != int64(n) || !bytes.Equal(sum, want[:]) {
			t.Errorf("%d bytes: hashPipelined = %x, %d, %v; want %x", n, sum, got, err, want)
		}
	}
	boom := errors.New("connection reset")
	if _, _, err := hashPipelined(io.MultiReader(bytes.NewReader(make([]byte, 3<<20)), failingReader{boom})); !errors.Is(err, boom) {
		t.Errorf("a failing body: %v, want %v", err, boom)
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// TestStreamedChunks checks the HTTP chunks a streamed push puts on the
// wire, read raw from a loopback socket: pieces of the size asked for, the
// last one shorter, and the bytes intact.
func TestStreamedChunks(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		piece int
		want  []int
	}{
		{"push-large pieces", 2<<20 + 512<<10, streamPiece, []int{1 << 20, 1 << 20, 512 << 10}},
		{"docker pieces", 96<<10 + 3, dockerPiece, []int{32 << 10, 32 << 10, 32 << 10, 3}},
		{"exactly one piece", 32 << 10, dockerPiece, []int{32 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := randomBytes(uint64(tt.n), tt.n)
			sizes, body := captureChunks(t, data, tt.piece)
			if !slices.Equal(sizes, tt.want) {
				t.Errorf("chunk sizes %v, want %v", sizes, tt.want)
			}
			if !bytes.Equal(body, data) {
				t.Errorf("body of %d bytes differs from the %d sent", len(body), len(data))
			}
		})
	}
}

// captureChunks PATCHes data streamed in pieces through the bench's HTTP
// client to a loopback listener that reads the request raw, and returns
// the sizes of the HTTP chunks it carried and their bytes.
func captureChunks(t *testing.T, data []byte, piece int) ([]int, []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		sizes []int
		body  []byte
		err   error
	}
	got := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer conn.Close()
		sizes, body, err := readChunkedRequest(bufio.NewReader(conn))
		if err == nil {
			_, err = io.WriteString(conn, "HTTP/1.1 202 Accepted\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n")
		}
		got <- result{sizes, body, err}
	}()
	c, err := newClient("http://"+ln.Addr().String(), newHTTPClient())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	body := &streamReader{p: data, piece: piece}
	if _, err := c.do(context.Background(), http.MethodPatch, "/v2/r/blobs/uploads/u", body, octetStream, http.StatusAccepted, false); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.sizes, r.body
}

// readChunkedRequest reads a request's head, then its chunked body chunk
// by chunk.
func readChunkedRequest(br *bufio.Reader) ([]int, []byte, error) {
	tp := textproto.NewReader(br)
	if _, err := tp.ReadLine(); err != nil {
		return nil, nil, err
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, nil, err
	}
	if te := hdr.Get("Transfer-Encoding"); te != "chunked" {
		return nil, nil, fmt.Errorf("Transfer-Encoding %q, want chunked", te)
	}
	var sizes []int
	var body []byte
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return nil, nil, err
		}
		n, err := strconv.ParseInt(line, 16, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("chunk size %q: %w", line, err)
		}
		if n == 0 {
			_, err := tp.ReadLine() // the empty trailer
			return sizes, body, err
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, nil, err
		}
		sizes = append(sizes, int(n))
		body = append(body, chunk[:n]...)
	}
}
