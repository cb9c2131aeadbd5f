package config

import (
	"reflect"
	"testing"
)

// TestLetsEncryptKeys: distribution's http.tls.letsencrypt section is read
// without warnings, from the file and from REGISTRY_* variables.
func TestLetsEncryptKeys(t *testing.T) {
	const file = `http:
  addr: :443
  tls:
    letsencrypt:
      cachefile: /var/lib/registry/acme
      email: ops@example.com
      hosts: [registry.example.com]
      directoryurl: https://acme-staging-v02.api.letsencrypt.org/directory
`
	want := LetsEncrypt{
		CacheFile:    "/var/lib/registry/acme",
		Email:        "ops@example.com",
		Hosts:        []string{"registry.example.com"},
		DirectoryURL: "https://acme-staging-v02.api.letsencrypt.org/directory",
	}
	withEnv := want
	withEnv.Hosts = []string{"a.example.com", "b.example.com"}
	withEnv.HTTPAddr = ":80"
	// The form distribution's docs show for a list element.
	byIndex := want
	byIndex.Hosts = []string{"registry.example.com", "mirror.example.com"}
	tests := []struct {
		name string
		env  []string
		want LetsEncrypt
	}{
		{"file", nil, want},
		{"env", []string{"REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS=[a.example.com, b.example.com]", "REGISTRY_HTTP_TLS_LETSENCRYPT_HTTPADDR=:80"}, withEnv},
		{"env list element", []string{"REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS_1=mirror.example.com"}, byIndex},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings, err := Parse([]byte(file), tt.env)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			if c.HTTP.TLS.LetsEncrypt == nil || !reflect.DeepEqual(*c.HTTP.TLS.LetsEncrypt, tt.want) {
				t.Fatalf("letsencrypt = %+v, want %+v", c.HTTP.TLS.LetsEncrypt, tt.want)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}
