package bench

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
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
