package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMuxRouting(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })
	}
	m := &mux{notFound: named("notfound")}
	m.handlePrefix("/v2/", "api", named("api"))
	m.handle("/v2", "api", named("api"))
	m.handle("/auth/token", "token", named("token"))
	m.handlePrefix("/v2/_special/", "special", named("special"))
	tests := []struct{ path, want string }{
		{"/v2/", "api"},
		{"/v2", "api"},
		{"/v2/library/alpine/manifests/latest", "api"},
		// Unclean paths reach the API unchanged, to be refused there.
		{"/v2/a//b/manifests/latest", "api"},
		{"/v2/a/../b/manifests/latest", "api"},
		{"/v2/_special/x", "special"},
		{"/auth/token", "token"},
		{"/auth/token/", "notfound"},
		{"/", "notfound"},
		{"/v2x", "notfound"},
		{"/v1/search", "notfound"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "http://x", nil)
			req.URL.Path = tt.path
			m.ServeHTTP(rec, req)
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("%s went to %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}
