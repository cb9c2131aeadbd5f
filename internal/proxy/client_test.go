package proxy

import (
	"net/http"
	"testing"
	"time"
)

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		name   string
		header string
		scheme string
		params map[string]string
	}{
		{"docker hub", `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`,
			"bearer", map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/alpine:pull"}},
		{"basic", `Basic realm="upstream"`, "basic", map[string]string{"realm": "upstream"}},
		{"spaces and unquoted", `Bearer realm="r", service=s ,scope="a,b"`, "bearer", map[string]string{"realm": "r", "service": "s", "scope": "a,b"}},
		{"no params", `Basic`, "basic", map[string]string{}},
		{"unterminated quote", `Bearer realm="r`, "bearer", map[string]string{"realm": "r"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scheme, params := parseChallenge(tc.header)
			if scheme != tc.scheme {
				t.Errorf("scheme = %q, want %q", scheme, tc.scheme)
			}
			if len(params) != len(tc.params) {
				t.Errorf("params = %v, want %v", params, tc.params)
			}
			for k, v := range tc.params {
				if params[k] != v {
					t.Errorf("%s = %q, want %q", k, params[k], v)
				}
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{"-3", 0},
		{"junk", 0},
		{"999999", time.Hour},
		{time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.v); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.v, got, tc.want)
		}
	}
	future := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	if got := retryAfter(future); got < time.Minute || got > 2*time.Minute {
		t.Errorf("retryAfter(date in 2 min) = %s", got)
	}
}

func TestCheckManifestDigest(t *testing.T) {
	payload := []byte(`{"schemaVersion":2}`)
	good := "sha256:" + sha256hex(payload)
	bad := "sha256:" + sha256hex([]byte("other"))
	tests := []struct {
		name, ref, header string
		ok                bool
	}{
		{"tag, no header", "v1", "", true},
		{"tag, matching header", "v1", good, true},
		{"tag, lying header", "v1", bad, false},
		{"digest matches", good, "", true},
		{"digest differs", bad, "", false},
	}
	for _, tc := range tests {
		err := checkManifestDigest(tc.ref, tc.header, payload)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %t", tc.name, err, tc.ok)
		}
	}
}
