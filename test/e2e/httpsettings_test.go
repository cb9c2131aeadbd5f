package e2e

import (
	"crypto/tls"
	"net/http"
	"testing"
	"time"
)

// TestHTTPHeaders: http.headers reach every response, whatever surface or
// status answers it, as registry:2 adds them.
func TestHTTPHeaders(t *testing.T) {
	s := StartServer(t, ServerOptions{ExtraConfig: `  headers:
    X-Content-Type-Options: [nosniff]
    strict-transport-security: ["max-age=63072000"]
`})
	img := whRandomImage(t, 300, 1)
	whPush(t, s, "lib/hdr:1", img)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	for _, path := range []string{"/v2/", "/v2/_catalog", "/v2/lib/hdr/manifests/1", "/v2/lib/hdr/blobs/" + ld.String(),
		"/v2/lib/hdr/manifests/missing", "/", "/v2/lib/hdr/tags/list"} {
		r := whDo(t, http.MethodGet, s.URL+path, nil, nil)
		if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s (%d): X-Content-Type-Options %q, want nosniff", path, r.Status, got)
		}
		if got := r.Header.Get("Strict-Transport-Security"); got != "max-age=63072000" {
			t.Errorf("GET %s (%d): Strict-Transport-Security %q", path, r.Status, got)
		}
	}
}

// TestHTTPH2C: with http.h2c.enabled a cleartext HTTP/2 client (as a load
// balancer speaking h2c to its backends) is served over HTTP/2; without it,
// over HTTP/1.1 only.
func TestHTTPH2C(t *testing.T) {
	h2c := func() *http.Client {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		return &http.Client{Timeout: time.Minute, Transport: &http.Transport{Protocols: p}}
	}
	tests := []struct {
		name   string
		extra  string
		wantH2 bool
	}{
		{"enabled", "  h2c:\n    enabled: true\n", true},
		{"default", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StartServer(t, ServerOptions{ExtraConfig: tt.extra})
			resp, err := h2c().Get(s.URL + "/v2/")
			if !tt.wantH2 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("h2c request answered %s over %s, want no HTTP/2 without TLS", resp.Status, resp.Proto)
				}
				return
			}
			if err != nil {
				t.Fatalf("h2c GET /v2/: %v", err)
			}
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
				t.Fatalf("h2c GET /v2/: %s over %s, want 200 over HTTP/2", resp.Status, resp.Proto)
			}
		})
	}
}

// TestTLSHTTP2Disabled: http.http2.disabled keeps TLS clients on HTTP/1.1.
func TestTLSHTTP2Disabled(t *testing.T) {
	p := newTLSPKI(t)
	client := p.client(tls.VersionTLS12, 0)
	s := tlsServe(t, p, "  http2:\n    disabled: true\n", "", client)
	resp, err := client.Get("https://" + s.Addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 {
		t.Fatalf("GET /v2/ over %s, want HTTP/1.1 with http2 disabled", resp.Proto)
	}
}
