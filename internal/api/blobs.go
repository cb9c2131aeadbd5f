package api

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/registry"
)

func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := registry.ParseDigest(rt.ref)
	if err != nil {
		return err
	}
	hdr := w.Header()
	if r.Method == http.MethodHead {
		// HEAD is answered from metadata alone: no file is opened.
		info, err := h.reg.StatBlob(r.Context(), rt.name, d)
		if err != nil {
			return err
		}
		setBlobHeaders(hdr, d)
		hdr.Set("Content-Length", itoa(info.Size))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// Range requests are served here, not redirected: object stores answer
	// an invalid range with the whole blob, where the spec wants 416.
	if url, err := h.redirectURL(r, rt.name, d); err != nil {
		return err
	} else if url != "" {
		setBlobHeaders(hdr, d)
		hdr.Del("Cache-Control") // the URL expires; the content does not
		http.Redirect(w, r, url, http.StatusTemporaryRedirect)
		return nil
	}
	content, info, err := h.reg.OpenBlob(r.Context(), rt.name, d)
	if err != nil {
		return err
	}
	defer content.Close()
	setBlobHeaders(hdr, d)
	normalizeRange(r.Header, info.Size)
	// ServeContent answers Range (206, 416) and conditional requests, and
	// on an *os.File the body goes out with sendfile, read ahead of it.
	http.ServeContent(blob.WithReadAhead(w), r, "", time.Time{}, content)
	return nil
}

func (h *Handler) redirectURL(r *http.Request, repo string, d digest.Digest) (string, error) {
	if r.Header.Get("Range") != "" {
		return "", nil
	}
	return h.reg.BlobRedirect(r.Context(), repo, d)
}

func setBlobHeaders(hdr http.Header, d digest.Digest) {
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Docker-Content-Digest", d.String())
	hdr.Set("ETag", `"`+d.String()+`"`)
	hdr.Set("Accept-Ranges", "bytes")
	// Content under a digest never changes.
	hdr.Set("Cache-Control", "max-age=31536000")
}

func (h *Handler) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := registry.ParseDigest(rt.ref)
	if err != nil {
		return err
	}
	if err := h.reg.DeleteBlob(r.Context(), rt.name, d); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// startUpload handles POST /blobs/uploads/: a cross-repository mount, a
// monolithic upload (?digest=), or a new upload session.
func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	q := r.URL.Query()
	if src := mountSource(rt, r); src != nil {
		// A token for the target alone: ask for one covering the source
		// too when the policy would grant it, as distribution does.
		need, _ := rt.ep.access(rt, r.Method)
		if err := h.opts.Guard.WantScope(r, rt.dec, need, src[0]); err != nil {
			return err
		}
	}
	if mount := q.Get("mount"); mount != "" && mayMountFrom(rt.dec, q.Get("from")) {
		d, err := registry.ParseDigest(mount)
		if err != nil {
			return err
		}
		ok, err := h.reg.MountBlob(r.Context(), rt.name, q.Get("from"), d)
		if err != nil {
			return err
		}
		if ok {
			blobCreated(w, rt.name, d)
			return nil
		}
	}
	if dg := q.Get("digest"); dg != "" {
		d, err := registry.ParseDigest(dg)
		if err != nil {
			return err
		}
		info, err := h.reg.PutBlob(r.Context(), rt.name, d, h.idleBody(w, r))
		if err != nil {
			return err
		}
		blobCreated(w, rt.name, info.Digest)
		return nil
	}
	u, err := h.reg.StartUpload(r.Context(), rt.name)
	if err != nil {
		return err
	}
	h.uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

// mayMountFrom reports whether the caller may mount from repository from:
// it must be allowed to pull there. An anonymous mount (no from) would let
// anyone who knows a digest copy a blob out of a repository they cannot
// read, so with access control it is reserved to callers who see
// everything.
func mayMountFrom(d *auth.Decision, from string) bool {
	if d == nil {
		return true
	}
	if from == "" {
		return d.SeesAll()
	}
	return d.Allows("repository", from, auth.ActionPull)
}

func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	hdr := w.Header()
	hdr.Set("Location", "/v2/"+name+"/blobs/"+d.String())
	hdr.Set("Docker-Content-Digest", d.String())
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// uploadAccepted writes the headers that tell a client where an upload
// stands: its URL, its id and the byte range received so far.
func uploadAccepted(w http.ResponseWriter, u registry.Upload, status int) {
	setUploadHeaders(w.Header(), u)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

func (h *Handler) uploadAccepted(w http.ResponseWriter, u registry.Upload, status int) {
	if min := h.reg.MinChunkSize(); min > 0 {
		w.Header().Set("OCI-Chunk-Min-Length", itoa(min))
	}
	uploadAccepted(w, u, status)
}

func setUploadHeaders(hdr http.Header, u registry.Upload) {
	hdr.Set("Location", "/v2/"+u.Repo+"/blobs/uploads/"+u.ID)
	hdr.Set("Docker-Upload-UUID", u.ID)
	end := u.Offset - 1
	if end < 0 {
		end = 0 // distribution's convention for an empty upload
	}
	hdr.Set("Range", "0-"+itoa(end))
}

func (h *Handler) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) error {
	u, err := h.reg.UploadStatus(r.Context(), rt.name, rt.ref)
	if err != nil {
		return err
	}
	uploadAccepted(w, u, http.StatusNoContent)
	return nil
}

func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	start, err := chunkStart(r)
	if err != nil {
		return err
	}
	u, err := h.reg.PatchUpload(r.Context(), rt.name, rt.ref, h.idleBody(w, r), start)
	if err != nil {
		if e, ok := registry.AsError(err); ok && e.Code == registry.CodeRangeInvalid {
			setUploadHeaders(w.Header(), u)
		}
		return err
	}
	uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

func (h *Handler) finishUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	dg := r.URL.Query().Get("digest")
	if dg == "" {
		return &registry.Error{Code: registry.CodeDigestInvalid, Message: "the digest query parameter is required to finish an upload"}
	}
	d, err := registry.ParseDigest(dg)
	if err != nil {
		return err
	}
	start, err := chunkStart(r)
	if err != nil {
		return err
	}
	var body io.Reader
	if r.ContentLength != 0 {
		body = h.idleBody(w, r)
	}
	info, err := h.reg.FinishUpload(r.Context(), rt.name, rt.ref, d, body, start)
	if err != nil {
		return err
	}
	blobCreated(w, rt.name, info.Digest)
	return nil
}

func (h *Handler) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := h.reg.CancelUpload(r.Context(), rt.name, rt.ref); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// chunkStart parses Content-Range ("<start>-<end>", the form the spec uses,
// or with a "bytes " prefix) and checks it against Content-Length. It
// returns -1 when the header is absent.
func chunkStart(r *http.Request) (int64, error) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return -1, nil
	}
	spec := strings.TrimPrefix(strings.TrimPrefix(cr, "bytes "), "bytes=")
	if i := strings.IndexByte(spec, '/'); i >= 0 {
		spec = spec[:i]
	}
	a, b, ok := strings.Cut(spec, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, &registry.Error{Code: registry.CodeRangeInvalid, Message: fmt.Sprintf("invalid Content-Range %q", cr)}
	}
	if r.ContentLength >= 0 && end-start+1 != r.ContentLength {
		return 0, &registry.Error{Code: registry.CodeRangeInvalid,
			Message: fmt.Sprintf("Content-Range %q does not match Content-Length %d", cr, r.ContentLength)}
	}
	return start, nil
}
