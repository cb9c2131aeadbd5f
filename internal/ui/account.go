package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/registry"
)

type loginData struct {
	Next    string
	User    string
	Message string
}

// maxLoginField bounds the user and password a login form may send.
const maxLoginField = 1024

// login shows the login form (GET) and checks it (POST) with the same
// password check, and the same throttling, as the API's basic auth.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, v *visitor) error {
	next := localPath(r.FormValue("next"), h.opts.BasePath)
	d := loginData{Next: next}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if !h.opts.Guard.PasswordLogins() {
			d.Message = "This registry has no password logins: everything it holds is visible without one."
		}
		return h.render(w, r, v, http.StatusOK, "login", "Log in", d)
	case http.MethodPost:
	default:
		return errMethod
	}
	if err := h.checkCSRF(r, v); err != nil {
		return err
	}
	if !h.opts.Guard.PasswordLogins() {
		return errNotFound
	}
	user, pass := r.PostFormValue("username"), r.PostFormValue("password")
	d.User = user
	if user == "" || len(user) > maxLoginField || len(pass) > maxLoginField {
		d.Message = "Enter your user name and password."
		return h.render(w, r, v, http.StatusBadRequest, "login", "Log in", d)
	}
	if err := h.opts.Guard.CheckPassword(r, user, pass); err != nil {
		status, msg := http.StatusUnauthorized, "Wrong user name or password."
		if den, ok := auth.AsDenied(err); ok && den.Status == http.StatusTooManyRequests {
			status, msg = den.Status, "Too many failed logins. Try again later."
			w.Header().Set("Retry-After", strconv.Itoa(int(den.RetryAfter.Seconds())+1))
		}
		d.Message = msg
		return h.render(w, r, v, status, "login", "Log in", d)
	}
	h.startSession(w, r, user)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// logout ends the session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, v *visitor) error {
	if err := h.checkCSRF(r, v); err != nil {
		return err
	}
	if err := h.endSession(w, r); err != nil {
		return err
	}
	http.Redirect(w, r, h.opts.BasePath+"/", http.StatusSeeOther)
	return nil
}

// localPath returns next when it is a path of this site under base, else
// the home page: a login must not redirect to another site.
func localPath(next, base string) string {
	home := base + "/"
	if !strings.HasPrefix(next, home) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return home
	}
	return next
}

func escapeQuery(s string) string { return url.QueryEscape(s) }

type deleteData struct {
	Repo string
	Ref  string
	// Digest is the manifest ref names; IsTag says ref is a tag.
	Digest digest.Digest
	IsTag  bool
	// OtherTags are the digest's tags besides ref; AllTags all of them.
	OtherTags []string
	AllTags   []string
	Referrers int
}

// deletePage asks to confirm a deletion (GET), naming every tag the
// manifest carries, and deletes (POST). Only a visitor allowed to delete
// sees it, only when deletion is enabled.
func (h *Handler) deletePage(w http.ResponseWriter, r *http.Request, v *visitor, name string) error {
	if !v.canDelete(name) {
		return errForbidden
	}
	if !h.reg.DeleteEnabled() {
		return errConflictf("Deleting is disabled on this registry (storage.delete.enabled is false, or it is read-only).")
	}
	ref := r.FormValue("ref")
	if !registry.IsDigest(ref) && registry.ValidateTag(ref) != nil {
		return errNotFound
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return h.confirmDelete(w, r, v, name, ref)
	case http.MethodPost:
	default:
		return errMethod
	}
	if err := h.checkCSRF(r, v); err != nil {
		return err
	}
	if err := h.reg.DeleteManifest(r.Context(), name, ref); err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "deleted through the web UI", "repo", name, "ref", ref, "user", v.user)
	http.Redirect(w, r, h.opts.BasePath+"/r/"+escapePath(name)+"?deleted="+url.QueryEscape(ref), http.StatusSeeOther)
	return nil
}

// confirmDelete shows what a deletion of ref removes.
func (h *Handler) confirmDelete(w http.ResponseWriter, r *http.Request, v *visitor, name, ref string) error {
	ctx := r.Context()
	mi, err := h.reg.GetManifest(ctx, name, ref)
	if err != nil {
		return err
	}
	d := deleteData{Repo: name, Ref: ref, Digest: mi.Digest, IsTag: !registry.IsDigest(ref)}
	if d.AllTags, err = h.reg.TagsOf(ctx, name, mi.Digest); err != nil {
		return err
	}
	for _, t := range d.AllTags {
		if t != ref {
			d.OtherTags = append(d.OtherTags, t)
		}
	}
	refs, err := h.reg.Referrers(ctx, name, mi.Digest, "")
	if err != nil {
		return err
	}
	d.Referrers = len(refs.Manifests)
	return h.render(w, r, v, http.StatusOK, "delete", "Delete "+name+"@"+ref, d)
}

// errConflictf is a refusal the visitor is told about as it is.
func errConflictf(msg string) error { return &conflictError{msg} }

type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }
func (e *conflictError) Unwrap() error { return errConflict }
