package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/wharf-registry/wharf/internal/config"
)

// tlsSetup builds the listener's TLS settings from http.tls: nil when TLS
// is off. With http.tls.letsencrypt it also returns the HTTP-01 server when
// httpaddr is set (nil otherwise).
func tlsSetup(t config.TLS, log *slog.Logger) (*tls.Config, *http.Server, error) {
	m, err := acmeManager(t.LetsEncrypt)
	if err != nil {
		return nil, nil, err
	}
	c, err := tlsConfig(t, m)
	if err != nil || m == nil {
		return c, nil, err
	}
	le := t.LetsEncrypt
	log.Info("TLS certificates from ACME", "hosts", le.Hosts, "directory", m.Client.DirectoryURL,
		"cache", le.CacheFile, "http01", le.HTTPAddr)
	if le.HTTPAddr == "" {
		return c, nil, nil
	}
	return c, &http.Server{
		Addr: le.HTTPAddr,
		// Anything but a challenge is redirected to https.
		Handler:           withoutPort(m.HTTPHandler(nil)),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}, nil
}

// withoutPort drops the port from the Host header before h sees it. A CA
// asks for the bare name on port 80, but one probing another port (a test
// CA, or one behind a port mapping) names it, and autocert's host policy
// would then refuse the challenge.
func withoutPort(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r2 := *r
			r2.Host = host
			r = &r2
		}
		h.ServeHTTP(w, r)
	})
}

// acmeManager gets and renews certificates for http.tls.letsencrypt as
// distribution 3 does: autocert with cachefile as its cache directory, the
// hosts as the only names it asks for (a client's SNI picks the name, so an
// open policy would let anyone make wharf request certificates), and
// directoryurl as the CA (Let's Encrypt when empty). nil when unset.
func acmeManager(le *config.LetsEncrypt) (*autocert.Manager, error) {
	if le == nil {
		return nil, nil
	}
	if err := prepareCacheDir(le.CacheFile); err != nil {
		return nil, fmt.Errorf("http.tls.letsencrypt.cachefile: %w", err)
	}
	dir := le.DirectoryURL
	if dir == "" {
		dir = autocert.DefaultACMEDirectory
	}
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(le.CacheFile),
		HostPolicy: autocert.HostWhitelist(le.Hosts...),
		Email:      le.Email,
		// The default HTTP client trusts the system roots (SSL_CERT_FILE
		// and SSL_CERT_DIR included), which is what a private ACME CA needs.
		Client: &acme.Client{DirectoryURL: dir},
	}, nil
}

// prepareCacheDir creates the cache directory now, so a path wharf cannot
// write fails at start rather than at the first handshake. A regular file
// there is distribution 2's single-file cache, which autocert cannot read.
func prepareCacheDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is a file (distribution 2's cache format); wharf, like distribution 3, keeps a directory there: move the file away and wharf gets new certificates", dir)
	}
	return nil
}

// startACMEHTTP listens for HTTP-01 challenges on http.tls.letsencrypt.httpaddr
// until the returned stop is called. Listening happens here, before the
// registry serves, so a port wharf may not bind fails the start.
func (s *Server) startACMEHTTP() (stop func(), err error) {
	if s.acmeHTTP == nil {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", s.acmeHTTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("http.tls.letsencrypt.httpaddr: listen on %s: %w", s.acmeHTTP.Addr, err)
	}
	s.log.Info("ACME HTTP-01 listener", "addr", ln.Addr().String())
	go func() {
		if err := s.acmeHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ACME HTTP-01 listener failed", "addr", s.acmeHTTP.Addr, "err", err)
		}
	}()
	return func() { s.acmeHTTP.Close() }, nil
}
