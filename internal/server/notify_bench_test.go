package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/wharf-registry/wharf/internal/config"
)

// startNotifyBench runs a real wharf with webhooks to endpoint (none when
// empty), on loopback.
func startNotifyBench(b *testing.B, endpoint string, ignore ...string) string {
	b.Helper()
	cfg := config.Default()
	cfg.Storage.Filesystem.RootDirectory = b.TempDir()
	cfg.Storage.Maintenance.UploadPurging.Enabled = false
	cfg.Log.AccessLog.Disabled = true
	if endpoint != "" {
		cfg.Notifications.Endpoints = []config.Endpoint{{Name: "bench", URL: endpoint, Ignore: config.EndpointIgnore{Actions: ignore}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// BenchmarkWebhooks compares small pushes (two 4 KiB-or-less blobs and a
// manifest, from parallel clients) and manifest pulls by tag, without
// webhooks, with one endpoint (a receiver on loopback answering 204, in
// this process) taking every event, pulls included, and with one that
// ignores pulls.
func BenchmarkWebhooks(b *testing.B) {
	var received atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	for _, ep := range []struct {
		name, url string
		ignore    []string
	}{{"none", "", nil}, {"one-endpoint", rcv.URL, nil}, {"one-endpoint-ignoring-pulls", rcv.URL, []string{"pull"}}} {
		b.Run("push-small/"+ep.name, func(b *testing.B) {
			base := startNotifyBench(b, ep.url, ep.ignore...)
			c := benchClient()
			var n atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				layer := make([]byte, 4096)
				for pb.Next() {
					i := n.Add(1)
					copy(layer, fmt.Sprintf("%016d", i))
					repo := fmt.Sprintf("bench/push%d", i%20)
					if err := pushBlob(c, base, repo, layer); err != nil {
						b.Error(err)
						return
					}
					benchPutManifest(b, c, base, repo, layer)
				}
			})
		})
		b.Run("pull-manifest/"+ep.name, func(b *testing.B) {
			base := startNotifyBench(b, ep.url, ep.ignore...)
			c := benchClient()
			layer := randomBytes(b, 4096)
			if err := pushBlob(c, base, "bench/pull", layer); err != nil {
				b.Fatal(err)
			}
			benchPutManifest(b, c, base, "bench/pull", layer)
			url := base + "/v2/bench/pull/manifests/latest"
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("GET manifest: %s", resp.Status)
						return
					}
				}
			})
		})
	}
	b.Logf("receiver got %d events", received.Load())
}
