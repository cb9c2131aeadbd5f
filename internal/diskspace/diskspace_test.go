package diskspace

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/wharf-registry/wharf/internal/testenv"
)

func TestStatusBelow(t *testing.T) {
	for _, tc := range []struct {
		st   Status
		want bool
	}{
		{Status{Free: 10, Held: 0, Reserve: 8}, false},
		{Status{Free: 4, Held: 4, Reserve: 8}, false},
		{Status{Free: 3, Held: 4, Reserve: 8}, true},
		{Status{Free: 7, Held: 0, Reserve: 8}, true},
		{Status{Free: 0, Held: 0, Reserve: 0}, false},
	} {
		if got := tc.st.Below(); got != tc.want {
			t.Errorf("%+v.Below() = %t, want %t", tc.st, got, tc.want)
		}
	}
}

func TestAutoReserve(t *testing.T) {
	for _, tc := range []struct{ total, want int64 }{
		{48 << 20, 48 << 20 / 10},
		{640 << 20, 64 << 20},
		{1 << 40, 64 << 20},
	} {
		if got := AutoReserve(tc.total); got != tc.want {
			t.Errorf("AutoReserve(%d) = %d, want %d", tc.total, got, tc.want)
		}
	}
}

func TestIsFull(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("store: %w", syscall.EDQUOT), true},
		{syscall.EIO, false},
		{errors.New("no space left on device"), false}, // only the errno counts
		{nil, false},
	} {
		if got := IsFull(tc.err); got != tc.want {
			t.Errorf("IsFull(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}

// TestGuardOnSmallDisk walks the reserve through its states on a real
// 16 MiB tmpfs: the ballast is allocated at start, a disk filled by someone
// else makes uploads refused and the ballast given back before a metadata
// write, and freed space brings both back.
func TestGuardOnSmallDisk(t *testing.T) {
	dir := testenv.SmallFS(t, 16<<20)
	const reserve = 4 << 20
	g := NewGuard(reserve, filepath.Join(dir, "reserve"), slog.New(slog.DiscardHandler), dir)
	if err := g.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	st, err := g.Check()
	if err != nil {
		t.Fatal(err)
	}
	if st.Held != reserve/2 || st.Below() {
		t.Fatalf("after Prepare on an empty disk: %+v, want the ballast of %d held and uploads accepted", st, reserve/2)
	}

	g.last.Store(nil)
	g.Relieve() // plenty free: nothing to give back
	if st, _ = g.Check(); st.Held != reserve/2 {
		t.Fatalf("Relieve with room to spare released the ballast: %+v", st)
	}

	filler := filepath.Join(dir, "filler")
	testenv.FillDisk(t, filler)
	g.last.Store(nil) // the last look found plenty of room, and may stand for 10 ms
	if st, _ = g.Check(); !st.Below() || st.Held != reserve/2 {
		t.Fatalf("on a full disk: %+v, want uploads refused, ballast still held", st)
	}
	g.Relieve()
	st, _ = g.Check()
	if st.Held != 0 || st.Free < reserve/2 {
		t.Fatalf("after Relieve on a full disk: %+v, want the ballast's %d bytes free", st, reserve/2)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	g.last.Store(nil)
	if st, _ = g.Check(); st.Below() || st.Held != reserve/2 {
		t.Fatalf("after space came back: %+v, want uploads accepted and the ballast held again", st)
	}
}

// TestGuardPrepareResizes shrinks a ballast left by a larger reserve, and
// removes it when the reserve is turned off.
func TestGuardPrepareResizes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reserve")
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		reserve  int64
		wantSize int64 // -1: no file
	}{
		{8 << 20, 4 << 20},
		{2 << 20, 1 << 20},
		{0, -1},
	} {
		if err := NewGuard(tc.reserve, path, log, dir).Prepare(); err != nil {
			t.Fatalf("reserve %d: Prepare: %v", tc.reserve, err)
		}
		size := int64(-1)
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		if size != tc.wantSize {
			t.Errorf("reserve %d: ballast of %d bytes, want %d", tc.reserve, size, tc.wantSize)
		}
	}
}

// BenchmarkCheck is the cost of the look at free space made per upload
// request and per MiB of upload body, with plenty of room.
func BenchmarkCheck(b *testing.B) {
	dir := b.TempDir()
	g := NewGuard(1<<20, filepath.Join(dir, "reserve"), slog.New(slog.DiscardHandler), dir, dir)
	if err := g.Prepare(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := g.Check(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckNearWatermark is a Check that must measure every time: the
// disk is within twice the reserve of the watermark.
func BenchmarkCheckNearWatermark(b *testing.B) {
	dir := b.TempDir()
	g := NewGuard(1<<60, filepath.Join(dir, "reserve"), slog.New(slog.DiscardHandler), dir, dir)
	for b.Loop() {
		if _, err := g.Check(); err != nil {
			b.Fatal(err)
		}
	}
}
