package ui

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/registry"
)

// namespaceGroup is a run of repositories of one namespace on the home
// page.
type namespaceGroup struct {
	// Namespace is the name up to its last slash; empty for top-level
	// repositories.
	Namespace string
	Repos     []registry.RepoListing
}

type homeData struct {
	Groups []namespaceGroup
	// After is where this page starts; Next where the next one does
	// (empty on the last page).
	After string
	Next  string
	Empty bool
	// Host is the registry's host as the browser named it.
	Host string
}

// home lists the repositories the visitor may see, a page at a time by
// keyset (the name after which a page starts), so that page 1,000 costs
// what page 1 does.
func (h *Handler) home(w http.ResponseWriter, r *http.Request, v *visitor) error {
	after := r.URL.Query().Get("after")
	names, more, err := h.reg.VisibleCatalog(r.Context(), v.decision, after, homePageSize)
	if err != nil {
		return err
	}
	repos, err := h.reg.DescribeRepositories(r.Context(), names)
	if err != nil {
		return err
	}
	d := homeData{Groups: groupByNamespace(repos), After: after, Empty: len(repos) == 0 && after == "", Host: r.Host}
	if more && len(names) > 0 {
		d.Next = names[len(names)-1]
	}
	return h.render(w, r, v, http.StatusOK, "home", "Repositories", d)
}

// groupByNamespace cuts a listing in order into runs of one namespace.
func groupByNamespace(repos []registry.RepoListing) []namespaceGroup {
	var out []namespaceGroup
	for _, rp := range repos {
		ns := ""
		if i := strings.LastIndexByte(rp.Name, '/'); i >= 0 {
			ns = rp.Name[:i]
		}
		if len(out) == 0 || out[len(out)-1].Namespace != ns {
			out = append(out, namespaceGroup{Namespace: ns})
		}
		out[len(out)-1].Repos = append(out[len(out)-1].Repos, rp)
	}
	return out
}

type searchData struct {
	Query   string
	Total   int
	Results []registry.RepoListing
	Page    int
	Pages   int
}

// maxSearchPage bounds the page number a URL may ask for.
const maxSearchPage = 10000

// search shows one page of the ranked matches the visitor may see.
func (h *Handler) search(w http.ResponseWriter, r *http.Request, v *visitor) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	page = min(page, maxSearchPage)
	res, err := h.reg.Search(r.Context(), v.decision, q, (page-1)*searchPageSize, searchPageSize)
	if err != nil {
		return err
	}
	d := searchData{Query: q, Total: res.Total, Page: page, Pages: (res.Total + searchPageSize - 1) / searchPageSize}
	for _, m := range res.Matches {
		d.Results = append(d.Results, registry.RepoListing{Name: m.Name, Description: m.Description, Stars: m.Stars})
	}
	title := "Search"
	if q != "" {
		title = "Search: " + q
	}
	return h.render(w, r, v, http.StatusOK, "search", title, d)
}

type repoData struct {
	Info     registry.RepositoryInfo
	Overview template.HTML
	Tags     []registry.TagSummary
	After    string
	Next     string
	Host     string
	// PullTag and PullDigest are what the pull commands name.
	PullTag    string
	PullDigest digest.Digest
	Starred    bool
	CanStar    bool
	CanDelete  bool
	// Deleted names what the visitor just deleted.
	Deleted string
}

// repository shows a repository: description, overview, a page of tags,
// pull commands, star and delete controls.
func (h *Handler) repository(w http.ResponseWriter, r *http.Request, v *visitor, name string) error {
	ctx := r.Context()
	info, err := h.reg.RepositoryInfo(ctx, name)
	if err != nil {
		return err
	}
	d := repoData{Info: info, Host: r.Host, After: r.URL.Query().Get("after"), Deleted: r.URL.Query().Get("deleted"),
		CanStar: v.user != "", CanDelete: v.canDelete(name) && h.reg.DeleteEnabled()}
	if d.Overview, err = h.md.render(info.Overview); err != nil {
		return err
	}
	var more bool
	if d.Tags, more, err = h.reg.TagSummaries(ctx, name, d.After, tagsPageSize); err != nil {
		return err
	}
	if more {
		d.Next = d.Tags[len(d.Tags)-1].Name
	}
	d.PullTag, d.PullDigest = pullTarget(d.Tags)
	if v.user != "" {
		if d.Starred, err = h.reg.Starred(ctx, name, v.user); err != nil {
			return err
		}
	}
	return h.render(w, r, v, http.StatusOK, "repository", name, d)
}

// pullTarget is the tag the pull commands show: latest when the page has
// it, else the most recently pushed.
func pullTarget(tags []registry.TagSummary) (string, digest.Digest) {
	var best *registry.TagSummary
	for i := range tags {
		t := &tags[i]
		if t.Name == "latest" {
			return t.Name, t.Digest
		}
		if best == nil || t.Pushed.After(best.Pushed) {
			best = t
		}
	}
	if best == nil {
		return "", ""
	}
	return best.Name, best.Digest
}

// star stars or unstars (form field on=0) for the logged-in visitor.
func (h *Handler) star(w http.ResponseWriter, r *http.Request, v *visitor, name string) error {
	if err := h.checkCSRF(r, v); err != nil {
		return err
	}
	if v.user == "" {
		http.Redirect(w, r, h.opts.BasePath+"/login?next="+escapeQuery(h.opts.BasePath+"/r/"+name), http.StatusSeeOther)
		return nil
	}
	if err := h.reg.Star(r.Context(), name, v.user, r.PostFormValue("on") != "0"); err != nil {
		return err
	}
	http.Redirect(w, r, h.opts.BasePath+"/r/"+escapePath(name), http.StatusSeeOther)
	return nil
}
