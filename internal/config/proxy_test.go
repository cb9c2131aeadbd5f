package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestProxyResolved(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	off := false
	tests := []struct {
		name  string
		proxy Proxy
		check func(t *testing.T, ups []Upstream)
	}{
		{"distribution's remoteurl on Docker Hub", Proxy{RemoteURL: "https://registry-1.docker.io", Username: "u", Password: "p", TTL: time.Hour},
			func(t *testing.T, ups []Upstream) {
				u := ups[0]
				if len(ups) != 1 || u.Name != "docker.io" || !u.Default || !*u.Library || u.TTL != time.Hour || u.Username != "u" || u.Password != "p" {
					t.Errorf("resolved %+v", ups)
				}
			}},
		{"remoteurl elsewhere is named after its host", Proxy{RemoteURL: "https://quay.io"},
			func(t *testing.T, ups []Upstream) {
				u := ups[0]
				if u.Name != "quay.io" || *u.Library || u.TTL != DefaultProxyTTL || u.MaxConcurrent != DefaultProxyMaxConcurrent {
					t.Errorf("resolved %+v", u)
				}
			}},
		{"upstreams: passwordfile read, library as set", Proxy{Upstreams: []Upstream{
			{Name: "docker.io", URL: "https://registry-1.docker.io", PasswordFile: pwFile, Library: &off},
		}}, func(t *testing.T, ups []Upstream) {
			if ups[0].Password != "from-file" || *ups[0].Library {
				t.Errorf("resolved %+v", ups[0])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ups, err := tc.proxy.Resolved()
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ups)
		})
	}
	if _, err := (&Proxy{Upstreams: []Upstream{{Name: "a", URL: "https://a", PasswordFile: "/nonexistent/pw"}}}).Resolved(); err == nil {
		t.Errorf("a missing passwordfile resolved")
	}
}
