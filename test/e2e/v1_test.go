package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestV1Ping checks the ping docker and podman send before a search: 200
// `{}` with the standalone header, without credentials even when the
// registry requires a login.
func TestV1Ping(t *testing.T) {
	s, _ := auBasicServer(t, "")
	for _, path := range []string{"/v1/_ping", "/_ping"} {
		t.Run(path, func(t *testing.T) {
			r := auDo(t, auReq{Method: http.MethodGet, URL: s.URL + path})
			if r.Status != http.StatusOK {
				t.Fatalf("GET %s = %d %s, want 200", path, r.Status, r.Body)
			}
			if got := r.Header.Get("X-Docker-Registry-Standalone"); got != "true" {
				t.Errorf("X-Docker-Registry-Standalone = %q, want true", got)
			}
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil || len(body) != 0 {
				t.Errorf("body = %s (%v), want {}", r.Body, err)
			}
		})
	}
}
