package e2e

// wharf behind nginx, configured as seed 002 does (proxy_request_buffering
// off, HTTP/1.1 upstream, default max_fails=1 and fail_timeout=10s): a PATCH
// that wharf refuses without reading its body (unknown upload, wrong offset,
// expired or missing token) must reach the client with its own status, and
// must not cost the node its place in the upstream group. Every name here
// starts with "ngx".

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharf-registry/wharf/internal/testenv"
)

// ngxSkipMessage is why the nginx tests skip without nginx.
const ngxSkipMessage = "the nginx tests need nginx (Debian's package): run them with `make test` or scripts/test-services.sh go test ./test/e2e/"

// ngxSeedConf is seed 002's nginx.conf, kept verbatim.
const ngxSeedConf = "testdata/nginx-seed002.conf"

// ngxBodySize is the size of each refused PATCH body: several MB, far
// beyond the 256 KiB Go's server discards on its own.
const ngxBodySize = 8 << 20

// TestNginxEarlyRejectionSingleNode: one embedded node behind seed 002's
// nginx.
func TestNginxEarlyRejectionSingleNode(t *testing.T) {
	bin := testenv.Need(t, ngxSkipMessage, "WHARF_TEST_NGINX")[0]
	tok := ngxNewTokens(t)
	s := auServe(t, auServerConfig{Extra: tok.Config})
	p := ngxStart(t, bin, []string{s.Addr})
	ngxCheckEarlyRejections(t, p, tok, func() string { return confTail(s.Log.String(), 4<<10) })
}

// TestNginxEarlyRejectionScaleOut: three nodes on S3 and PostgreSQL (the
// docs' node configuration) behind seed 002's nginx, one upstream each.
func TestNginxEarlyRejectionScaleOut(t *testing.T) {
	bin := testenv.Need(t, ngxSkipMessage, "WHARF_TEST_NGINX")[0]
	st := soNewStores(t)
	tok := ngxNewTokens(t)
	nodes := ngxStartNodes(t, st, 3, tok.Config)
	var addrs []string
	for _, s := range nodes {
		addrs = append(addrs, s.Addr)
	}
	p := ngxStart(t, bin, addrs)
	ngxCheckEarlyRejections(t, p, tok, func() string {
		var b strings.Builder
		for i, s := range nodes {
			fmt.Fprintf(&b, "--- node %d (%s):\n%s\n", i+1, s.Addr, confTail(s.Log.String(), 2<<10))
		}
		return b.String()
	})
}

// ngxRejection is one PATCH wharf refuses before reading its body.
type ngxRejection struct {
	name  string
	url   string
	token string // "" sends no credentials
	// offset, when positive, is where Content-Range says the chunk starts
	// (the upload holds 0 bytes).
	offset int64
	want   int
}

// ngxCheckEarlyRejections sends refused multi-MB PATCHes through p, each
// with a known length and chunked, and checks each got its own status; then
// that every upstream is still in rotation (a push through p succeeds) and
// that nginx logged no upstream reset. logs describes the nodes on failure.
func ngxCheckEarlyRejections(t *testing.T, p *ngxProxy, tok *ngxTokens, logs func() string) {
	const repo = "edge/app"
	valid := tok.Token(t, repo, time.Now().Add(10*time.Minute))
	expired := tok.Token(t, repo, time.Now().Add(-5*time.Minute))

	start := auDo(t, auReq{Method: http.MethodPost, URL: p.URL + "/v2/" + repo + "/blobs/uploads/", Token: valid})
	if start.Status != http.StatusAccepted {
		t.Fatalf("start an upload through nginx: %s\n%s", start, logs())
	}
	front := &Server{t: t, Addr: p.Addr, URL: p.URL}
	upload := whResolve(t, front, start.Header.Get("Location"))
	cases := []ngxRejection{
		{name: "unknown upload", url: p.URL + "/v2/" + repo + "/blobs/uploads/00000000-0000-4000-8000-000000000000", token: valid, want: http.StatusNotFound},
		{name: "out of order", url: upload, token: valid, offset: 1 << 20, want: http.StatusRequestedRangeNotSatisfiable},
		{name: "expired token", url: upload, token: expired, want: http.StatusUnauthorized},
		{name: "no credentials", url: upload, want: http.StatusUnauthorized},
	}
	body := whRandBytes(7, ngxBodySize)
	statuses := map[int]int{}
	const rounds = 2
	for round := range rounds {
		for _, c := range cases {
			for _, chunked := range []bool{false, true} {
				got, err := ngxPatch(c, body, chunked)
				statuses[got]++
				if err != nil || got != c.want {
					t.Errorf("round %d, %s (chunked %t): status %d, err %v; want %d", round+1, c.name, chunked, got, err, c.want)
				}
			}
		}
	}
	t.Logf("statuses of %d refused %d MiB PATCHes through nginx: %v", rounds*len(cases)*2, ngxBodySize>>20, statuses)

	// Every upstream still serves: no "no live upstreams" 502, and a push
	// (layers of a few MB, one PATCH each) goes through.
	for i := range 3 * len(p.Upstreams) {
		r := auDo(t, auReq{Method: http.MethodGet, URL: p.URL + "/v2/", Token: valid})
		if r.Status != http.StatusOK {
			t.Errorf("GET /v2/ #%d through nginx after the refusals: %s", i+1, r)
		}
	}
	img := whRandomImage(t, 3<<20, 2)
	opts := whRemote(t, remote.WithAuth(authn.FromConfig(authn.AuthConfig{RegistryToken: valid})))
	if err := remote.Write(whRef(t, front, repo+":after"), img, opts...); err != nil {
		t.Errorf("push through nginx after the refusals: %v", err)
	} else if err := auVerifyPull(t, whRef(t, front, repo+":after"), img, opts...); err != nil {
		t.Errorf("pull through nginx after the refusals: %v", err)
	}

	if lines := p.Trouble(t); len(lines) > 0 {
		t.Errorf("nginx error log: %d lines of upstream trouble, the first:\n%s", len(lines), strings.Join(lines[:min(len(lines), 8)], "\n"))
	}
	if t.Failed() {
		t.Logf("nginx error log:\n%s\n%s", confTail(p.ErrorLog(t), 4<<10), logs())
	}
}

