package api

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

// wharf's own JSON API about a repository, under /v2/<name>/_wharf/: a
// repository path component never starts with "_", so these paths cannot
// be taken for a repository's.

// repoInfoBody is the answer to GET /v2/<name>/_wharf/info.
type repoInfoBody struct {
	registry.RepositoryInfo
	// Starred says whether the caller starred the repository.
	Starred bool `json:"starred"`
}

// repoInfoUpdate is the body of PUT /v2/<name>/_wharf/info: a missing
// field is kept, an empty string clears it.
type repoInfoUpdate struct {
	Description *string `json:"description"`
	Overview    *string `json:"overview"`
}

// maxInfoBody bounds the PUT body: both fields at their limits, every
// byte escaped (\u003c is six bytes for one).
const maxInfoBody = 6*(registry.MaxDescription+meta.MaxOverview) + 1024

func (h *Handler) repoInfo(w http.ResponseWriter, r *http.Request, rt route) error {
	info, err := h.reg.RepositoryInfo(r.Context(), rt.name)
	if err != nil {
		return err
	}
	body := repoInfoBody{RepositoryInfo: info}
	if user := callerName(rt.dec); user != "" {
		if body.Starred, err = h.reg.Starred(r.Context(), rt.name, user); err != nil {
			return err
		}
	}
	writeJSON(w, r, http.StatusOK, body)
	return nil
}

func (h *Handler) setRepoInfo(w http.ResponseWriter, r *http.Request, rt route) error {
	raw, err := io.ReadAll(io.LimitReader(h.idleBody(w, r), maxInfoBody+1))
	if err != nil {
		return err
	}
	if len(raw) > maxInfoBody {
		return &registry.Error{Code: registry.CodeTooLarge, Message: "body too large"}
	}
	var u repoInfoUpdate
	if err := json.Unmarshal(raw, &u); err != nil {
		return &registry.Error{Code: registry.CodeManifestInvalid, Message: "body is not a JSON object of description and overview: " + err.Error()}
	}
	if err := h.reg.SetRepositoryInfo(r.Context(), rt.name, meta.RepoInfoUpdate{Description: u.Description, Overview: u.Overview}); err != nil {
		return err
	}
	return h.repoInfo(w, r, rt)
}

// star is PUT (star) and DELETE (unstar) of /v2/<name>/_wharf/star, both
// idempotent; the answer is the repository's information.
func (h *Handler) star(w http.ResponseWriter, r *http.Request, rt route) error {
	user := callerName(rt.dec)
	if user == "" {
		// Only without authentication configured: otherwise the access
		// rule already refused an anonymous caller.
		return &registry.Error{Code: registry.CodeUnauthorized, Message: "starring needs a logged-in user"}
	}
	if err := h.reg.Star(r.Context(), rt.name, user, r.Method == http.MethodPut); err != nil {
		return err
	}
	return h.repoInfo(w, r, rt)
}

// starAccess lets a logged-in user who may pull a repository star it.
func starAccess(rt route, _ string) ([]auth.Scope, bool) {
	return repoScope(rt.name, auth.ActionPull), true
}

// callerName is the logged-in user's name, empty for an anonymous caller.
func callerName(d *auth.Decision) string {
	if d == nil || d.Identity.Anonymous {
		return ""
	}
	return d.Identity.User
}
