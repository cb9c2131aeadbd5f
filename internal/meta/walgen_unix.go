//go:build unix

package meta

import (
	"errors"
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
	f   *os.File
	mem []byte
}

// openWALWatcher maps the header of dbPath's -shm file. The file exists
// once a connection has read the database in WAL mode, and is not
// truncated while one stays open (the store's writer connection).
//
// The descriptor stays open until close, which runs after the store's
// connections are closed: closing any descriptor of a file drops every
// POSIX lock the process holds on it, SQLite's own locks on the -shm file
// included, and a connection opened after that takes itself for the first
// and truncates the index under the others (seen: SQLITE_IOERR_IN_PAGE on
// every request). So when mapping fails after the file was opened, the
// watcher is still returned, disabled, to be closed with the store.
func openWALWatcher(dbPath string) (*walWatcher, error) {
	const size = 4096
	path := dbPath + "-shm"
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat WAL index: %w", err)
	}
	if fi.Size() < size {
		return nil, fmt.Errorf("WAL index of %d bytes is not initialised", fi.Size())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open WAL index: %w", err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return &walWatcher{f: f}, fmt.Errorf("map WAL index: %w", err)
	}
	return &walWatcher{f: f, mem: mem}, nil
}

// current returns the header's present value; ok is false while a writer
// is between updating the two copies (or the header is not initialised),
// when no snapshot is trustworthy.
func (w *walWatcher) current() (g walGen, ok bool) {
	if w.mem == nil {
		return g, false
	}
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

func (w *walWatcher) close() error {
	var err error
	if w.mem != nil {
		err = unix.Munmap(w.mem)
	}
	return errors.Join(err, w.f.Close())
}
