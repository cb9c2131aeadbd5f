package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TLS, HTTP/2 and client certificates, with certificates made here: the
// seed 001 setup (own CA, a server certificate signed by it, clients
// trusting the CA) without the nginx in front.

// tlsPKI is a CA with a server certificate for the loopback names and a
// client certificate, written to files.
type tlsPKI struct {
	CA, ClientCA         *auCA
	Server, Client       *auLeaf
	CAFile, ClientCAFile string
	CertFile, KeyFile    string
	Pool                 *x509.CertPool
}

func newTLSPKI(t testing.TB) *tlsPKI {
	t.Helper()
	p := &tlsPKI{CA: auNewCA(t, "wharf test CA"), ClientCA: auNewCA(t, "wharf client CA")}
	p.Server = p.CA.Issue(t, "wharf", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "127.0.0.1", "localhost")
	p.Client = p.ClientCA.Issue(t, "ci-bot", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p.CAFile = write("ca.crt", p.CA.CertPEM)
	p.ClientCAFile = write("client-ca.crt", p.ClientCA.CertPEM)
	p.CertFile = write("server.crt", p.Server.CertPEM)
	p.KeyFile = write("server.key", p.Server.KeyPEM)
	p.Pool = x509.NewCertPool()
	p.Pool.AddCert(p.CA.Cert)
	return p
}

// client trusts the CA; certs are client certificates to offer.
func (p *tlsPKI) client(minV, maxV uint16, certs ...tls.Certificate) *http.Client {
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: p.Pool, Certificates: certs, MinVersion: minV, MaxVersion: maxV},
			ForceAttemptHTTP2: true,
		},
	}
}

// tlsServe starts wharf over TLS with extra lines under http.tls and
// top-level config; ready is the client that checks readiness.
func tlsServe(t testing.TB, p *tlsPKI, tlsExtra, extra string, ready *http.Client) *Server {
	t.Helper()
	return auServe(t, auServerConfig{
		Scheme: "https",
		Client: ready,
		HTTPExtra: fmt.Sprintf(`  tls:
    certificate: %s
    key: %s
%s`, p.CertFile, p.KeyFile, tlsExtra),
		Extra: extra,
	})
}

// TestTLSSeed001: seed 001's setup, by wharf alone: TLS with a server
// certificate from the user's CA, htpasswd logins and the access policy.
// A client trusting the CA pushes and pulls with ggcr over HTTPS and gets
// HTTP/2; a client that does not trust the CA is refused.
func TestTLSSeed001(t *testing.T) {
	p := newTLSPKI(t)
	ht := auHtpasswd(t, auUsers)
	s := tlsServe(t, p, "", fmt.Sprintf(`auth:
  htpasswd:
    realm: wharf-tls
    path: %s
%s`, ht, auPolicy), p.client(0, 0))
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("URL %s", s.URL)
	}
	trusting := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool}, ForceAttemptHTTP2: true}

	// ggcr over HTTPS (no name.Insecure: TLS is verified).
	for _, host := range []string{s.Addr, strings.Replace(s.Addr, "127.0.0.1", "localhost", 1)} {
		ref, err := name.ParseReference(host+"/bob/seed001:v1", name.StrictValidation)
		if err != nil {
			t.Fatal(err)
		}
		img := whRandomImage(t, 4096, 2)
		opts := whRemote(t, remote.WithTransport(trusting), remote.WithAuth(auBasic("bob")))
		if err := remote.Write(ref, img, opts...); err != nil {
			t.Fatalf("push over HTTPS to %s: %v\nserver log:\n%s", host, err, confTail(s.Log.String(), 3000))
		}
		if err := auVerifyPull(t, ref, img, opts...); err != nil {
			t.Errorf("pull over HTTPS from %s: %v", host, err)
		}
		// The policy applies over TLS as over HTTP.
		other, _ := name.ParseReference(host+"/carol/seed001:v1", name.StrictValidation)
		if err := remote.Write(other, img, opts...); auStatusOf(err) != http.StatusForbidden {
			t.Errorf("bob pushing to carol/ over HTTPS: %v, want 403", err)
		}
	}

	// HTTP/2 is negotiated.
	c := p.client(0, 0)
	req, _ := http.NewRequestWithContext(ctx(t), "GET", s.URL+"/v2/", nil)
	req.SetBasicAuth("bob", auUsers["bob"])
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /v2/ over HTTPS: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("GET /v2/: status %d, proto %s, ALPN %q; want 200 over HTTP/2", resp.StatusCode, resp.Proto,
			func() string {
				if resp.TLS == nil {
					return ""
				}
				return resp.TLS.NegotiatedProtocol
			}())
	}
	// The default minimum accepts a TLS 1.2 client.
	resp, err = p.client(tls.VersionTLS12, tls.VersionTLS12).Get(s.URL + "/v2/")
	if err != nil {
		t.Errorf("TLS 1.2 client against the default minimum: %v", err)
	} else {
		resp.Body.Close()
		if resp.TLS.Version != tls.VersionTLS12 {
			t.Errorf("negotiated %x, want TLS 1.2", resp.TLS.Version)
		}
	}
	// ... but not TLS 1.1.
	if resp, err := p.client(tls.VersionTLS10, tls.VersionTLS11).Get(s.URL + "/v2/"); err == nil {
		resp.Body.Close()
		t.Errorf("TLS 1.1 client accepted")
	}

	// A client that does not trust the CA is refused: raw HTTP and ggcr.
	if resp, err := (&http.Client{Timeout: time.Minute}).Get(s.URL + "/v2/"); err == nil {
		resp.Body.Close()
		t.Errorf("client without the CA: no TLS error")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("client without the CA: %v, want a certificate error", err)
	}
	ref, _ := name.ParseReference(s.Addr+"/bob/seed001:v1", name.StrictValidation)
	if _, err := remote.Image(ref, whRemote(t, remote.WithAuth(auBasic("bob")))...); err == nil {
		t.Errorf("ggcr without the CA pulled over HTTPS")
	}
	// Plain HTTP on the TLS port gets no registry answer.
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + s.Addr + "/v2/"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || resp.StatusCode == 401 {
			t.Errorf("plain HTTP on the TLS port: %d %s", resp.StatusCode, b)
		}
	}
	auCheckLog(t, s)
}

