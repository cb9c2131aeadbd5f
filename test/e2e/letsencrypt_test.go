package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharf-registry/wharf/internal/testenv"
)

// http.tls.letsencrypt against Let's Encrypt's test CA, pebble, run here on
// loopback: pebble-challtestsrv answers its DNS queries with 127.0.0.1, and
// pebble's challenge ports are the test wharf's listeners.

// leHost is the name wharf gets a certificate for; only pebble's own DNS
// server knows it, and clients dial 127.0.0.1 with it as SNI.
const leHost = "registry.wharf.test"

const lePebbleHow = "needs pebble: run through scripts/test-services.sh (it installs pebble and sets WHARF_TEST_PEBBLE)"

// lePebble is a running pebble with its DNS companion.
type lePebble struct {
	DirectoryURL string
	Roots        *x509.CertPool // pebble's issuing root
	Log          *syncBuffer
	cmd          *exec.Cmd
}

// leStartPebble starts challtestsrv and pebble, whose HTTP-01 and
// TLS-ALPN-01 checks go to 127.0.0.1 on httpPort and tlsPort, listening on
// the four addresses in a. caFile (set as SSL_CERT_FILE for wharf) trusts
// pebble's own HTTPS listeners.
func leStartPebble(t *testing.T, bins testenv.PebbleBins, httpPort, tlsPort string, a []string) (p *lePebble, caFile string) {
	t.Helper()
	dns, dnsMgmt, listen, mgmt := a[0], a[1], a[2], a[3]
	leRun(t, bins.ChallTestSrv, nil, "-dnsserver", dns, "-management", dnsMgmt,
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")

	ca := auNewCA(t, "pebble listener CA")
	leaf := ca.Issue(t, "pebble", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "127.0.0.1")
	caFile = auWrite(t, "pebble-listener-ca.pem", ca.CertPEM)
	var cfg struct {
		Pebble map[string]any `json:"pebble"`
	}
	cfg.Pebble = map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": auWrite(t, "pebble.crt", leaf.CertPEM), "privateKey": auWrite(t, "pebble.key", leaf.KeyPEM),
		"httpPort": leAtoi(t, httpPort), "tlsPort": leAtoi(t, tlsPort),
	}
	js, _ := json.Marshal(cfg)
	p = &lePebble{DirectoryURL: "https://" + listen + "/dir"}
	p.cmd, p.Log = leRun(t, bins.Pebble,
		// No random sleeps before validating, no forged nonce errors:
		// both only slow the test down.
		[]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"},
		"-config", auWrite(t, "pebble.json", js), "-dnsserver", dns)

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	p.Roots = leFetchRoot(t, "https://"+mgmt+"/roots/0", pool, p.Log)
	return p, caFile
}

// leRun starts a helper process, killed when the test ends.
func leRun(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), confTail(log.String(), 4000))
		}
	})
	return cmd, log
}

// leFetchRoot waits (30s at most) for pebble's management listener and
// returns the root it issues under.
func leFetchRoot(t *testing.T, url string, trust *x509.CertPool, log *syncBuffer) *x509.CertPool {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trust}}}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pool := x509.NewCertPool()
			if resp.StatusCode == http.StatusOK && pool.AppendCertsFromPEM(body) {
				return pool
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pebble's root not available at %s after 30s; pebble log:\n%s", url, log.String())
	return nil
}

// leAddrs returns n distinct free loopback addresses: all are held open
// until the last is found, so none is handed out twice.
func leAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		defer l.Close()
		addrs[i] = l.Addr().String()
	}
	return addrs
}

func leAtoi(t *testing.T, port string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(port, &n); err != nil {
		t.Fatalf("port %q: %v", port, err)
	}
	return n
}

func lePort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// leTransport dials wharf at addr whatever the URL's host, and trusts only
// roots; the URL's host name is the SNI and the name verified.
func leTransport(addr string, roots *x509.CertPool) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
	}
}

// leServe starts wharf on addr (chosen before, so pebble's TLS-ALPN-01
// check can point at it) with http.tls.letsencrypt: the cache in cache and,
// when httpAddr is set, the HTTP-01 listener there. Readiness is a GET /v2/
// trusting only pebble's root: the first handshake makes wharf get its
// certificate.
func leServe(t *testing.T, addr string, p *lePebble, caFile, cache, httpAddr string) *Server {
	t.Helper()
	// SSL_CERT_FILE reaches wharf's ACME client through os.Environ in
	// auServe; it trusts pebble's listeners, not the certificates it issues.
	t.Setenv("SSL_CERT_FILE", caFile)
	extra := fmt.Sprintf(`  tls:
    letsencrypt:
      cachefile: %s
      email: ops@wharf.test
      hosts: [%s]
      directoryurl: %s
`, cache, leHost, p.DirectoryURL)
	if httpAddr != "" {
		extra += "      httpaddr: " + httpAddr + "\n"
	}
	ready := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.Roots, ServerName: leHost}}}
	return auServe(t, auServerConfig{Scheme: "https", Addr: addr, HTTPExtra: extra, Client: ready})
}

