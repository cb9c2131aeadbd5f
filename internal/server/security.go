package server

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
)

// newGuard builds the authentication and access policy from cfg; nil when
// no auth is configured. config.Validate has checked the combination; what
// fails here needs I/O (a file that cannot be read).
func newGuard(ctx context.Context, cfg *config.Config, md meta.Store, log *slog.Logger) (*auth.Guard, error) {
	a := cfg.Auth
	g := &auth.Guard{Policy: newPolicy(cfg.Access), Log: log}
	switch {
	case a.Token != nil:
		if err := externalToken(g, a.Token); err != nil {
			return nil, err
		}
	case a.Htpasswd != nil:
		if err := htpasswdAuth(ctx, g, cfg, md, log); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	g.Init()
	return g, nil
}

func newPolicy(a *config.Access) *auth.Policy {
	if a == nil {
		return &auth.Policy{Open: true}
	}
	p := &auth.Policy{Admins: a.Admins, Groups: a.Groups, Public: a.Public, UserNamespaces: a.UserNamespaces == nil || *a.UserNamespaces}
	for _, r := range a.Rules {
		p.Rules = append(p.Rules, auth.Rule{Repositories: r.Repositories, Users: r.Users, Groups: r.Groups, Actions: r.Actions})
	}
	return p
}

func htpasswdAuth(ctx context.Context, g *auth.Guard, cfg *config.Config, md meta.Store, log *slog.Logger) error {
	h := cfg.Auth.Htpasswd
	users, err := auth.LoadHtpasswd(h.Path)
	if err != nil {
		return fmt.Errorf("auth.htpasswd: %w", err)
	}
	g.Htpasswd, g.BasicRealm, g.Mode = users, h.Realm, auth.ModeBasic
	if g.BasicRealm == "" {
		g.BasicRealm = "wharf"
	}
	ts := cfg.Auth.TokenServer
	if ts == nil || !ts.Enabled {
		return nil
	}
	var key crypto.Signer
	if ts.SigningKey != "" {
		key, err = auth.LoadOrCreateKey(ts.SigningKey, false)
	} else {
		key, err = storedSigningKey(ctx, md, cfg.Storage.Filesystem.RootDirectory, log)
	}
	if err != nil {
		return fmt.Errorf("auth.tokenserver.signingkey: %w", err)
	}
	issuer, service := orDefault(ts.Issuer, "wharf"), orDefault(ts.Service, "wharf")
	ttl, refresh := orDuration(ts.Expiration, 5*time.Minute), orDuration(ts.RefreshExpiration, 30*24*time.Hour)
	if g.Signer, err = auth.NewSigner(key, issuer, service, ttl, refresh); err != nil {
		return fmt.Errorf("auth.tokenserver: %w", err)
	}
	if g.Verifier, err = auth.NewVerifier(issuer, service, []crypto.PublicKey{key.Public()}, nil); err != nil {
		return fmt.Errorf("auth.tokenserver: %w", err)
	}
	g.Mode, g.Service, g.TokenRealm = auth.ModeTokenServer, service, ts.Realm
	return nil
}

func externalToken(g *auth.Guard, t *config.TokenAuth) error {
	var roots *x509.CertPool
	var keys []crypto.PublicKey
	if t.RootCertBundle != "" {
		var err error
		if roots, keys, err = auth.LoadCertBundle(t.RootCertBundle); err != nil {
			return fmt.Errorf("auth.token: %w", err)
		}
	}
	v, err := auth.NewVerifier(t.Issuer, t.Service, keys, roots)
	if err != nil {
		return fmt.Errorf("auth.token: %w", err)
	}
	if t.JWKS != "" {
		set, err := auth.LoadJWKS(t.JWKS)
		if err != nil {
			return fmt.Errorf("auth.token: %w", err)
		}
		for kid, k := range set {
			v.AddKey(kid, k)
		}
	}
	g.Mode, g.Verifier, g.Service, g.TokenRealm = auth.ModeExternalToken, v, t.Service, t.Realm
	return nil
}

// tlsConfig builds the listener's TLS settings, with certificates from m
// when http.tls.letsencrypt is set; nil when http.tls is unset.
func tlsConfig(t config.TLS, m *autocert.Manager) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case m != nil:
		c.GetCertificate = m.GetCertificate
		// The CA's TLS-ALPN-01 probe asks for acme-tls/1 only.
		c.NextProtos = []string{"h2", "http/1.1", acme.ALPNProto}
	case t.Certificate != "" || t.Key != "":
		cert, err := tls.LoadX509KeyPair(t.Certificate, t.Key)
		if err != nil {
			return nil, fmt.Errorf("http.tls: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	default:
		return nil, nil
	}
	c.CipherSuites = t.CipherSuiteIDs()
	if t.MinimumTLS == "tls1.3" {
		c.MinVersion = tls.VersionTLS13
	}
	if len(t.ClientCAs) > 0 {
		pool := x509.NewCertPool()
		for _, path := range t.ClientCAs {
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("http.tls.clientcas: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("http.tls.clientcas: %s holds no PEM certificate", path)
			}
		}
		c.ClientCAs, c.ClientAuth = pool, t.ClientAuthMode()
	}
	return c, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
