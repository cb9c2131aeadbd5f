package e2e

// Malformed and hostile requests. Each row sends one (or a short sequence
// of) bad request(s) and expects the status and OCI error code that the OCI
// distribution spec v1.1 prescribes; after every row the image pushed before
// the table must still pull completely with the same digests.
//
// Choices where the spec leaves room, so a reader knows why a row expects
// what it does:
//   - invalid repository names: 400 NAME_INVALID (spec: NAME_INVALID is
//     "invalid repository name"). A path that cannot be routed at all
//     (`..`, empty components) may instead answer 404; a redirect is wrong
//     either way.
//   - out-of-order PATCH: 416 (spec MUST) with BLOB_UPLOAD_INVALID, the only
//     listed code for a broken upload; distribution's RANGE_INVALID is not
//     in the spec's list, which the spec says `code` MUST be drawn from.
//   - Range beyond the blob on GET: 416, body not checked (it is
//     net/http's ServeContent answer, not an API error).
//   - manifest over 4 MiB: 413 (spec SHOULD) with SIZE_INVALID.
//   - invalid tag: 400 TAG_INVALID, the legacy code every Docker client
//     knows and distribution returns.
//   - unknown media type in Content-Type: 400 MANIFEST_INVALID (UNSUPPORTED
//     is for operations, not payloads).

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharf-registry/wharf/internal/registry"
)

// badWant is one acceptable answer: a status and the allowed OCI codes
// (none: the body is not checked).
type badWant struct {
	status int
	codes  []string
}

func badErr(status int, codes ...string) []badWant {
	return []badWant{{status, codes}}
}

