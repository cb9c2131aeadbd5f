package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/testenv"
)

// healthWait polls url until it answers want, for at most 30 s.
func healthWait(t *testing.T, url string, want int) {
	t.Helper()
	var last whResp
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if last = whDo(t, http.MethodGet, url, nil, nil); last.Status == want {
			return
		}
	}
	t.Fatalf("GET %s never answered %d; last: %s", url, want, last)
}

// TestHealthFileCheck: health.file takes a node out of rotation while the
// file exists (every request 503, /debug/health naming the check) and
// back in when it is gone, with no restart.
func TestHealthFileCheck(t *testing.T) {
	down := filepath.Join(t.TempDir(), "maintenance")
	debug := freeAddr(t)
	s := StartServer(t, ServerOptions{ExtraConfig: fmt.Sprintf(`  debug:
    addr: %s
health:
  file:
    - file: %s
      interval: 50ms
`, debug, down)})
	healthWait(t, "http://"+debug+"/debug/health", http.StatusOK)
	if err := os.WriteFile(down, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	healthWait(t, s.URL+"/v2/", http.StatusServiceUnavailable)
	if r := whDo(t, http.MethodGet, "http://"+debug+"/debug/health", nil, nil); r.Status != 503 || !strings.Contains(string(r.Body), down) {
		t.Errorf("/debug/health while the file exists: %s", r)
	}
	if r := whDo(t, http.MethodGet, "http://"+debug+"/debug/live", nil, nil); r.Status != http.StatusOK {
		t.Errorf("/debug/live while a dependency fails: %s, want 200", r)
	}
	os.Remove(down)
	healthWait(t, s.URL+"/v2/", http.StatusOK)
}

// privatePostgres is a PostgreSQL cluster of the test's own, which it may
// stop and start without disturbing other tests.
type privatePostgres struct {
	bin, data, sock string
	port            int
}

// startPrivatePostgres creates and starts a throwaway cluster with the
// binaries scripts/test-services.sh found.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bin := testenv.Need(t, "run through scripts/test-services.sh (make test), which exports PG_BINDIR", "PG_BINDIR")[0]
	dir, err := os.MkdirTemp("", "wharf-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &privatePostgres{bin: bin, data: filepath.Join(dir, "data"), sock: dir}
	os.Chmod(dir, 0o755)
	if os.Geteuid() == 0 { // initdb and postgres refuse to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown(dir, uid, gid)
	}
	p.run(t, "initdb", "-D", p.data, "-U", "postgres", "-A", "trust", "--no-sync")
	_, port, _ := strings.Cut(freeAddr(t), ":")
	p.port, _ = strconv.Atoi(port)
	p.start(t)
	t.Cleanup(func() { p.pgctl(t, "stop", "-m", "immediate") })
	return p
}

func (p *privatePostgres) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *privatePostgres) start(t *testing.T) {
	p.pgctl(t, "start", "-w", "-t", "60", "-l", filepath.Join(p.sock, "log"),
		"-o", fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off", p.port, p.sock))
}

func (p *privatePostgres) stop(t *testing.T) { p.pgctl(t, "stop", "-w", "-m", "fast") }

func (p *privatePostgres) pgctl(t *testing.T, args ...string) {
	p.run(t, "pg_ctl", append([]string{"-D", p.data}, args...)...)
}

// run runs a PostgreSQL program, as the postgres user when we are root.
func (p *privatePostgres) run(t *testing.T, prog string, args ...string) {
	t.Helper()
	path := filepath.Join(p.bin, prog)
	cmd := exec.Command(path, args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("%s %v: %v\n%s", prog, args, err, out)
		if prog != "pg_ctl" || args[2] != "stop" {
			t.FailNow()
		}
	}
}

// TestHealthDatabaseDown: with health.storagedriver on, the node reports
// unhealthy (503 everywhere, /debug/health naming the database) while its
// PostgreSQL is stopped, and healthy again once it is back, with no
// restart of wharf.
func TestHealthDatabaseDown(t *testing.T) {
	pg := startPrivatePostgres(t)
	debug := freeAddr(t)
	s := StartServer(t, ServerOptions{ExtraConfig: fmt.Sprintf(`  debug:
    addr: %s
database:
  dsn: %s
health:
  storagedriver:
    enabled: true
    interval: 100ms
    threshold: 2
`, debug, pg.dsn())})
	img := whRandomImage(t, 2048, 1)
	whPush(t, s, "health/app:1", img)
	healthWait(t, "http://"+debug+"/debug/health", http.StatusOK)

	pg.stop(t)
	healthWait(t, s.URL+"/v2/", http.StatusServiceUnavailable)
	r := whDo(t, http.MethodGet, "http://"+debug+"/debug/health", nil, nil)
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), "metadata database") {
		t.Errorf("/debug/health with PostgreSQL stopped: %s", r)
	}

	pg.start(t)
	healthWait(t, "http://"+debug+"/debug/health", http.StatusOK)
	healthWait(t, s.URL+"/v2/", http.StatusOK)
	if err := whCheckImage(t, s, "health/app:1", img); err != nil {
		t.Errorf("image after PostgreSQL came back: %v", err)
	}
}