// TestTLSTokenServer: over TLS the built-in token server announces an
// https realm, and ggcr's token flow works end to end.
func TestTLSTokenServer(t *testing.T) {
	p := newTLSPKI(t)
	ht := auHtpasswd(t, auUsers)
	s := tlsServe(t, p, "", fmt.Sprintf(`auth:
  htpasswd:
    realm: wharf-tls
    path: %s
  tokenserver:
    enabled: true
%s`, ht, auPolicy), p.client(0, 0))
	resp, err := p.client(0, 0).Get(s.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := `Bearer realm="https://` + s.Addr + `/auth/token",service="wharf"`; resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Errorf("anonymous /v2/ over TLS: %d %q, want 401 %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
	rec := &auRecorder{base: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool}, ForceAttemptHTTP2: true}}
	ref, _ := name.ParseReference(s.Addr+"/carol/app:v1", name.StrictValidation)
	img := whRandomImage(t, 2048, 2)
	opts := whRemote(t, remote.WithTransport(rec), remote.WithAuth(auBasic("carol")))
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("push over HTTPS with tokens: %v\nserver log:\n%s", err, confTail(s.Log.String(), 3000))
	}
	if err := auVerifyPull(t, ref, img, opts...); err != nil {
		t.Errorf("pull over HTTPS with tokens: %v", err)
	}
	if rec.count("GET /auth/token")+rec.count("POST /auth/token") == 0 {
		t.Errorf("no token was fetched")
	}
}

// TestTLSClientCertificates: with http.tls.clientcas, a client without a
// certificate from those CAs is refused during the handshake; with one it
// gets through (to the login, here none: 200).
func TestTLSClientCertificates(t *testing.T) {
	p := newTLSPKI(t)
	clientCert := p.Client.TLSCertificate(t)
	s := tlsServe(t, p, fmt.Sprintf("    clientcas:\n      - %s\n", p.ClientCAFile), "", p.client(0, 0, clientCert))

	get := func(c *http.Client) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx(t), "GET", s.URL+"/v2/", nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if _, err := get(p.client(v, v)); err == nil {
			t.Errorf("TLS %x without a client certificate: accepted", v)
		}
		resp, err := get(p.client(v, v, clientCert))
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("TLS %x with a client certificate: %v %v", v, resp, err)
		}
	}
	// A certificate from another CA (here: the server's CA) is refused.
	stranger := p.CA.Issue(t, "stranger", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}).TLSCertificate(t)
	if _, err := get(p.client(0, 0, stranger)); err == nil {
		t.Errorf("client certificate from an untrusted CA: accepted")
	}
	// ggcr with the client certificate pushes and pulls.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{clientCert}}, ForceAttemptHTTP2: true}
	ref, _ := name.ParseReference(s.Addr+"/mtls/app:v1", name.StrictValidation)
	img := whRandomImage(t, 1024, 1)
	opts := whRemote(t, remote.WithTransport(tr), remote.WithAuth(authn.Anonymous))
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("push with a client certificate: %v", err)
	}
	if err := auVerifyPull(t, ref, img, opts...); err != nil {
		t.Errorf("pull with a client certificate: %v", err)
	}
}

