package bench

import (
	"context"
	"fmt"
	"os"
	"time"
)

// probeBytes is what a disk probe writes: enough to pass the disk's own
// cache on this VM, little enough to cost ~0.3 s.
const probeBytes = 256 << 20

// probeDisk writes probeBytes into a new file in dir with 1 MiB writes,
// syncs it (for a file that grew, fsync and fdatasync write the same) and
// returns MB/s (10^6 bytes) from the first write to the end of the sync:
// the path a durable push takes. The disk under this bench has phases
// that halve it for minutes, and a durable registry pays for them inside
// its push figures while one that never syncs does not, so the push
// workloads record a probe before every server starts.
func probeDisk(dir string) (float64, error) {
	f, err := os.CreateTemp(dir, "wharf-bench-probe-")
	if err != nil {
		return 0, fmt.Errorf("disk probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 131) // not all zeros, in case a layer below is clever
	}
	start := time.Now()
	for written := 0; written < probeBytes; written += len(buf) {
		if _, err := f.Write(buf); err != nil {
			return 0, fmt.Errorf("disk probe: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("disk probe: %w", err)
	}
	return mbPerSec(probeBytes, time.Since(start)), nil
}

// probeWriteFloor pushes im's layers as push-large does to a
// hash-write-apart upload floor (floor.go) storing into a new directory
// under dir, and returns the MB/s: what receiving those bytes, writing
// them durably and hashing them the way wharf does gets on this machine
// at that moment, with no registry around it. A registry that verifies
// and syncs every upload can hardly beat it; one that never syncs is not
// bound by it.
func probeWriteFloor(ctx context.Context, dir string, im *image) (float64, error) {
	store, err := os.MkdirTemp(dir, "wharf-bench-floor-")
	if err != nil {
		return 0, fmt.Errorf("write floor: %w", err)
	}
	defer os.RemoveAll(store)
	p, err := startFloor(ctx, uploadFloorEnv, "hash-write-apart "+store)
	if err != nil {
		return 0, fmt.Errorf("write floor: %w", err)
	}
	defer p.stop()
	start := time.Now()
	for _, l := range im.layers {
		if err := p.c.pushStreamed(ctx, "floor/large", l); err != nil {
			return 0, fmt.Errorf("write floor: %w", err)
		}
	}
	return mbPerSec(im.layerBytes(), time.Since(start)), nil
}
