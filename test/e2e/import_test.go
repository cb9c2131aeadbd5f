package e2e

// Tests of `wharf import` and of serving a data directory that registry:2
// (distribution 2.8.2, Debian's docker-registry) wrote: the directory is
// written by the real docker-registry, then wharf starts on it.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharf-registry/wharf/internal/testenv"
)

const registry2SkipMessage = "needs Debian's docker-registry (distribution 2.8.2): run with scripts/test-services.sh, which installs it and sets WHARF_TEST_REGISTRY2"

// startRegistry2 runs docker-registry on a free loopback port over root,
// with deletes enabled. The returned Server has no wharf process: it only
// lets the helpers (whPush, whDo) talk to it. stop ends the process.
func startRegistry2(t testing.TB, root string) (s *Server, stop func()) {
	t.Helper()
	return startRegistry2Storage(t, fmt.Sprintf("  filesystem:\n    rootdirectory: %s\n", root))
}

// startRegistry2Storage is startRegistry2 with the given storage driver
// section (indented under storage:).
func startRegistry2Storage(t testing.TB, driver string) (s *Server, stop func()) {
	t.Helper()
	bin := testenv.Need(t, registry2SkipMessage, "WHARF_TEST_REGISTRY2")[0]
	s = &Server{t: t, Addr: freeAddr(t), Log: &syncBuffer{}}
	s.URL = "http://" + s.Addr
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
%s  delete:
    enabled: true
  redirect:
    disable: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`, driver, s.Addr)
	path := filepath.Join(t.TempDir(), "registry2.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", path)
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	// distribution's AWS SDK panics on AWS_CA_BUNDLE with its own HTTP
	// transport ("unsupported transport"); it needs no CA for loopback.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop = func() {
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
			if resp.StatusCode == http.StatusOK {
				return s, stop
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("docker-registry not ready after 30s:\n%s", s.Log.String())
	return nil, nil
}

// importState is what a registry answers about its content.
type importState struct {
	catalog []string
	// tags maps repo:tag to its manifest digest.
	tags map[string]string
}

// readState lists the catalog and resolves every tag over HTTP.
func readState(t testing.TB, s *Server) importState {
	t.Helper()
	st := importState{tags: map[string]string{}}
	r := whDo(t, http.MethodGet, s.URL+"/v2/_catalog?n=1000", nil, nil)
	var cat struct{ Repositories []string }
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &cat) != nil {
		t.Fatalf("catalog: %s", r)
	}
	st.catalog = cat.Repositories
	for _, repo := range st.catalog {
		r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/tags/list?n=1000", nil, nil)
		var tl struct{ Tags []string }
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &tl) != nil {
			t.Fatalf("tags of %s: %s", repo, r)
		}
		for _, tag := range tl.Tags {
			h := whDo(t, http.MethodHead, s.URL+"/v2/"+repo+"/manifests/"+tag, map[string]string{
				"Accept": strings.Join([]string{string(types.DockerManifestSchema2), string(types.DockerManifestList),
					string(types.OCIManifestSchema1), string(types.OCIImageIndex)}, ", "),
			}, nil)
			if h.Status != http.StatusOK {
				t.Fatalf("HEAD %s:%s: %s", repo, tag, h)
			}
			st.tags[repo+":"+tag] = h.Header.Get("Docker-Content-Digest")
		}
	}
	return st
}

func (a importState) diff(b importState) string {
	if strings.Join(a.catalog, ",") != strings.Join(b.catalog, ",") {
		return fmt.Sprintf("catalog %v, want %v", b.catalog, a.catalog)
	}
	var out []string
	for k, v := range a.tags {
		if b.tags[k] != v {
			out = append(out, fmt.Sprintf("%s -> %q, want %s", k, b.tags[k], v))
		}
	}
	for k := range b.tags {
		if _, ok := a.tags[k]; !ok {
			out = append(out, fmt.Sprintf("%s is new", k))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// legacyInodes maps every blob data file registry:2 wrote to its inode.
func legacyInodes(t testing.TB, root string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	base := filepath.Join(root, "docker", "registry", "v2", "blobs")
	err := filepath.WalkDir(base, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() != "data" {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		out[path] = fi.Sys().(*syscall.Stat_t).Ino
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", base, err)
	}
	return out
}

// ownBlobFiles counts the files under wharf's own blob directory.
func ownBlobFiles(t testing.TB, root string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(root, "blobs"), func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func legacyData(root string, h v1.Hash) string {
	return filepath.Join(root, "docker", "registry", "v2", "blobs", h.Algorithm, h.Hex[:2], h.Hex, "data")
}

// withLayer is img with layer l appended.
func withLayer(t testing.TB, img v1.Image, l v1.Layer) v1.Image {
	t.Helper()
	out, err := mutate.AppendLayers(img, l)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func layerDigest(t testing.TB, img v1.Image, i int) v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ls[i].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestImportRegistry2Filesystem writes a data directory with registry:2,
// starts wharf on it and checks that everything is served unchanged, in
// place, and that pushes, deletes and garbage collection work afterwards.
func TestImportRegistry2Filesystem(t *testing.T) {
	root := t.TempDir()
	r2, stopR2 := startRegistry2(t, root)

	plain := whRandomImage(t, 3000, 2)
	whPush(t, r2, "plain/a:v1", plain)
	multiTag := whRandomOCIImage(t, 2000, 1)
	for _, tag := range []string{"v1", "latest", "stable"} {
		whPush(t, r2, "plain/b:"+tag, multiTag)
	}
	shared, err := random.Layer(5000, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	one := withLayer(t, whRandomImage(t, 1000, 1), shared)
	two := withLayer(t, whRandomImage(t, 1000, 1), shared)
	whPush(t, r2, "shared/one:v1", one)
	whPush(t, r2, "shared/two:v1", two)
	idx, err := random.Index(1500, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(whRef(t, r2, "multi/idx:v1"), idx, whRemote(t)...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	gone := whRandomImage(t, 1000, 1)
	goneDigest := whPush(t, r2, "gone/x:v1", gone)
	kept := whRandomImage(t, 1000, 1)
	whPush(t, r2, "gone/x:keep", kept)
	if r := whDo(t, http.MethodDelete, r2.URL+"/v2/gone/x/manifests/"+goneDigest.String(), nil, nil); r.Status != http.StatusAccepted {
		t.Fatalf("registry:2 DELETE manifest: %s", r)
	}
	// An upload left in progress, to be dropped.
	post := whDo(t, http.MethodPost, r2.URL+"/v2/plain/a/blobs/uploads/", nil, nil)
	if post.Status != http.StatusAccepted {
		t.Fatalf("registry:2 POST upload: %s", post)
	}
	if r := whDo(t, http.MethodPatch, whResolve(t, r2, post.Header.Get("Location")), map[string]string{"Content-Type": "application/octet-stream"}, []byte("half an upload")); r.Status != http.StatusAccepted {
		t.Fatalf("registry:2 PATCH upload: %s", r)
	}
	before := readState(t, r2)
	stopR2()
	inodes := legacyInodes(t, root)

	s := StartServer(t, ServerOptions{Root: root})
	if !strings.Contains(s.Log.String(), "uploads in progress are dropped") {
		t.Errorf("no log line about the dropped upload:\n%s", s.Log.String())
	}

	t.Run("unchanged", func(t *testing.T) {
		if d := before.diff(readState(t, s)); d != "" {
			t.Fatalf("after import: %s", d)
		}
		whVerifyImage(t, s, "plain/a:v1", plain)
		whVerifyImage(t, s, "plain/b:stable", multiTag)
		whVerifyImage(t, s, "shared/one:v1", one)
		whVerifyImage(t, s, "shared/two:v1", two)
		whVerifyImage(t, s, "gone/x:keep", kept)
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, child := range im.Manifests {
			img, err := idx.Image(child.Digest)
			if err != nil {
				t.Fatal(err)
			}
			whVerifyImage(t, s, "multi/idx@"+child.Digest.String(), img)
		}
		if r := whDo(t, http.MethodGet, s.URL+"/v2/gone/x/manifests/"+goneDigest.String(), nil, nil); r.Status != http.StatusNotFound {
			t.Errorf("deleted manifest: %s, want 404", r)
		}
	})
	t.Run("in place", func(t *testing.T) {
		if n := ownBlobFiles(t, root); n != 0 {
			t.Errorf("wharf's blob directory holds %d files; the import must copy nothing", n)
		}
		after := legacyInodes(t, root)
		for path, ino := range inodes {
			if after[path] != ino {
				t.Errorf("%s: inode %d, was %d", path, after[path], ino)
			}
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		out, errOut, code := runWharf(t, nil, "import", "--verify", s.Config)
		if code != 0 || !strings.Contains(out, "0 skipped") {
			t.Fatalf("wharf import --verify again: exit %d\n%s%s", code, out, errOut)
		}
		if d := before.diff(readState(t, s)); d != "" {
			t.Fatalf("after a second import: %s", d)
		}
	})
	t.Run("scrub", func(t *testing.T) {
		out, errOut, code := runWharf(t, nil, "scrub", s.Config)
		if code != 0 || !strings.Contains(out, " 0 problems") {
			t.Fatalf("scrub of the imported data: exit %d\n%s%s", code, out, errOut)
		}
		t.Log(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	})
	t.Run("push, delete and collect", func(t *testing.T) {
		fresh := withLayer(t, whRandomImage(t, 2000, 1), shared)
		whPush(t, s, "shared/three:v1", fresh)
		whVerifyImage(t, s, "shared/three:v1", fresh)

		plainDigest, _ := plain.Digest()
		oneDigest, _ := one.Digest()
		for _, ref := range []string{"plain/a/manifests/" + plainDigest.String(), "shared/one/manifests/" + oneDigest.String()} {
			if r := whDo(t, http.MethodDelete, s.URL+"/v2/"+ref, nil, nil); r.Status != http.StatusAccepted {
				t.Fatalf("DELETE %s: %s", ref, r)
			}
		}
		out, errOut, code := runWharf(t, nil, "garbage-collect", s.Config)
		if code != 0 {
			t.Fatalf("garbage-collect: exit %d\n%s%s", code, out, errOut)
		}
		unique := layerDigest(t, plain, 0)
		if _, err := os.Stat(legacyData(root, unique)); !os.IsNotExist(err) {
			t.Errorf("old unique layer %s still on disk after its manifest was deleted and collected (%v)\n%s", unique, err, out)
		}
		sharedDigest, _ := shared.Digest()
		if _, err := os.Stat(legacyData(root, sharedDigest)); err != nil {
			t.Errorf("shared layer %s: %v", sharedDigest, err)
		}
		whVerifyImage(t, s, "shared/two:v1", two)
		whVerifyImage(t, s, "shared/three:v1", fresh)
	})
}

// pushTagVariants pushes base to repo, then n tags, each on a manifest of
// its own (base with an annotation naming the tag), with a few PUTs at a
// time. It returns each tag's digest.
func pushTagVariants(t testing.TB, r2 *Server, repo string, base v1.Image, n int) map[string]string {
	t.Helper()
	whPush(t, r2, repo+":base", base)
	type job struct {
		tag  string
		body []byte
	}
	jobs := make(chan job)
	errs := make(chan error, 1)
	out := make(map[string]string, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for j := range jobs {
				r := whDo(t, http.MethodPut, r2.URL+"/v2/"+repo+"/manifests/"+j.tag,
					map[string]string{"Content-Type": string(types.OCIManifestSchema1)}, j.body)
				if r.Status != http.StatusCreated {
					select {
					case errs <- fmt.Errorf("PUT %s:%s: %s", repo, j.tag, r):
					default:
					}
					continue
				}
				mu.Lock()
				out[repo+":"+j.tag] = r.Header.Get("Docker-Content-Digest")
				mu.Unlock()
			}
		})
	}
	for i := range n {
		tag := fmt.Sprintf("t%05d", i)
		img, ok := mutate.Annotations(base, map[string]string{"tag": tag}).(v1.Image)
		if !ok {
			t.Fatal("mutate.Annotations did not return an image")
		}
		body, err := img.RawManifest()
		if err != nil {
			t.Fatal(err)
		}
		jobs <- job{tag, body}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return out
}

// wharfConfig writes a wharf configuration over root.
func wharfConfig(t testing.TB, root string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wharf.yml")
	body := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", root, freeAddr(t))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportRegistry2KillResume kills the import with SIGKILL at growing
// delays, `wharf import` and the automatic one of `wharf serve` in turn,
// then lets it finish: the result is what registry:2 served, as after an
// uninterrupted import.
func TestImportRegistry2KillResume(t *testing.T) {
	root := t.TempDir()
	r2, stopR2 := startRegistry2(t, root)
	const repos, tags = 8, 60
	base := whRandomOCIImage(t, 1000, 1)
	for i := range repos {
		pushTagVariants(t, r2, fmt.Sprintf("resume/r%d", i), base, tags)
	}
	before := readState(t, r2)
	stopR2()

	cfg := wharfConfig(t, root)
	marker := filepath.Join(root, "registry2-imported.json")
	kills := 0
	for attempt := range 12 {
		cmd := exec.Command(wharfBin, []string{"import", "serve"}[attempt%2], cfg)
		cmd.Env = append(os.Environ(), "REGISTRY_LOG_LEVEL=info")
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(40*(attempt+1)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if strings.Contains(out.String(), "importing registry:2 data") {
			kills++
		}
	}
	if kills == 0 {
		t.Error("no import was killed while importing; the resume was not exercised")
	}
	t.Logf("%d imports killed while importing", kills)
	out, errOut, code := runWharf(t, nil, "import", cfg)
	if code != 0 {
		t.Fatalf("import after the kills: exit %d\n%s%s", code, out, errOut)
	}
	s := StartServer(t, ServerOptions{Root: root})
	if d := before.diff(readState(t, s)); d != "" {
		t.Fatalf("after killed imports: %s", d)
	}
	whVerifyImage(t, s, "resume/r0:base", base)
}

// BenchmarkImportRegistry2Tags times `wharf import` of 10,000 tags (100
// repositories of 100 tags, each tag on a manifest of its own) that
// docker-registry wrote. Each iteration imports into fresh metadata. Run:
//
//	scripts/test-services.sh go test -run '^$' -bench ImportRegistry2 -benchtime 1x ./test/e2e/
func BenchmarkImportRegistry2Tags(b *testing.B) {
	root := b.TempDir()
	r2, stopR2 := startRegistry2(b, root)
	const repos, tags = 100, 100
	base := whRandomOCIImage(b, 1000, 1)
	start := time.Now()
	for i := range repos {
		pushTagVariants(b, r2, fmt.Sprintf("bench/r%03d", i), base, tags)
	}
	b.Logf("docker-registry took %s to receive %d tags", time.Since(start).Round(time.Millisecond), repos*tags)
	stopR2()
	cfg := wharfConfig(b, root)
	for b.Loop() {
		b.StopTimer()
		for _, p := range []string{"metadata", "registry2-imported.json"} {
			if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		out, errOut, code := runWharfB(b, "import", cfg)
		if code != 0 {
			b.Fatalf("import: exit %d\n%s%s", code, out, errOut)
		}
		b.Log(strings.TrimSpace(out))
	}
	b.ReportMetric(float64(repos*tags), "tags")
}

// runWharfB runs the wharf binary for a benchmark.
func runWharfB(b *testing.B, args ...string) (stdout, stderr string, code int) {
	b.Helper()
	cmd := exec.Command(wharfBin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), exit.ExitCode()
	}
	if err != nil {
		b.Fatalf("run wharf %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}