// TestTLSMinimumVersion: minimumtls tls1.3 refuses a client that speaks
// at most TLS 1.2; an unknown value stops the server at start.
func TestTLSMinimumVersion(t *testing.T) {
	p := newTLSPKI(t)
	s := tlsServe(t, p, "    minimumtls: tls1.3\n", "", p.client(0, 0))
	if resp, err := p.client(0, tls.VersionTLS12).Get(s.URL + "/v2/"); err == nil {
		resp.Body.Close()
		t.Errorf("TLS 1.2-only client accepted with minimumtls tls1.3 (negotiated %x)", resp.TLS.Version)
	}
	resp, err := p.client(tls.VersionTLS13, 0).Get(s.URL + "/v2/")
	if err != nil {
		t.Fatalf("TLS 1.3 client: %v", err)
	}
	resp.Body.Close()
	if resp.TLS.Version != tls.VersionTLS13 || resp.StatusCode != 200 {
		t.Errorf("TLS 1.3 client: status %d version %x", resp.StatusCode, resp.TLS.Version)
	}

	cfg := auWrite(t, "config.yml", []byte(fmt.Sprintf(`version: 0.1
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
  tls:
    certificate: %s
    key: %s
    minimumtls: tls1.1
`, t.TempDir(), freeAddr(t), p.CertFile, p.KeyFile)))
	code, out := auRunServeFails(t, cfg)
	if code == 0 || !strings.Contains(out, "minimumtls") {
		t.Errorf("minimumtls tls1.1: exit %d, output:\n%s\nwant a start error naming minimumtls", code, out)
	}
}

// TestTLSConformanceBasicAuth: the conformance suite over HTTPS (trusting
// the test CA through SSL_CERT_FILE) with basic auth.
func TestTLSConformanceBasicAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite skipped in -short mode")
	}
	bin, err := conformanceBinary(repoRoot())
	if err != nil {
		t.Fatalf("conformance suite: %v", err)
	}
	p := newTLSPKI(t)
	ht := auHtpasswd(t, map[string]string{auConfUser: auConfPass})
	s := tlsServe(t, p, "", fmt.Sprintf(`auth:
  htpasswd:
    realm: wharf-conformance
    path: %s
`, ht), p.client(0, 0))
	results := t.TempDir()
	out, runErr := runConformance(t, bin, s.Addr, results,
		"OCI_USERNAME="+auConfUser, "OCI_PASSWORD="+auConfPass,
		"OCI_TLS=enabled", "SSL_CERT_FILE="+p.CAFile, "SSL_CERT_DIR="+t.TempDir())
	report, err := confReadJUnit(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance suite wrote no usable report (run: %v): %v\nsuite output:\n%s", runErr, err, confTail(out, 16<<10))
	}
	sum := report.summary()
	t.Logf("OCI conformance over TLS with basic auth: %s", sum)
	if problems := sum.problems(); len(problems) > 0 {
		t.Errorf("OCI conformance over TLS: %s\n%s\n%s", sum, strings.Join(problems, "; "), confDescribeCases(report.notPassed()))
	}
	// Every request came over TLS: the server log shows no plain-HTTP
	// handshake errors from the suite.
	if strings.Contains(s.Log.String(), auConfPass) {
		t.Errorf("server log contains the password")
	}
}

// TestTLSClientAuthAndCiphers: clientauth verify-client-cert-if-given lets
// a client without a certificate in and refuses one from an untrusted CA;
// ciphersuites limits TLS 1.2 to the suites listed.
func TestTLSClientAuthAndCiphers(t *testing.T) {
	p := newTLSPKI(t)
	const suite = tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	other := tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	s := tlsServe(t, p, fmt.Sprintf("    clientcas:\n      - %s\n    clientauth: verify-client-cert-if-given\n    ciphersuites: [%s]\n",
		p.ClientCAFile, tls.CipherSuiteName(suite)), "", p.client(0, 0))
	get := func(c *http.Client) (*http.Response, error) {
		resp, err := c.Get(s.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	if resp, err := get(p.client(0, 0)); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("no client certificate with verify-client-cert-if-given: %v %v, want 200", resp, err)
	}
	// Go's client sends no certificate the server's CA list does not
	// name, so the stranger's is pushed on it: a certificate given must
	// verify.
	stranger := p.CA.Issue(t, "stranger", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}).TLSCertificate(t)
	pushy := p.client(0, 0)
	pushy.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &stranger, nil
	}
	if _, err := get(pushy); err == nil {
		t.Errorf("client certificate from an untrusted CA: accepted")
	}
	tls12 := func(suites ...uint16) *http.Client {
		c := p.client(tls.VersionTLS12, tls.VersionTLS12)
		c.Transport.(*http.Transport).TLSClientConfig.CipherSuites = suites
		return c
	}
	resp, err := get(tls12(suite))
	if err != nil || resp.TLS == nil || resp.TLS.CipherSuite != suite {
		t.Errorf("TLS 1.2 with the listed suite: %v %v", resp, err)
	}
	if _, err := get(tls12(other)); err == nil {
		t.Errorf("TLS 1.2 with a suite not listed: accepted")
	}
}
