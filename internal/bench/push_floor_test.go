package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// uploadFloorEnv, when set to "addr mode dir" in this test binary's
// environment, makes it serve blob uploads there with the given floor mode
// instead of running tests.
const uploadFloorEnv = "WHARF_BENCH_UPLOAD_FLOOR"

// floorBuf is the read size of every floor mode: wharf's copy buffers.
const floorBuf = 2 << 20

// floorMode is one upload server BenchmarkPushFloor runs. None has a
// registry's routing, metadata or validation, so a mode's MB/s estimates
// a ceiling for any registry that does at least its steps, on this
// machine, with the bench's client on the same cores.
type floorMode struct {
	name  string
	hash  bool // sha256 of every byte, checked at the PUT
	write bool // into a file, as wharf does (floorFlush), fdatasync at the PUT
	apart bool // hash or write on a goroutine of its own, as wharf does
}

// floorModes: the wire alone, the CPU a hashing registry needs, and the
// disk a durable one needs.
var floorModes = []floorMode{
	{name: "discard"},
	{name: "hash", hash: true},
	{name: "hash-apart", hash: true, apart: true},
	{name: "write-apart", write: true, apart: true},
}

// floorWriteback and floorFlush are wharf's steps: every floorWriteback
// bytes written the write modes start their writeback, and every
// floorFlush bytes, unless one still runs, an fdatasync beside the writes,
// so the one at the PUT finds little left.
const (
	floorWriteback = 4 << 20
	floorFlush     = 8 << 20
)

// floorUpload is one upload in progress on a floor server.
type floorUpload struct {
	h         hash.Hash
	f         *os.File
	off, sent int64         // bytes written; bytes whose writeback has started
	flushed   int64         // bytes covered by the last flush started
	flushing  chan struct{} // closed when the flush in flight ends
	flushErr  error         // the first failed flush's, read after flushing closes
}

// write appends p to the upload's file, if it has one, starting
// writeback and flushes as it goes.
func (up *floorUpload) write(p []byte) error {
	if up.f == nil {
		return nil
	}
	if _, err := up.f.Write(p); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	up.off += int64(len(p))
	if up.off-up.sent >= floorWriteback {
		if err := unix.SyncFileRange(int(up.f.Fd()), up.sent, up.off-up.sent, unix.SYNC_FILE_RANGE_WRITE); err != nil {
			return fmt.Errorf("sync_file_range: %w", err)
		}
		up.sent = up.off
	}
	if up.off-up.flushed >= floorFlush && up.flushDone() {
		up.flushed = up.off
		running := make(chan struct{})
		up.flushing = running
		go func() {
			defer close(running)
			if err := unix.Fdatasync(int(up.f.Fd())); err != nil && up.flushErr == nil {
				up.flushErr = err
			}
		}()
	}
	return nil
}

// flushDone reports whether no background flush is running.
func (up *floorUpload) flushDone() bool {
	if up.flushing == nil {
		return true
	}
	select {
	case <-up.flushing:
		return true
	default:
		return false
	}
}

// sync waits for the background flush and makes the whole file durable.
func (up *floorUpload) sync() error {
	if up.flushing != nil {
		<-up.flushing
	}
	if up.flushErr != nil {
		return fmt.Errorf("background flush: %w", up.flushErr)
	}
	return up.f.Sync()
}

// floorServer keeps the uploads of one floor server process.
type floorServer struct {
	mode    floorMode
	dir     string
	bufs    sync.Pool
	mu      sync.Mutex
	next    int
	uploads map[string]*floorUpload
}

// newFloorServer returns the floor server of the named mode, keeping its
// files in dir.
func newFloorServer(mode, dir string) (*floorServer, error) {
	i := slices.IndexFunc(floorModes, func(m floorMode) bool { return m.name == mode })
	if i < 0 {
		return nil, fmt.Errorf("no floor mode %q", mode)
	}
	s := &floorServer{mode: floorModes[i], dir: dir, uploads: map[string]*floorUpload{}}
	s.bufs.New = func() any { return make([]byte, floorBuf) }
	return s, nil
}

func (s *floorServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/":
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPost:
		s.start(w, r)
	case r.Method == http.MethodPatch:
		s.patch(w, r)
	case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/"):
		s.finish(w, r)
	default:
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}
}

func (s *floorServer) start(w http.ResponseWriter, r *http.Request) {
	up := &floorUpload{h: sha256.New()}
	if s.mode.write {
		f, err := os.CreateTemp(s.dir, "upload-")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		up.f = f
	}
	s.mu.Lock()
	s.next++
	id := strconv.Itoa(s.next)
	s.uploads[id] = up
	s.mu.Unlock()
	w.Header().Set("Location", r.URL.Path+id)
	w.WriteHeader(http.StatusAccepted)
}

func (s *floorServer) upload(r *http.Request) *floorUpload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploads[filepath.Base(r.URL.Path)]
}

func (s *floorServer) patch(w http.ResponseWriter, r *http.Request) {
	up := s.upload(r)
	if up == nil {
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	var err error
	if s.mode.apart {
		err = s.copyApart(up, r.Body)
	} else {
		err = s.copyInline(up, r.Body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Location", r.URL.Path)
	w.WriteHeader(http.StatusAccepted)
}

// copyInline does every step of the mode on the reading goroutine.
func (s *floorServer) copyInline(up *floorUpload, body io.Reader) error {
	buf := s.bufs.Get().([]byte)
	defer s.bufs.Put(buf)
	for {
		n, err := io.ReadFull(body, buf)
		if s.mode.hash {
			up.h.Write(buf[:n])
		}
		if werr := up.write(buf[:n]); werr != nil {
			return werr
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// copyApart reads on this goroutine and hashes or writes each buffer on
// another, three buffers in turn. After a failed write the other goroutine
// only hands buffers back, so the body is still read to its end.
func (s *floorServer) copyApart(up *floorUpload, body io.Reader) error {
	free := make(chan []byte, 3)
	for range 3 {
		free <- s.bufs.Get().([]byte)
	}
	filled := make(chan []byte, 3)
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range filled {
			if s.mode.hash {
				up.h.Write(b)
			}
			if werr == nil {
				werr = up.write(b)
			}
			free <- b[:cap(b)]
		}
	}()
	err := readInto(body, free, filled)
	close(filled)
	<-done
	for range 3 {
		s.bufs.Put(<-free)
	}
	if werr != nil {
		return werr
	}
	return err
}

// readInto fills free buffers from body and hands them on to filled.
func readInto(body io.Reader, free chan []byte, filled chan<- []byte) error {
	for {
		buf := <-free
		n, err := io.ReadFull(body, buf)
		if n > 0 {
			filled <- buf[:n]
		} else {
			free <- buf
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *floorServer) finish(w http.ResponseWriter, r *http.Request) {
	up := s.upload(r)
	if up == nil {
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	digest := r.URL.Query().Get("digest")
	if s.mode.hash {
		if got := "sha256:" + hex.EncodeToString(up.h.Sum(nil)); got != digest {
			http.Error(w, "digest "+got+", want "+digest, http.StatusBadRequest)
			return
		}
	}
	if up.f != nil {
		err := up.sync()
		up.f.Close()
		os.Remove(up.f.Name())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Docker-Content-Digest", digest)
	w.WriteHeader(http.StatusCreated)
}

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
