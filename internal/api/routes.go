package api

import "strings"

// routeKind names an endpoint of the distribution API.
type routeKind int

const (
	routeUnknown routeKind = iota
	routeBase
	routeCatalog
	routeManifest
	routeBlob
	routeUploads // POST to start an upload
	routeUpload  // PATCH, PUT, GET, DELETE on an upload session
	routeTags
	routeReferrers
	routeToken // the built-in token server's endpoint
)

// String names the endpoint in metrics.
func (k routeKind) String() string {
	switch k {
	case routeBase:
		return "base"
	case routeCatalog:
		return "catalog"
	case routeManifest:
		return "manifest"
	case routeBlob:
		return "blob"
	case routeUploads:
		return "upload_start"
	case routeUpload:
		return "upload"
	case routeTags:
		return "tags"
	case routeReferrers:
		return "referrers"
	case routeToken:
		return "token"
	}
	return "unknown"
}

// route is a parsed request path: the endpoint, the repository name and the
// reference (tag, digest or upload id) where the endpoint has one.
type route struct {
	kind routeKind
	name string
	ref  string
}

// parseRoute matches a path against the API's endpoints. Repository names
// contain slashes, so the endpoint is recognised by the path's last
// segments and everything before them is the name.
func parseRoute(path string) route {
	if path == "/v2" || path == "/v2/" {
		return route{kind: routeBase}
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}
	}
	if rest == "_catalog" {
		return route{kind: routeCatalog}
	}
	seg := strings.Split(rest, "/")
	n := len(seg)
	name := func(k int) string { return strings.Join(seg[:n-k], "/") }
	switch {
	case n >= 4 && seg[n-3] == "blobs" && seg[n-2] == "uploads" && seg[n-1] == "":
		return route{kind: routeUploads, name: name(3)}
	case n >= 4 && seg[n-3] == "blobs" && seg[n-2] == "uploads":
		return route{kind: routeUpload, name: name(3), ref: seg[n-1]}
	case n >= 3 && seg[n-2] == "blobs" && seg[n-1] == "uploads":
		return route{kind: routeUploads, name: name(2)}
	case n >= 2 && seg[n-2] == "blobs":
		return route{kind: routeBlob, name: name(2), ref: seg[n-1]}
	case n >= 2 && seg[n-2] == "manifests":
		return route{kind: routeManifest, name: name(2), ref: seg[n-1]}
	case n >= 3 && seg[n-2] == "tags" && seg[n-1] == "list":
		return route{kind: routeTags, name: name(2)}
	case n >= 2 && seg[n-2] == "referrers":
		return route{kind: routeReferrers, name: name(2), ref: seg[n-1]}
	}
	return route{}
}
