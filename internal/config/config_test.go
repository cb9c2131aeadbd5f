package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedConfig is the config.yml users of distribution's registry:2 image
// run with (seed 002); wharf must take it unchanged.
const seedConfig = `version: 0.1
log:
  level: debug
  fields:
    service: registry
storage:
    cache:
        layerinfo: inmemory
    filesystem:
        rootdirectory: /var/lib/registry
    maintenance:
        uploadpurging:
            enabled: false
        readonly:
            enabled: false
    delete:
        enabled: true
http:
    addr: :5000
    secret: yoursecret
`

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefault(t *testing.T) {
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", c.Version, "0.1"},
		{"log.level", c.Log.Level, "info"},
		{"log.formatter", c.Log.Formatter, "text"},
		{"rootdirectory", c.Storage.Filesystem.RootDirectory, "./data"},
		{"delete.enabled", c.Storage.Delete.Enabled, false},
		{"uploadpurging.enabled", c.Storage.Maintenance.UploadPurging.Enabled, true},
		{"uploadpurging.age", c.Storage.Maintenance.UploadPurging.Age, 168 * time.Hour},
		{"uploadpurging.interval", c.Storage.Maintenance.UploadPurging.Interval, 24 * time.Hour},
		{"uploadpurging.dryrun", c.Storage.Maintenance.UploadPurging.DryRun, false},
		{"http.addr", c.HTTP.Addr, ":5000"},
		{"http.readheadertimeout", c.HTTP.ReadHeaderTimeout, 10 * time.Second},
		{"http.idletimeout", c.HTTP.IdleTimeout, 120 * time.Second},
		{"http.draintimeout", c.HTTP.DrainTimeout, 25 * time.Second},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	c.HTTP.Addr = ":1"
	if Default().HTTP.Addr != ":5000" {
		t.Error("Default shares state between calls")
	}
}

func TestLoadSeedConfig(t *testing.T) {
	c, warnings, err := Load(writeFile(t, seedConfig), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	wantWarnings := []string{
		"config: storage.cache is not needed by wharf; ignored (line 7): wharf's metadata database answers blob lookups; no cache is needed",
		"config: http.secret is not needed by wharf; ignored (line 20): wharf keeps upload state in its database, so there is nothing to sign",
	}
	if !reflect.DeepEqual(warnings, wantWarnings) {
		t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(warnings, "\n"), strings.Join(wantWarnings, "\n"))
	}
	c.keys = nil // compared in TestKeyClasses
	want := Default()
	want.Log.Level = "debug"
	want.Log.Fields = map[string]string{"service": "registry"}
	want.Storage.Cache.LayerInfo = "inmemory"
	want.Storage.Filesystem.RootDirectory = "/var/lib/registry"
	want.Storage.Maintenance.UploadPurging.Enabled = false
	want.Storage.Delete.Enabled = true
	want.HTTP.Secret = "yoursecret"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load(seed) =\n%+v\nwant\n%+v", c, want)
	}
}

