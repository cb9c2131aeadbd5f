// Package ui is wharf's web UI: server-rendered pages (html/template,
// embedded with the stylesheet and one small script) on the registry's own
// port, calling the registry package directly. Every page works without
// JavaScript; the script only adds copy buttons and a live tag filter.
//
// What a visitor sees follows the access policy exactly as the API does:
// the UI asks auth.Guard for the Decision of the session's user (anonymous
// without a session) and shows only repositories that Decision may pull.
package ui

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Page sizes.
const (
	homePageSize   = 100
	searchPageSize = 30
	tagsPageSize   = 50
)

// DefaultSessionTTL is how long a login lasts.
const DefaultSessionTTL = 12 * time.Hour

// Options configure the UI.
type Options struct {
	// Guard authenticates logins and decides what a visitor sees; nil:
	// no authentication, everyone sees everything.
	Guard *auth.Guard
	// SessionKey signs session cookies and CSRF tokens: at least 32
	// bytes, the same on every node behind one load balancer.
	SessionKey []byte
	// BasePath is the path prefix a reverse proxy serves the UI under
	// ("/registry"); links carry it. Empty: the UI is at the root.
	BasePath string
	// SessionTTL is how long a login lasts; DefaultSessionTTL when zero.
	SessionTTL time.Duration
	// Sessions remembers logouts, shared by every node, so that a copy of
	// a logged-out cookie is refused; required with password logins.
	Sessions meta.SessionStore
	Log      *slog.Logger
}

// Handler serves the UI.
type Handler struct {
	reg    *registry.Registry
	opts   Options
	pages  map[string]*template.Template
	static http.Handler
	md     *markdown
	log    *slog.Logger
}

// Exact and prefix paths the UI owns on the registry's mux. Everything else
// (/v2/, /v1/, /auth/token, /_ping, wharf's JSON API under /v2) stays with
// its owner, and unknown paths get the API's 404.
var (
	ExactPaths  = []string{"/", "/search", "/login", "/logout"}
	PrefixPaths = []string{"/r/", "/static/"}
)

// New builds the UI handler.
func New(reg *registry.Registry, opts Options) (*Handler, error) {
	if len(opts.SessionKey) < 32 {
		return nil, errors.New("ui: the session key needs at least 32 bytes")
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	opts.BasePath = strings.TrimRight(opts.BasePath, "/")
	if opts.BasePath != "" && !strings.HasPrefix(opts.BasePath, "/") {
		return nil, fmt.Errorf("ui: base path %q must start with /", opts.BasePath)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Guard.PasswordLogins() && opts.Sessions == nil {
		return nil, errors.New("ui: password logins need a session store for logouts")
	}
	h := &Handler{reg: reg, opts: opts, log: opts.Log, md: newMarkdown()}
	pages, err := h.parseTemplates()
	if err != nil {
		return nil, err
	}
	h.pages = pages
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: static files: %w", err)
	}
	h.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	return h, nil
}

// parseTemplates parses each page with the shared layout.
func (h *Handler) parseTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("ui: templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(h.funcs()).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// ServeHTTP routes a request to its page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w)
	if strings.HasPrefix(r.URL.Path, "/static/") {
		h.serveStatic(w, r)
		return
	}
	v := h.visitor(w, r)
	var err error
	switch p := r.URL.Path; {
	case p == "/":
		err = h.only(r, http.MethodGet, func() error { return h.home(w, r, v) })
	case p == "/search":
		err = h.only(r, http.MethodGet, func() error { return h.search(w, r, v) })
	case p == "/login":
		err = h.login(w, r, v)
	case p == "/logout":
		err = h.only(r, http.MethodPost, func() error { return h.logout(w, r, v) })
	case strings.HasPrefix(p, "/r/"):
		err = h.repoRoutes(w, r, v, strings.TrimPrefix(p, "/r/"))
	default:
		err = errNotFound
	}
	if err != nil {
		h.fail(w, r, v, err)
	}
}

// only runs f for method (GET also serves HEAD), else answers 405.
func (h *Handler) only(r *http.Request, method string, f func() error) error {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return f()
	}
	return errMethod
}

// repoRoutes serves /r/<name>, /r/<name>/-/manifest/<ref>,
// /r/<name>/-/star and /r/<name>/-/delete. A repository path component
// never is "-", so the separator cannot be part of a name.
func (h *Handler) repoRoutes(w http.ResponseWriter, r *http.Request, v *visitor, rest string) error {
	name, action, _ := strings.Cut(rest, "/-/")
	if registry.ValidateName(name) != nil {
		return errNotFound
	}
	// What the caller may not pull does not exist for it: the same page
	// whether the repository is hidden or absent.
	if !v.canPull(name) {
		return errNotFound
	}
	switch {
	case action == "" && !strings.HasSuffix(rest, "/-/"):
		return h.only(r, http.MethodGet, func() error { return h.repository(w, r, v, name) })
	case strings.HasPrefix(action, "manifest/"):
		ref := strings.TrimPrefix(action, "manifest/")
		return h.only(r, http.MethodGet, func() error { return h.manifest(w, r, v, name, ref) })
	case action == "star":
		return h.only(r, http.MethodPost, func() error { return h.star(w, r, v, name) })
	case action == "delete":
		return h.deletePage(w, r, v, name)
	}
	return errNotFound
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	h.static.ServeHTTP(w, r)
}

// setSecurityHeaders is set on every answer: a strict CSP (scripts and
// styles only from wharf itself, no inline code, no framing, forms only to
// wharf), no sniffing, no referrer to other sites.
func setSecurityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
}
