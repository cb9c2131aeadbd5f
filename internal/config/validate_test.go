package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(*Config)
		wantKey string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"empty version", func(c *Config) { c.Version = "" }, ""},
		{"version 0.2", func(c *Config) { c.Version = "0.2" }, "version"},
		{"level warning", func(c *Config) { c.Log.Level = "warning" }, ""},
		{"level upper case", func(c *Config) { c.Log.Level = "DEBUG" }, ""},
		{"level trace", func(c *Config) { c.Log.Level = "trace" }, "log.level"},
		{"level empty", func(c *Config) { c.Log.Level = "" }, "log.level"},
		{"formatter json", func(c *Config) { c.Log.Formatter = "json" }, ""},
		{"formatter logstash", func(c *Config) { c.Log.Formatter = "logstash" }, "log.formatter"},
		{"rootdirectory empty", func(c *Config) { c.Storage.Filesystem.RootDirectory = "" }, "storage.filesystem.rootdirectory"},
		{"inline off", func(c *Config) { c.Storage.Inline.MaxSize = 0 }, ""},
		{"inline at the bound", func(c *Config) { c.Storage.Inline.MaxSize = MaxInlineSize }, ""},
		{"inline negative", func(c *Config) { c.Storage.Inline.MaxSize = -1 }, "storage.inline.maxsize"},
		{"inline too large", func(c *Config) { c.Storage.Inline.MaxSize = MaxInlineSize + 1 }, "storage.inline.maxsize"},
		{"addr host:port", func(c *Config) { c.HTTP.Addr = "0.0.0.0:443" }, ""},
		{"addr ipv6", func(c *Config) { c.HTTP.Addr = "[::1]:5000" }, ""},
		{"addr no port", func(c *Config) { c.HTTP.Addr = "0.0.0.0" }, "http.addr"},
		{"addr empty", func(c *Config) { c.HTTP.Addr = "" }, "http.addr"},
		{"purge age zero", func(c *Config) { c.Storage.Maintenance.UploadPurging.Age = 0 }, "storage.maintenance.uploadpurging.age"},
		{"purge interval negative", func(c *Config) { c.Storage.Maintenance.UploadPurging.Interval = -time.Hour }, "storage.maintenance.uploadpurging.interval"},
		{"purge disabled ignores age", func(c *Config) {
			c.Storage.Maintenance.UploadPurging.Enabled = false
			c.Storage.Maintenance.UploadPurging.Age = 0
		}, ""},
		{"zero timeouts allowed", func(c *Config) { c.HTTP.IdleTimeout, c.HTTP.ReadHeaderTimeout, c.HTTP.DrainTimeout = 0, 0, 0 }, ""},
		{"negative read header timeout", func(c *Config) { c.HTTP.ReadHeaderTimeout = -1 }, "http.readheadertimeout"},
		{"negative idle timeout", func(c *Config) { c.HTTP.IdleTimeout = -1 }, "http.idletimeout"},
		{"proxy remoteurl", func(c *Config) { c.Proxy.RemoteURL = "https://registry-1.docker.io" }, ""},
		{"proxy remoteurl ftp", func(c *Config) { c.Proxy.RemoteURL = "ftp://h" }, "proxy.remoteurl"},
		{"proxy both forms", func(c *Config) {
			c.Proxy.RemoteURL = "https://a"
			c.Proxy.Upstreams = []Upstream{{Name: "b", URL: "https://b"}}
		}, "proxy.remoteurl"},
		{"proxy upstreams", func(c *Config) {
			c.Proxy.Upstreams = []Upstream{{Name: "docker.io", Aliases: []string{"hub"}, URL: "https://r", Default: true}, {Name: "quay.io", URL: "https://q"}}
		}, ""},
		{"proxy upstream bad name", func(c *Config) { c.Proxy.Upstreams = []Upstream{{Name: "Docker_IO", URL: "https://r"}} }, "proxy.upstreams[0].name"},
		{"proxy upstream duplicate alias", func(c *Config) {
			c.Proxy.Upstreams = []Upstream{{Name: "a", URL: "https://r"}, {Name: "b", Aliases: []string{"a"}, URL: "https://q"}}
		}, "proxy.upstreams[1].name"},
		{"proxy upstream no url", func(c *Config) { c.Proxy.Upstreams = []Upstream{{Name: "a"}} }, "proxy.upstreams[0].url"},
		{"proxy two defaults", func(c *Config) {
			c.Proxy.Upstreams = []Upstream{{Name: "a", URL: "https://r", Default: true}, {Name: "b", URL: "https://q", Default: true}}
		}, "proxy.upstreams"},
		{"proxy password and file", func(c *Config) {
			c.Proxy.Upstreams = []Upstream{{Name: "a", URL: "https://r", Password: "p", PasswordFile: "/f"}}
		}, "proxy.upstreams[0].passwordfile"},
		{"proxy negative ttl", func(c *Config) { c.Proxy.TTL = -1 }, "proxy.ttl"},
		{"s3 minimal", func(c *Config) { c.Storage.S3 = &S3{Bucket: "b"} }, ""},
		{"azure minimal", func(c *Config) { c.Storage.Azure = &Azure{AccountName: "a", AccountKey: "k", Container: "c"} }, ""},
		{"azure no container", func(c *Config) { c.Storage.Azure = &Azure{AccountName: "a"} }, "storage.azure.container"},
		{"azure no account", func(c *Config) { c.Storage.Azure = &Azure{Container: "c"} }, "storage.azure.accountname"},
		{"azure bad service url", func(c *Config) { c.Storage.Azure = &Azure{Container: "c", ServiceURL: "ftp://x"} }, "storage.azure.serviceurl"},
		{"azure client secret incomplete", func(c *Config) {
			c.Storage.Azure = &Azure{AccountName: "a", Container: "c", Credentials: AzureCredentials{Type: "client_secret", ClientID: "i"}}
		}, "storage.azure.credentials"},
		{"azure unknown credentials", func(c *Config) {
			c.Storage.Azure = &Azure{AccountName: "a", Container: "c", Credentials: AzureCredentials{Type: "password"}}
		}, "storage.azure.credentials.type"},
		{"azure and s3", func(c *Config) {
			c.Storage.S3 = &S3{Bucket: "b"}
			c.Storage.Azure = &Azure{AccountName: "a", Container: "c"}
		}, "storage"},
		{"gcs minimal", func(c *Config) { c.Storage.GCS = &GCS{Bucket: "b"} }, ""},
		{"gcs no bucket", func(c *Config) { c.Storage.GCS = &GCS{} }, "storage.gcs.bucket"},
		{"gcs chunk not 256 KiB", func(c *Config) { c.Storage.GCS = &GCS{Bucket: "b", ChunkSize: 1000} }, "storage.gcs.chunksize"},
		{"gcs keyfile and credentials", func(c *Config) {
			c.Storage.GCS = &GCS{Bucket: "b", KeyFile: "k.json", Credentials: map[string]string{"type": "service_account"}}
		}, "storage.gcs.keyfile"},
		{"s3 no bucket", func(c *Config) { c.Storage.S3 = &S3{} }, "storage.s3.bucket"},
		{"s3 access key alone", func(c *Config) { c.Storage.S3 = &S3{Bucket: "b", AccessKey: "k"} }, "storage.s3.accesskey"},
		{"s3 chunk 5 MiB", func(c *Config) { c.Storage.S3 = &S3{Bucket: "b", ChunkSize: S3MinChunkSize} }, ""},
		{"s3 chunk too small", func(c *Config) { c.Storage.S3 = &S3{Bucket: "b", ChunkSize: S3MinChunkSize - 1} }, "storage.s3.chunksize"},
		{"s3 chunk too large", func(c *Config) { c.Storage.S3 = &S3{Bucket: "b", ChunkSize: S3MaxChunkSize + 1} }, "storage.s3.chunksize"},
		{"s3 endpoint url", func(c *Config) { c.Storage.S3 = &S3{Bucket: "b", RegionEndpoint: "http://127.0.0.1:9000"} }, ""},
		{"s3 endpoint with path", func(c *Config) { c.Storage.S3 = &S3{Bucket: "b", RegionEndpoint: "http://h/x"} }, "storage.s3.regionendpoint"},
		{"s3 endpoint ftp", func(c *Config) { c.Storage.S3 = &S3{Bucket: "b", RegionEndpoint: "ftp://h"} }, "storage.s3.regionendpoint"},
		{"htpasswd", func(c *Config) { c.Auth.Htpasswd = &Htpasswd{Path: "/h"} }, ""},
		{"htpasswd no path", func(c *Config) { c.Auth.Htpasswd = &Htpasswd{} }, "auth.htpasswd.path"},
		{"htpasswd and token", func(c *Config) {
			c.Auth.Htpasswd = &Htpasswd{Path: "/h"}
			c.Auth.Token = &TokenAuth{Realm: "r", Service: "s", Issuer: "i", JWKS: "/j"}
		}, "auth"},
		{"token without issuer", func(c *Config) { c.Auth.Token = &TokenAuth{Realm: "r", Service: "s", JWKS: "/j"} }, "auth.token.issuer"},
		{"token without keys", func(c *Config) { c.Auth.Token = &TokenAuth{Realm: "r", Service: "s", Issuer: "i"} }, "auth.token"},
		{"token server without htpasswd", func(c *Config) { c.Auth.TokenServer = &TokenServer{Enabled: true} }, "auth.tokenserver"},
		{"access without auth", func(c *Config) { c.Access = &Access{} }, "access"},
		{"access with htpasswd", func(c *Config) { c.Access, c.Auth.Htpasswd = &Access{}, &Htpasswd{Path: "/h"} }, ""},
		{"tls certificate alone", func(c *Config) { c.HTTP.TLS.Certificate = "/c" }, "http.tls"},
		{"tls 1.3", func(c *Config) { c.HTTP.TLS.MinimumTLS = "tls1.3" }, ""},
		{"tls 1.1", func(c *Config) { c.HTTP.TLS.MinimumTLS = "tls1.1" }, "http.tls.minimumtls"},
		{"letsencrypt", func(c *Config) { c.HTTP.TLS.LetsEncrypt = okLE() }, ""},
		{"letsencrypt with http-01 and own CA", func(c *Config) {
			c.HTTP.TLS.LetsEncrypt = okLE()
			c.HTTP.TLS.LetsEncrypt.HTTPAddr = ":80"
			c.HTTP.TLS.LetsEncrypt.DirectoryURL = "https://127.0.0.1:14000/dir"
		}, ""},
		{"letsencrypt and certificate", func(c *Config) {
			c.HTTP.TLS.LetsEncrypt = okLE()
			c.HTTP.TLS.Certificate, c.HTTP.TLS.Key = "/c", "/k"
		}, "http.tls.letsencrypt"},
		{"letsencrypt no cachefile", func(c *Config) { c.HTTP.TLS.LetsEncrypt = okLE(); c.HTTP.TLS.LetsEncrypt.CacheFile = "" }, "http.tls.letsencrypt.cachefile"},
		{"letsencrypt no hosts", func(c *Config) { c.HTTP.TLS.LetsEncrypt = okLE(); c.HTTP.TLS.LetsEncrypt.Hosts = nil }, "http.tls.letsencrypt.hosts"},
		{"letsencrypt host with port", func(c *Config) {
			c.HTTP.TLS.LetsEncrypt = okLE()
			c.HTTP.TLS.LetsEncrypt.Hosts = []string{"r.example.com:443"}
		}, "http.tls.letsencrypt.hosts[0]"},
		{"letsencrypt host without dot", func(c *Config) { c.HTTP.TLS.LetsEncrypt = okLE(); c.HTTP.TLS.LetsEncrypt.Hosts = []string{"registry"} }, "http.tls.letsencrypt.hosts[0]"},
		{"letsencrypt directory over http", func(c *Config) {
			c.HTTP.TLS.LetsEncrypt = okLE()
			c.HTTP.TLS.LetsEncrypt.DirectoryURL = "http://acme.example.com/dir"
		}, "http.tls.letsencrypt.directoryurl"},
		{"letsencrypt httpaddr without port", func(c *Config) { c.HTTP.TLS.LetsEncrypt = okLE(); c.HTTP.TLS.LetsEncrypt.HTTPAddr = "0.0.0.0" }, "http.tls.letsencrypt.httpaddr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(c)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want a *FieldError for %s", err, tt.wantKey)
			}
			if fe.Key != tt.wantKey {
				t.Errorf("key = %q, want %q", fe.Key, tt.wantKey)
			}
			if !strings.HasPrefix(err.Error(), "config: "+tt.wantKey+": ") {
				t.Errorf("error %q does not start with the key", err)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	c := Default()
	c.Log.Level = "loud"
	c.HTTP.Addr = "x"
	err := c.Validate()
	for _, key := range []string{"log.level", "http.addr"} {
		if err == nil || !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("error %v does not report %s", err, key)
		}
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
	}{
		{"debug", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"Warn", slog.LevelWarn},
		{"warning", slog.LevelWarn},
		{"ERROR", slog.LevelError},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseLevel("fatal"); err == nil {
		t.Error("ParseLevel(fatal) succeeded, want an error")
	}
}

