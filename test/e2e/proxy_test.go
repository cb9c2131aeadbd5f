package e2e

// Pull-through cache tests: wharf mirrors real registries (Debian's
// docker-registry, distribution 2.8.2) started here on loopback, one
// anonymous and one behind htpasswd, and real clients pull through it.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharf-registry/wharf/internal/testenv"
)

// pxUpstream is a docker-registry process serving as an upstream, with its
// access log kept so tests can count the requests it received.
type pxUpstream struct {
	*Server
	stop func()
}

// pxStartUpstream runs docker-registry on a free loopback port; htpasswd,
// when set, is the path of its htpasswd file.
func pxStartUpstream(t testing.TB, htpasswd string) *pxUpstream {
	t.Helper()
	bin := testenv.Need(t, registry2SkipMessage, "WHARF_TEST_REGISTRY2")[0]
	s := &Server{t: t, Addr: freeAddr(t), Log: &syncBuffer{}, Root: t.TempDir()}
	s.URL = "http://" + s.Addr
	auth := ""
	if htpasswd != "" {
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: upstream\n    path: %s\n", htpasswd)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: false
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
%s`, s.Root, s.Addr, auth)
	path := filepath.Join(t.TempDir(), "upstream.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", path)
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		select {
		case <-done:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return &pxUpstream{Server: s, stop: stop}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("docker-registry not ready after 30s:\n%s", s.Log.String())
	return nil
}

// countGets counts the GETs of path in the upstream's access log.
func (u *pxUpstream) countGets(path string) int {
	return strings.Count(u.Log.String(), `"GET `+path+` `)
}

// pxBigImage is an image with one layer of size random bytes.
func pxBigImage(t testing.TB, seed uint64, size int) (v1.Image, v1.Layer) {
	t.Helper()
	l := static.NewLayer(whRandBytes(seed, size), types.DockerLayer)
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	return img, l
}

// pxDigest of raw bytes, as a string.
func pxDigest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// pxGetManifest GETs a manifest from wharf with every manifest type
// accepted, as clients do.
func pxGetManifest(t testing.TB, url string) whResp {
	t.Helper()
	return whDo(t, http.MethodGet, url, map[string]string{"Accept": strings.Join([]string{
		string(types.OCIImageIndex), string(types.DockerManifestList), string(types.OCIManifestSchema1), string(types.DockerManifestSchema2),
	}, ", ")}, nil)
}

// pxProxyConfig is wharf's proxy section for the anonymous upstream under
// two names (a long TTL and a short one) and the authenticated one.
func pxProxyConfig(anon, authed *pxUpstream, user, pass string) string {
	return fmt.Sprintf(`proxy:
  probeinterval: 1h
  upstreams:
    - name: anon.test
      aliases: [anon]
      url: %s
      default: true
      ttl: 1h
    - name: fresh.test
      url: %s
      ttl: 1s
    - name: auth.test
      url: %s
      username: %s
      password: %s
`, anon.URL, anon.URL, authed.URL, user, pass)
}

// TestProxyPullThrough runs the cache against real registries: every
// addressing form, byte-identical digests, coalesced blob fetches, TTLs,
// upstream auth, refused pushes beside working hosted pushes, and an
// upstream that stops.
func TestProxyPullThrough(t *testing.T) {
	const user, pass = "mirror", "s3cret-upstream-pw"
	anon := pxStartUpstream(t, "")
	authed := pxStartUpstream(t, auHtpasswd(t, map[string]string{user: pass}))
	debugAddr := freeAddr(t)
	// The debug lines continue the harness's http section.
	s := StartServer(t, ServerOptions{ExtraConfig: fmt.Sprintf(`  debug:
    addr: %s
    prometheus:
      enabled: true
      path: /metrics
`, debugAddr) + pxProxyConfig(anon, authed, user, pass)})

	plain := whRandomImage(t, 4096, 3)
	plainDigest := whPush(t, anon.Server, "lib/plain:v1", plain)
	idx, err := random.Index(2048, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(whRef(t, anon.Server, "lib/multi:v1"), idx, whRemote(t)...); err != nil {
		t.Fatalf("push index upstream: %v", err)
	}
	big, bigLayer := pxBigImage(t, 48, 48<<20)
	whPush(t, anon.Server, "lib/big:v1", big)
	private := whRandomImage(t, 2048, 2)
	if err := remote.Write(whRef(t, authed.Server, "team/tool:1"), private, whRemote(t, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))...); err != nil {
		t.Fatalf("push to authenticated upstream: %v", err)
	}

	t.Run("prefix form, byte-identical", func(t *testing.T) {
		whVerifyImage(t, s, "anon.test/lib/plain:v1", plain)
		whVerifyImage(t, s, "anon.test/lib/plain@"+plainDigest.String(), plain)
	})
	t.Run("alias, ns and default address the same cache", func(t *testing.T) {
		want, _ := plain.RawManifest()
		for _, u := range []string{
			s.URL + "/v2/anon/lib/plain/manifests/v1",
			s.URL + "/v2/lib/plain/manifests/v1?ns=anon.test",
			s.URL + "/v2/lib/plain/manifests/v1",
		} {
			r := pxGetManifest(t, u)
			if r.Status != http.StatusOK || !bytes.Equal(r.Body, want) || r.Header.Get("Docker-Content-Digest") != plainDigest.String() {
				t.Errorf("GET %s: %s, digest %q", u, r, r.Header.Get("Docker-Content-Digest"))
			}
		}
		// An ns naming no upstream selects nothing and is never dialed.
		r := pxGetManifest(t, s.URL+"/v2/lib/plain/manifests/v1?ns=nowhere.invalid")
		if r.Status != http.StatusOK {
			t.Errorf("unknown ns: %s (want the default upstream's answer)", r)
		}
	})
	t.Run("index kept whole, children fetched on demand", func(t *testing.T) {
		got, err := remote.Index(whRef(t, s, "anon.test/lib/multi:v1"), whRemote(t)...)
		if err != nil {
			t.Fatalf("pull index: %v", err)
		}
		wantRaw, _ := idx.RawManifest()
		gotRaw, err := got.RawManifest()
		if err != nil || !bytes.Equal(gotRaw, wantRaw) {
			t.Fatalf("index bytes differ (%v)", err)
		}
		im, _ := idx.IndexManifest()
		child := im.Manifests[0].Digest
		childImg, _ := idx.Image(child)
		whVerifyImage(t, s, "anon.test/lib/multi@"+child.String(), childImg)
		for _, other := range im.Manifests[1:] {
			if n := anon.countGets("/v2/lib/multi/manifests/" + other.Digest.String()); n != 0 {
				t.Errorf("child %s nobody asked for was fetched %d times", other.Digest, n)
			}
		}
	})
	t.Run("8 concurrent pulls of an uncached 48 MiB layer, one upstream GET", func(t *testing.T) {
		d, _ := bigLayer.Digest()
		path := "/v2/lib/big/blobs/" + d.String()
		want := whRandBytes(48, 48<<20)
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- pxFetchBlob(t, s.URL+"/v2/anon.test/lib/big/blobs/"+d.String(), want, i >= 8)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if n := anon.countGets(path); n != 1 {
			t.Errorf("upstream saw %d GETs of the layer, want 1", n)
		}
		// Now cached: served without the upstream.
		if err := pxFetchBlob(t, s.URL+"/v2/anon.test/lib/big/blobs/"+d.String(), want, false); err != nil {
			t.Error(err)
		}
		if n := anon.countGets(path); n != 1 {
			t.Errorf("upstream saw %d GETs of the layer after a cached pull, want 1", n)
		}
	})
	t.Run("a layer two repositories share: one upstream GET for both", func(t *testing.T) {
		shared := whRandBytes(16, 16<<20)
		l := static.NewLayer(shared, types.DockerLayer)
		d, _ := l.Digest()
		for _, repo := range []string{"lib/one", "lib/two"} {
			img, err := mutate.AppendLayers(empty.Image, l)
			if err != nil {
				t.Fatal(err)
			}
			img, err = mutate.Config(img, v1.Config{Labels: map[string]string{"repo": repo}})
			if err != nil {
				t.Fatal(err)
			}
			whPush(t, anon.Server, repo+":1", img)
		}
		gets := func() int {
			return anon.countGets("/v2/lib/one/blobs/"+d.String()) + anon.countGets("/v2/lib/two/blobs/"+d.String())
		}
		before := gets()
		for round := range 2 { // the second round is served from the cache
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					repo := []string{"lib/one", "lib/two"}[i%2]
					errs <- pxFetchBlob(t, s.URL+"/v2/anon.test/"+repo+"/blobs/"+d.String(), shared, i >= 6)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("round %d: %v", round, err)
				}
			}
		}
		if n := gets() - before; n != 1 {
			t.Errorf("upstream saw %d GETs of the shared layer over both repositories, want 1", n)
		}
	})
	t.Run("upstream 404s remembered briefly", func(t *testing.T) {
		for range 3 {
			r := pxGetManifest(t, s.URL+"/v2/anon.test/lib/nothing/manifests/v1")
			whExpectError(t, "missing upstream tag", r, http.StatusNotFound, "MANIFEST_UNKNOWN")
		}
		if n := strings.Count(anon.Log.String(), `"HEAD /v2/lib/nothing/manifests/v1 `); n != 1 {
			t.Errorf("upstream asked %d times about a missing tag, want 1 (negative cache)", n)
		}
	})
	t.Run("upstream auth, credentials kept inside", func(t *testing.T) {
		whVerifyImage(t, s, "auth.test/team/tool:1", private)
		if strings.Contains(s.Log.String(), pass) {
			t.Errorf("the upstream password appears in wharf's log")
		}
	})
	t.Run("pushes refused in cached namespaces, hosted pushes work", func(t *testing.T) {
		r := whDo(t, http.MethodPost, s.URL+"/v2/anon.test/lib/plain/blobs/uploads/", nil, nil)
		whExpectError(t, "push into a cache", r, http.StatusForbidden, "DENIED")
		if !strings.Contains(string(r.Body), "pull-through cache") {
			t.Errorf("refusal does not say why: %s", r)
		}
		r = whDo(t, http.MethodPost, s.URL+"/v2/lib/plain/blobs/uploads/?ns=anon.test", nil, nil)
		whExpectError(t, "push into a cache by ns", r, http.StatusForbidden, "DENIED")
		hosted := whRandomImage(t, 1024, 2)
		whPush(t, s, "hosted/app:1", hosted)
		whVerifyImage(t, s, "hosted/app:1", hosted)
	})
	t.Run("tag moved upstream: seen after the TTL, not before", func(t *testing.T) {
		whVerifyImage(t, s, "fresh.test/lib/plain:v1", plain) // cached under both names
		moved := whRandomImage(t, 4096, 2)
		whPush(t, anon.Server, "lib/plain:v1", moved)
		// The 1h TTL name still trusts its copy.
		whVerifyImage(t, s, "anon.test/lib/plain:v1", plain)
		movedDigest, _ := moved.Digest()
		pxWaitDigest(t, s, "fresh.test/lib/plain", "v1", movedDigest.String())
		whVerifyImage(t, s, "fresh.test/lib/plain:v1", moved)
		// Put the tag back for the tests that follow.
		whPush(t, anon.Server, "lib/plain:v1", plain)
		pxWaitDigest(t, s, "fresh.test/lib/plain", "v1", plainDigest.String())
	})
	t.Run("expired tag: concurrent pulls share one upstream HEAD", func(t *testing.T) {
		whVerifyImage(t, s, "fresh.test/lib/plain:v1", plain)
		time.Sleep(1100 * time.Millisecond) // past the 1s TTL
		head := `"HEAD /v2/lib/plain/manifests/v1 `
		before := strings.Count(anon.Log.String(), head)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := pxGetManifest(t, s.URL+"/v2/fresh.test/lib/plain/manifests/v1"); r.Header.Get("Docker-Content-Digest") != plainDigest.String() {
					t.Errorf("concurrent pull after the TTL: %s", r)
				}
			}()
		}
		wg.Wait()
		if n := strings.Count(anon.Log.String(), head) - before; n != 1 {
			t.Errorf("8 concurrent pulls of an expired tag sent %d HEADs upstream, want 1", n)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		r := whDo(t, http.MethodGet, "http://"+debugAddr+"/metrics", nil, nil)
		for _, re := range []string{
			`wharf_proxy_hits_total\{kind="manifest",upstream="anon.test"\} [1-9]`,
			`wharf_proxy_hits_total\{kind="blob",upstream="anon.test"\} [1-9]`,
			`wharf_proxy_misses_total\{kind="blob",upstream="anon.test"\} [1-9]`,
			`wharf_proxy_upstream_bytes_total\{upstream="anon.test"\} [1-9]`,
			`wharf_proxy_upstream_errors_total\{upstream="anon.test"\} [1-9]`,
			`wharf_proxy_coalesced_total\{kind="blob"\} [1-9]`,
			`wharf_proxy_upstream_up\{upstream="anon.test"\} 1`,
		} {
			if !regexp.MustCompile(re).Match(r.Body) {
				t.Errorf("metrics lack %s", re)
			}
		}
	})
	t.Run("upstream down: cached images pull, uncached fail fast", func(t *testing.T) {
		unpulled := whRandomImage(t, 1024, 1)
		whPush(t, anon.Server, "lib/unpulled:v1", unpulled)
		anon.stop()
		// Past its 1s TTL, the fresh.test tag is still served.
		time.Sleep(1100 * time.Millisecond)
		whVerifyImage(t, s, "fresh.test/lib/plain:v1", plain)
		whVerifyImage(t, s, "anon.test/lib/plain:v1", plain)
		r := pxGetManifest(t, s.URL+"/v2/anon.test/lib/unpulled/manifests/v1")
		whExpectError(t, "uncached with upstream down", r, http.StatusNotFound, "MANIFEST_UNKNOWN")
		if !strings.Contains(string(r.Body), "not cached") {
			t.Errorf("error does not say the image is not cached: %s", r)
		}
		// Hosted content is untouched by the upstream's state.
		r = pxGetManifest(t, s.URL+"/v2/hosted/app/manifests/1")
		if r.Status != http.StatusOK {
			t.Errorf("hosted pull with upstream down: %s", r)
		}
	})
	t.Run("scrub: partly pulled caches are sound", func(t *testing.T) {
		// An index with one child pulled and manifests whose layers nobody
		// pulled yet are sparse by design, not damage.
		out, errOut, code := runWharf(t, nil, "scrub", s.Config)
		if code != 0 {
			t.Errorf("scrub: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// pxWaitDigest polls wharf until repo:tag resolves to want (30s at most).
func pxWaitDigest(t testing.TB, s *Server, repo, tag, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := pxGetManifest(t, s.URL+"/v2/"+repo+"/manifests/"+tag)
		if r.Header.Get("Docker-Content-Digest") == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:%s still at %s after 30s, want %s", repo, tag, r.Header.Get("Docker-Content-Digest"), want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pxFetchBlob GETs a blob (with rangeReq, bytes 1000-1999 only) and checks
// the bytes against want.
func pxFetchBlob(t testing.TB, url string, want []byte, rangeReq bool) error {
	hdr := map[string]string{}
	if rangeReq {
		hdr["Range"] = "bytes=1000-1999"
	}
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read blob (range %t): %w", rangeReq, err)
	}
	if rangeReq {
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, want[1000:2000]) {
			return fmt.Errorf("range GET: status %d, %d bytes, match %t", resp.StatusCode, len(got), bytes.Equal(got, want[1000:2000]))
		}
		return nil
	}
	if resp.StatusCode != http.StatusOK || pxDigest(got) != pxDigest(want) {
		return fmt.Errorf("GET blob: status %d, %d bytes, digest %s want %s", resp.StatusCode, len(got), pxDigest(got), pxDigest(want))
	}
	return nil
}

// TestProxyCluster runs the cache on 3 nodes over PostgreSQL and S3 behind
// a round-robin front: pulls through any node are byte-identical, and 8
// concurrent pulls of an uncached 48 MiB layer spread over the nodes cause
// one upstream GET between them.
func TestProxyCluster(t *testing.T) {
	soServices(t)
	anon := pxStartUpstream(t, "")
	c := soStartCluster(t, soNewStores(t), 3, soSettings{Extra: fmt.Sprintf(`proxy:
  upstreams:
    - name: anon.test
      url: %s
      default: true
`, anon.URL)})
	plain := whRandomImage(t, 4096, 3)
	whPush(t, anon.Server, "lib/plain:v1", plain)
	big, bigLayer := pxBigImage(t, 7, 48<<20)
	whPush(t, anon.Server, "lib/big:v1", big)

	for range 3 { // each node in turn, through the round-robin front
		whVerifyImage(t, c.Front, "anon.test/lib/plain:v1", plain)
	}
	d, _ := bigLayer.Digest()
	want := whRandBytes(7, 48<<20)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- pxFetchBlob(t, c.Front.URL+"/v2/lib/big/blobs/"+d.String(), want, false)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("%v\n%s", err, c.Logs())
		}
	}
	if n := anon.countGets("/v2/lib/big/blobs/" + d.String()); n != 1 {
		t.Errorf("upstream saw %d GETs of the layer from 3 nodes, want 1", n)
	}
	if h := c.Proxy.Hits(); h[0] == 0 || h[1] == 0 || h[2] == 0 {
		t.Errorf("requests per node %v: the front did not spread them", h)
	}

	// Upstream down: every node serves what the cluster cached, and fails
	// fast for the rest.
	unpulled := whRandomImage(t, 1024, 1)
	whPush(t, anon.Server, "lib/unpulled:v1", unpulled)
	anon.stop()
	for _, n := range c.Nodes {
		whVerifyImage(t, n, "anon.test/lib/plain:v1", plain)
		if err := pxFetchBlob(t, n.URL+"/v2/lib/big/blobs/"+d.String(), want, true); err != nil {
			t.Errorf("node %s: %v", n.Addr, err)
		}
		r := pxGetManifest(t, n.URL+"/v2/anon.test/lib/unpulled/manifests/v1")
		whExpectError(t, "uncached with the upstream down", r, http.StatusNotFound, "MANIFEST_UNKNOWN")
	}
}

// TestProxyBearerUpstream mirrors a second wharf running its token server:
// the cache answers the upstream's Bearer challenge with its configured
// credentials (the token dance: realm, service, scope), the mirror's own
// access policy lets anonymous clients pull the cached namespace only, and
// neither the upstream password nor a token reaches the mirror's debug log
// or its clients.
func TestProxyBearerUpstream(t *testing.T) {
	up, _ := auTokenServer(t, auPolicy)
	secret := whRandomImage(t, 2048, 2)
	alice := remote.WithAuth(&authn.Basic{Username: "alice", Password: auUsers["alice"]})
	if err := remote.Write(whRef(t, up, "team/secret:1"), secret, whRemote(t, alice)...); err != nil {
		t.Fatalf("push to the token-auth upstream: %v", err)
	}
	ht := auHtpasswd(t, auUsers)
	mirror := auServe(t, auServerConfig{Extra: fmt.Sprintf(`auth:
  htpasswd:
    realm: mirror
    path: %s
access:
  admins: [alice]
  public: ["up.test/*"]
proxy:
  upstreams:
    - name: up.test
      url: %s
      username: alice
      password: %s
`, ht, up.URL, auUsers["alice"])})

	whVerifyImage(t, mirror, "up.test/team/secret:1", secret) // anonymous, through the public rule
	r := whDo(t, http.MethodGet, mirror.URL+"/v2/team/other/manifests/1", nil, nil)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("anonymous pull outside the public cache: %s, want 401", r)
	}
	r = whDo(t, http.MethodGet, mirror.URL+"/v2/up.test/team/missing/manifests/1", nil, nil)
	whExpectError(t, "missing upstream manifest", r, http.StatusNotFound, "MANIFEST_UNKNOWN")
	for _, leak := range []string{auUsers["alice"], "Bearer ey", "Basic YWxp"} {
		if strings.Contains(mirror.Log.String(), leak) {
			t.Errorf("the mirror's log holds %q", leak)
		}
		if strings.Contains(string(r.Body), leak) {
			t.Errorf("an error body holds %q", leak)
		}
	}
}

