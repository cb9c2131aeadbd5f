package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestKeyClasses loads one configuration per kind of key and checks the
// outcome: it starts, it starts with a warning saying why, or it is
// refused with an error naming the key.
func TestKeyClasses(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     []string
		warning string // a warning that must be there; "" for none at all
		refused string // the error's start; "" when the config loads
		class   Class  // the verdict Keys gives the key named by want
		key     string
	}{
		{name: "implemented", yaml: "storage:\n  delete:\n    enabled: true\n", class: Implemented, key: "storage.delete.enabled"},
		{name: "implemented by env", env: []string{"REGISTRY_STORAGE_DELETE_ENABLED=true"}, class: Implemented, key: "storage.delete.enabled"},
		{name: "harmless section", yaml: "redis:\n  addr: r:6379\n", warning: "config: redis is not needed by wharf; ignored (line 1)",
			class: Harmless, key: "redis"},
		{name: "harmless key of a known section", yaml: "http:\n  secret: s\n", warning: "config: http.secret is not needed by wharf",
			class: Harmless, key: "http.secret"},
		{name: "harmless s3 tuning", yaml: "storage:\n  s3:\n    bucket: b\n    v4auth: true\n",
			warning: "config: storage.s3.v4auth is not needed by wharf", class: Harmless, key: "storage.s3.v4auth"},
		{name: "refused storage driver", yaml: "storage:\n  swift:\n    username: a\n    container: c\n",
			refused: "config: storage.swift (line 2): refused: a storage backend wharf does not have"},
		{name: "refused storage driver by env", env: []string{"REGISTRY_STORAGE_OSS_BUCKET=b"},
			refused: "config: REGISTRY_STORAGE_OSS_BUCKET (storage.oss): refused: a storage backend"},
		{name: "harmless azure copy polling", yaml: "storage:\n  azure:\n    accountname: a\n    container: c\n    copy_status_poll_delay: 1s\n",
			warning: "config: storage.azure.copy_status_poll_delay is not needed by wharf", class: Harmless, key: "storage.azure.copy_status_poll_delay"},
		{name: "refused auth method", yaml: "auth:\n  silly:\n    realm: r\n    service: s\n",
			refused: "config: auth.silly (line 2): refused: silly auth lets any client in"},
		{name: "refused s3 encryption", yaml: "storage:\n  s3:\n    bucket: b\n    encrypt: true\n",
			refused: "config: storage.s3.encrypt (line 4): refused: server-side encryption"},
		{name: "refused key set to nothing", yaml: "storage:\n  s3:\n    bucket: b\n    encrypt: false\n",
			warning: "config: storage.s3.encrypt is set to nothing; ignored (line 4)", class: Harmless, key: "storage.s3.encrypt"},
		{name: "refused schema1", yaml: "compatibility:\n  schema1:\n    enabled: true\n",
			refused: "config: compatibility.schema1.enabled (line 1): refused: wharf never accepts schema1 manifests"},
		{name: "harmless schema1 key", yaml: "compatibility:\n  schema1:\n    signingkeyfile: /k\n",
			warning: "config: compatibility is not needed by wharf", class: Harmless, key: "compatibility"},
		{name: "refused value of a known key", yaml: "http:\n  prefix: /my/registry/\n",
			refused: "config: http.prefix (line 2): refused: wharf serves the API at the root"},
		{name: "headers implemented", yaml: "http:\n  headers:\n    X-Content-Type-Options: [nosniff]\n", class: Implemented, key: "http.headers"},
		{name: "bad header name", yaml: "http:\n  headers:\n    \"Bad Name\": [x]\n", refused: "config: http.headers (line 3): \"Bad Name\" is not a valid header name"},
		{name: "h2c implemented", yaml: "http:\n  h2c:\n    enabled: true\n", class: Implemented, key: "http.h2c.enabled"},
		{name: "clientauth", yaml: "http:\n  tls:\n    certificate: /c\n    key: /k\n    clientauth: verify-client-cert-if-given\n",
			class: Implemented, key: "http.tls.clientauth"},
		{name: "clientauth unknown", yaml: "http:\n  tls:\n    clientauth: maybe\n", refused: "config: http.tls.clientauth (line 3)"},
		{name: "cipher suites", yaml: "http:\n  tls:\n    ciphersuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n",
			class: Implemented, key: "http.tls.ciphersuites"},
		{name: "insecure cipher suite", yaml: "http:\n  tls:\n    ciphersuites: [TLS_RSA_WITH_RC4_128_SHA]\n",
			refused: "config: http.tls.ciphersuites (line 3): TLS_RSA_WITH_RC4_128_SHA is insecure"},
		{name: "health implemented", yaml: "health:\n  storagedriver:\n    enabled: true\n", class: Implemented, key: "health.storagedriver.enabled"},
		{name: "health http check needs a URL", yaml: "health:\n  http:\n    - uri: nowhere\n", refused: "config: health.http[0].uri"},
		{name: "sparse policy", yaml: "validation:\n  manifests:\n    sparse: all\n", class: Implemented, key: "validation.manifests.sparse"},
		{name: "sparse policy unknown", yaml: "validation:\n  manifests:\n    sparse: true\n",
			refused: `config: validation.manifests.sparse (line 3): "true" is not one of none, indexes, all`},
		{name: "manifest URLs", yaml: "validation:\n  manifests:\n    urls:\n      allow: ['^https://']\n", class: Implemented, key: "validation.manifests.urls.allow"},
		{name: "manifest URL pattern broken", yaml: "validation:\n  manifests:\n    urls:\n      deny: ['(']\n", refused: "config: validation.manifests.urls.deny (line 4)"},
		{name: "validation.enabled harmless", yaml: "validation:\n  enabled: true\n", warning: "config: validation.enabled is not needed by wharf", class: Harmless, key: "validation.enabled"},
		{name: "letsencrypt in the wrong place", yaml: "http:\n  letsencrypt:\n    cachefile: /c\n",
			refused: "config: http.letsencrypt (line 2): refused: distribution reads Let's Encrypt settings under http.tls.letsencrypt"},
		{name: "refused key asking what wharf does", yaml: "http:\n  net: tcp\n", warning: "config: http.net asks for what wharf does anyway",
			class: Harmless, key: "http.net"},
		{name: "refused key asking otherwise", yaml: "http:\n  net: unix\n", refused: "config: http.net (line 2): refused: wharf listens on TCP only"},
		{name: "index platforms", yaml: "validation:\n  manifests:\n    indexes:\n      platforms: all\n", class: Implemented, key: "validation.manifests.indexes.platforms"},
		{name: "index platform list empty", yaml: "validation:\n  manifests:\n    indexes:\n      platforms: list\n",
			refused: "config: validation.manifests.indexes.platformlist"},
		{name: "index platforms contradict sparse", yaml: "validation:\n  manifests:\n    sparse: all\n    indexes:\n      platforms: all\n",
			refused: "config: validation.manifests.indexes.platforms (line 5): all (every child required) contradicts"},
		{name: "index platforms unknown", yaml: "validation:\n  manifests:\n    indexes:\n      platforms: some\n",
			refused: `config: validation.manifests.indexes.platforms (line 4): "some" is not one of all, none, list`},
		{name: "unknown key", yaml: "storage:\n  frobnicate: 1\n", warning: "config: storage.frobnicate is an unknown key; ignored (line 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings, err := Parse([]byte(tt.yaml), tt.env)
			if tt.refused != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.refused) {
					t.Fatalf("Parse error = %v, want one starting %q", err, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			found := tt.warning == "" && len(warnings) == 0
			for _, w := range warnings {
				found = found || (tt.warning != "" && strings.HasPrefix(w, tt.warning))
			}
			if !found {
				t.Errorf("warnings = %q, want one starting %q", warnings, tt.warning)
			}
			if tt.key == "" {
				return
			}
			for _, k := range c.Keys() {
				if k.Key == tt.key {
					if k.Class != tt.class {
						t.Errorf("Keys: %s is %s, want %s", k.Key, k.Class, tt.class)
					}
					return
				}
			}
			t.Errorf("Keys = %+v lacks %s", c.Keys(), tt.key)
		})
	}
}

// TestNoConfigKeyRefused: a key wharf's Config has is implemented, so the
// table must not refuse it (or the key is unreachable). A field added for
// a feature must have its table entry removed.
func TestNoConfigKeyRefused(t *testing.T) {
	var walk func(reflect.Type, string)
	walk = func(t2 reflect.Type, path string) {
		for t2.Kind() == reflect.Pointer || t2.Kind() == reflect.Slice {
			t2 = t2.Elem()
		}
		if t2.Kind() != reflect.Struct || t2 == reflect.TypeOf(Config{}.GC.Interval) {
			return
		}
		for _, f := range structFields(t2) {
			p := joinPath(path, f.key)
			if c, key, ok := classify(p); ok && c.class == Refused {
				t.Errorf("%s is a key of Config but the table refuses it (entry %s)", p, key)
			}
			walk(t2.FieldByIndex(f.index).Type, p)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
}

// TestKeysDocumented: every verdict of the table is in
// docs/configuration.md, so the page users read matches what wharf does.
func TestKeysDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	for key, c := range distributionKeys() {
		row := "| `" + key + "` | " + c.why
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/configuration.md has no row %q (class %s)", row, c.class)
		}
	}
}
