package config

import (
	"errors"
	"fmt"
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
	t := c.HTTP.TLS
	if (t.Certificate == "") != (t.Key == "") {
		add("http.tls", errors.New("certificate and key must both be set"))
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
