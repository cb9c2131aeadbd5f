package registry

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"
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
