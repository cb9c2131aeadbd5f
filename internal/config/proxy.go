package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Proxy is the pull-through cache. distribution's form (RemoteURL and its
// credentials) mirrors one upstream for the whole registry; wharf's
// Upstreams mirror several, each under its own name, beside hosted
// repositories.
type Proxy struct {
	RemoteURL string        `yaml:"remoteurl"`
	Username  string        `yaml:"username"`
	Password  string        `yaml:"password"`
	TTL       time.Duration `yaml:"ttl"`
	// Upstreams is wharf's multi-upstream form.
	Upstreams []Upstream `yaml:"upstreams"`
	// MaxSize caps the bytes of all cached repositories together; the
	// least recently pulled cached images are evicted above it (0: no cap).
	MaxSize Size `yaml:"maxsize"`
	// ProbeInterval is how often an unhealthy upstream is asked again.
	ProbeInterval time.Duration `yaml:"probeinterval"`
	// NegativeTTL is how long an upstream's 404 is remembered.
	NegativeTTL time.Duration `yaml:"negativettl"`
	// EvictInterval is how often the size caps are enforced.
	EvictInterval time.Duration `yaml:"evictinterval"`
}

// Upstream is one registry mirrored under Name.
type Upstream struct {
	// Name is the repository prefix of its cache (docker.io/library/alpine)
	// and what containerd's ?ns= must equal; Aliases match too.
	Name         string        `yaml:"name"`
	Aliases      []string      `yaml:"aliases"`
	URL          string        `yaml:"url"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	PasswordFile string        `yaml:"passwordfile"`
	Default      bool          `yaml:"default"`
	TTL          time.Duration `yaml:"ttl"`
	// CA is a PEM file of roots trusted for the upstream, beside the
	// system's; Insecure skips verification (test registries only).
	CA       string `yaml:"ca"`
	Insecure bool   `yaml:"insecure"`
	// MaxConcurrent caps concurrent requests to the upstream (default 16).
	MaxConcurrent int `yaml:"maxconcurrent"`
	// Library prefixes one-segment names with library/ (Docker Hub's
	// rule); unset, it is on for Docker Hub's hosts only.
	Library *bool `yaml:"library"`
	// MaxSize caps this upstream's cached bytes (0: no cap of its own).
	MaxSize Size `yaml:"maxsize"`
}

// Proxy defaults.
const (
	DefaultProxyTTL           = 10 * time.Minute
	DefaultProxyProbeInterval = 30 * time.Second
	DefaultProxyNegativeTTL   = 30 * time.Second
	DefaultProxyMaxConcurrent = 16
)

// Enabled reports whether any upstream is configured.
func (p *Proxy) Enabled() bool { return p.RemoteURL != "" || len(p.Upstreams) > 0 }

// Resolved returns the upstreams with defaults applied: distribution's
// remoteurl becomes the one default upstream, named after its host.
func (p *Proxy) Resolved() ([]Upstream, error) {
	ups := append([]Upstream(nil), p.Upstreams...)
	if p.RemoteURL != "" {
		u, err := url.Parse(p.RemoteURL)
		if err != nil {
			return nil, fmt.Errorf("proxy.remoteurl: %w", err)
		}
		name := u.Host
		if dockerHubHost(name) {
			name = "docker.io"
		}
		ups = append(ups, Upstream{Name: name, URL: p.RemoteURL, Username: p.Username, Password: p.Password, Default: true, TTL: p.TTL})
	}
	for i := range ups {
		up := &ups[i]
		if up.TTL == 0 {
			up.TTL = DefaultProxyTTL
		}
		if up.MaxConcurrent == 0 {
			up.MaxConcurrent = DefaultProxyMaxConcurrent
		}
		if up.Library == nil {
			lib := dockerHubHost(up.Name) || dockerHubURL(up.URL)
			up.Library = &lib
		}
		if up.PasswordFile != "" {
			b, err := os.ReadFile(up.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("proxy upstream %s: passwordfile: %w", up.Name, err)
			}
			up.Password = strings.TrimRight(string(b), "\r\n")
		}
	}
	return ups, nil
}

func dockerHubHost(h string) bool {
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return true
	}
	return false
}

func dockerHubURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && dockerHubHost(u.Host)
}

// validateProxy checks the proxy section: names are unique repository
// prefixes, URLs are http(s), at most one default, and the two forms are
// not mixed.
func (c *Config) validateProxy(add func(key string, err error)) {
	p := &c.Proxy
	if p.RemoteURL != "" && len(p.Upstreams) > 0 {
		add("proxy.remoteurl", errors.New("set either remoteurl (one upstream) or upstreams, not both"))
	}
	if p.RemoteURL != "" {
		add("proxy.remoteurl", checkUpstreamURL(p.RemoteURL))
	}
	add("proxy.ttl", checkNonNegative(p.TTL))
	add("proxy.probeinterval", checkNonNegative(p.ProbeInterval))
	add("proxy.negativettl", checkNonNegative(p.NegativeTTL))
	add("proxy.evictinterval", checkNonNegative(p.EvictInterval))
	if p.MaxSize < 0 {
		add("proxy.maxsize", errors.New("must not be negative"))
	}
	seen := map[string]bool{}
	defaults := 0
	for i, up := range p.Upstreams {
		key := fmt.Sprintf("proxy.upstreams[%d]", i)
		for _, n := range append([]string{up.Name}, up.Aliases...) {
			if err := checkUpstreamName(n); err != nil {
				add(key+".name", err)
			} else if seen[n] {
				add(key+".name", fmt.Errorf("%q names two upstreams", n))
			}
			seen[n] = true
		}
		add(key+".url", checkUpstreamURL(up.URL))
		add(key+".ttl", checkNonNegative(up.TTL))
		if up.MaxConcurrent < 0 {
			add(key+".maxconcurrent", errors.New("must not be negative"))
		}
		if up.MaxSize < 0 {
			add(key+".maxsize", errors.New("must not be negative"))
		}
		if up.Password != "" && up.PasswordFile != "" {
			add(key+".passwordfile", errors.New("set password or passwordfile, not both"))
		}
		if up.Default {
			defaults++
		}
	}
	if defaults > 1 {
		add("proxy.upstreams", fmt.Errorf("%d upstreams are default; at most one may be", defaults))
	}
}

// checkUpstreamName accepts a host-like name usable as the first path
// component of a repository name: lower case letters, digits, dots and
// dashes, not starting with an underscore.
func checkUpstreamName(n string) error {
	if n == "" {
		return errors.New("must not be empty")
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return fmt.Errorf("%q: want lower-case letters, digits, '.' and '-' (a host name such as docker.io)", n)
		}
	}
	if n[0] == '.' || n[0] == '-' || n[len(n)-1] == '.' || n[len(n)-1] == '-' {
		return fmt.Errorf("%q must start and end with a letter or digit", n)
	}
	return nil
}

func checkUpstreamURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http or https URL", raw)
	}
	return nil
}