func TestBadInput(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	const repo, tag = "known/img", "v1"
	img := whRandomImage(t, 2048, 2)
	digest := whPush(t, s, repo+":"+tag, img)
	rawManifest, _ := img.RawManifest()
	layers, _ := img.Layers()
	layerDigest, _ := layers[0].Digest()
	layerSize, _ := layers[0].Size()
	mediaType := string(types.DockerManifestSchema2)
	base := s.URL + "/v2/" + repo

	// manifestWith rewrites the known manifest through f.
	manifestWith := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(rawManifest, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	unknownDigest := whDigest([]byte("this blob was never pushed"))
	longName := strings.TrimSuffix(strings.Repeat("abcdefghi/", 26), "/") // 259 chars
	payload := []byte("some upload payload bytes")
	uuid := "3f1b2c1e-7c1f-4e8e-9d0a-1b2c3d4e5f60"
	ct := func(v string) map[string]string { return map[string]string{"Content-Type": v} }
	octet := ct("application/octet-stream")
	get := func(u string) func(t *testing.T) whResp {
		return func(t *testing.T) whResp { return whDo(t, http.MethodGet, u, nil, nil) }
	}
	// indexOf is an index listing the known manifest with the given
	// descriptor media type and size.
	indexOf := func(childType string, size int64) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
			`{"mediaType":"` + childType + `","digest":"` + digest.String() + `","size":` + strconv.FormatInt(size, 10) + `}]}`)
	}
	putManifest := func(ref, mt string, body []byte) func(t *testing.T) whResp {
		return func(t *testing.T) whResp { return whPutManifest(t, s, repo, ref, mt, body) }
	}

	rows := []struct {
		name string
		do   func(t *testing.T) whResp
		want []badWant
	}{
		// Repository names.
		{"name upper case GET", get(s.URL + "/v2/Known/Img/manifests/v1"), badErr(400, "NAME_INVALID")},
		{"name upper case POST upload", func(t *testing.T) whResp {
			return whDo(t, http.MethodPost, s.URL+"/v2/UPPER/blobs/uploads/", nil, nil)
		}, badErr(400, "NAME_INVALID")},
		{"name with .. component", get(s.URL + "/v2/known/../img/manifests/v1"),
			[]badWant{{400, []string{"NAME_INVALID"}}, {404, nil}}},
		{"name a..b", get(s.URL + "/v2/a..b/tags/list"), badErr(400, "NAME_INVALID")},
		{"name empty component a//b", get(s.URL + "/v2/a//b/manifests/v1"),
			[]badWant{{400, []string{"NAME_INVALID"}}, {404, nil}}},
		{"name trailing slash", get(s.URL + "/v2/known/img//manifests/v1"),
			[]badWant{{400, []string{"NAME_INVALID"}}, {404, nil}}},
		{"name leading dash", get(s.URL + "/v2/-known/tags/list"), badErr(400, "NAME_INVALID")},
		{"name over 255 chars POST upload", func(t *testing.T) whResp {
			return whDo(t, http.MethodPost, s.URL+"/v2/"+longName+"/blobs/uploads/", nil, nil)
		}, badErr(400, "NAME_INVALID")},
		{"name over 255 chars PUT manifest", func(t *testing.T) whResp {
			return whDo(t, http.MethodPut, s.URL+"/v2/"+longName+"/manifests/v1", ct(mediaType), rawManifest)
		}, badErr(400, "NAME_INVALID")},

		// Unknown things.
		{"unknown repo manifest", get(s.URL + "/v2/no/such/manifests/latest"),
			badErr(404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN")},
		{"unknown tag", get(base + "/manifests/nope"), badErr(404, "MANIFEST_UNKNOWN")},
		{"unknown repo tags list", get(s.URL + "/v2/no/such/tags/list"), badErr(404, "NAME_UNKNOWN")},
		{"unknown blob", get(base + "/blobs/" + unknownDigest), badErr(404, "BLOB_UNKNOWN")},
		{"known blob from another repo", get(s.URL + "/v2/known/other/blobs/" + layerDigest.String()),
			badErr(404, "BLOB_UNKNOWN", "NAME_UNKNOWN")},

		// Digests.
		{"blob digest sha256:xyz", get(base + "/blobs/sha256:xyz"), badErr(400, "DIGEST_INVALID")},
		{"blob digest short hex", get(base + "/blobs/sha256:abc"), badErr(400, "DIGEST_INVALID")},
		{"blob digest upper-case hex", get(base + "/blobs/sha256:" + strings.ToUpper(unknownDigest[7:])),
			badErr(400, "DIGEST_INVALID")},
		{"blob digest no algorithm", get(base + "/blobs/" + unknownDigest[7:]), badErr(400, "DIGEST_INVALID")},

		// Uploads.
		{"PUT upload wrong digest", func(t *testing.T) whResp {
			loc := whStartUpload(t, s, repo)
			return whDo(t, http.MethodPut, whWithQuery(loc, "digest", unknownDigest), octet, payload)
		}, badErr(400, "DIGEST_INVALID")},
		{"PUT upload without digest", func(t *testing.T) whResp {
			loc := whStartUpload(t, s, repo)
			return whDo(t, http.MethodPut, loc, octet, payload)
		}, badErr(400, "DIGEST_INVALID")},
		{"PUT upload malformed digest", func(t *testing.T) whResp {
			loc := whStartUpload(t, s, repo)
			return whDo(t, http.MethodPut, whWithQuery(loc, "digest", "sha256:zz"), octet, payload)
		}, badErr(400, "DIGEST_INVALID")},
		{"PUT upload wrong digest leaves no blob", func(t *testing.T) whResp {
			loc := whStartUpload(t, s, repo)
			whDo(t, http.MethodPut, whWithQuery(loc, "digest", unknownDigest), octet, payload)
			return whDo(t, http.MethodHead, base+"/blobs/"+unknownDigest, nil, nil)
		}, []badWant{{404, nil}}},
		{"unknown upload uuid GET", get(base + "/blobs/uploads/" + uuid), badErr(404, "BLOB_UPLOAD_UNKNOWN")},
		{"unknown upload uuid PATCH", func(t *testing.T) whResp {
			return whDo(t, http.MethodPatch, base+"/blobs/uploads/"+uuid, octet, payload)
		}, badErr(404, "BLOB_UPLOAD_UNKNOWN")},
		{"unknown upload uuid PUT", func(t *testing.T) whResp {
			return whDo(t, http.MethodPut, base+"/blobs/uploads/"+uuid+"?digest="+whDigest(payload), octet, payload)
		}, badErr(404, "BLOB_UPLOAD_UNKNOWN")},
		{"unknown upload uuid DELETE", func(t *testing.T) whResp {
			return whDo(t, http.MethodDelete, base+"/blobs/uploads/"+uuid, nil, nil)
		}, badErr(404, "BLOB_UPLOAD_UNKNOWN")},
		// Encoded slashes decode into extra path segments, so the path may
		// no longer name an upload at all: any 404 or 400 is fine, what
		// matters is no 200 and no 5xx.
		{"upload uuid path traversal", get(base + "/blobs/uploads/..%2F..%2F..%2Fetc%2Fpasswd"),
			[]badWant{{404, nil}, {400, nil}}},
		{"upload uuid ..", get(base + "/blobs/uploads/.."),
			[]badWant{{404, []string{"BLOB_UPLOAD_UNKNOWN"}}, {400, []string{"BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN"}}}},
		{"upload session used from another repo", func(t *testing.T) whResp {
			loc := whStartUpload(t, s, repo)
			u, _ := url.Parse(loc)
			if !strings.HasPrefix(u.Path, "/v2/"+repo+"/blobs/uploads/") {
				t.Skipf("upload Location %q is not under the repository", loc)
			}
			u.Path = strings.Replace(u.Path, "/v2/"+repo+"/", "/v2/known/other/", 1)
			return whDo(t, http.MethodPatch, u.String(), octet, payload)
		}, badErr(404, "BLOB_UPLOAD_UNKNOWN")},
		{"upload session after completion", func(t *testing.T) whResp {
			loc := whStartUpload(t, s, repo)
			r := whDo(t, http.MethodPut, whWithQuery(loc, "digest", whDigest(payload)), octet, payload)
			if r.Status != http.StatusCreated {
				t.Fatalf("completing upload: %s", r)
			}
			return whDo(t, http.MethodPatch, loc, octet, payload)
		}, badErr(404, "BLOB_UPLOAD_UNKNOWN")},
		{"upload session after DELETE", func(t *testing.T) whResp {
			loc := whStartUpload(t, s, repo)
			if r := whDo(t, http.MethodDelete, loc, nil, nil); r.Status != http.StatusNoContent {
				t.Errorf("DELETE upload: %s, want 204%s", r, whLogIf5xx(s, r))
			}
			return whDo(t, http.MethodGet, loc, nil, nil)
		}, badErr(404, "BLOB_UPLOAD_UNKNOWN")},
		{"PATCH out of order", func(t *testing.T) whResp {
			loc := whStartUpload(t, s, repo)
			r := whDo(t, http.MethodPatch, loc, map[string]string{"Content-Type": "application/octet-stream", "Content-Range": "0-9"}, payload[:10])
			if r.Status != http.StatusAccepted || r.Header.Get("Range") != "0-9" {
				t.Fatalf("first chunk: %s Range %q, want 202 0-9", r, r.Header.Get("Range"))
			}
			loc = whResolve(t, s, r.Header.Get("Location"))
			bad := whDo(t, http.MethodPatch, loc, map[string]string{"Content-Type": "application/octet-stream", "Content-Range": "20-29"}, payload[:10])
			// The session survives a rejected chunk at its old offset.
			st := whDo(t, http.MethodGet, loc, nil, nil)
			if st.Status != http.StatusNoContent || st.Header.Get("Range") != "0-9" {
				t.Errorf("status after 416: %s Range %q, want 204 0-9", st, st.Header.Get("Range"))
			}
			return bad
		}, badErr(416, "BLOB_UPLOAD_INVALID")},
		{"PATCH first chunk not at 0", func(t *testing.T) whResp {
			loc := whStartUpload(t, s, repo)
			return whDo(t, http.MethodPatch, loc, map[string]string{"Content-Type": "application/octet-stream", "Content-Range": "5-14"}, payload[:10])
		}, badErr(416, "BLOB_UPLOAD_INVALID")},
		{"PATCH Content-Range longer than body", func(t *testing.T) whResp {
			loc := whStartUpload(t, s, repo)
			return whDo(t, http.MethodPatch, loc, map[string]string{"Content-Type": "application/octet-stream", "Content-Range": "0-99"}, payload[:10])
		}, []badWant{{416, []string{"BLOB_UPLOAD_INVALID"}}, {400, []string{"SIZE_INVALID", "BLOB_UPLOAD_INVALID"}}}},
		{"blob Range beyond size", func(t *testing.T) whResp {
			return whDo(t, http.MethodGet, base+"/blobs/"+layerDigest.String(),
				map[string]string{"Range": "bytes=" + strconv.FormatInt(layerSize+10, 10) + "-" + strconv.FormatInt(layerSize+20, 10)}, nil)
		}, []badWant{{416, nil}}},

		{"OK: blob Range in a unit other than bytes is ignored", func(t *testing.T) whResp {
			r := whDo(t, http.MethodGet, base+"/blobs/"+layerDigest.String(), map[string]string{"Range": "items=0-5"}, nil)
			if r.Status == http.StatusOK && int64(len(r.Body)) != layerSize {
				t.Errorf("got %d bytes, want the whole blob of %d", len(r.Body), layerSize)
			}
			return r
		}, []badWant{{200, nil}}},
		{"OK: blob Range unit in capitals", func(t *testing.T) whResp {
			r := whDo(t, http.MethodGet, base+"/blobs/"+layerDigest.String(), map[string]string{"Range": "Bytes=0-5"}, nil)
			if r.Status == http.StatusPartialContent && len(r.Body) != 6 {
				t.Errorf("got %d bytes, want 6", len(r.Body))
			}
			return r
		}, []badWant{{206, nil}}},

		// Listings: n is clamped, never an error outside the spec's table.
		{"OK: catalog n=-1", get(s.URL + "/v2/_catalog?n=-1"), []badWant{{200, nil}}},
		{"OK: catalog n not a number", get(s.URL + "/v2/_catalog?n=abc"), []badWant{{200, nil}}},
		{"OK: tags n=0", get(base + "/tags/list?n=0"), []badWant{{200, nil}}},
		{"OK: tags n huge", get(base + "/tags/list?n=99999999999999999999"), []badWant{{200, nil}}},
		{"OK: tags n=-5", get(base + "/tags/list?n=-5"), []badWant{{200, nil}}},

		// Manifests.
		{"manifest broken JSON", putManifest("broken", mediaType, []byte(`{"schemaVersion":2,`)), badErr(400, "MANIFEST_INVALID")},
		{"manifest JSON array", putManifest("broken", mediaType, []byte(`[]`)), badErr(400, "MANIFEST_INVALID")},
		{"manifest schemaVersion 1", putManifest("broken", mediaType, manifestWith(func(m map[string]any) {
			m["schemaVersion"] = 1
		})), badErr(400, "MANIFEST_INVALID")},
		// Sparse indexes are accepted by default (validation.manifests.sparse:
		// indexes), images missing blobs are not; TestSparseImage and
		// TestSparseRefused cover the other policies.
		{"manifest missing layer blob", putManifest("missing", mediaType, manifestWith(func(m map[string]any) {
			m["layers"].([]any)[0].(map[string]any)["digest"] = unknownDigest
		})), badErr(400, "MANIFEST_BLOB_UNKNOWN")},
		{"manifest missing config blob", putManifest("missing", mediaType, manifestWith(func(m map[string]any) {
			m["config"].(map[string]any)["digest"] = unknownDigest
		})), badErr(400, "MANIFEST_BLOB_UNKNOWN")},
		{"OK: sparse index with missing child", putManifest("missing", string(types.OCIImageIndex), []byte(`{"schemaVersion":2,`+
			`"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":`+
			`"application/vnd.oci.image.manifest.v1+json","digest":"`+unknownDigest+`","size":100}]}`)),
			[]badWant{{201, nil}}},
		// A sparse index may leave children out, not describe present ones wrongly.
		{"index with present child of wrong size", putManifest("wrongsize", string(types.OCIImageIndex),
			indexOf(mediaType, int64(len(rawManifest))+1)), badErr(400, "MANIFEST_INVALID")},
		{"index with present child of wrong media type", putManifest("wrongtype", string(types.OCIImageIndex),
			indexOf(string(types.OCIManifestSchema1), int64(len(rawManifest)))), badErr(400, "MANIFEST_INVALID")},
		{"OK: index with present child described right", putManifest("rightchild", string(types.OCIImageIndex),
			indexOf(mediaType, int64(len(rawManifest)))), []badWant{{201, nil}}},
		{"manifest with too many tag parameters", func(t *testing.T) whResp {
			q := url.Values{"tag": nil}
			for i := range registry.MaxTagParams + 1 {
				q.Add("tag", "t"+strconv.Itoa(i))
			}
			return whDo(t, http.MethodPut, base+"/manifests/"+digest.String()+"?"+q.Encode(), ct(mediaType), rawManifest)
		}, badErr(414, "TAG_INVALID")},
		{"manifest tag parameter on a tag reference", func(t *testing.T) whResp {
			return whDo(t, http.MethodPut, base+"/manifests/"+tag+"?tag=other", ct(mediaType), rawManifest)
		}, badErr(400, "TAG_INVALID")},
		{"manifest invalid tag parameter", func(t *testing.T) whResp {
			return whDo(t, http.MethodPut, base+"/manifests/"+digest.String()+"?tag=ok&tag=-bad", ct(mediaType), rawManifest)
		}, badErr(400, "TAG_INVALID")},
		{"manifest unknown media type", putManifest("odd", "application/x-wharf-not-a-manifest", rawManifest),
			badErr(400, "MANIFEST_INVALID")},
		{"manifest Content-Type differs from mediaType", putManifest("odd", string(types.OCIManifestSchema1), rawManifest),
			badErr(400, "MANIFEST_INVALID")},
		{"manifest over 4 MiB", putManifest("huge", mediaType, manifestWith(func(m map[string]any) {
			m["annotations"] = map[string]string{"pad": strings.Repeat("a", 4<<20)}
		})), badErr(413, "SIZE_INVALID")},
		{"manifest by mismatched digest", putManifest(unknownDigest, mediaType, rawManifest), badErr(400, "DIGEST_INVALID")},
		{"manifest tag starting with dash", putManifest("-bad", mediaType, rawManifest), badErr(400, "TAG_INVALID")},
		{"manifest tag of 129 chars", putManifest("t"+strings.Repeat("x", 128), mediaType, rawManifest), badErr(400, "TAG_INVALID")},
		{"manifest DELETE unknown digest", func(t *testing.T) whResp {
			return whDo(t, http.MethodDelete, base+"/manifests/"+unknownDigest, nil, nil)
		}, badErr(404, "MANIFEST_UNKNOWN")},

		// Monolithic POST.
		{"POST ?digest= wrong digest", func(t *testing.T) whResp {
			return whDo(t, http.MethodPost, base+"/blobs/uploads/?digest="+unknownDigest, octet, payload)
		}, badErr(400, "DIGEST_INVALID")},

		// Positive rows at the edges: these must work.
		{"OK: POST ?digest=sha512", func(t *testing.T) whResp {
			sum := sha512.Sum512(payload)
			dg := "sha512:" + hex.EncodeToString(sum[:])
			r := whDo(t, http.MethodPost, base+"/blobs/uploads/?digest="+dg, octet, payload)
			if r.Status == http.StatusAccepted { // single-POST not supported: spec fallback
				r = whDo(t, http.MethodPut, whWithQuery(whResolve(t, s, r.Header.Get("Location")), "digest", dg), octet, payload)
			}
			if r.Status != http.StatusCreated {
				return r
			}
			g := whDo(t, http.MethodGet, base+"/blobs/"+dg, nil, nil)
			if g.Status != http.StatusOK || string(g.Body) != string(payload) || g.Header.Get("Docker-Content-Digest") != dg {
				t.Errorf("GET sha512 blob: %s, Docker-Content-Digest %q", g, g.Header.Get("Docker-Content-Digest"))
			}
			return r
		}, []badWant{{201, nil}}},
		{"OK: tag of 128 chars", putManifest("t"+strings.Repeat("x", 127), mediaType, rawManifest), []badWant{{201, nil}}},
		{"OK: manifest of 3.5 MiB", putManifest("large", mediaType, manifestWith(func(m map[string]any) {
			m["annotations"] = map[string]string{"pad": strings.Repeat("b", 3<<20+1<<19)}
		})), []badWant{{201, nil}}},
	}

	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := row.do(t)
			ok := false
			for _, w := range row.want {
				if r.Status != w.status {
					continue
				}
				if len(w.codes) == 0 {
					ok = true
					break
				}
				var e whOCIErrors
				if json.Unmarshal(r.Body, &e) == nil {
					for _, x := range e.Errors {
						for _, c := range w.codes {
							ok = ok || x.Code == c
						}
					}
				}
			}
			if !ok {
				t.Errorf("got %s\nwant one of %+v%s", r, row.want, whLogIf5xx(s, r))
			}
			// Nothing harmed: the known image still pulls whole, by tag.
			if err := whCheckImage(t, s, repo+":"+tag, img); err != nil {
				t.Fatalf("known image harmed after %q: %v\nserver log:\n%s", row.name, err, s.Log.String())
			}
		})
	}
	// A last check by digest, after all rows.
	whVerifyImage(t, s, repo+"@"+digest.String(), img)
}