func TestFieldErrorFormat(t *testing.T) {
	inner := errors.New("boom")
	tests := []struct {
		err  FieldError
		want string
	}{
		{FieldError{Key: "http.addr", Line: 12, Err: inner}, "config: http.addr (line 12): boom"},
		{FieldError{Key: "http.addr", Err: inner}, "config: http.addr: boom"},
		{FieldError{Key: "http.addr", Env: "REGISTRY_HTTP_ADDR", Err: inner}, "config: REGISTRY_HTTP_ADDR (http.addr): boom"},
		{FieldError{Line: 3, Err: inner}, "config: line 3: boom"},
		{FieldError{Err: inner}, "config: boom"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(&tt.err, inner) {
			t.Errorf("%q does not unwrap to its cause", tt.want)
		}
	}
}

func TestKeyNearLine(t *testing.T) {
	data := []byte("version: 0.1\n# comment\nstorage:\n  filesystem:\n    rootdirectory: /x\n  delete:\n    enabled: true\nhttp:\n  addr: :5000\n")
	tests := []struct {
		line int
		want string
	}{
		{1, "version"},
		{2, "version"},
		{5, "storage.filesystem.rootdirectory"},
		{6, "storage.delete"},
		{7, "storage.delete.enabled"},
		{9, "http.addr"},
	}
	for _, tt := range tests {
		if got := keyNearLine(data, tt.line); got != tt.want {
			t.Errorf("keyNearLine(%d) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

// okLE is a valid http.tls.letsencrypt section.
func okLE() *LetsEncrypt {
	return &LetsEncrypt{CacheFile: "/var/lib/wharf/acme", Email: "ops@example.com", Hosts: []string{"registry.example.com"}}
}
