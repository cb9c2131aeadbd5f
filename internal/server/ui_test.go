package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestUIRoutes: the UI gets its own paths and nothing of the API's, the
// token endpoint's or the v1 surface's; unknown paths keep the API's 404.
func TestUIRoutes(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })
	}
	m := &mux{notFound: named("notfound")}
	m.handle("/v2", "base", named("api"))
	m.handlePrefix("/v2/", "unknown", named("api"))
	m.handlePrefix("/v1/", "v1", named("v1"))
	m.handle("/_ping", "v1_ping", named("v1"))
	m.handle("/auth/token", "token", named("token"))
	mountUI(m, named("ui"))
	tests := []struct{ path, want string }{
		{"/", "ui"},
		{"/search", "ui"},
		{"/login", "ui"},
		{"/logout", "ui"},
		{"/r/library/alpine", "ui"},
		{"/r/library/alpine/-/manifest/latest", "ui"},
		{"/static/style.css", "ui"},
		{"/v2/", "api"},
		{"/v2", "api"},
		{"/v2/_catalog", "api"},
		{"/v2/r/x/manifests/latest", "api"},
		{"/v2/library/alpine/_wharf/info", "api"},
		{"/v1/search", "v1"},
		{"/_ping", "v1"},
		{"/auth/token", "token"},
		{"/auth/token/x", "notfound"},
		{"/nope", "notfound"},
		{"/searchx", "notfound"},
		{"/r", "notfound"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://x", nil)
		req.URL.Path = tt.path
		m.ServeHTTP(rec, req)
		if got := rec.Body.String(); got != tt.want {
			t.Errorf("%s went to %q, want %q", tt.path, got, tt.want)
		}
	}
}
