package notify

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/middleware"
)

type ctxKey int

const requestKey ctxKey = 1

// requestInfo is what an event tells of the request that caused it,
// captured before the registry runs so that meta's hook finds it in the
// transaction's context.
type requestInfo struct {
	id, addr, host, method, userAgent string
	// scheme and from build the target's URL and a mount's source.
	scheme, from string
}

// withRequest puts r's description in ctx.
func withRequest(ctx context.Context, r *http.Request) context.Context {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// A reverse proxy in front says which scheme the client used.
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	info := &requestInfo{
		id: middleware.RequestID(ctx), addr: r.RemoteAddr, host: r.Host, method: r.Method,
		userAgent: r.UserAgent(), scheme: scheme, from: r.URL.Query().Get("from"),
	}
	return context.WithValue(ctx, requestKey, info)
}

func requestFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestKey).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// Wrap returns next (the /v2 API) with the request described for the
// events it causes, and its pulls recorded after each response.
func (n *Notifier) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := middleware.WithUserSlot(withRequest(r.Context(), r))
		r = r.WithContext(ctx)
		if !n.rec.wantsPulls() || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &middleware.StatusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if c, ok := pullChange(r, rec); ok {
			n.pulls.add(n.rec.events(ctx, []meta.Change{c}))
		}
	})
}

// pullChange makes the pull a successful GET or HEAD of a manifest or blob
// is, from its path and response headers.
func pullChange(r *http.Request, rec *middleware.StatusRecorder) (meta.Change, bool) {
	status := rec.Status()
	if status == 0 {
		status = http.StatusOK
	}
	repo, kind, ref, ok := splitContentPath(r.URL.Path)
	if !ok {
		return meta.Change{}, false
	}
	h := rec.Header()
	size, _ := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	c := meta.Change{Action: meta.ActionPull, Repo: repo}
	switch kind {
	case "manifests":
		if status != http.StatusOK {
			return meta.Change{}, false
		}
		c.Kind, c.MediaType, c.Size = meta.KindManifest, h.Get("Content-Type"), size
		c.Digest = digest.Digest(h.Get("Docker-Content-Digest"))
		if _, err := digest.Parse(ref); err != nil {
			c.Tag = ref
		}
	case "blobs":
		// 206 is part of a blob and 307 a redirect to the object store:
		// pulls all the same.
		if status != http.StatusOK && status != http.StatusPartialContent && status != http.StatusTemporaryRedirect {
			return meta.Change{}, false
		}
		c.Kind, c.MediaType, c.Digest = meta.KindBlob, blobMediaType, digest.Digest(ref)
		if status == http.StatusOK {
			c.Size = size
		}
	}
	return c, true
}

// splitContentPath splits /v2/<name>/(manifests|blobs)/<reference>.
func splitContentPath(p string) (repo, kind, ref string, ok bool) {
	rest, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return "", "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", "", "", false
	}
	ref, rest = rest[i+1:], rest[:i]
	j := strings.LastIndexByte(rest, '/')
	if j <= 0 || ref == "" {
		return "", "", "", false
	}
	repo, kind = rest[:j], rest[j+1:]
	if kind != "manifests" && kind != "blobs" {
		return "", "", "", false
	}
	return repo, kind, ref, true
}
