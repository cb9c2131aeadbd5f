package api

import (
	"io"
	"net/http"

	"github.com/wharf-registry/wharf/internal/registry"
)

func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	m, err := h.reg.GetManifest(r.Context(), rt.name, rt.ref)
	if err != nil {
		return err
	}
	// The hottest response wharf writes: its four values share one
	// allocation (each slice capped, so an append elsewhere copies).
	v := new([4]string)
	v[0], v[1], v[2], v[3] = m.MediaType, m.Digest.String(), `"`+m.Digest.String()+`"`, itoa(int64(len(m.Payload)))
	hdr := w.Header()
	hdr["Content-Type"], hdr["Docker-Content-Digest"] = v[0:1:1], v[1:2:2]
	hdr["Etag"], hdr["Content-Length"] = v[2:3:3], v[3:4:4]
	if match := r.Header.Get("If-None-Match"); match != "" && match == v[2] {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(m.Payload)
	}
	return nil
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	limit := h.reg.MaxManifestSize()
	if r.ContentLength > limit {
		return &registry.Error{Code: registry.CodeTooLarge, Message: "manifest exceeds " + itoa(limit) + " bytes"}
	}
	payload, err := io.ReadAll(io.LimitReader(h.idleBody(w, r), limit+1))
	if err != nil {
		return &registry.Error{Code: registry.CodeManifestInvalid, Message: "reading manifest body: " + err.Error()}
	}
	if int64(len(payload)) > limit {
		return &registry.Error{Code: registry.CodeTooLarge, Message: "manifest exceeds " + itoa(limit) + " bytes"}
	}
	// Tag parameters (PUT .../manifests/<digest>?tag=a&tag=b): each tag
	// set is confirmed in an OCI-Tag header, so a client can tell a
	// registry that set them from one that ignored them.
	tags := r.URL.Query()["tag"]
	m, err := h.reg.PutManifestTags(r.Context(), rt.name, rt.ref, tags, mediaType(r.Header.Get("Content-Type")), payload)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Location", "/v2/"+rt.name+"/manifests/"+m.Digest.String())
	hdr.Set("Docker-Content-Digest", m.Digest.String())
	if m.Subject != "" {
		hdr.Set("OCI-Subject", m.Subject.String())
	}
	if len(tags) > 0 {
		for _, t := range m.Tags {
			hdr.Add("OCI-Tag", t)
		}
	}
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := h.reg.DeleteManifest(r.Context(), rt.name, rt.ref); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := registry.ParseDigest(rt.ref)
	if err != nil {
		return err
	}
	artifactType := r.URL.Query().Get("artifactType")
	idx, err := h.reg.Referrers(r.Context(), rt.name, d, artifactType)
	if err != nil {
		return err
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", idx.MediaType)
	writeJSON(w, r, http.StatusOK, idx)
	return nil
}

// mediaType strips parameters such as charset from a Content-Type.
func mediaType(ct string) string {
	for i := 0; i < len(ct); i++ {
		if ct[i] == ';' {
			ct = ct[:i]
			break
		}
	}
	for len(ct) > 0 && ct[len(ct)-1] == ' ' {
		ct = ct[:len(ct)-1]
	}
	return ct
}