func TestLoadNoFileIsDefaults(t *testing.T) {
	c, warnings, err := Load("", nil)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Load(\"\") warnings=%q err=%v", warnings, err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load(\"\") = %+v, want Default()", c)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.yml"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(*Config) (got, want any)
	}{
		{"empty file", "", func(c *Config) (any, any) { return c.HTTP.Addr, ":5000" }},
		{"comment only", "# nothing\n", func(c *Config) (any, any) { return c.Log.Level, "info" }},
		{"missing version means 0.1", "log:\n  level: warn\n", func(c *Config) (any, any) { return c.Version, "0.1" }},
		{"empty version means 0.1", "version: \"\"\n", func(c *Config) (any, any) { return c.Version, "0.1" }},
		{"quoted version", "version: \"0.1\"\n", func(c *Config) (any, any) { return c.Version, "0.1" }},
		{"null keeps default", "log:\n  level:\n", func(c *Config) (any, any) { return c.Log.Level, "info" }},
		{"duration string", "http:\n  idletimeout: 90s\n", func(c *Config) (any, any) { return c.HTTP.IdleTimeout, 90 * time.Second }},
		{"duration compound", "http:\n  draintimeout: 1m30s\n", func(c *Config) (any, any) { return c.HTTP.DrainTimeout, 90 * time.Second }},
		{"duration quoted", "http:\n  draintimeout: \"5s\"\n", func(c *Config) (any, any) { return c.HTTP.DrainTimeout, 5 * time.Second }},
		{"duration integer is nanoseconds", "http:\n  draintimeout: 1500\n", func(c *Config) (any, any) { return c.HTTP.DrainTimeout, 1500 * time.Nanosecond }},
		{"duration zero", "http:\n  draintimeout: 0\n", func(c *Config) (any, any) { return c.HTTP.DrainTimeout, time.Duration(0) }},
		{"uploadpurging age", "storage:\n  maintenance:\n    uploadpurging:\n      age: 2h\n      interval: 30m\n      dryrun: true\n",
			func(c *Config) (any, any) {
				up := c.Storage.Maintenance.UploadPurging
				return [3]any{up.Age, up.Interval, up.DryRun}, [3]any{2 * time.Hour, 30 * time.Minute, true}
			}},
		{"YAML 1.1 boolean", "storage:\n  delete:\n    enabled: yes\n", func(c *Config) (any, any) { return c.Storage.Delete.Enabled, true }},
		{"anchor and merge", "log: &l\n  level: error\nx-unused: 1\nhttp:\n  addr: :6000\n",
			func(c *Config) (any, any) { return [2]any{c.Log.Level, c.HTTP.Addr}, [2]any{"error", ":6000"} }},
		{"merge key, explicit wins", "log:\n  <<: {level: error, formatter: json}\n  level: debug\n",
			func(c *Config) (any, any) { return [2]any{c.Log.Level, c.Log.Formatter}, [2]any{"debug", "json"} }},
		{"wharf additions", "http:\n  readheadertimeout: 3s\n  prefix: /\n  host: https://r.example\n",
			func(c *Config) (any, any) {
				return [3]any{c.HTTP.ReadHeaderTimeout, c.HTTP.Prefix, c.HTTP.Host}, [3]any{3 * time.Second, "/", "https://r.example"}
			}},
		{"sparse indexes accepted by default", "", func(c *Config) (any, any) { return c.Validation.Manifests.Sparse, SparseIndexes }},
		{"sparse manifests refused", "validation:\n  manifests:\n    sparse: none\n",
			func(c *Config) (any, any) { return c.Validation.Manifests.Sparse, SparseNone }},
		{"accesslog and redirect", "log:\n  accesslog:\n    disabled: true\nstorage:\n  redirect:\n    disable: true\n  readonly: {}\n",
			func(c *Config) (any, any) {
				return [2]any{c.Log.AccessLog.Disabled, c.Storage.Redirect.Disable}, [2]any{true, true}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse([]byte(tt.yaml), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got, want := tt.check(c); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		check func(*Config) (got, want any)
	}{
		{"rootdirectory", []string{"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/srv/reg"},
			func(c *Config) (any, any) { return c.Storage.Filesystem.RootDirectory, "/srv/reg" }},
		{"addr", []string{"REGISTRY_HTTP_ADDR=127.0.0.1:5001"},
			func(c *Config) (any, any) { return c.HTTP.Addr, "127.0.0.1:5001" }},
		{"level", []string{"REGISTRY_LOG_LEVEL=error"},
			func(c *Config) (any, any) { return c.Log.Level, "error" }},
		{"bool", []string{"REGISTRY_STORAGE_DELETE_ENABLED=false"},
			func(c *Config) (any, any) { return c.Storage.Delete.Enabled, false }},
		{"bool true", []string{"REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED=true"},
			func(c *Config) (any, any) { return c.Storage.Maintenance.ReadOnly.Enabled, true }},
		{"duration", []string{"REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE=1h"},
			func(c *Config) (any, any) { return c.Storage.Maintenance.UploadPurging.Age, time.Hour }},
		{"duration integer", []string{"REGISTRY_HTTP_IDLETIMEOUT=2000000000"},
			func(c *Config) (any, any) { return c.HTTP.IdleTimeout, 2 * time.Second }},
		{"map entry added", []string{"REGISTRY_LOG_FIELDS_ENV=prod"},
			func(c *Config) (any, any) {
				return [2]string{c.Log.Fields["service"], c.Log.Fields["env"]}, [2]string{"registry", "prod"}
			}},
		{"map entry replaced", []string{"REGISTRY_LOG_FIELDS_SERVICE=x"},
			func(c *Config) (any, any) { return c.Log.Fields["service"], "x" }},
		{"list element by index", []string{"REGISTRY_GC_RETENTION_0_REPOSITORIES=ci/*", "REGISTRY_GC_RETENTION_0_KEEPLAST=3"},
			func(c *Config) (any, any) {
				if len(c.GC.Retention) != 1 {
					return len(c.GC.Retention), 1
				}
				return [2]any{c.GC.Retention[0].Repositories, c.GC.Retention[0].KeepLast}, [2]any{"ci/*", 3}
			}},
		{"list of scalars by index", []string{"REGISTRY_HEALTH_FILE_1_FILE=/down", "REGISTRY_HEALTH_FILE_0_FILE=/maint"},
			func(c *Config) (any, any) {
				if len(c.Health.File) != 2 {
					return len(c.Health.File), 2
				}
				return [2]any{c.Health.File[0].File, c.Health.File[1].File}, [2]any{"/maint", "/down"}
			}},
		{"map key with underscore", []string{"REGISTRY_LOG_FIELDS_MY_KEY=v"},
			func(c *Config) (any, any) { return c.Log.Fields["my_key"], "v" }},
		{"string verbatim", []string{"REGISTRY_HTTP_SECRET=a: b # c"},
			func(c *Config) (any, any) { return c.HTTP.Secret, "a: b # c" }},
		{"empty string", []string{"REGISTRY_HTTP_SECRET="},
			func(c *Config) (any, any) { return c.HTTP.Secret, "" }},
		{"sparse all", []string{"REGISTRY_VALIDATION_MANIFESTS_SPARSE=all"},
			func(c *Config) (any, any) { return c.Validation.Manifests.Sparse, SparseAll }},
		{"section as YAML", []string{"REGISTRY_LOG={level: warn, formatter: json}"},
			func(c *Config) (any, any) { return [2]string{c.Log.Level, c.Log.Formatter}, [2]string{"warn", "json"} }},
		{"section before its key", []string{"REGISTRY_LOG_LEVEL=error", "REGISTRY_LOG={level: warn}"},
			func(c *Config) (any, any) { return c.Log.Level, "error" }},
		{"first duplicate wins", []string{"REGISTRY_HTTP_ADDR=:1", "REGISTRY_HTTP_ADDR=:2"},
			func(c *Config) (any, any) { return c.HTTP.Addr, ":1" }},
		{"other variables ignored", []string{"HTTP_ADDR=:1", "PATH=/bin", "registry_http_addr=:2"},
			func(c *Config) (any, any) { return c.HTTP.Addr, ":5000" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings, err := Load(writeFile(t, seedConfig), tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if w := notHarmless(warnings); len(w) != 0 {
				t.Errorf("warnings = %q, want none but the seed's harmless keys", w)
			}
			if got, want := tt.check(c); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string // substrings of the error text
		key  string   // Key of the first *FieldError
		line int      // Line of the first *FieldError; -1: key and line not checked
	}{
		{"bad YAML", "http:\n  addr: :5000\n  secret: a: b\n", nil,
			[]string{"config: http.secret (line 3): invalid YAML"}, "http.secret", 3},
		{"unclosed flow", "log:\n  fields: {a: 1\n", nil,
			[]string{"invalid YAML"}, "", -1}, // yaml picks the line; only the kind of error is ours
		{"bool wrong type", "storage:\n  delete:\n    enabled: maybe\n", nil,
			[]string{`config: storage.delete.enabled (line 3): cannot parse "maybe" as a boolean`}, "storage.delete.enabled", 3},
		{"string given a list", "version: 0.1\nhttp:\n  addr: [1, 2]\n", nil,
			[]string{"config: http.addr (line 3): expected a string, found a list"}, "http.addr", 3},
		{"section given a scalar", "log: debug\n", nil,
			[]string{"config: log (line 1): expected a mapping, found a scalar"}, "log", 1},
		{"map given a list", "log:\n  fields: [a]\n", nil,
			[]string{"config: log.fields (line 2): expected a mapping"}, "log.fields", 2},
		{"bad duration", "http:\n  idletimeout: 10 minutes\n", nil,
			[]string{`config: http.idletimeout (line 2): cannot parse "10 minutes" as a duration`}, "http.idletimeout", 2},
		{"duration float", "http:\n  idletimeout: 1.5\n", nil,
			[]string{`config: http.idletimeout (line 2): cannot parse "1.5" as a duration`}, "http.idletimeout", 2},
		{"bad level", "version: 0.1\nlog:\n  level: loud\n", nil,
			[]string{`config: log.level (line 3): unknown log level "loud"`}, "log.level", 3},
		{"bad formatter", "log:\n  formatter: logfmt\n", nil,
			[]string{`config: log.formatter (line 2): unknown log formatter "logfmt"`}, "log.formatter", 2},
		{"bad version", "version: 0.2\n", nil,
			[]string{`config: version (line 1): unsupported version "0.2"`}, "version", 1},
		{"bad addr", "http:\n  addr: localhost\n", nil,
			[]string{"config: http.addr (line 2): want host:port"}, "http.addr", 2},
		{"empty rootdirectory", "storage:\n  filesystem:\n    rootdirectory: \"\"\n", nil,
			[]string{"config: storage.filesystem.rootdirectory (line 3): must not be empty"}, "storage.filesystem.rootdirectory", 3},
		{"zero purge age", "storage:\n  maintenance:\n    uploadpurging:\n      age: 0s\n", nil,
			[]string{"config: storage.maintenance.uploadpurging.age (line 4): must be greater than zero"}, "storage.maintenance.uploadpurging.age", 4},
		{"negative timeout", "http:\n  draintimeout: -1s\n", nil,
			[]string{"config: http.draintimeout (line 2): must not be negative"}, "http.draintimeout", 2},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", nil,
			[]string{"config: log.level (line 3): duplicate key (first at line 2)"}, "log.level", 3},
		{"two documents", "log: {}\n---\nhttp: {}\n", nil,
			[]string{"more than one YAML document"}, "", 2},
		{"several problems at once", "log:\n  level: loud\n  formatter: xml\n", nil,
			[]string{"config: log.level (line 2)", "config: log.formatter (line 3)"}, "log.level", 2},
		{"env bool", "", []string{"REGISTRY_STORAGE_DELETE_ENABLED=perhaps"},
			[]string{`config: REGISTRY_STORAGE_DELETE_ENABLED (storage.delete.enabled): cannot parse "perhaps" as a boolean`}, "storage.delete.enabled", 0},
		{"env duration", "", []string{"REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE=soon"},
			[]string{"config: REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE (storage.maintenance.uploadpurging.age): cannot parse"}, "storage.maintenance.uploadpurging.age", 0},
		{"env empty bool", "", []string{"REGISTRY_STORAGE_DELETE_ENABLED="},
			[]string{"config: REGISTRY_STORAGE_DELETE_ENABLED (storage.delete.enabled): empty value"}, "storage.delete.enabled", 0},
		{"env section bad YAML", "", []string{"REGISTRY_LOG={level: [}"},
			[]string{"config: REGISTRY_LOG (log): invalid YAML value"}, "log", 0},
		{"env value fails validation", "http:\n  addr: :5000\n", []string{"REGISTRY_HTTP_ADDR=nope"},
			[]string{"config: REGISTRY_HTTP_ADDR (http.addr): want host:port"}, "http.addr", 0},
		{"env level fails validation", "", []string{"REGISTRY_LOG_LEVEL=verbose"},
			[]string{`config: REGISTRY_LOG_LEVEL (log.level): unknown log level "verbose"`}, "log.level", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse([]byte(tt.yaml), tt.env)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want an error", c)
			}
			if c != nil {
				t.Errorf("config = %+v, want nil on error", c)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			if tt.line >= 0 && (fe.Key != tt.key || fe.Line != tt.line) {
				t.Errorf("FieldError key=%q line=%d, want key=%q line=%d", fe.Key, fe.Line, tt.key, tt.line)
			}
		})
	}
}

// distributionConfig uses many keys of distribution's configuration that
// wharf does not implement yet: it must load, with a warning for each.
const distributionConfig = `version: 0.1
log:
  level: info
  formatter: text
  hooks:
    - type: mail
auth:
  htpasswd:
    realm: basic-realm
    path: /auth/htpasswd
storage:
  filesystem:
    rootdirectory: /var/lib/registry
    maxthreads: 100
  s3:
    bucket: images
  cache:
    blobdescriptor: inmemory
http:
  addr: :5000
  secret: s
  tls:
    certificate: /certs/domain.crt
    key: /certs/domain.key
  debug:
    addr: :5001
notifications:
  endpoints: []
redis:
  addr: localhost:6379
proxy:
  remoteurl: ""
`

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string // exactly these warnings, in order
	}{
		{"harmless and empty distribution keys", distributionConfig, nil, []string{
			"config: log.hooks is not needed by wharf; ignored (line 5): mail hooks are not built in; alert from your log collector instead",
			"config: storage.filesystem.maxthreads is not needed by wharf; ignored (line 14): wharf bounds filesystem work by its requests, not a thread pool",
			"config: storage.cache is not needed by wharf; ignored (line 17): wharf's metadata database answers blob lookups; no cache is needed",
			"config: http.secret is not needed by wharf; ignored (line 21): wharf keeps upload state in its database, so there is nothing to sign",
			"config: redis is not needed by wharf; ignored (line 29): distribution caches blob descriptors in Redis; wharf's metadata database answers blob lookups; no cache is needed",
		}},
		{"unknown keys", "storage:\n  filesystem:\n    rootdir: /x\nfrobnicate: true\n", nil, []string{
			"config: storage.filesystem.rootdir is an unknown key; ignored (line 3)",
			"config: frobnicate is an unknown key; ignored (line 4)",
		}},
		{"wrong case hints", "http:\n  Addr: :1\n", nil, []string{
			`config: http.Addr is an unknown key; ignored (line 2) (did you mean "addr"?)`,
		}},
		{"unknown env", "", []string{"REGISTRY_HTTP_ADRR=:1", "REGISTRY_FOO=1", "REGISTRY_=x"}, []string{
			"config: REGISTRY_: not a known setting; ignored",
			"config: REGISTRY_FOO: not a known setting; ignored",
			"config: REGISTRY_HTTP_ADRR: not a known setting; ignored",
		}},
		{"env below a leaf", "", []string{"REGISTRY_HTTP_ADDR_PORT=1"}, []string{
			"config: REGISTRY_HTTP_ADDR_PORT: not a known setting; ignored",
		}},
		{"list index too large", "", []string{"REGISTRY_GC_RETENTION_5000_KEEPLAST=1"}, []string{
			"config: REGISTRY_GC_RETENTION_5000_KEEPLAST: not a known setting; ignored",
		}},
		{"empty env", "", []string{"REGISTRY_MIDDLEWARE={}"}, []string{
			"config: REGISTRY_MIDDLEWARE: middleware is set to nothing; ignored",
		}},
		{"harmless env", "", []string{"REGISTRY_REDIS_ADDR=localhost:6379"}, []string{
			"config: REGISTRY_REDIS_ADDR: redis.addr is not needed by wharf; ignored: " +
				"distribution caches blob descriptors in Redis; wharf's metadata database answers blob lookups; no cache is needed",
		}},
		{"unknown key in env section", "", []string{"REGISTRY_LOG={level: debug, colour: true}"}, []string{
			"config: REGISTRY_LOG: log.colour is an unknown key; ignored",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warnings, err := Parse([]byte(tt.yaml), tt.env)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(warnings, tt.want) {
				t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(warnings, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestDistributionConfigValues(t *testing.T) {
	c, _, err := Parse([]byte(distributionConfig), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Storage.Filesystem.RootDirectory != "/var/lib/registry" || c.Storage.Cache.BlobDescriptor != "inmemory" {
		t.Errorf("implemented keys next to ignored ones were lost: %+v", c.Storage)
	}
}

// notHarmless drops the warnings about keys wharf does not need.
func notHarmless(warnings []string) []string {
	var out []string
	for _, w := range warnings {
		if !strings.Contains(w, "is not needed by wharf") {
			out = append(out, w)
		}
	}
	return out
}
