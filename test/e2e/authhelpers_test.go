package e2e

// Helpers for the access-control tests (auth_test.go, auth_conformance_test.go,
// tls_test.go). Every name here starts with "au" so it cannot clash with
// helpers of other files in this package.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Test users: alice is an admin, carol is in group devs, bob is neither.
var auUsers = map[string]string{
	"alice": "alice-Secret-1",
	"bob":   "bob-Secret-2",
	"carol": "carol-Secret-3",
}

// auPolicy is the access section of the permission tests.
const auPolicy = `access:
  admins: [alice]
  public: ["library/*"]
  groups:
    devs: [carol]
  rules:
    - repositories: "team/*"
      groups: [devs]
      actions: [pull, push]
    - repositories: "team/*"
      users: [bob]
      actions: [pull]
`

// auHtpasswd writes an htpasswd file for users with `wharf htpasswd -f`,
// the password on stdin, as users are told to do.
func auHtpasswd(t testing.TB, users map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "htpasswd")
	for u, p := range users {
		auSetPassword(t, path, u, p)
	}
	return path
}

// auSetPassword runs `wharf htpasswd -f path user` with the password on stdin.
func auSetPassword(t testing.TB, path, user, pass string) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, wharfBin, "htpasswd", "-f", path, user)
	cmd.Stdin = strings.NewReader(pass + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("wharf htpasswd -f %s %s: %v\n%s", path, user, err, out.String())
	}
}

// auServerConfig describes a server to start with auServe.
type auServerConfig struct {
	HTTPExtra string // indented lines under http: (tls)
	Extra     string // top-level YAML (auth, access)
	// Client checks readiness (and TLS trust); nil: plain HTTP.
	Client *http.Client
	Scheme string // "http" (default) or "https"
	Addr   string // host:port to listen on; empty: a free loopback port
}

// auServe starts `wharf serve` with cfg on a free loopback port, logging at
// debug level with the access log on (so the log-secrets check sees as much
// as possible), and waits until GET /v2/ answers anything: with auth, that
// is a 401.
func auServe(t testing.TB, cfg auServerConfig) *Server {
	t.Helper()
	root := t.TempDir()
	s := &Server{t: t, Root: root, Addr: cfg.Addr}
	if s.Addr == "" {
		s.Addr = freeAddr(t)
	}
	scheme := cfg.Scheme
	if scheme == "" {
		scheme = "http"
	}
	s.URL = scheme + "://" + s.Addr
	body := fmt.Sprintf(`version: 0.1
log:
  level: debug
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
%s
%s`, root, s.Addr, cfg.HTTPExtra, cfg.Extra)
	s.Config = filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(s.Config, []byte(body), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	s.Log = &syncBuffer{}
	s.cmd = exec.Command(wharfBin, "serve", s.Config)
	s.cmd.Env = os.Environ()
	s.cmd.Stdout, s.cmd.Stderr = s.Log, s.Log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start wharf: %v", err)
	}
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.Kill() })

	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("wharf exited during start:\n%s\nconfig:\n%s", s.Log.String(), body)
		default:
		}
		resp, err := client.Get(s.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("wharf not ready after 30s:\n%s", s.Log.String())
	return nil
}

// auBasicServer is htpasswd basic auth over auUsers with extra top-level
// config (usually the access policy).
func auBasicServer(t testing.TB, extra string) (*Server, string) {
	t.Helper()
	ht := auHtpasswd(t, auUsers)
	s := auServe(t, auServerConfig{Extra: fmt.Sprintf(`auth:
  htpasswd:
    realm: wharf-test
    path: %s
%s`, ht, extra)})
	return s, ht
}

// auTokenServer is the built-in token server over auUsers.
func auTokenServer(t testing.TB, extra string) (*Server, string) {
	t.Helper()
	ht := auHtpasswd(t, auUsers)
	s := auServe(t, auServerConfig{Extra: fmt.Sprintf(`auth:
  htpasswd:
    realm: wharf-test
    path: %s
  tokenserver:
    enabled: true
%s`, ht, extra)})
	return s, ht
}

