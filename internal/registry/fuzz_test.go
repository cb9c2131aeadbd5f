package registry

// Native fuzz tests for the parsers a client reaches: repository names,
// tags, digests, manifest references and manifests. `make fuzz` runs each
// briefly; testdata/fuzz/Fuzz*/ holds the corpus taken from the seeds'
// commands and manifests and any crasher found, which plain `go test` runs
// as regression cases.

import (
	"bytes"
	"encoding/json"
	"net/url"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/meta"
)

// seedNames are repository names users type, from the seeds' commands.
var seedNames = []string{
	"library/hello-world", "hello-world", "cloudman6/httpd", "httpd", "yidao620/httpd",
	"hello-ubuntu", "ubuntu", "registry", "libmesos/ubuntu", "library/registry",
	"library/nginx", "reynholm/help-system-server", "centos6.6", "ubuntu-with-vi",
	"myimage", "a/b/c__d", "x-y--z", "team-a/app.v2",
	// What a client must be refused.
	"localhost:5000/library/hello-world", "Library/Hello", "a//b", "/a", "a/", "../etc", "a/./b", "",
}

// seedTags are tags from the seeds' `docker tag` and `docker pull` lines.
var seedTags = []string{
	"latest", "v1", "12.04", "1.9.1", "2.0.0", "2.5.0", "1.11.5", "1", "_x", "A-b.c_d",
	".hidden", "-x", "a:b", "sha256:abc", strings.Repeat("t", 129), "",
}

// seedDigests are digests from the seeds' manifests and curl lines.
var seedDigests = []string{
	"sha256:c54a2cc56cbb2f04003c1cd4507e118af7c0d340fe7e2720f70976c4b75237dc",
	"sha256:c04b14da8d1441880ed3fe6106fb2cc6fa1c9661846ac0266b8a5ec8edf37b7c",
	"sha256:a18ed77532f6d6781500db650194e0f9396ba5f05f8b50d4046b294ae5f83aa4",
	"sha512:" + strings.Repeat("ab", 64),
	"sha256:C54A2CC56CBB2F04003C1CD4507E118AF7C0D340FE7E2720F70976C4B75237DC",
	"sha256:c54a2cc5", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
	"sha256:", ":abc", "",
}

// FuzzValidateName: a name that validates is already in every canonical
// form a route or a path could put it in, so it means one repository only.
func FuzzValidateName(f *testing.F) {
	for _, n := range seedNames {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		checkGrammars(t, name)
		if ValidateName(name) != nil {
			return
		}
		if len(name) > maxNameLength {
			t.Fatalf("%q: valid at %d bytes, over %d", name, len(name), maxNameLength)
		}
		if strings.ToLower(name) != name {
			t.Errorf("%q: valid but not lower case", name)
		}
		if c := path.Clean("/" + name); c != "/"+name {
			t.Errorf("%q: valid but path.Clean makes it %q", name, c)
		}
		if e := (&url.URL{Path: "/v2/" + name}).EscapedPath(); e != "/v2/"+name {
			t.Errorf("%q: valid but escaped in a URL as %q", name, e)
		}
		for _, comp := range strings.Split(name, "/") {
			if ValidateName(comp) != nil {
				t.Errorf("%q: valid but its component %q is not", name, comp)
			}
		}
		if IsDigest(name) {
			t.Errorf("%q: a valid name looks like a digest", name)
		}
	})
}

// FuzzValidateTag: a valid tag can never be taken for a digest, and fits a
// path segment unchanged.
func FuzzValidateTag(f *testing.F) {
	for _, tag := range seedTags {
		f.Add(tag)
	}
	for _, d := range seedDigests {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		checkGrammars(t, tag)
		if ValidateTag(tag) != nil {
			return
		}
		if IsDigest(tag) {
			t.Errorf("%q: a valid tag looks like a digest", tag)
		}
		if len(tag) == 0 || len(tag) > 128 {
			t.Errorf("%q: valid at %d bytes", tag, len(tag))
		}
		if url.PathEscape(tag) != tag || strings.Contains(tag, "/") {
			t.Errorf("%q: valid but not a plain path segment", tag)
		}
	})
}

