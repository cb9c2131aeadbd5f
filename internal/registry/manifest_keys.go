package registry

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	// manifestKeys and descriptorKeys are the JSON keys wharf reads from a
	// manifest and from each descriptor in it.
	manifestKeys   = jsonKeys(reflect.TypeFor[manifestFields]())
	descriptorKeys = jsonKeys(reflect.TypeFor[ocispec.Descriptor]())
)

func jsonKeys(t reflect.Type) []string {
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// checkManifestKeys refuses a manifest in which a key wharf reads is
// spelled in another case ("Config", "LAYERS", "Digest") or appears twice,
// in the manifest or in one of its descriptors. encoding/json matches keys
// ignoring case and keeps the last of duplicates, while clients that match
// exactly, or keep the first, would read other references than the ones
// wharf checks and protects from garbage collection (found by
// FuzzParseManifest).
func checkManifestKeys(payload []byte) error {
	top, err := objectKeys(payload, manifestKeys, "manifest")
	if err != nil {
		return err
	}
	for _, k := range []string{"config", "subject"} {
		if v, ok := top[k]; ok && isObject(v) {
			if _, err := objectKeys(v, descriptorKeys, k); err != nil {
				return err
			}
		}
	}
	for _, k := range []string{"layers", "manifests"} {
		var items []json.RawMessage
		if json.Unmarshal(top[k], &items) != nil {
			continue // not a list: the typed decode has said so already
		}
		for _, it := range items {
			if !isObject(it) {
				continue
			}
			if _, err := objectKeys(it, descriptorKeys, k); err != nil {
				return err
			}
		}
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

// objectKeys returns the members of the JSON object raw, refusing a member
// whose key is one of known in another case, or a known key seen twice.
func objectKeys(raw []byte, known []string, where string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errorf(CodeManifestInvalid, "%s is not a JSON object", where)
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errorf(CodeManifestInvalid, "%s: %v", where, err)
		}
		key, _ := tok.(string)
		for _, k := range known {
			switch {
			case key == k:
				if _, dup := members[key]; dup {
					return nil, errorf(CodeManifestInvalid, "%s: key %q appears twice", where, key)
				}
			case strings.EqualFold(key, k):
				return nil, errorf(CodeManifestInvalid, "%s: key %q must be spelled %q (JSON keys are case-sensitive)", where, key, k)
			}
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errorf(CodeManifestInvalid, "%s: %v", where, err)
		}
		members[key] = v
	}
	return members, nil
}
