//go:build unix

package meta

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// walIndexHdrWords is the size of one copy of SQLite's WAL-index header
// (WalIndexHdr, 48 bytes) in 32-bit words. The header begins the -shm file
// twice over; a writer updates the second copy, then the first, at the end
// of every commit (SQLite's file format, "the WAL-index format").
const walIndexHdrWords = 12

// walGen is a snapshot of the WAL-index header: it holds the last frame
// number, its checksum and the WAL's salts, so any commit by any process
// on the database changes it.
type walGen [walIndexHdrWords]uint32

// walWatcher reads the WAL-index header of a SQLite database, mapped read
// only, to tell in a few nanoseconds whether anything was committed since
// a given moment, by this process or another (`wharf garbage-collect`
// beside `wharf serve`).
type walWatcher struct {
	mem []byte
}

// openWALWatcher maps the header of dbPath's -shm file. The file exists
// once a connection has read the database in WAL mode, and is not
// truncated while one stays open (the store's writer connection).
func openWALWatcher(dbPath string) (*walWatcher, error) {
	f, err := os.Open(dbPath + "-shm")
	if err != nil {
		return nil, fmt.Errorf("open WAL index: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat WAL index: %w", err)
	}
	const size = 4096
	if fi.Size() < size {
		return nil, fmt.Errorf("WAL index of %d bytes is not initialised", fi.Size())
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map WAL index: %w", err)
	}
	return &walWatcher{mem: mem}, nil
}

// current returns the header's present value; ok is false while a writer
// is between updating the two copies (or the header is not initialised),
// when no snapshot is trustworthy.
func (w *walWatcher) current() (g walGen, ok bool) {
	words := (*[2 * walIndexHdrWords]uint32)(unsafe.Pointer(&w.mem[0]))
	var second walGen
	for i := range walIndexHdrWords {
		g[i] = atomic.LoadUint32(&words[i])
	}
	for i := range walIndexHdrWords {
		second[i] = atomic.LoadUint32(&words[walIndexHdrWords+i])
	}
	// Byte 12, the first of word 3 in memory order, is isInit.
	isInit := (*[4]byte)(unsafe.Pointer(&g[3]))[0] != 0
	return g, isInit && g == second
}

func (w *walWatcher) close() error { return unix.Munmap(w.mem) }
