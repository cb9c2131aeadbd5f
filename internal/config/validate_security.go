package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// validateSecurity checks that auth, access and http.tls name a setup that
// can work, before any file they point at is read: one way to log in, what
// each way needs, and nothing that only makes sense with auth set without
// it.
func (c *Config) validateSecurity(add func(key string, err error)) {
	a := c.Auth
	if a.Htpasswd != nil && a.Token != nil {
		add("auth", errors.New("set one of auth.htpasswd and auth.token, not both"))
	}
	if a.Htpasswd != nil && a.Htpasswd.Path == "" {
		add("auth.htpasswd.path", errors.New("must be set"))
	}
	if t := a.Token; t != nil {
		for _, f := range []struct{ key, v string }{{"realm", t.Realm}, {"service", t.Service}, {"issuer", t.Issuer}} {
			if f.v == "" {
				add("auth.token."+f.key, errors.New("must be set"))
			}
		}
		if t.RootCertBundle == "" && t.JWKS == "" {
			add("auth.token", errors.New("rootcertbundle or jwks must be set"))
		}
	}
	if ts := a.TokenServer; ts != nil && ts.Enabled && a.Htpasswd == nil {
		add("auth.tokenserver", errors.New("needs auth.htpasswd for its users"))
	}
	if c.Access != nil && a.Htpasswd == nil && a.Token == nil {
		add("access", errors.New("an access policy needs auth (auth.htpasswd or auth.token)"))
	}
	for name := range c.HTTP.Headers {
		if !validHeaderName(name) {
			add("http.headers", fmt.Errorf("%q is not a valid header name", name))
		}
	}
	t := c.HTTP.TLS
	if (t.Certificate == "") != (t.Key == "") {
		add("http.tls", errors.New("certificate and key must both be set"))
	}
	if _, ok := clientAuthMode(t.ClientAuth); !ok {
		add("http.tls.clientauth", fmt.Errorf("%q is not one of request-client-cert, require-any-client-cert, "+
			"verify-client-cert-if-given, require-and-verify-client-cert", t.ClientAuth))
	}
	for _, name := range t.CipherSuites {
		add("http.tls.ciphersuites", checkCipherSuite(name))
	}
	switch t.MinimumTLS {
	case "", "tls1.2", "tls1.3":
	default:
		add("http.tls.minimumtls", fmt.Errorf("%q is not tls1.2 or tls1.3", t.MinimumTLS))
	}
	if t.LetsEncrypt != nil {
		validateLetsEncrypt(t, add)
	}
}

// validHeaderName reports whether name is an HTTP field name (RFC 9110 token).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 || c <= ' ' || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// checkCipherSuite accepts the names of Go's secure TLS 1.2 suites; the
// insecure ones distribution still lists (RC4, 3DES, CBC with SHA-256) are
// refused rather than turned on.
func checkCipherSuite(name string) error {
	for _, cs := range tls.CipherSuites() {
		if cs.Name == name {
			return nil
		}
	}
	for _, cs := range tls.InsecureCipherSuites() {
		if cs.Name == name {
			return fmt.Errorf("%s is insecure; remove it", name)
		}
	}
	return fmt.Errorf("%q is not a TLS cipher suite name", name)
}