// ngxPatch sends one PATCH of body as c describes, on a connection of its
// own, and returns the status.
func ngxPatch(c ngxRejection, body []byte, chunked bool) (int, error) {
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = struct{ io.Reader }{rd} // hides the length: Transfer-Encoding: chunked
	}
	req, err := http.NewRequest(http.MethodPatch, c.url, rd)
	if err != nil {
		return 0, err
	}
	if chunked {
		req.ContentLength = -1
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.offset > 0 {
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", c.offset, c.offset+int64(len(body))-1))
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, err
}

// ngxTokens is an external token server's setup: a CA in rootcertbundle
// and a signer whose certificate travels in each token's x5c header, so
// the test can mint valid and expired tokens every node accepts.
type ngxTokens struct {
	Config string // the top-level auth section
	signer *auLeaf
}

const ngxIssuer, ngxService = "ngx-issuer", "wharf-ngx"

func ngxNewTokens(t testing.TB) *ngxTokens {
	t.Helper()
	ca := auNewCA(t, "ngx token CA")
	bundle := auWrite(t, "bundle.pem", ca.CertPEM)
	return &ngxTokens{
		signer: ca.Issue(t, "ngx token signer", nil),
		Config: fmt.Sprintf(`auth:
  token:
    realm: https://auth.example.test/token
    service: %s
    issuer: %s
    rootcertbundle: %s
`, ngxService, ngxIssuer, bundle),
	}
}

// Token grants pull and push on repo until exp.
func (k *ngxTokens) Token(t testing.TB, repo string, exp time.Time) string {
	t.Helper()
	x5c := []string{base64.StdEncoding.EncodeToString(k.signer.Cert.Raw)}
	return auExtToken(t, k.signer.Key, map[string]any{"x5c": x5c}, ngxIssuer, ngxService, "ci", exp,
		auScope{Type: "repository", Name: repo, Actions: []string{"pull", "push"}})
}

// ngxStartNodes starts n nodes over st with the docs' example node
// configuration plus extra (the auth section), and waits until each
// answers GET /v2/ (401 with auth). They are killed when the test ends.
func ngxStartNodes(t *testing.T, st *soStores, n int, extra string) []*Server {
	t.Helper()
	tmpl := soDocConfig(t)
	var nodes []*Server
	for i := range n {
		s := &Server{t: t, Root: t.TempDir(), Addr: freeAddr(t)}
		s.URL = "http://" + s.Addr
		s.Config = filepath.Join(t.TempDir(), fmt.Sprintf("node%d.yml", i+1))
		cfg := soRender(t, tmpl, map[string]string{
			"LISTEN_ADDR":      s.Addr,
			"ROOT_DIR":         s.Root,
			"S3_ACCESS_KEY":    st.env.s3.AccessKey,
			"S3_SECRET_KEY":    st.env.s3.SecretKey,
			"S3_REGION":        st.env.s3.Region,
			"S3_ENDPOINT":      st.env.s3.Endpoint,
			"S3_BUCKET":        st.Bucket,
			"REDIRECT_DISABLE": "true",
			"DATABASE_DSN":     st.DSN,
			"GC_INTERVAL":      "1h",
			"GC_GRACE":         "24h",
		})
		if err := os.WriteFile(s.Config, []byte(cfg+extra), 0o600); err != nil {
			t.Fatalf("write config: %v", err)
		}
		nodes = append(nodes, s)
		t.Cleanup(func() { s.Kill() })
	}
	// Launched together: their migrations race under an advisory lock.
	for _, s := range nodes {
		soLaunch(s)
	}
	for _, s := range nodes {
		ngxWaitAnswers(t, s)
	}
	return nodes
}

// ngxWaitAnswers waits until s answers GET /v2/ with 200 or 401.
func ngxWaitAnswers(t testing.TB, s *Server) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("wharf exited during start:\n%s", s.Log.String())
		default:
		}
		if resp, err := c.Get(s.URL + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("wharf on %s not answering after 30s:\n%s", s.Addr, s.Log.String())
}

