package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/registry"
)

// Errors a page handler returns for fail to answer.
var (
	errNotFound  = errors.New("not found")
	errMethod    = errors.New("method not allowed")
	errCSRF      = errors.New("the form expired or came from another site; reload the page and try again")
	errForbidden = errors.New("you may not do this here")
)

// view is what every page's template gets: the layout's fields and the
// page's own data.
type view struct {
	Title string
	// User is the logged-in user, empty when anonymous.
	User   string
	CSRF   string
	Logins bool
	// Q is the search box's value.
	Q string
	// Here is the path and query of this page, where login returns to.
	Here string
	Data any
}

// render executes page with data and writes it with status; a template
// error becomes a 500 before any byte is sent.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, v *visitor, status int, page, title string, data any) error {
	t, ok := h.pages[page]
	if !ok {
		return fmt.Errorf("ui: no template %q", page)
	}
	vw := view{Title: title, User: v.user, CSRF: v.csrf, Logins: h.opts.Guard.PasswordLogins(),
		Q: r.URL.Query().Get("q"), Here: h.opts.BasePath + r.URL.RequestURI(), Data: data}
	var buf bytes.Buffer
	if err := t.Execute(&buf, vw); err != nil {
		return fmt.Errorf("ui: render %s: %w", page, err)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	// Pages differ by user: no shared cache may keep them.
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
	return nil
}

// errorData is the error page's.
type errorData struct {
	Status  int
	Message string
}

// fail answers a page's error: the API's client errors as their pages,
// anything else logged and answered 500 without details.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, v *visitor, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on the server. It has been logged."
	if re, ok := registry.AsError(err); ok {
		err = classify(re)
	}
	switch {
	case errors.Is(err, errNotFound):
		status, msg = http.StatusNotFound, "There is no such page, or you may not see it."
		if v.user == "" && h.opts.Guard.PasswordLogins() {
			msg += " Logging in may show more."
		}
	case errors.Is(err, errMethod):
		status, msg = http.StatusMethodNotAllowed, "This page does not take that method."
	case errors.Is(err, errCSRF):
		status, msg = http.StatusForbidden, errCSRF.Error()
	case errors.Is(err, errForbidden):
		status, msg = http.StatusForbidden, "You may not do this here."
	case errors.Is(err, errConflict):
		status, msg = http.StatusConflict, err.Error()
	default:
		h.log.ErrorContext(r.Context(), "ui page failed", "path", r.URL.Path, "error", err)
	}
	if rerr := h.render(w, r, v, status, "error", http.StatusText(status), errorData{Status: status, Message: msg}); rerr != nil {
		h.log.ErrorContext(r.Context(), "ui error page failed", "error", rerr)
		http.Error(w, msg, status)
	}
}

// errConflict wraps a registry refusal a user can act on (deletion
// disabled, read-only mode).
var errConflict = errors.New("conflict")

// classify maps the registry's client errors to the UI's.
func classify(re *registry.Error) error {
	switch re.Code {
	case registry.CodeNameUnknown, registry.CodeManifestUnknown, registry.CodeNameInvalid,
		registry.CodeTagInvalid, registry.CodeDigestInvalid:
		return errNotFound
	case registry.CodeDenied, registry.CodeUnauthorized:
		return errForbidden
	}
	return errConflictf(re.Message)
}

// funcs are the templates' helpers. Links are built here, with the base
// path and each segment escaped, so no template concatenates a URL.
func (h *Handler) funcs() template.FuncMap {
	base := h.opts.BasePath
	return template.FuncMap{
		"url":     func(p string) string { return base + p },
		"repoURL": func(name string) string { return base + "/r/" + escapePath(name) },
		"manifestURL": func(name, ref string) string {
			return base + "/r/" + escapePath(name) + "/-/manifest/" + url.PathEscape(ref)
		},
		"deleteURL": func(name, ref string) string {
			return base + "/r/" + escapePath(name) + "/-/delete?ref=" + url.QueryEscape(ref)
		},
		"starURL":   func(name string) string { return base + "/r/" + escapePath(name) + "/-/star" },
		"homeAfter": func(last string) string { return base + "/?after=" + url.QueryEscape(last) },
		"tagsAfter": func(name, last string) string {
			return base + "/r/" + escapePath(name) + "?after=" + url.QueryEscape(last)
		},
		"searchPage": func(q string, page int) string {
			return base + "/search?q=" + url.QueryEscape(q) + "&page=" + fmt.Sprint(page)
		},
		"size":         humanSize,
		"when":         when,
		"short":        shortDigest,
		"join":         strings.Join,
		"add":          func(a, b int) int { return a + b },
		"artifactKind": artifactKind,
	}
}

// escapePath escapes each segment of a repository name.
func escapePath(name string) string {
	seg := strings.Split(name, "/")
	for i, s := range seg {
		seg[i] = url.PathEscape(s)
	}
	return strings.Join(seg, "/")
}

// humanSize is a size in bytes with binary units.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// when formats a time in UTC; a dash for the zero time (no push yet, an
// image built without dates).
func when(t time.Time) string {
	if t.IsZero() || t.Year() <= 1 {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// shortDigest is the algorithm and the first 12 hex digits.
func shortDigest(d digest.Digest) string {
	s := string(d)
	if alg, hex, ok := strings.Cut(s, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return s
}

// artifactKind names what a referrer is by its artifact type.
func artifactKind(t string) string {
	l := strings.ToLower(t)
	switch {
	case strings.Contains(l, "sig"):
		return "Signature"
	case strings.Contains(l, "spdx"), strings.Contains(l, "cyclonedx"), strings.Contains(l, "sbom"), strings.Contains(l, "syft"):
		return "SBOM"
	case strings.Contains(l, "in-toto"), strings.Contains(l, "attest"), strings.Contains(l, "provenance"), strings.Contains(l, "vex"):
		return "Attestation"
	}
	return "Other artifact"
}
