package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// validateLetsEncrypt checks http.tls.letsencrypt. Distribution turns it on
// only when cachefile is set and, with no hosts, refuses every handshake;
// both would leave a registry that looks configured but serves no
// certificate, so wharf refuses them at start instead.
func validateLetsEncrypt(t TLS, add func(key string, err error)) {
	le := t.LetsEncrypt
	if t.Certificate != "" || t.Key != "" {
		add("http.tls.letsencrypt", errors.New("set either http.tls.certificate and key or http.tls.letsencrypt, not both"))
	}
	if le.CacheFile == "" {
		add("http.tls.letsencrypt.cachefile", errors.New("must be set: a directory for the ACME account key and the certificates"))
	}
	if len(le.Hosts) == 0 {
		add("http.tls.letsencrypt.hosts", errors.New("must list the host names to get certificates for"))
	}
	for i, h := range le.Hosts {
		add(fmt.Sprintf("http.tls.letsencrypt.hosts[%d]", i), checkACMEHost(h))
	}
	if le.DirectoryURL != "" {
		add("http.tls.letsencrypt.directoryurl", checkDirectoryURL(le.DirectoryURL))
	}
	if le.HTTPAddr != "" {
		add("http.tls.letsencrypt.httpaddr", checkAddr(le.HTTPAddr))
	}
}

// checkACMEHost accepts a bare DNS name with at least one dot: the ACME
// client asks for no certificate for a name without one.
func checkACMEHost(h string) error {
	if strings.ContainsAny(h, ":/ ") {
		return fmt.Errorf("%q is not a bare host name (no scheme, port or path)", h)
	}
	if !strings.Contains(strings.Trim(h, "."), ".") {
		return fmt.Errorf("%q is not a fully qualified name; certificates are only issued for names with a dot", h)
	}
	return nil
}

func checkDirectoryURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an https:// URL", s)
	}
	return nil
}
