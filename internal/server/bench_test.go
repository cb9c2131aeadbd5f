package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/wharf-registry/wharf/internal/config"
)

// startBench runs a real wharf on a loopback listener for benchmarks.
func startBench(b *testing.B) string {
	b.Helper()
	cfg := config.Default()
	cfg.Storage.Filesystem.RootDirectory = b.TempDir()
	cfg.Storage.Maintenance.UploadPurging.Enabled = false
	cfg.Log.AccessLog.Disabled = true
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg, log)
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

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}}
}

func sha(p []byte) string {
	s := sha256.Sum256(p)
	return "sha256:" + hex.EncodeToString(s[:])
}

// pushBlob uploads p as POST + PATCH + PUT, the way docker pushes a layer.
func pushBlob(c *http.Client, base, repo string, p []byte) error {
	resp, err := c.Post(base+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST: %s", resp.Status)
	}
	req, _ := http.NewRequest(http.MethodPatch, base+loc, bytes.NewReader(p))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("PATCH: %s", resp.Status)
	}
	req, _ = http.NewRequest(http.MethodPut, base+resp.Header.Get("Location")+"?digest="+sha(p), nil)
	resp, err = c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT: %s", resp.Status)
	}
	return nil
}

func randomBytes(b *testing.B, n int) []byte {
	p := make([]byte, n)
	if _, err := rand.Read(p); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkBlobPush measures pushing distinct 32 MiB blobs; b.SetBytes makes
// go test report MB/s.
func BenchmarkBlobPush(b *testing.B) {
	base := startBench(b)
	c := benchClient()
	p := randomBytes(b, 32<<20)
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(p, fmt.Sprintf("%016d", i)) // a new digest each round
		if err := pushBlob(c, base, "bench/push", p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlobPull measures GETs of one 32 MiB blob.
func BenchmarkBlobPull(b *testing.B) {
	base := startBench(b)
	c := benchClient()
	p := randomBytes(b, 32<<20)
	if err := pushBlob(c, base, "bench/pull", p); err != nil {
		b.Fatal(err)
	}
	url := base + "/v2/bench/pull/blobs/" + sha(p)
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n != int64(len(p)) {
			b.Fatalf("GET: %s, %d bytes", resp.Status, n)
		}
	}
}

// BenchmarkManifestGetByTag measures manifest GETs by tag from parallel
// clients.
func BenchmarkManifestGetByTag(b *testing.B) {
	base := startBench(b)
	c := benchClient()
	cfgBlob := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := randomBytes(b, 4096)
	for _, p := range [][]byte{cfgBlob, layer} {
		if err := pushBlob(c, base, "bench/manifest", p); err != nil {
			b.Fatal(err)
		}
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		sha(cfgBlob), len(cfgBlob), sha(layer), len(layer))
	req, _ := http.NewRequest(http.MethodPut, base+"/v2/bench/manifest/manifests/latest", bytes.NewReader([]byte(manifest)))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("PUT manifest: %s", resp.Status)
	}
	url := base + "/v2/bench/manifest/manifests/latest"
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
}

// BenchmarkPushSmallBlob measures pushing distinct 4 KiB blobs (POST +
// PATCH + PUT) from parallel clients, the shape of a small-image push.
func BenchmarkPushSmallBlob(b *testing.B) {
	base := startBench(b)
	c := benchClient()
	var n atomic.Int64
	b.SetParallelism(16) // many pushes at once, as docker's parallel layer uploads
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		p := make([]byte, 4096)
		for pb.Next() {
			i := n.Add(1)
			copy(p, fmt.Sprintf("%016d", i))
			if err := pushBlob(c, base, fmt.Sprintf("bench/small%d", i%50), p); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBlobHead measures blob HEADs from parallel clients, the call a
// push makes for each layer before deciding to upload it: of a layer an
// image references, and of one pushed but not referenced yet (a garbage
// candidate still in its grace period).
func BenchmarkBlobHead(b *testing.B) {
	cases := []struct {
		name       string
		referenced bool
	}{
		{"referenced", true},
		{"unreferenced", false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			base := startBench(b)
			c := benchClient()
			layer := randomBytes(b, 64<<10)
			if err := pushBlob(c, base, "bench/head", layer); err != nil {
				b.Fatal(err)
			}
			if tc.referenced {
				benchPutManifest(b, c, base, "bench/head", layer)
			}
			url := base + "/v2/bench/head/blobs/" + sha(layer)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodHead, url, nil)
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("HEAD blob: %s", resp.Status)
						return
					}
				}
			})
		})
	}
}

// benchPutManifest pushes a config and an image manifest referencing layer
// (already pushed) under tag latest.
func benchPutManifest(b *testing.B, c *http.Client, base, repo string, layer []byte) {
	b.Helper()
	cfgBlob := []byte(`{"architecture":"amd64","os":"linux"}`)
	if err := pushBlob(c, base, repo, cfgBlob); err != nil {
		b.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		sha(cfgBlob), len(cfgBlob), sha(layer), len(layer))
	req, _ := http.NewRequest(http.MethodPut, base+"/v2/"+repo+"/manifests/latest", bytes.NewReader([]byte(manifest)))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("PUT manifest: %s", resp.Status)
	}
}