// FuzzParseDigest: an accepted digest is canonical (its string is the
// input), validates, names an available algorithm with an encoded part of
// the right length, and is never a tag.
func FuzzParseDigest(f *testing.F) {
	for _, d := range seedDigests {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		// ParseDigest's shortcut for sha256 must agree with go-digest.
		if pd, perr := digest.Parse(s); (err == nil) != (perr == nil && pd.Algorithm().Available()) {
			t.Fatalf("%q: ParseDigest error %v, go-digest %v", s, err, perr)
		}
		if err != nil {
			if !hasCode(err, CodeDigestInvalid) {
				t.Fatalf("%q: error with code other than DIGEST_INVALID: %v", s, err)
			}
			return
		}
		if d.String() != s {
			t.Errorf("%q: parsed as %q", s, d)
		}
		if err := d.Validate(); err != nil {
			t.Errorf("%q: accepted but does not validate: %v", s, err)
		}
		alg := d.Algorithm()
		if !alg.Available() || len(d.Encoded()) != alg.Size()*2 {
			t.Errorf("%q: algorithm %q (available %v), encoded length %d", s, alg, alg.Available(), len(d.Encoded()))
		}
		if !IsDigest(s) || ValidateTag(s) == nil {
			t.Errorf("%q: a digest taken for a tag", s)
		}
		if e := url.PathEscape(s); e != s && strings.ReplaceAll(e, "%3A", ":") != s {
			t.Errorf("%q: not a plain path segment (%q)", s, e)
		}
	})
}

// FuzzManifestIdentity: the reference of a manifest PUT (tag or digest)
// and its bytes decide the digest it is stored under; a digest reference
// must be the payload's digest in that algorithm.
func FuzzManifestIdentity(f *testing.F) {
	for _, tag := range seedTags {
		f.Add(tag, []byte(seedManifest))
	}
	for _, d := range seedDigests {
		f.Add(d, []byte(seedManifest))
	}
	f.Add(digest.FromString(seedManifest).String(), []byte(seedManifest))
	f.Add(digest.SHA512.FromString(seedManifest).String(), []byte(seedManifest))
	f.Fuzz(func(t *testing.T, ref string, payload []byte) {
		d, tag, err := manifestIdentity(ref, payload)
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("%q: not a registry error: %v", ref, err)
			}
			return
		}
		if d.Validate() != nil || d.Algorithm().FromBytes(payload) != d {
			t.Errorf("%q: stored under %q, which is not the payload's digest", ref, d)
		}
		switch {
		case tag == "" && d.String() != ref:
			t.Errorf("pushed by digest %q, stored under %q", ref, d)
		case tag != "" && (tag != ref || ValidateTag(tag) != nil || d != digest.FromBytes(payload)):
			t.Errorf("pushed by tag %q: tag %q, digest %q", ref, tag, d)
		}
	})
}

// hasCode reports whether err is a registry error with code c.
func hasCode(err error, c Code) bool {
	e, ok := AsError(err)
	return ok && e.Code == c
}

// seedManifest is the hello-world manifest of seed 002.
const seedManifest = `{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1473,
      "digest": "sha256:c54a2cc56cbb2f04003c1cd4507e118af7c0d340fe7e2720f70976c4b75237dc"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 974,
         "digest": "sha256:c04b14da8d1441880ed3fe6106fb2cc6fa1c9661846ac0266b8a5ec8edf37b7c"
      }
   ]
}`

// seedIndex lists the seed's image for two platforms.
const seedIndex = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
	`{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":524,` +
	`"digest":"sha256:a18ed77532f6d6781500db650194e0f9396ba5f05f8b50d4046b294ae5f83aa4","platform":{"architecture":"amd64","os":"linux"}},` +
	`{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":524,` +
	`"digest":"sha256:a18ed77532f6d6781500db650194e0f9396ba5f05f8b50d4046b294ae5f83aa4","platform":{"architecture":"arm64","os":"linux"}}],` +
	`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":2,"digest":"sha256:c04b14da8d1441880ed3fe6106fb2cc6fa1c9661846ac0266b8a5ec8edf37b7c"},` +
	`"annotations":{"org.opencontainers.image.ref.name":"latest"}}`

