package bench

import (
	"context"
	"os"
	"testing"
	"time"
)

// BenchmarkPushFloor pushes push-large's four 256 MiB layers (1 MiB HTTP
// chunks, as the bench does) to a floor server in a process of its own,
// once per mode, and reports MB/s, the server's and the client's CPU
// seconds per pushed GiB and how busy the two cores were. The gap between
// a mode and wharf's push-large is what a registry's pipeline and
// bookkeeping cost over those steps. Run as
//
//	go test -run '^$' -bench PushFloor -benchtime 2x -count 3 ./internal/bench
//
// (-count interleaves the modes).
func BenchmarkPushFloor(b *testing.B) {
	data := (&dataset{sz: sizesFor(false, 10*time.Second)}).large()
	if err := warmUp(b.Context(), data); err != nil {
		b.Fatal(err)
	}
	for _, mode := range floorModes {
		b.Run("mode="+mode.name, func(b *testing.B) {
			c, pid := startFloorProcess(b, uploadFloorEnv, mode.name+" "+b.TempDir())
			timeFloor(b, pid, data, func(ctx context.Context, l blob) error {
				return c.pushStreamed(ctx, "floor/large", l)
			})
		})
	}
}

// TestFloorModes pushes through every floor mode what the benchmark
// does, in miniature: a streamed upload past the writeback and flush
// steps is accepted, a wrong digest is refused where the mode hashes, and
// no file outlives its upload.
func TestFloorModes(t *testing.T) {
	good := newBlob(randomBytes(7, floorFlush+floorWriteback+3))
	bad := blob{data: good.data, digest: sha256Digest([]byte("something else"))}
	for _, mode := range floorModes {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := newFloorServer(mode.name, dir)
			if err != nil {
				t.Fatal(err)
			}
			c := testFloorClient(t, s)
			if err := c.pushStreamed(t.Context(), "floor/test", good); err != nil {
				t.Fatalf("push: %v", err)
			}
			err = c.pushStreamed(t.Context(), "floor/test", bad)
			if mode.hash && err == nil {
				t.Error("a wrong digest was accepted")
			}
			if !mode.hash && err != nil {
				t.Errorf("push without hashing: %v", err)
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Errorf("files left: %v", left)
			}
		})
	}
}