// TestLetsEncryptPebble: wharf gets its certificate from pebble through each
// challenge, a client trusting only pebble's root pushes and pulls over it,
// a name outside hosts gets no certificate, and a restart serves the cached
// certificate with pebble gone.
func TestLetsEncryptPebble(t *testing.T) {
	tests := []struct {
		name string
		// http01: wharf answers HTTP-01; pebble's TLS-ALPN-01 check then
		// goes to a closed port, so only HTTP-01 can succeed. Without it,
		// pebble's HTTP-01 check goes to a closed port.
		http01 bool
	}{
		{"tls-alpn-01", false},
		{"http-01", true},
	}
	bins := testenv.Pebble(t, lePebbleHow)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// wharf, a closed port, wharf's HTTP-01 listener, then pebble's.
			a := leAddrs(t, 7)
			wharfAddr, closed := a[0], a[1]
			httpAddr, tlsPort, httpPort := "", lePort(t, wharfAddr), lePort(t, closed)
			if tt.http01 {
				httpAddr, tlsPort, httpPort = a[2], lePort(t, closed), lePort(t, a[2])
			}
			p, caFile := leStartPebble(t, bins, httpPort, tlsPort, a[3:])
			cache := filepath.Join(t.TempDir(), "acme")
			s := leServe(t, wharfAddr, p, caFile, cache, httpAddr)

			leCheckCert(t, s, p)
			lePushPull(t, s, p)
			leCheckOtherHost(t, s, p)
			if tt.http01 {
				leCheckHTTPRedirect(t, httpAddr)
			}

			// Restart on the same cache with pebble gone: the certificate
			// comes from cachefile.
			s.Kill()
			p.cmd.Process.Kill()
			p.cmd.Wait()
			s2 := leServe(t, freeAddr(t), p, caFile, cache, "")
			lePushPull(t, s2, p)
		})
	}
}

// leCheckCert: the served certificate names leHost and chains to pebble.
func leCheckCert(t *testing.T, s *Server, p *lePebble) {
	t.Helper()
	conn, err := tls.Dial("tcp", s.Addr, &tls.Config{ServerName: leHost, RootCAs: p.Roots})
	if err != nil {
		t.Fatalf("TLS to wharf as %s: %v\nwharf log:\n%s\npebble log:\n%s", leHost, err,
			confTail(s.Log.String(), 3000), confTail(p.Log.String(), 3000))
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	if err := leaf.VerifyHostname(leHost); err != nil {
		t.Errorf("certificate: %v", err)
	}
	t.Logf("certificate for %v from %q, valid until %s", leaf.DNSNames, leaf.Issuer.CommonName, leaf.NotAfter.Format(time.RFC3339))
}

// lePushPull pushes and pulls an image as leHost, trusting only pebble.
func lePushPull(t *testing.T, s *Server, p *lePebble) {
	t.Helper()
	ref, err := name.ParseReference(leHost+":"+lePort(t, s.Addr)+"/acme/image:v1", name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	img := whRandomImage(t, 4096, 2)
	opts := whRemote(t, remote.WithTransport(leTransport(s.Addr, p.Roots)))
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("push to %s: %v\nwharf log:\n%s", ref, err, confTail(s.Log.String(), 3000))
	}
	if err := auVerifyPull(t, ref, img, opts...); err != nil {
		t.Errorf("pull: %v", err)
	}
}

// leCheckOtherHost: a name outside hosts gets no certificate, so a client
// cannot make wharf ask the CA for names of its choosing.
func leCheckOtherHost(t *testing.T, s *Server, p *lePebble) {
	t.Helper()
	conn, err := tls.Dial("tcp", s.Addr, &tls.Config{ServerName: "other.wharf.test", RootCAs: p.Roots})
	if err == nil {
		conn.Close()
		t.Errorf("TLS as other.wharf.test succeeded; want a refused handshake")
	}
}

// leCheckHTTPRedirect: the HTTP-01 listener sends other requests to https.
func leCheckHTTPRedirect(t *testing.T, httpAddr string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	req, _ := http.NewRequestWithContext(ctx(t), "GET", "http://"+httpAddr+"/v2/", nil)
	req.Host = leHost
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /v2/ on the HTTP-01 listener: %v", err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "https://"+leHost+"/v2/" {
		t.Errorf("GET /v2/ on the HTTP-01 listener: %d to %q, want 302 to https://%s/v2/", resp.StatusCode, loc, leHost)
	}
}

// TestLetsEncryptRefused: a letsencrypt section that cannot give wharf a
// certificate stops `wharf serve` with exit status 1 and names the key,
// instead of serving plain HTTP or failing every handshake later.
func TestLetsEncryptRefused(t *testing.T) {
	oldCache := auWrite(t, "letsencrypt.cache", []byte("{}")) // distribution 2's single-file cache
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := filepath.Join(t.TempDir(), "acme")
	tests := []struct {
		name, section, want string
	}{
		{"no cachefile", "      hosts: [registry.example.com]\n", "http.tls.letsencrypt.cachefile: must be set"},
		{"no hosts", "      cachefile: " + dir + "\n", "http.tls.letsencrypt.hosts: must list"},
		{"cachefile is a file", "      cachefile: " + oldCache + "\n      hosts: [registry.example.com]\n", "distribution 2's cache format"},
		{"with a certificate", "      cachefile: " + dir + "\n      hosts: [registry.example.com]\n    certificate: /c.pem\n    key: /k.pem\n", "not both"},
		{"httpaddr in use", "      cachefile: " + dir + "\n      hosts: [registry.example.com]\n      httpaddr: " + busy.Addr().String() + "\n", "http.tls.letsencrypt.httpaddr: listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := auWrite(t, "config.yml", []byte(fmt.Sprintf(`version: 0.1
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
  tls:
    letsencrypt:
%s`, t.TempDir(), freeAddr(t), tt.section)))
			code, out := auRunServeFails(t, cfg)
			if code != 1 || !strings.Contains(out, tt.want) {
				t.Errorf("wharf serve exit %d, want 1 with %q; output:\n%s", code, tt.want, out)
			}
		})
	}
}
