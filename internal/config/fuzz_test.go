package config

// Native fuzz tests for the configuration decoder: the file and the
// REGISTRY_* variables. `make fuzz` runs each briefly; testdata/fuzz/Fuzz*/
// holds the seeds' files (config.yml, docker-compose.yaml, nginx.conf) and
// any crasher found.

import (
	"bytes"
	"testing"

	"go.yaml.in/yaml/v3"
)

// fuzzConfigs are configuration files users write: the seed's, and the
// sections wharf adds.
var fuzzConfigs = []string{
	seedConfig,
	"",
	"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n",
	`version: 0.1
storage:
  s3:
    accesskey: AKIAHSHB43HS3J92MXZ
    secretkey: xdDowwlK7TJajV1Y7EoOZrmuPEJlHYcNP2k4j49T
    region: us-east-1
    regionendpoint: http://127.0.0.1:9000
    bucket: acme-docker
    rootdirectory: /registry
    chunksize: 10485760
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: true
      age: 168h
      interval: 24h
database:
  dsn: postgres://wharf:secret@127.0.0.1:5432/wharf
auth:
  htpasswd:
    realm: basic-realm
    path: /etc/wharf/htpasswd
  tokenserver:
    enabled: true
access:
  admins: [alice]
  public: ["library/*"]
  groups:
    devs: [carol]
  rules:
    - repositories: "team/*"
      groups: [devs]
      actions: [pull, push]
gc:
  interval: 1h
  retention:
    - repositories: "ci/*"
      keeplast: 10
      keepwithin: 720h
      keeptags: [latest, "v*"]
`,
	"base: &base\n  level: info\nlog:\n  <<: *base\n  formatter: json\n",
	"log: [1, 2]\n",
	"http:\n  addr: :5000\n---\nhttp:\n  addr: :6000\n",
}

// FuzzParse: any file either loads or is refused with an error; a loaded
// configuration prints (masked), and written back out and read again it
// is the same configuration.
func FuzzParse(f *testing.F) {
	for _, c := range fuzzConfigs {
		f.Add([]byte(c))
	}
	f.Add([]byte(mergeBomb(9)))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Parse(data, nil)
		if err != nil {
			if cfg != nil {
				t.Fatalf("error %v with a configuration", err)
			}
			return
		}
		checkRoundTrip(t, cfg)
	})
}

// FuzzParseEnv: the same with one REGISTRY_* variable laid over the file.
func FuzzParseEnv(f *testing.F) {
	for _, s := range []struct{ file, name, value string }{
		{seedConfig, "STORAGE_DELETE_ENABLED", "true"},
		{seedConfig, "LOG_FIELDS_SERVICE", "registry"},
		{seedConfig, "LOG", "{level: debug}"},
		{seedConfig, "HTTP_ADDR", ":5000"},
		{seedConfig, "STORAGE_FILESYSTEM_ROOTDIRECTORY", "/var/lib/registry"},
		{seedConfig, "STORAGE_MAINTENANCE_UPLOADPURGING_AGE", "168h"},
		{"", "STORAGE", "s3: {bucket: acme-docker, region: us-east-1}"},
		{"", "ACCESS_GROUPS_DEVS", "[carol]"},
		{"", "GC_RETENTION", "[{repositories: 'ci/*', keeplast: 3}]"},
		{"", "STORAGE_INLINE_MAXSIZE", "-1"},
	} {
		f.Add([]byte(s.file), s.name, s.value)
	}
	f.Fuzz(func(t *testing.T, data []byte, name, value string) {
		cfg, _, err := Parse(data, []string{"REGISTRY_" + name + "=" + value})
		if err != nil {
			if cfg != nil {
				t.Fatalf("error %v with a configuration", err)
			}
			return
		}
		checkRoundTrip(t, cfg)
	})
}

func checkRoundTrip(t *testing.T, cfg *Config) {
	t.Helper()
	masked, err := cfg.MaskedYAML()
	if err != nil {
		t.Fatalf("MaskedYAML: %v", err)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	shown, _, err := Parse(masked, nil)
	if err != nil {
		t.Fatalf("the masked configuration does not load: %v\n%s", err, masked)
	}
	for _, s := range secrets(cfg, shown) {
		if s[0] != "" && s[1] != Mask {
			t.Errorf("MaskedYAML shows a secret as %q:\n%s", s[1], masked)
		}
	}
	again, _, err := Parse(out, nil)
	if err != nil {
		t.Fatalf("written out, the configuration does not load: %v\n%s", err, out)
	}
	out2, err := yaml.Marshal(again)
	if err != nil {
		t.Fatalf("marshal again: %v", err)
	}
	if !bytes.Equal(out, out2) {
		t.Errorf("written out and read again, the configuration changed:\n%s\n---\n%s", out, out2)
	}
}

// secrets pairs each secret of cfg with the same field of shown.
func secrets(cfg, shown *Config) [][2]string {
	out := [][2]string{{cfg.HTTP.Secret, shown.HTTP.Secret}}
	if cfg.Storage.S3 != nil && shown.Storage.S3 != nil {
		out = append(out, [2]string{cfg.Storage.S3.SecretKey, shown.Storage.S3.SecretKey},
			[2]string{cfg.Storage.S3.AccessKey, shown.Storage.S3.AccessKey})
	}
	if cfg.Database != nil && shown.Database != nil {
		out = append(out, [2]string{cfg.Database.DSN, shown.Database.DSN}, [2]string{cfg.Database.Password, shown.Database.Password})
	}
	return out
}