// TestProxyEviction caps the cache below two images that share a layer
// with each other and with a hosted image: the least recently pulled image
// is evicted, the collector frees only its own layer, and the shared layer
// stays for the cached and the hosted image alike. An evicted image pulled
// again is fetched again.
func TestProxyEviction(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps string // the proxy section's cap and upstreams; %[1]s is the upstream's URL
	}{
		{"per-upstream cap", `
  upstreams:
    - name: anon.test
      url: %[1]s
      maxsize: 600KiB
`},
		{"total cap", `
  maxsize: 600KiB
  upstreams:
    - name: anon.test
      url: %[1]s
    - name: other.test
      url: %[1]s
`},
	} {
		t.Run(tc.name, func(t *testing.T) { pxEviction(t, tc.caps) })
	}
}

func pxEviction(t *testing.T, caps string) {
	anon := pxStartUpstream(t, "")
	// Content whose last reference goes is collected on the next pass; the
	// grace period only protects links that arrive before their manifest,
	// as the blobs of an evicted image fetched again do.
	s := StartServer(t, ServerOptions{ExtraConfig: `gc:
  interval: 200ms
  graceperiod: 1m
proxy:
  evictinterval: 200ms` + fmt.Sprintf(caps, anon.URL)})
	layers := gcLayers(t, 3, 256<<10)
	own, ownB, shared := layers[0], layers[1], layers[2]
	imgA := gcMustImage(t, []v1.Layer{own, shared}, "a")
	imgB := gcMustImage(t, []v1.Layer{ownB, shared}, "b")
	hosted := gcMustImage(t, []v1.Layer{shared}, "h")
	whPush(t, anon.Server, "lib/a:1", imgA)
	whPush(t, anon.Server, "lib/b:1", imgB)
	whPush(t, s, "hosted/h:1", hosted)
	dOwn, _ := own.Digest()
	dOwnB, _ := ownB.Digest()
	dShared, _ := shared.Digest()

	whVerifyImage(t, s, "anon.test/lib/a:1", imgA)
	whVerifyImage(t, s, "anon.test/lib/b:1", imgB) // over the cap: a, pulled least recently, goes
	pxWaitGone(t, s, dOwn.String())
	files := gcBlobFiles(t, s.Root)
	if _, ok := files[dShared.String()]; !ok {
		t.Fatalf("the shared layer was removed with the evicted image")
	}
	whVerifyImage(t, s, "anon.test/lib/b:1", imgB)
	whVerifyImage(t, s, "hosted/h:1", hosted)

	// Pulled again, a is fetched again (its layer too), and now b is the
	// least recently pulled.
	whVerifyImage(t, s, "anon.test/lib/a:1", imgA)
	pxWaitGone(t, s, dOwnB.String())
	if _, ok := gcBlobFiles(t, s.Root)[dShared.String()]; !ok {
		t.Fatalf("the shared layer was removed with the second eviction")
	}
	anon.stop()
	whVerifyImage(t, s, "anon.test/lib/a:1", imgA)
	whVerifyImage(t, s, "hosted/h:1", hosted)
	r := pxGetManifest(t, s.URL+"/v2/anon.test/lib/b/manifests/1")
	whExpectError(t, "evicted image with the upstream down", r, http.StatusNotFound, "MANIFEST_UNKNOWN")

	// wharf du tells cached bytes from hosted ones.
	out, errOut, code := runWharf(t, nil, "du", s.Config)
	if code != 0 {
		t.Fatalf("du: exit %d\n%s%s", code, out, errOut)
	}
	hostedBlobs, err := gcImageBlobs(hosted)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("hosted: %d bytes in 1 repositories", gcSum(hostedBlobs))
	if !strings.Contains(out, want) || !regexp.MustCompile(`cached anon\.test: [1-9][0-9]* bytes in 2 repositories`).MatchString(out) {
		t.Errorf("du output lacks %q or the cached line:\n%s", want, out)
	}
}

