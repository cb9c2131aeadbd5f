package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Kind names a registry implementation under test.
type Kind string

// The registries the bench compares: wharf, Debian's distribution 2.8.2
// and distribution v3 (what registry:3 runs today).
const (
	Wharf          Kind = "wharf"
	Distribution   Kind = "distribution"
	DistributionV3 Kind = "distribution-v3"
)

// Label is the kind's column heading.
func (k Kind) Label() string {
	switch k {
	case Distribution:
		return "dist 2.8.2"
	case DistributionV3:
		return "dist " + DistributionV3Version
	}
	return string(k)
}

// DistributionBinary is where Debian's docker-registry package installs
// distribution 2.8.2.
const DistributionBinary = "/usr/bin/docker-registry"

// DistributionV3Version is the distribution v3 release the bench installs
// with go install, and DistributionV3Module its command's package.
const (
	DistributionV3Version = "v3.1.2"
	DistributionV3Module  = "github.com/distribution/distribution/v3/cmd/registry"
)

// server is one running registry process with its own storage directory.
type server struct {
	kind Kind
	dir  string
	base string // http://127.0.0.1:port
	cmd  *exec.Cmd
	exit chan error
	log  *os.File
	// extra is YAML appended to the config (wharf-only workloads: a proxy
	// or notifications section).
	extra   string
	stopped bool
}

// startServer starts a fresh registry of the given kind on a free loopback
// port, with filesystem storage in a new directory under tmp, and waits
// until it answers GET /v2/.
func startServer(ctx context.Context, kind Kind, bin, tmp string) (*server, error) {
	return startServerWith(ctx, kind, bin, tmp, "")
}