// FuzzParseManifest: an accepted manifest is an image or an index whose
// references are distinct, valid digests of the right kind, whose subject
// and annotations are well-formed, and parsing is deterministic.
func FuzzParseManifest(f *testing.F) {
	for _, ct := range []string{"", MediaTypeDockerManifest, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, MediaTypeDockerManifestList, "application/json"} {
		f.Add(ct, []byte(seedManifest))
		f.Add(ct, []byte(seedIndex))
	}
	f.Add(mediaTypeDockerSchema1JWS, []byte(`{"schemaVersion":1,"name":"library/hello-world","tag":"latest","fsLayers":[]}`))
	f.Fuzz(func(t *testing.T, contentType string, payload []byte) {
		d := digest.FromBytes(payload)
		m, err := parseManifest(contentType, bytes.Clone(payload), d)
		if err != nil {
			if !hasCode(err, CodeManifestInvalid) {
				t.Fatalf("error with code other than MANIFEST_INVALID: %v", err)
			}
			return
		}
		if m.Digest != d || !bytes.Equal(m.Payload, payload) {
			t.Errorf("digest or payload changed")
		}
		wantKind := meta.RefBlob
		switch {
		case isImageType(m.MediaType):
			if len(m.Refs) == 0 {
				t.Errorf("image manifest without its config reference")
			}
		case isIndexType(m.MediaType):
			wantKind = meta.RefManifest
		default:
			t.Fatalf("accepted media type %q", m.MediaType)
		}
		seen := map[digest.Digest]bool{}
		for _, r := range m.Refs {
			if _, err := ParseDigest(r.Digest.String()); err != nil {
				t.Errorf("reference %q does not validate: %v", r.Digest, err)
			}
			if r.Kind != wantKind {
				t.Errorf("%s has a reference of kind %v", m.MediaType, r.Kind)
			}
			if seen[r.Digest] {
				t.Errorf("reference %q listed twice", r.Digest)
			}
			seen[r.Digest] = true
		}
		if m.Subject != "" {
			if _, err := ParseDigest(m.Subject.String()); err != nil {
				t.Errorf("subject %q does not validate: %v", m.Subject, err)
			}
		}
		if m.Annotations != nil && !json.Valid(m.Annotations) {
			t.Errorf("annotations are not JSON: %q", m.Annotations)
		}
		if want := literalRefs(t, payload, m.MediaType); !reflect.DeepEqual(refDigests(m.Refs), want) {
			t.Errorf("references %v, but a case-sensitive reading of the JSON names %v", refDigests(m.Refs), want)
		}
		again, err := parseManifest(contentType, bytes.Clone(payload), d)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Errorf("a second parse differs: %v", err)
		}
	})
}

func refDigests(refs []meta.Ref) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, r.Digest.String())
	}
	return out
}

// literalRefs reads the references of a manifest as a client that matches
// JSON keys exactly (not as encoding/json's structs do, ignoring case)
// would: the registry must track the blobs such a client fetches.
func literalRefs(t *testing.T, payload []byte, mediaType string) []string {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(payload, &doc); err != nil {
		t.Fatalf("accepted manifest is not a JSON object: %v", err)
	}
	digestOf := func(raw json.RawMessage) string {
		var desc map[string]json.RawMessage
		json.Unmarshal(raw, &desc)
		var d string
		json.Unmarshal(desc["digest"], &d)
		return d
	}
	var out []string
	add := func(d string) {
		for _, have := range out {
			if have == d {
				return
			}
		}
		out = append(out, d)
	}
	list := func(key string) {
		var items []json.RawMessage
		json.Unmarshal(doc[key], &items)
		for _, it := range items {
			var desc map[string]json.RawMessage
			json.Unmarshal(it, &desc)
			var lit ocispec.Descriptor
			json.Unmarshal(desc["mediaType"], &lit.MediaType)
			json.Unmarshal(desc["urls"], &lit.URLs)
			if key == "layers" && isNonDistributable(lit) {
				continue
			}
			add(digestOf(it))
		}
	}
	if isImageType(mediaType) {
		add(digestOf(doc["config"]))
		list("layers")
	} else {
		list("manifests")
	}
	if out == nil {
		out = []string{}
	}
	return out
}