// pxWaitGone waits (30s at most) until blob d's file is gone from s.
func pxWaitGone(t testing.TB, s *Server, d string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := gcBlobFiles(t, s.Root)[d]; !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("blob %s still stored after 30s\n%s", d, confTail(s.Log.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkProxy compares cache hits with hosted content on the same wharf
// (manifest GET by tag within its TTL, 4 MiB blob GET), and a miss's time
// to first byte with the upstream's own for a blob of the same size. Run:
//
//	WHARF_SERVICES=registry2 scripts/test-services.sh go test -run '^$' -bench BenchmarkProxy ./test/e2e/
func BenchmarkProxy(b *testing.B) {
	anon := pxStartUpstream(b, "")
	s := StartServer(b, ServerOptions{ExtraConfig: fmt.Sprintf(`proxy:
  upstreams:
    - name: anon.test
      url: %s
      ttl: 1h
`, anon.URL)})
	img, layer := pxBigImage(b, 99, 4<<20)
	whPush(b, anon.Server, "lib/img:1", img)
	whPush(b, s, "hosted/img:1", img)
	d, _ := layer.Digest()
	for _, repo := range []string{"anon.test/lib/img", "hosted/img"} {
		if err := whCheckImage(b, s, repo+":1", img); err != nil { // fills the cache
			b.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, repo string }{{"hit", "anon.test/lib/img"}, {"hosted", "hosted/img"}} {
		b.Run("manifest/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				if r := pxGetManifest(b, s.URL+"/v2/"+tc.repo+"/manifests/1"); r.Status != http.StatusOK {
					b.Fatal(r)
				}
			}
		})
		b.Run("blob4MiB/"+tc.name, func(b *testing.B) {
			b.SetBytes(4 << 20)
			for b.Loop() {
				pxDrain(b, s.URL+"/v2/"+tc.repo+"/blobs/"+d.String())
			}
		})
	}
	const missSize = 16 << 20
	for _, tc := range []struct{ name, base, repo string }{
		{"ttfb16MiB/miss", s.URL, "anon.test/lib/miss"},
		{"ttfb16MiB/upstream", anon.URL, "lib/miss"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var total time.Duration
			n := 0
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				data := whRandBytes(uint64(1000+i)+uint64(len(tc.name))<<20, missSize)
				dg := whUploadBlob(b, anon.Server, "lib/miss", data)
				b.StartTimer()
				total += pxFirstByte(b, tc.base+"/v2/"+tc.repo+"/blobs/"+dg)
				n++
			}
			b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "ms-to-first-byte")
		})
	}
}