// ngxProxy is one nginx process (master and workers) in front of
// Upstreams, with its own prefix directory.
type ngxProxy struct {
	URL, Addr string
	Upstreams []string
	prefix    string
	cmd       *exec.Cmd
	done      chan struct{}
}

// ngxStart starts nginx with seed 002's configuration, its one upstream
// server replaced by upstreams and its port 80 by a free loopback port, and
// waits until it answers. It is stopped when the test ends.
func ngxStart(t *testing.T, bin string, upstreams []string) *ngxProxy {
	t.Helper()
	p := &ngxProxy{Upstreams: upstreams, prefix: t.TempDir(), Addr: freeAddr(t)}
	p.URL = "http://" + p.Addr
	conf := filepath.Join(p.prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(ngxConfig(t, p.prefix, p.Addr, upstreams)), 0o600); err != nil {
		t.Fatalf("write nginx.conf: %v", err)
	}
	out := &syncBuffer{}
	p.cmd = exec.Command(bin, "-p", p.prefix, "-c", conf, "-e", p.errorLogPath())
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("nginx exited during start: %s\n%s", out.String(), p.ErrorLog(t))
		default:
		}
		if c, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
			c.Close()
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nginx not listening on %s after 30s:\n%s", p.Addr, p.ErrorLog(t))
	return nil
}

// stop asks nginx for a fast shutdown (SIGTERM), then kills it.
func (p *ngxProxy) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *ngxProxy) errorLogPath() string { return filepath.Join(p.prefix, "error.log") }

// ErrorLog is nginx's error log so far.
func (p *ngxProxy) ErrorLog(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(p.errorLogPath())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read nginx error log: %v", err)
	}
	return string(b)
}

// Trouble returns the error log lines about upstream resets and upstreams
// out of rotation.
func (p *ngxProxy) Trouble(t testing.TB) []string {
	t.Helper()
	trouble := []string{
		"upstream prematurely closed",
		"reset by peer",
		"Broken pipe",
		"no live upstreams",
		"temporarily disabled",
	}
	var out []string
	for _, l := range strings.Split(p.ErrorLog(t), "\n") {
		for _, s := range trouble {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// ngxConfig is seed 002's nginx.conf for a test: upstreams instead of
// registry:5000, listening on addr instead of port 80, in the foreground,
// with its pid, logs and temporary files under prefix. Each edit must find
// its place exactly once, so the seed's file cannot drift unnoticed.
func ngxConfig(t testing.TB, prefix, addr string, upstreams []string) string {
	t.Helper()
	seed, err := os.ReadFile(ngxSeedConf)
	if err != nil {
		t.Fatalf("read %s: %v", ngxSeedConf, err)
	}
	var servers []string
	for _, u := range upstreams {
		servers = append(servers, "server "+u+";")
	}
	top := []string{"daemon off;", "pid " + filepath.Join(prefix, "nginx.pid") + ";",
		"error_log " + filepath.Join(prefix, "error.log") + " warn;"}
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot enter the test's
		// private temporary directories.
		top = append(top, "user root;")
	}
	var paths []string
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		paths = append(paths, d+"_temp_path "+filepath.Join(prefix, d)+";")
	}
	paths = append(paths, "access_log "+filepath.Join(prefix, "access.log")+";")
	conf := string(seed)
	for _, e := range []struct{ old, new string }{
		{"worker_processes auto;", strings.Join(top, "\n") + "\nworker_processes auto;"},
		{"server registry:5000;", strings.Join(servers, "\n    ")},
		{"listen 80;", "listen " + addr + ";"},
		{"http {", "http {\n  " + strings.Join(paths, "\n  ")},
	} {
		if n := strings.Count(conf, e.old); n != 1 {
			t.Fatalf("%s: %q found %d times, want once", ngxSeedConf, e.old, n)
		}
		conf = strings.Replace(conf, e.old, e.new, 1)
	}
	return conf
}
