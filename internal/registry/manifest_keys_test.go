package registry

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestManifestKeysExact: keys wharf reads must be spelled exactly and only
// once, or wharf would track other references than clients read; keys it
// does not read, and annotation keys, may be anything.
func TestManifestKeysExact(t *testing.T) {
	d1 := `"sha256:` + strings.Repeat("1", 64) + `"`
	d2 := `"sha256:` + strings.Repeat("2", 64) + `"`
	head := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"plain", head + `"config":{"mediaType":"a","digest":` + d1 + `,"size":1},"layers":[]}`, true},
		{"annotations in any case", head + `"config":{"digest":` + d1 + `,"size":1},"annotations":{"Config":"x","config":"y"}}`, true},
		{"unknown keys in any case", head + `"config":{"digest":` + d1 + `,"size":1,"X-Extra":1},"Comment":"x","comment":"y"}`, true},
		{"Config", head + `"Config":{"digest":` + d1 + `,"size":1}}`, false},
		{"config and Config", head + `"config":{"digest":` + d1 + `,"size":1},"Config":{"digest":` + d2 + `,"size":1}}`, false},
		{"LAYERS", head + `"config":{"digest":` + d1 + `,"size":1},"LAYERS":[{"digest":` + d2 + `,"size":1}]}`, false},
		{"layers twice", head + `"config":{"digest":` + d1 + `,"size":1},"layers":[{"digest":` + d2 + `,"size":1}],"layers":[]}`, false},
		{"Digest in a layer", head + `"config":{"digest":` + d1 + `,"size":1},"layers":[{"digest":` + d2 + `,"Digest":` + d1 + `,"size":1}]}`, false},
		{"digest twice in the config", head + `"config":{"digest":` + d2 + `,"digest":` + d1 + `,"size":1}}`, false},
		{"Kelvin sign", head + `"config":{"digest":` + d1 + `,"size":1},"\u212Aey":1,"subject":{"digest":` + d2 + `,"ſize":1}}`, false},
		{"MediaType", `{"schemaVersion":2,"MediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":` + d1 + `,"size":1}}`, false},
	} {
		_, err := parseManifest("application/vnd.oci.image.manifest.v1+json", []byte(tc.body), digest.FromString(tc.body))
		if ok := err == nil; ok != tc.ok {
			t.Errorf("%s: err %v, want ok %v", tc.name, err, tc.ok)
		} else if err != nil && !hasCode(err, CodeManifestInvalid) {
			t.Errorf("%s: %v, want MANIFEST_INVALID", tc.name, err)
		}
	}
}
