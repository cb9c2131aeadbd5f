// Package e2e is wharf's end-to-end suite: a real `wharf serve` process on
// loopback, spoken to over HTTP by real clients.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// wharfBin is the binary built once by TestMain.
var wharfBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wharf-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(1)
	}
	wharfBin = filepath.Join(dir, "wharf")
	build := exec.Command("go", "build", "-o", wharfBin, "./cmd/wharf")
	build.Dir = repoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building wharf:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the module root, two levels above this package.
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// Server is one running `wharf serve` process.
type Server struct {
	t      testing.TB
	Root   string // storage root directory (blobs + metadata)
	Addr   string // host:port on loopback
	URL    string // http://Addr
	Config string // path of the config file it was started with
	Log    *syncBuffer

	cmd  *exec.Cmd
	done chan struct{}
	env  []string // added to the environment by the scale-out launcher
}

// ServerOptions tune a test server. ExtraConfig is appended verbatim to the
// generated YAML (top-level keys other than storage/http/log).
type ServerOptions struct {
	Root           string // reuse an existing root (restart tests); empty: a new temp dir
	DeleteDisabled bool
	ReadOnly       bool
	ExtraConfig    string
	Env            []string
}

// StartServer starts wharf on a free loopback port and waits until GET /v2/
// answers. The process is killed when the test ends.
func StartServer(t testing.TB, opts ServerOptions) *Server {
	t.Helper()
	root := opts.Root
	if root == "" {
		root = t.TempDir()
	}
	s := &Server{t: t, Root: root, Addr: freeAddr(t)}
	s.URL = "http://" + s.Addr
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: %t
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: %t
http:
  addr: %s
%s`, root, !opts.DeleteDisabled, opts.ReadOnly, s.Addr, opts.ExtraConfig)
	s.Config = filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	s.start(opts.Env)
	t.Cleanup(func() { s.Kill() })
	return s
}

func (s *Server) start(env []string) {
	s.t.Helper()
	s.Log = &syncBuffer{}
	s.cmd = exec.Command(wharfBin, "serve", s.Config)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.Log, s.Log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start wharf: %v", err)
	}
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.done) }()
	s.waitReady()
}

func (s *Server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.t.Fatalf("wharf exited during start:\n%s", s.Log.String())
		default:
		}
		resp, err := http.Get(s.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("wharf not ready after 30s:\n%s", s.Log.String())
}

// Kill stops the process with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Kill()
	<-s.done
}

// Stop asks for a graceful shutdown (SIGTERM) and waits for the exit.
func (s *Server) Stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("wharf did not stop on SIGTERM")
	}
}

// Restart starts the process again on the same root, port and config.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start(nil)
}

// Host is Addr, the form go-containerregistry's name.NewRegistry wants.
func (s *Server) Host() string { return s.Addr }

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ctx is a per-test context bounded in time.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return c
}
