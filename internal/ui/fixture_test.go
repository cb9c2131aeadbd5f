package ui_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
	"github.com/wharf-registry/wharf/internal/ui"
)

// Hostile content the fixture stores wherever a user can put text.
const (
	xssScript   = `<script>alert("xss")</script>`
	xssImg      = `<img src=x onerror=alert(1)>`
	xssOverview = "# Hello\n\n" + xssScript + "\n\n" + xssImg + "\n\n[click](javascript:alert(1))\n\n<a href=\"javascript:alert(2)\">raw link</a>\n\n**bold** text\n"
)

// uiEnv is a registry with the UI over real stores, served on loopback.
type uiEnv struct {
	reg   *registry.Registry
	md    *meta.SQL
	srv   *httptest.Server
	base  string // the proxy's prefix
	guard *auth.Guard
	// htpasswd is the users' file.
	htpasswd string
	digest   map[string]digest.Digest // "repo:tag" → digest
}

// uiOptions vary the fixture.
type uiOptions struct {
	deleteDisabled bool
	noAuth         bool
	basePath       string
	mode           auth.Mode // ModeBasic when zero
}

// newUIEnv builds the fixture: users alice (admin), bob (team/* with all
// rights) and carol (no rules); library/* and evil/* public; repositories
// library/alpine (latest and 3.20 on one image, a multi-platform tag
// multi, a signature on latest), team/secret (private) and evil/xss
// (hostile description, overview, labels and annotations).
func newUIEnv(t testing.TB, o uiOptions) *uiEnv {
	t.Helper()
	dir := t.TempDir()
	md, err := meta.OpenSQLite(t.Context(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { md.Close() })
	fs, err := blob.NewFilesystem(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testLog{t}, nil))
	// Every blob in the blob store, so configs are read from there (the
	// e2e server keeps them inline).
	reg := registry.New(fs, md, registry.Options{DeleteEnabled: !o.deleteDisabled}, log)
	e := &uiEnv{reg: reg, md: md, digest: map[string]digest.Digest{}}
	if !o.noAuth {
		e.guard = testGuard(t, dir)
		e.htpasswd = filepath.Join(dir, "htpasswd")
		if o.mode != auth.ModeNone {
			e.guard.Mode = o.mode
		}
	}
	h, err := ui.New(reg, ui.Options{Guard: e.guard, SessionKey: bytes.Repeat([]byte("k"), 32), Sessions: md, Log: log, BasePath: o.basePath})
	if err != nil {
		t.Fatal(err)
	}
	// A base path stands for a proxy that strips it before passing on.
	e.srv = httptest.NewServer(http.StripPrefix(o.basePath, h))
	e.base = o.basePath
	t.Cleanup(e.srv.Close)
	e.seed(t)
	return e
}

func testGuard(t testing.TB, dir string) *auth.Guard {
	t.Helper()
	var lines []string
	for _, u := range []string{"alice", "bob", "carol", "dev"} {
		lines = append(lines, htpasswdLine(t, u, "pw-"+u))
	}
	p := filepath.Join(dir, "htpasswd")
	writeFileAtomic(t, p, strings.Join(lines, "\n")+"\n")
	h, err := auth.LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	pol := &auth.Policy{Admins: []string{"alice"}, Public: []string{"library/*", "evil/*"}, Groups: map[string][]string{},
		Rules: []auth.Rule{{Repositories: "team/*", Users: []string{"bob"}, Actions: []string{"*"}}}}
	g := &auth.Guard{Mode: auth.ModeBasic, BasicRealm: "wharf", Htpasswd: h, Policy: pol}
	g.Init()
	return g
}

func (e *uiEnv) seed(t testing.TB) {
	t.Helper()
	// The newest tag describes a repository: the index first.
	e.pushIndex(t, "library/alpine", "multi", "amd64", "arm64")
	latest := e.pushImage(t, "library/alpine", []string{"latest", "3.20"}, "amd64", map[string]string{ocispec.AnnotationDescription: "Alpine Linux, small"}, nil)
	e.pushSignature(t, "library/alpine", latest)
	e.pushImage(t, "team/secret", []string{"v1"}, "amd64", map[string]string{ocispec.AnnotationDescription: "Top secret thing"}, nil)
	e.pushImage(t, "evil/xss", []string{"latest"}, "amd64",
		map[string]string{"x-label": xssScript, "org.opencontainers.image.title": xssImg},
		map[string]string{"x-annotation": xssScript})
	desc, over := "Evil "+xssScript, xssOverview
	if err := e.reg.SetRepositoryInfo(t.Context(), "evil/xss", meta.RepoInfoUpdate{Description: &desc, Overview: &over}); err != nil {
		t.Fatal(err)
	}
}

// putBlob stores b in repo.
func (e *uiEnv) putBlob(t testing.TB, repo string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	if _, err := e.reg.PutBlob(t.Context(), repo, d, bytes.NewReader(b)); err != nil {
		t.Fatalf("put blob: %v", err)
	}
	return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
}

