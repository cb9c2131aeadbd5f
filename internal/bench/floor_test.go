package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// nullServerEnv, when set to a loopback address in this test binary's
// environment, makes it serve nullManifest there instead of running tests.
const nullServerEnv = "WHARF_BENCH_NULL_SERVER"

// nullManifest is about the size of the manifests pull-manifest reads.
var nullManifest = make([]byte, 1200)

func TestMain(m *testing.M) {
	if addr := os.Getenv(nullServerEnv); addr != "" {
		serveNull(addr)
		return
	}
	if MaybeServeFloor() {
		return
	}
	if spec := os.Getenv(pullFloorEnv); spec != "" {
		serveFloor(pullFloorEnv, spec, func(mode, dir string) (http.Handler, error) { return newPullFloor(mode, dir) })
		return
	}
	os.Exit(m.Run())
}

// serveNull answers every request with nullManifest and the headers a
// registry sends with a manifest, doing nothing else.
func serveNull(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		h.Set("Docker-Content-Digest", "sha256:0000000000000000000000000000000000000000000000000000000000000000")
		h.Set("Content-Length", "1200")
		_, _ = w.Write(nullManifest)
	}))
}

// BenchmarkClientFloor measures what the bench's clients get from a server
// that does nothing (a fixed 1.2 KB answer from Go's net/http server in a
// process of its own), 64 concurrent requests as in pull-manifest: the
// fasthttp client the latency workloads use, and net/http's for
// comparison. Its p99 is the floor under any registry's p99 on the
// machine; see docs/performance.md. Run with -benchtime 1x; one iteration
// is a 5 s loop.
func BenchmarkClientFloor(b *testing.B) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		b.Fatal(err)
	}
	srv := exec.Command(os.Args[0], "-test.run=^$")
	srv.Env = append(os.Environ(), nullServerEnv+"="+addr)
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	c, err := newClient("http://"+addr, newHTTPClient())
	if err != nil {
		b.Fatal(err)
	}
	defer c.close()
	if err := waitUp(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	const path = "/v2/null/manifests/latest"
	ops := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"client=fasthttp", func(ctx context.Context) error {
			return c.read.do(ctx, http.MethodGet, path, mediaManifest, http.StatusOK, func(*fasthttp.Response) error { return nil })
		}},
		{"client=net-http", func(ctx context.Context) error {
			_, err := c.do(ctx, http.MethodGet, path, nil, acceptManifest, http.StatusOK, false)
			return err
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			for b.Loop() {
				rate, lat, err := timedLoop(b.Context(), 64, 5*time.Second, func(ctx context.Context, _, _ int) error {
					return o.op(ctx)
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(rate, "req/s")
				b.ReportMetric(ms(lat.P50), "p50-ms")
				b.ReportMetric(ms(lat.P99), "p99-ms")
			}
		})
	}
}

// startFloorProcess starts the floor server env names (startFloor) for
// the rest of b and returns a client of it and its pid.
func startFloorProcess(b *testing.B, env, rest string) (*client, int) {
	p, err := startFloor(b.Context(), env, rest)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.stop)
	return p.c, p.pid()
}

// timeFloor runs op on each of im's layers in turn, b.N times, and
// reports the totals: MB/s, the server's (pid) and this process's
// CPU-seconds per GiB moved, and how busy the machine's cores were.
func timeFloor(b *testing.B, pid int, im *image, op func(context.Context, blob) error) {
	var moved int64
	var elapsed time.Duration
	var serverCPU, clientCPU, busy float64
	ops := 0
	for b.Loop() {
		srv0, err := cpuSeconds(pid)
		if err != nil {
			b.Fatal(err)
		}
		self0, _ := cpuSeconds(os.Getpid())
		mach0, _ := readMachineTimes()
		start := time.Now()
		for _, l := range im.layers {
			if err := op(b.Context(), l); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(start)
		moved += im.layerBytes()
		srv1, err := cpuSeconds(pid)
		if err != nil {
			b.Fatal(err)
		}
		self1, _ := cpuSeconds(os.Getpid())
		mach1, _ := readMachineTimes()
		serverCPU += srv1 - srv0
		clientCPU += self1 - self0
		busy += busyShare(mach0, mach1)
		ops++
	}
	gib := float64(moved) / (1 << 30)
	b.ReportMetric(mbPerSec(moved, elapsed), "MB/s")
	b.ReportMetric(serverCPU/gib, "server-cpu-s/GiB")
	b.ReportMetric(clientCPU/gib, "client-cpu-s/GiB")
	b.ReportMetric(100*busy/float64(ops), "busy-%")
}

// testFloorClient serves h on a loopback test server for the rest of t
// and returns a bench client of it.
func testFloorClient(t *testing.T, h http.Handler) *client {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	c, err := newClient(ts.URL, newHTTPClient())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}
