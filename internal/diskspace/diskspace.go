// Package diskspace watches the free space of the filesystem that holds
// wharf's root directory and keeps part of it back for metadata writes
// (storage.reserve), the way databases keep a flood-stage watermark: new
// upload bytes stop while deletes and garbage collection, which need a
// little room to write their metadata, keep working.
//
// The reserve has two halves. One is a preallocated file (the ballast),
// given up the moment free space is nearly gone, whoever took it (a large
// upload racing the check, another program on the same disk); the other
// is free space that uploads stop short of. Uploads are accepted only
// while the whole reserve is there: the ballast allocated and its other
// half still free.
package diskspace

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReserve is storage.reserve when unset, unless the filesystem is
// so small that a tenth of it is less (see AutoReserve).
const DefaultReserve = 64 << 20

// AutoReserve is the reserve used when storage.reserve is unset: 64 MiB,
// or a tenth of the filesystem when that is less, so that a small disk
// still takes pushes.
func AutoReserve(total int64) int64 {
	return min(DefaultReserve, total/10)
}

// Usage is what statfs reports for a filesystem: bytes available to an
// unprivileged writer, and the filesystem's size.
type Usage struct {
	Free, Total int64
}

// Status is the state of the reserve at one moment.
type Status struct {
	// Free is the space left outside the ballast.
	Free int64
	// Held is what the ballast holds back.
	Held int64
	// Reserve is storage.reserve.
	Reserve int64
}

// Below reports whether new upload bytes must be refused.
func (s Status) Below() bool { return s.Free+s.Held < s.Reserve }

// Guard keeps the reserve of the filesystems holding dirs.
type Guard struct {
	dirs    []string
	ballast string
	reserve int64
	log     *slog.Logger

	mu    sync.Mutex // serialises changes to the ballast
	below bool       // the last Check found the reserve short (for logging changes only)

	last atomic.Pointer[measured] // the last measurement, reused while fresh and far from the watermark
}

// measured is a Status and when it was taken.
type measured struct {
	st Status
	at time.Time
}

// reuseFor is how long a measurement that found plenty of room stands in
// for a new one. Measured here, a Check (two statfs and a stat) costs
// 10-40 µs on a loaded machine: per small push that is noticeable, while
// in 10 ms even 1 GB/s of uploads takes only 10 MB of the reserve's slack.
const reuseFor = 10 * time.Millisecond

// NewGuard keeps reserve bytes on the filesystems of dirs, half of them in a
// preallocated file at ballast.
func NewGuard(reserve int64, ballast string, log *slog.Logger, dirs ...string) *Guard {
	return &Guard{dirs: dirs, ballast: ballast, reserve: reserve, log: log}
}

// Reserve is the number of bytes kept back.
func (g *Guard) Reserve() int64 { return g.reserve }

// target is the ballast's size.
func (g *Guard) target() int64 { return g.reserve / 2 }

// Usage is the smallest free space among the guarded filesystems (they are
// usually one) and that filesystem's size.
func (g *Guard) Usage() (Usage, error) {
	var out Usage
	for i, dir := range g.dirs {
		u, err := Stat(dir)
		if err != nil {
			return Usage{}, err
		}
		if i == 0 || u.Free < out.Free {
			out = u
		}
	}
	return out, nil
}

// Check measures the reserve. When the reserve is whole again it first
// tops the ballast up, so that the space uploads may use never includes it.
func (g *Guard) Check() (Status, error) {
	if m := g.last.Load(); m != nil && m.st.Free >= 2*g.reserve && time.Since(m.at) < reuseFor {
		return m.st, nil
	}
	st, err := g.status()
	if err != nil {
		return Status{}, err
	}
	if !st.Below() && st.Held < g.target() {
		g.mu.Lock()
		err = g.fill()
		g.mu.Unlock()
		if err != nil {
			return Status{}, err
		}
		if st, err = g.status(); err != nil {
			return Status{}, err
		}
	}
	g.noteChange(st)
	g.last.Store(&measured{st: st, at: time.Now()})
	return st, nil
}

func (g *Guard) status() (Status, error) {
	u, err := g.Usage()
	if err != nil {
		return Status{}, err
	}
	held, err := g.held()
	if err != nil {
		return Status{}, err
	}
	return Status{Free: u.Free, Held: held, Reserve: g.reserve}, nil
}

// noteChange logs when uploads start or stop being refused: an operator
// needs to know, and once, not per request.
func (g *Guard) noteChange(st Status) {
	g.mu.Lock()
	changed := g.below != st.Below()
	g.below = st.Below()
	g.mu.Unlock()
	switch {
	case changed && st.Below():
		g.log.Warn("storage is below its reserve: new uploads are refused until space is freed (delete images, then garbage-collect)",
			"free", st.Free, "ballast", st.Held, "reserve", g.reserve)
	case changed:
		g.log.Info("storage reserve is whole again: uploads are accepted", "free", st.Free, "reserve", g.reserve)
	}
}

// Relieve gives the ballast back when free space is nearly gone (under a
// quarter of the reserve), so that the metadata write about to run finds
// room. It is called before metadata writes and costs one statfs.
func (g *Guard) Relieve() {
	if m := g.last.Load(); m != nil && m.st.Free >= 2*g.reserve && time.Since(m.at) < reuseFor {
		return
	}
	u, err := g.Usage()
	if err != nil || u.Free >= g.reserve/4 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	freed, err := g.release()
	if err != nil {
		g.log.Error("releasing the storage reserve failed", "err", err)
		return
	}
	g.last.Store(nil)
	if freed > 0 {
		g.log.Warn("disk nearly full: released the storage reserve for metadata writes", "freed", freed, "free", u.Free)
	}
}

// Prepare makes the ballast match the reserve (a changed storage.reserve,
// or 0, shrinks or removes it) and fills it when there is room.
func (g *Guard) Prepare() error {
	g.mu.Lock()
	held, err := g.held()
	if err == nil && held > g.target() {
		err = g.shrink()
	}
	g.mu.Unlock()
	if err != nil {
		return err
	}
	if g.reserve <= 0 {
		return nil
	}
	_, err = g.Check()
	return err
}

// held is how many bytes the ballast holds.
func (g *Guard) held() (int64, error) {
	fi, err := os.Stat(g.ballast)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage reserve: %w", err)
	}
	return allocated(fi), nil
}

// fill allocates the ballast to its full size. Space another process took
// meanwhile makes it fail with what it got so far kept.
func (g *Guard) fill() error {
	f, err := os.OpenFile(g.ballast, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("storage reserve: %w", err)
	}
	defer f.Close()
	if err := preallocate(f, g.target()); err != nil {
		return fmt.Errorf("storage reserve: allocate %d bytes in %s: %w", g.target(), g.ballast, err)
	}
	return nil
}

// release empties the ballast and returns how many bytes that freed.
func (g *Guard) release() (int64, error) {
	held, err := g.held()
	if err != nil || held == 0 {
		return 0, err
	}
	if err := os.Truncate(g.ballast, 0); err != nil {
		return 0, fmt.Errorf("storage reserve: %w", err)
	}
	return held, nil
}

// shrink cuts the ballast to its target size, or removes it when the
// reserve is off.
func (g *Guard) shrink() error {
	var err error
	if g.target() <= 0 {
		err = os.Remove(g.ballast)
	} else {
		err = os.Truncate(g.ballast, g.target())
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage reserve: %w", err)
	}
	return nil
}

// IsFull reports whether err is a filesystem's "no space left" or "quota
// exceeded".
func IsFull(err error) bool {
	return errors.Is(err, errNoSpace) || errors.Is(err, errQuota)
}
