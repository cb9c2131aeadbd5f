package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// uploadFloorEnv, when set to "addr mode dir" in the environment of
// wharf-bench or of this package's test binary, makes it serve blob
// uploads there with the given floor mode (MaybeServeFloor) instead of
// doing its work: the bench's floors run in a process of their own, so
// their CPU is measured apart from the client's.
const uploadFloorEnv = "WHARF_BENCH_UPLOAD_FLOOR"

// floorBuf is the read size of every floor mode: wharf's copy buffers.
const floorBuf = 2 << 20

// floorMode is one upload server BenchmarkPushFloor (and, for
// write-apart, the bench's write floor probe) runs. None has a
// registry's routing, metadata or validation, so a mode's MB/s estimates
// a ceiling for any registry that does at least its steps, on this
// machine, with the bench's client on the same cores.
type floorMode struct {
	name  string
	hash  bool // sha256 of every byte, checked at the PUT
	write bool // into a file, as wharf does (floorFlush), fdatasync at the PUT
	apart bool // hash and write each on a goroutine of its own, as wharf does
}

// floorModes: the wire alone, the CPU a hashing registry needs, the disk
// a durable one needs, and both.
var floorModes = []floorMode{
	{name: "discard"},
	{name: "hash", hash: true},
	{name: "hash-apart", hash: true, apart: true},
	{name: "write-apart", write: true, apart: true},
	{name: "hash-write-apart", hash: true, write: true, apart: true},
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

// waitFlush waits for the background flush in flight, if any.
func (up *floorUpload) waitFlush() {
	if up.flushing != nil {
		<-up.flushing
	}
}

// sync waits for the background flush and makes the whole file durable.
func (up *floorUpload) sync() error {
	up.waitFlush()
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

// copyApart reads on this goroutine and writes, then hashes, each buffer
// on goroutines of their own (wharf's shape), three buffers in turn.
// After a failed write the writing stage only passes buffers on, so the
// body is still read to its end.
func (s *floorServer) copyApart(up *floorUpload, body io.Reader) error {
	free := make(chan []byte, 3)
	for range 3 {
		free <- s.bufs.Get().([]byte)
	}
	var werr error
	var stages []func([]byte)
	if s.mode.write {
		stages = append(stages, func(b []byte) {
			if werr == nil {
				werr = up.write(b)
			}
		})
	}
	if s.mode.hash {
		stages = append(stages, func(b []byte) { up.h.Write(b) })
	}
	filled := make(chan []byte, 3)
	in := filled
	var wg sync.WaitGroup
	for i, work := range stages {
		src := in
		var out chan []byte
		if i < len(stages)-1 {
			out = make(chan []byte, 3)
			in = out
		}
		wg.Go(func() { runStage(src, work, out, free) })
	}
	err := readInto(body, free, filled)
	close(filled)
	wg.Wait()
	for range 3 {
		s.bufs.Put(<-free)
	}
	if werr != nil {
		return werr
	}
	return err
}

// runStage does work on every buffer from in and passes it to out, or
// back to free after the last stage; it closes out when in is drained.
func runStage(in <-chan []byte, work func([]byte), out, free chan<- []byte) {
	for b := range in {
		work(b)
		if out != nil {
			out <- b
		} else {
			free <- b[:cap(b)]
		}
	}
	if out != nil {
		close(out)
	}
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

// finish checks the digest where the mode hashes and makes the file
// durable where it writes; the upload is gone afterwards either way, as
// nothing reads it.
func (s *floorServer) finish(w http.ResponseWriter, r *http.Request) {
	up := s.upload(r)
	if up == nil {
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	defer s.forget(r, up)
	digest := r.URL.Query().Get("digest")
	if s.mode.hash {
		if got := "sha256:" + hex.EncodeToString(up.h.Sum(nil)); got != digest {
			http.Error(w, "digest "+got+", want "+digest, http.StatusBadRequest)
			return
		}
	}
	if up.f != nil {
		if err := up.sync(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Docker-Content-Digest", digest)
	w.WriteHeader(http.StatusCreated)
}

// forget drops a finished upload and its file.
func (s *floorServer) forget(r *http.Request, up *floorUpload) {
	s.mu.Lock()
	delete(s.uploads, filepath.Base(r.URL.Path))
	s.mu.Unlock()
	if up.f != nil {
		up.waitFlush()
		up.f.Close()
		os.Remove(up.f.Name())
	}
}

// MaybeServeFloor serves an upload floor, until the process is killed,
// when the environment asks for one (uploadFloorEnv), and reports
// whether it did.
func MaybeServeFloor() bool {
	spec := os.Getenv(uploadFloorEnv)
	if spec == "" {
		return false
	}
	serveFloor(uploadFloorEnv, spec, func(mode, dir string) (http.Handler, error) { return newFloorServer(mode, dir) })
	return true
}

// serveFloor serves, until killed, the floor server newServer makes from
// spec ("addr mode dir", the value of env), or exits saying what is wrong.
func serveFloor(env, spec string, newServer func(mode, dir string) (http.Handler, error)) {
	parts := strings.Fields(spec)
	if len(parts) != 3 {
		fmt.Fprintf(os.Stderr, "%s: want \"addr mode dir\", got %q\n", env, spec)
		os.Exit(2)
	}
	h, err := newServer(parts[1], parts[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", env, err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", parts[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = http.Serve(ln, h)
}

// floorProcess is a floor server running in a process of its own.
type floorProcess struct {
	c   *client
	cmd *exec.Cmd
}

// startFloor runs this program again (wharf-bench, or this package's
// test binary: both serve a floor before anything else when env is set)
// as a floor server configured by env=addr+" "+rest, and waits until it
// answers.
func startFloor(ctx context.Context, env, rest string) (*floorProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("floor server: %w", err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env+"="+addr+" "+rest)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("floor server: %w", err)
	}
	p := &floorProcess{cmd: cmd}
	if p.c, err = newClient("http://"+addr, newHTTPClient()); err == nil {
		err = waitUp(ctx, p.c)
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("floor server: %w", err)
	}
	return p, nil
}

// pid is the floor server's process id.
func (p *floorProcess) pid() int { return p.cmd.Process.Pid }

// stop kills the floor server and drops the client's connections to it.
func (p *floorProcess) stop() {
	if p.c != nil {
		p.c.close()
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// waitUp waits (at most 10 s) until the server answers.
func waitUp(ctx context.Context, c *client) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.do(ctx, http.MethodGet, "/v2/", nil, nil, http.StatusOK, false)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