// pxDrain GETs url and reads the body to its end.
func pxDrain(b *testing.B, url string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
}

// pxFirstByte GETs url, returns the time until the first body byte, and
// reads the rest.
func pxFirstByte(b *testing.B, url string) time.Duration {
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	one := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, one); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	ttfb := time.Since(start)
	io.Copy(io.Discard, resp.Body)
	return ttfb
}

// TestProxyTLSUpstream mirrors a wharf serving HTTPS with a certificate
// from a private CA: trusted through the upstream's ca file, or with
// verification skipped (insecure), and refused without either.
func TestProxyTLSUpstream(t *testing.T) {
	p := newTLSPKI(t)
	up := tlsServe(t, p, "", "", p.client(0, 0))
	img := whRandomImage(t, 2048, 2)
	if err := remote.Write(whRef(t, up, "lib/tls:1"), img, whRemote(t, remote.WithTransport(p.client(0, 0).Transport))...); err != nil {
		t.Fatalf("push to the TLS upstream: %v", err)
	}
	s := StartServer(t, ServerOptions{ExtraConfig: fmt.Sprintf(`proxy:
  upstreams:
    - name: ca.test
      url: %s
      ca: %s
    - name: insecure.test
      url: %s
      insecure: true
    - name: untrusted.test
      url: %s
`, up.URL, p.CAFile, up.URL, up.URL)})
	whVerifyImage(t, s, "ca.test/lib/tls:1", img)
	whVerifyImage(t, s, "insecure.test/lib/tls:1", img)
	r := pxGetManifest(t, s.URL+"/v2/untrusted.test/lib/tls/manifests/1")
	whExpectError(t, "upstream with an unknown CA", r, http.StatusNotFound, "MANIFEST_UNKNOWN")
	if !strings.Contains(string(r.Body), "certificate") {
		t.Errorf("the error does not name the certificate problem: %s", r)
	}
}

// TestProxyHostedConformance runs the OCI conformance suite against a wharf
// whose default upstream takes every pull of a name it does not host: the
// hosted registry beside the caches must still behave to the letter.
func TestProxyHostedConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite skipped in -short mode")
	}
	bin, err := conformanceBinary(repoRoot())
	if err != nil {
		t.Fatalf("conformance suite: %v", err)
	}
	anon := pxStartUpstream(t, "")
	conformanceProfile(t, bin, "1.1", conformanceEnv, fmt.Sprintf(`proxy:
  upstreams:
    - name: anon.test
      url: %s
      default: true
`, anon.URL))
}