// pushImage pushes an image of one layer with the given config labels and
// manifest annotations under tags; "" tags: by digest only.
func (e *uiEnv) pushImage(t testing.TB, repo string, tags []string, arch string, labels, annotations map[string]string) digest.Digest {
	t.Helper()
	img := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: arch}}
	img.Config.Labels = labels
	img.Config.Env = []string{"PATH=/usr/bin", "ARCH=" + arch}
	img.Config.Entrypoint = []string{"/bin/sh", "-c"}
	img.Config.Cmd = []string{"echo hello"}
	img.History = []ocispec.History{{CreatedBy: "ADD rootfs-" + arch + " /"}}
	img.RootFS = ocispec.RootFS{Type: "layers"}
	cfg, err := json.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	layer := e.putBlob(t, repo, []byte("layer of "+repo+" "+arch+strings.Repeat("x", 2000)))
	layer.MediaType = ocispec.MediaTypeImageLayerGzip
	c := e.putBlob(t, repo, cfg)
	c.MediaType = ocispec.MediaTypeImageConfig
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: c, Layers: []ocispec.Descriptor{layer}, Annotations: annotations}
	m.SchemaVersion = 2
	return e.pushManifest(t, repo, tags, ocispec.MediaTypeImageManifest, m)
}

func (e *uiEnv) pushManifest(t testing.TB, repo string, tags []string, mediaType string, m any) digest.Digest {
	t.Helper()
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(body)
	if len(tags) == 0 {
		tags = []string{d.String()}
	}
	for _, tag := range tags {
		if _, err := e.reg.PutManifest(t.Context(), repo, tag, mediaType, body); err != nil {
			t.Fatalf("put manifest %s:%s: %v", repo, tag, err)
		}
		e.digest[repo+":"+tag] = d
	}
	return d
}

// pushIndex pushes an index of one image per architecture under tag.
func (e *uiEnv) pushIndex(t testing.TB, repo, tag string, archs ...string) digest.Digest {
	t.Helper()
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	for _, a := range archs {
		d := e.pushImage(t, repo, nil, a, nil, nil)
		m, err := e.reg.GetManifest(t.Context(), repo, d.String())
		if err != nil {
			t.Fatal(err)
		}
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d,
			Size: int64(len(m.Payload)), Platform: &ocispec.Platform{OS: "linux", Architecture: a}})
	}
	return e.pushManifest(t, repo, []string{tag}, ocispec.MediaTypeImageIndex, idx)
}

// pushSignature pushes a cosign-style signature artifact referring to subject.
func (e *uiEnv) pushSignature(t testing.TB, repo string, subject digest.Digest) digest.Digest {
	t.Helper()
	sub, err := e.reg.GetManifest(t.Context(), repo, subject.String())
	if err != nil {
		t.Fatal(err)
	}
	empty := e.putBlob(t, repo, []byte("{}"))
	empty.MediaType = ocispec.MediaTypeEmptyJSON
	sig := e.putBlob(t, repo, []byte("signature bytes"))
	sig.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
		Config: empty, Layers: []ocispec.Descriptor{sig},
		Subject: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: subject, Size: int64(len(sub.Payload))}}
	m.SchemaVersion = 2
	return e.pushManifest(t, repo, nil, ocispec.MediaTypeImageManifest, m)
}

// browser is one visitor: a cookie jar over the fixture's server.
type browser struct {
	t      testing.TB
	base   string
	client *http.Client
}

func (e *uiEnv) browser(t testing.TB) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, base: e.srv.URL + e.base, client: c}
}

// get fetches path and returns status and body.
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.client.Get(b.base + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// post sends a form to path and returns status, Location and body.
func (b *browser) post(path string, form url.Values, header ...string) (int, string, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the form token of the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body := b.get(path)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

// login logs in as user with the password pw-<user>.
func (b *browser) login(user string) {
	b.t.Helper()
	status, loc, body := b.post("/login", url.Values{"csrf": {b.csrf("/login")}, "username": {user}, "password": {"pw-" + user}, "next": {"/"}})
	if status != http.StatusSeeOther || loc != "/" {
		b.t.Fatalf("login as %s: %d %q %s", user, status, loc, body)
	}
}

var (
	repoLinkRe = regexp.MustCompile(`<a href="/r/([^"]+)">`)
	nextRe     = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
)

// testLog writes the server's log lines into the test's log.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// copyImage pushes the image from:tag to repository to under the same
// tag, its blobs mounted: the same manifest in two repositories.
func (e *uiEnv) copyImage(t testing.TB, from, tag, to string) {
	t.Helper()
	mi, err := e.reg.GetManifest(t.Context(), from, tag)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mi.Payload, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if ok, err := e.reg.MountBlob(t.Context(), to, from, d.Digest); err != nil || !ok {
			t.Fatalf("mount %s: %v %v", d.Digest, ok, err)
		}
	}
	if _, err := e.reg.PutManifest(t.Context(), to, tag, mi.MediaType, mi.Payload); err != nil {
		t.Fatal(err)
	}
}

// htpasswdLine is user's htpasswd entry for pass.
func htpasswdLine(t testing.TB, user, pass string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + string(hash)
}

// writeFileAtomic replaces path with data, as an admin's editor would.
func writeFileAtomic(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}
