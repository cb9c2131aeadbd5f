package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestFlightReaders has readers start at different offsets while the bytes
// arrive in pieces: each gets exactly its bytes, and the last byte only
// after the fetch succeeded.
func TestFlightReaders(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	f, err := newFlight(t.TempDir(), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		off int64
		got []byte
		err error
	}
	offsets := []int64{0, 1, 1000, int64(len(data)) - 1}
	results := make(chan result, len(offsets))
	var wg sync.WaitGroup
	for _, off := range offsets {
		r := f.reader(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			if _, err := r.Seek(off, io.SeekStart); err != nil {
				results <- result{off: off, err: err}
				return
			}
			got, err := io.ReadAll(r)
			results <- result{off, got, err}
		}()
	}
	for i := 0; i < len(data); i += 5000 {
		if _, err := f.Write(data[i:min(i+5000, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	// Every byte is written, the digest not yet checked: the reader at the
	// last byte must still be waiting.
	select {
	case r := <-results:
		t.Fatalf("reader at %d finished before the fetch ended (%d bytes, %v)", r.off, len(r.got), r.err)
	case <-time.After(50 * time.Millisecond):
	}
	f.finish(nil)
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil || !bytes.Equal(r.got, data[r.off:]) {
			t.Errorf("reader at %d: %d bytes, %v", r.off, len(r.got), r.err)
		}
	}
}

// TestFlightFailure: a failed fetch fails its readers instead of handing
// them a whole wrong blob, and a reader whose request ends stops waiting.
func TestFlightFailure(t *testing.T) {
	f, err := newFlight(t.TempDir(), 10)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("0123456789"))
	r := f.reader(context.Background())
	buf := make([]byte, 20)
	n, err := r.Read(buf)
	if err != nil || n != 9 {
		t.Fatalf("read before the check = %d, %v; want 9 bytes", n, err)
	}
	boom := errors.New("digest mismatch")
	f.finish(boom)
	if _, err := r.Read(buf); !errors.Is(err, boom) {
		t.Errorf("read after a failed fetch: %v, want %v", err, boom)
	}
	r.Close()

	g, _ := newFlight(t.TempDir(), 10)
	ctx, cancel := context.WithCancel(context.Background())
	gr := g.reader(ctx)
	done := make(chan error, 1)
	go func() { _, err := gr.Read(buf); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read after the request ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reader kept waiting after its request ended")
	}
	gr.Close()
	g.finish(nil)
}

// BenchmarkFlight: one writer and 8 readers over a 48 MiB spool, in 32 KiB
// writes as an upstream body arrives.
func BenchmarkFlight(b *testing.B) {
	const size = 48 << 20
	chunk := bytes.Repeat([]byte{7}, 32<<10)
	b.SetBytes(size * 8)
	for b.Loop() {
		f, err := newFlight(b.TempDir(), size)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 8 {
			r := f.reader(context.Background())
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.Close()
				if n, err := io.Copy(io.Discard, r); err != nil || n != size {
					b.Errorf("read %d, %v", n, err)
				}
			}()
		}
		for written := 0; written < size; written += len(chunk) {
			f.Write(chunk)
		}
		f.finish(nil)
		wg.Wait()
	}
}