// startServerWith is startServer with extra top-level YAML sections
// appended to the config.
func startServerWith(ctx context.Context, kind Kind, bin, tmp, extra string) (*server, error) {
	dir, err := os.MkdirTemp(tmp, string(kind)+"-")
	if err != nil {
		return nil, fmt.Errorf("creating %s storage dir: %w", kind, err)
	}
	s := &server{kind: kind, dir: dir, exit: make(chan error, 1), extra: extra}
	if err := s.start(ctx, bin); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

func (s *server) start(ctx context.Context, bin string) error {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	s.base = "http://" + addr
	cfgPath := filepath.Join(s.dir, "config.yml")
	storage := filepath.Join(s.dir, "storage")
	if err := os.WriteFile(cfgPath, []byte(configFor(s.kind, storage, addr)+s.extra), 0o644); err != nil {
		return fmt.Errorf("writing %s config: %w", s.kind, err)
	}
	args := []string{"serve", cfgPath}
	if s.log, err = os.Create(filepath.Join(s.dir, "server.log")); err != nil {
		return fmt.Errorf("creating %s log: %w", s.kind, err)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// The server dies with the bench, even if the bench is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.kind, err)
	}
	go func() { s.exit <- s.cmd.Wait() }()
	return s.waitReady(ctx)
}

// configFor returns the config.yml of a registry of that kind: filesystem
// storage, deletes on, loopback only, quiet logs, no access log, no upload
// purging. distribution (2.8.2 and v3) also gets the in-memory blob
// descriptor cache its packaged config.yml (Debian's, the registry:2 and
// registry:3 images') turns on.
func configFor(kind Kind, storage, addr string) string {
	level, cache := "warn", ""
	if kind != Wharf {
		level, cache = "error", "  cache:\n    blobdescriptor: inmemory\n"
	}
	return fmt.Sprintf(`version: 0.1
log:
  level: %s
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
%shttp:
  addr: %s
`, level, storage, cache, addr)
}

// freeLoopbackAddr asks the kernel for a free port on 127.0.0.1.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls GET /v2/ until it answers 200, the process exits, or 15s
// pass.
func (s *server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(15 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-s.exit:
			s.exit <- err
			return fmt.Errorf("%s exited during start-up (%v): %s", s.kind, err, s.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		resp, err := c.Get(s.base + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s did not answer GET /v2/ within 15s: %s", s.kind, s.logTail())
}

// pid is the process id of the running registry.
func (s *server) pid() int { return s.cmd.Process.Pid }

// alive reports an error if the process has exited.
func (s *server) alive() error {
	select {
	case err := <-s.exit:
		s.exit <- err
		return fmt.Errorf("%s exited (%v): %s", s.kind, err, s.logTail())
	default:
		return nil
	}
}

// logTail returns the last lines the server wrote, for error messages.
func (s *server) logTail() string {
	raw, err := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// stop terminates the server (SIGTERM, then SIGKILL after 10s) and removes
// its storage directory. Stopping it again does nothing.
func (s *server) stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exit:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exit
			err = fmt.Errorf("%s ignored SIGTERM for 10s", s.kind)
		}
	}
	s.cleanup()
	return err
}

func (s *server) cleanup() {
	if s.log != nil {
		s.log.Close()
	}
	os.RemoveAll(s.dir)
}

// ensureDistribution installs Debian's docker-registry package when its
// binary is missing, running apt-get update and retrying once if the first
// install fails.
func ensureDistribution(ctx context.Context, logf func(string, ...any)) error {
	if _, err := os.Stat(DistributionBinary); err == nil {
		return nil
	}
	logf("installing docker-registry (distribution 2.8.2) with apt-get")
	install := func() error { return runApt(ctx, "install", "-y", "docker-registry") }
	if err := install(); err != nil {
		logf("apt-get install failed (%v); running apt-get update", err)
		if err := runApt(ctx, "update"); err != nil {
			return fmt.Errorf("apt-get update: %w", err)
		}
		if err := install(); err != nil {
			return fmt.Errorf("apt-get install docker-registry: %w", err)
		}
	}
	if _, err := os.Stat(DistributionBinary); err != nil {
		return fmt.Errorf("docker-registry installed but %s is missing: %w", DistributionBinary, err)
	}
	return nil
}

// runApt runs apt-get (through sudo unless root) non-interactively.
func runApt(ctx context.Context, args ...string) error {
	name := "apt-get"
	if os.Geteuid() != 0 {
		args = append([]string{"apt-get"}, args...)
		name = "sudo"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return errors.Join(err, errors.New(strings.Join(lines[max(0, len(lines)-5):], "\n")))
	}
	return nil
}

// ensureDistributionV3 returns the path of distribution v3's registry
// binary under cacheDir, building it with go install the first time (a few
// minutes: its storage drivers bring large SDKs).
func ensureDistributionV3(ctx context.Context, cacheDir string, logf func(string, ...any)) (string, error) {
	// go install refuses a relative GOBIN, and the default -cache is one.
	cacheDir, err := filepath.Abs(cacheDir)
	if err != nil {
		return "", fmt.Errorf("cache directory: %w", err)
	}
	bin := filepath.Join(cacheDir, "registry-"+DistributionV3Version)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	gobin, err := os.MkdirTemp(cacheDir, "gobin-")
	if err != nil {
		return "", fmt.Errorf("go install dir: %w", err)
	}
	defer os.RemoveAll(gobin)
	logf("installing distribution %s with go install (once, into %s)", DistributionV3Version, cacheDir)
	cmd := exec.CommandContext(ctx, "go", "install", DistributionV3Module+"@"+DistributionV3Version)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return "", fmt.Errorf("go install %s@%s: %w: %s", DistributionV3Module, DistributionV3Version, err,
			strings.Join(lines[max(0, len(lines)-5):], "\n"))
	}
	if err := os.Rename(filepath.Join(gobin, "registry"), bin); err != nil {
		return "", fmt.Errorf("distribution %s: %w", DistributionV3Version, err)
	}
	return bin, nil
}

// dropCaches writes dirty pages back and drops the page cache, so that one
// server's deferred writeback and cached reads are not billed to the next
// (root only: /proc/sys/vm/drop_caches).
func dropCaches() error {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		return fmt.Errorf("dropping the page cache (-fair needs root): %w", err)
	}
	return nil
}