// auClientFrom is an HTTP client whose connections come from the loopback
// address ip (any of 127.0.0.0/8 on Linux), so the server sees another
// client address. It never follows redirects.
func auClientFrom(ip string) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// auReq is one request for auDo.
type auReq struct {
	Method string
	URL    string
	User   string // basic credentials when User or Pass is set
	Pass   string
	Token  string // bearer token
	Header map[string]string
	Body   []byte
	Client *http.Client // nil: whHTTP
}

// auDo sends r and returns the response with its body.
func auDo(t testing.TB, r auReq) whResp {
	t.Helper()
	var rd io.Reader
	if r.Body != nil {
		rd = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx(t), r.Method, r.URL, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", r.Method, r.URL, err)
	}
	if r.User != "" || r.Pass != "" {
		req.SetBasicAuth(r.User, r.Pass)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	c := r.Client
	if c == nil {
		c = whHTTP
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, whMaxBody))
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", r.Method, r.URL, err)
	}
	return whResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// auTokenResponse is the token endpoint's answer.
type auTokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
}

// auGetToken asks the built-in token server (GET) for scopes; user ""
// asks anonymously. It returns the response and the decoded token.
func auGetToken(t testing.TB, s *Server, user, pass string, scopes ...string) (whResp, auTokenResponse) {
	t.Helper()
	q := url.Values{"service": {"wharf"}}
	for _, sc := range scopes {
		q.Add("scope", sc)
	}
	r := auDo(t, auReq{Method: http.MethodGet, URL: s.URL + "/auth/token?" + q.Encode(), User: user, Pass: pass})
	var tr auTokenResponse
	if r.Status == http.StatusOK {
		if err := json.Unmarshal(r.Body, &tr); err != nil {
			t.Fatalf("token response not JSON: %v: %s", err, r)
		}
	}
	return r, tr
}

// auScope is one entry of a token's access claim.
type auScope struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// auClaims decodes a JWT's payload without verifying it (the server does).
func auClaims(t testing.TB, tok string) (sub string, access []auScope) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	var c struct {
		Sub    string    `json:"sub"`
		Access []auScope `json:"access"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("token payload: %v: %s", err, b)
	}
	return c.Sub, c.Access
}

// auErrorCode is the first OCI error code of a response, or "".
func auErrorCode(r whResp) string {
	var e whOCIErrors
	if json.Unmarshal(r.Body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// auRecorder records the paths of the requests a client makes.
type auRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []string
}

func (r *auRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func (r *auRecorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.reqs {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// --- certificates ---

// auCA is a test certificate authority.
type auCA struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
}

func auNewKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func auSerial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// auNewCA makes a self-signed CA.
func auNewCA(t testing.TB, name string) *auCA {
	t.Helper()
	key := auNewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          auSerial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"wharf tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &auCA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// auLeaf is a certificate signed by a CA, with its key.
type auLeaf struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// Issue signs a leaf certificate: for a server (hosts as DNS names or IP
// addresses), a client, or a token signer.
func (ca *auCA) Issue(t testing.TB, cn string, usage []x509.ExtKeyUsage, hosts ...string) *auLeaf {
	t.Helper()
	key := auNewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: auSerial(t),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &auLeaf{Cert: cert, Key: key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
}

// TLSCertificate is the leaf as a tls.Certificate (client certificates).
func (l *auLeaf) TLSCertificate(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// auWrite writes data to a new file in a temp dir and returns its path.
func auWrite(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// auRunServeFails runs `wharf serve` on a config that must be refused and
// returns its exit code and output.
func auRunServeFails(t testing.TB, config string) (int, string) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(c, wharfBin, "serve", config)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	case err != nil:
		t.Fatalf("run wharf serve: %v", err)
	}
	return 0, out.String()
}
