package e2e

// Deletion and garbage collection: the race of pushes against online GC
// (distribution#3045), re-push after GC (#3254), dry runs, the grace period,
// the seed 002 scenario without read-only mode, the collector inside the
// server, referrer cascades and the DELETE endpoints. Helpers here start
// with "gc".

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	_ "modernc.org/sqlite" // to check the metadata store's rows against the blob files
)

// gcStoredBlobs lists the blobs whose bytes are stored, as digest -> size:
// the files under <root>/blobs and the small blobs kept inline in the
// metadata store's rows.
func gcStoredBlobs(t testing.TB, root string) map[string]int64 {
	t.Helper()
	out := gcBlobFiles(t, root)
	for d, content := range whInlineBlobs(t, root) {
		if _, dup := out[d]; dup {
			t.Errorf("blob %s is both inline and in a file", d)
		}
		out[d] = int64(len(content))
	}
	return out
}

// gcBlobFiles lists the blob files under <root>/blobs as digest -> size.
func gcBlobFiles(t testing.TB, root string) map[string]int64 {
	t.Helper()
	dir := filepath.Join(root, "blobs")
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 {
			t.Errorf("unexpected file in the blob store: %s", rel)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[parts[0]+":"+parts[2]] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}

// gcSum is the total size of the given files.
func gcSum(files map[string]int64) int64 {
	var n int64
	for _, s := range files {
		n += s
	}
	return n
}

// gcSortedKeys returns a map's keys in order, for messages and comparisons.
func gcSortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// gcHuman formats bytes as the CLI does (binary units, one decimal).
func gcHuman(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// gcOutput is the parsed stdout of `wharf garbage-collect`.
type gcOutput struct {
	DryRun    bool
	Tags      []string          // repo:tag
	Manifests []string          // repo@digest
	Links     []string          // repo@digest
	Blobs     map[string]string // digest -> size as printed
	Summary   gcSummary
	Raw       string
}

type gcSummary struct {
	Verb                          string
	Tags, Manifests, Links, Blobs int
	Freed                         string
}

var (
	gcSummaryRe = regexp.MustCompile(`^(removed|would remove) (\d+) tags, (\d+) manifests, (\d+) blob links, (\d+) blobs; (.+) freed in (\S+)$`)
	gcBlobRe    = regexp.MustCompile(`^blob (sha256:[0-9a-f]{64}) \((.+)\)$`)
	gcTagRe     = regexp.MustCompile(`^tag (\S+) \((sha256:[0-9a-f]{64})\)$`)
	gcRepoDgRe  = regexp.MustCompile(`^(manifest|link) (\S+@sha256:[0-9a-f]{64})$`)
)

// gcParse parses garbage-collect's stdout; every line must be an event or
// the summary, and the summary must be the last line.
func gcParse(t testing.TB, out string) gcOutput {
	t.Helper()
	o := gcOutput{Blobs: map[string]string{}, Raw: out}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("garbage-collect printed nothing")
	}
	for i, line := range lines {
		if m := gcSummaryRe.FindStringSubmatch(line); m != nil {
			if i != len(lines)-1 {
				t.Errorf("summary is not the last line:\n%s", out)
			}
			o.Summary.Verb = m[1]
			o.Summary.Tags, _ = strconv.Atoi(m[2])
			o.Summary.Manifests, _ = strconv.Atoi(m[3])
			o.Summary.Links, _ = strconv.Atoi(m[4])
			o.Summary.Blobs, _ = strconv.Atoi(m[5])
			o.Summary.Freed = m[6]
			continue
		}
		ev, dry := strings.CutPrefix(line, "would remove ")
		if i == 0 {
			o.DryRun = dry
		} else if dry != o.DryRun {
			t.Errorf("line %q: dry-run prefix not on every line:\n%s", line, out)
		}
		switch {
		case gcBlobRe.MatchString(ev):
			m := gcBlobRe.FindStringSubmatch(ev)
			if _, dup := o.Blobs[m[1]]; dup {
				t.Errorf("blob %s listed twice:\n%s", m[1], out)
			}
			o.Blobs[m[1]] = m[2]
		case gcTagRe.MatchString(ev):
			o.Tags = append(o.Tags, gcTagRe.FindStringSubmatch(ev)[1])
		case gcRepoDgRe.MatchString(ev):
			m := gcRepoDgRe.FindStringSubmatch(ev)
			if m[1] == "manifest" {
				o.Manifests = append(o.Manifests, m[2])
			} else {
				o.Links = append(o.Links, m[2])
			}
		default:
			t.Errorf("unparsable garbage-collect line %q:\n%s", line, out)
		}
	}
	if o.Summary.Verb == "" {
		t.Fatalf("no summary line in garbage-collect output:\n%s", out)
	}
	if (o.Summary.Verb == "would remove") != o.DryRun && len(lines) > 1 {
		t.Errorf("summary verb %q does not match the event lines:\n%s", o.Summary.Verb, out)
	}
	if o.Summary.Tags != len(o.Tags) || o.Summary.Manifests != len(o.Manifests) ||
		o.Summary.Links != len(o.Links) || o.Summary.Blobs != len(o.Blobs) {
		t.Errorf("summary %+v does not count the listed lines (%d tags, %d manifests, %d links, %d blobs):\n%s",
			o.Summary, len(o.Tags), len(o.Manifests), len(o.Links), len(o.Blobs), out)
	}
	return o
}

// gcRun runs `wharf garbage-collect ARGS CONFIG`, requires exit code 0 and
// parses the output.
func gcRun(t *testing.T, s *Server, args ...string) gcOutput {
	t.Helper()
	out, errOut, code := runWharf(t, nil, append(append([]string{"garbage-collect"}, args...), s.Config)...)
	if code != 0 {
		t.Fatalf("garbage-collect %v: exit code %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return gcParse(t, out)
}

// gcNewImage is an OCI image of the given layers with a config of its own
// (id makes it unique).
func gcNewImage(layers []v1.Layer, id string) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = map[string]string{"org.example.id": id}
	return mutate.ConfigFile(img, cf)
}

func gcMustImage(t testing.TB, layers []v1.Layer, id string) v1.Image {
	t.Helper()
	img, err := gcNewImage(layers, id)
	if err != nil {
		t.Fatalf("image %s: %v", id, err)
	}
	return img
}

func gcLayers(t testing.TB, n int, size int64) []v1.Layer {
	t.Helper()
	out := make([]v1.Layer, n)
	for i := range out {
		l, err := random.Layer(size+int64(i)*97, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = l
	}
	return out
}

// gcImageBlobs is the config and layer digests of img with their sizes.
func gcImageBlobs(img v1.Image) (map[string]int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{m.Config.Digest.String(): m.Config.Size}
	for _, l := range m.Layers {
		out[l.Digest.String()] = l.Size
	}
	return out, nil
}

func gcMustBlobs(t testing.TB, img v1.Image) map[string]int64 {
	t.Helper()
	b, err := gcImageBlobs(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gcMinus is a minus the keys of the others.
func gcMinus(a map[string]int64, others ...map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range a {
		keep := true
		for _, o := range others {
			if _, ok := o[k]; ok {
				keep = false
			}
		}
		if keep {
			out[k] = v
		}
	}
	return out
}

func gcDigest(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// gcDelete sends a DELETE and returns the response.
func gcDelete(t testing.TB, s *Server, path string) whResp {
	t.Helper()
	return whDo(t, http.MethodDelete, s.URL+"/v2/"+path, nil, nil)
}

// gcHTTPStatus sends a request without a testing.TB, for goroutines.
func gcHTTPStatus(c context.Context, method, u string) (int, string, error) {
	req, err := http.NewRequestWithContext(c, method, u, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := whHTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && b.Len() < 2048 {
		b.WriteString(sc.Text())
	}
	return resp.StatusCode, b.String(), nil
}

// gcCheckNoMissingBytes fails if the server logged a blob row without bytes:
// the store's rule broken.
func gcCheckNoMissingBytes(t testing.TB, s *Server) {
	t.Helper()
	if l := s.Log.String(); strings.Contains(l, "bytes missing") {
		t.Errorf("server logged a blob row whose bytes are missing:\n%s", l)
	}
}

// TestGCRace is the race test: writers push images sharing layers,
// re-push, re-tag and delete, while the server collects every 50 ms with a
// grace period of 0 and a second process runs garbage-collect in a loop.
// Afterwards every image that should exist pulls completely, and a final
// pass leaves exactly the blobs those images reference.
func TestGCRace(t *testing.T) {
	s := StartServer(t, ServerOptions{ExtraConfig: "gc:\n  interval: 50ms\n  graceperiod: 0s\n  deleteuntagged: true\n"})
	const (
		writers     = 4
		maxOps      = 60
		maxDuration = 15 * time.Second
		tagsPerRepo = 4
	)
	repos := []string{"race/a", "race/b"}
	pool := gcLayers(t, 6, 3000)
	opts := whRemote(t)
	c := ctx(t)

	type key struct{ repo, tag string }
	type writerResult struct {
		expect    map[key]string // repo,tag -> manifest digest
		images    map[string]v1.Image
		pushes    int            // pushes, each up to 5 attempts
		attempts  int            // attempts
		failed    int            // pushes whose every attempt failed
		failures  map[string]int // failed attempts by class
		deletes   int
		errs      []string // test failures: deletes that did not behave, 5xx
		firstFail []string
	}
	results := make([]*writerResult, writers)
	deadline := time.Now().Add(maxDuration)

	var wg sync.WaitGroup
	for w := range writers {
		res := &writerResult{expect: map[key]string{}, images: map[string]v1.Image{}, failures: map[string]int{}}
		results[w] = res
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w)+1, 0x9e3779b97f4a7c15))
			type owned struct {
				repo string
				img  v1.Image
			}
			var mine []owned
			push := func(repo, tag string, img v1.Image) {
				dg, err := img.Digest()
				if err != nil {
					res.errs = append(res.errs, fmt.Sprintf("digest: %v", err))
					return
				}
				ref, err := name.ParseReference(s.Host()+"/"+repo+":"+tag, name.Insecure)
				if err != nil {
					res.errs = append(res.errs, fmt.Sprintf("ref: %v", err))
					return
				}
				// A client retries a failed push, as docker does; with a
				// grace period of 0 the collector may take the layers of
				// any push between its uploads and its manifest.
				res.pushes++
				for attempt := 1; attempt <= 5; attempt++ {
					res.attempts++
					err = remote.Write(ref, img, opts...)
					if err == nil {
						res.expect[key{repo, tag}] = dg.String()
						res.images[dg.String()] = img
						return
					}
					class := "other"
					var te *transport.Error
					if errors.As(err, &te) {
						class = strconv.Itoa(te.StatusCode)
						for _, d := range te.Errors {
							class += " " + string(d.Code)
						}
						if te.StatusCode >= 500 {
							res.errs = append(res.errs, fmt.Sprintf("push %s:%s: server error: %v", repo, tag, err))
						}
					}
					res.failures[class]++
					if len(res.firstFail) < 2 {
						res.firstFail = append(res.firstFail, fmt.Sprintf("%s:%s attempt %d: %v", repo, tag, attempt, err))
					}
				}
				res.failed++
			}
			for op := 0; op < maxOps && time.Now().Before(deadline); op++ {
				repo := repos[rng.IntN(len(repos))]
				tag := fmt.Sprintf("w%d-%d", w, rng.IntN(tagsPerRepo))
				switch r := rng.IntN(100); {
				case r < 45 || len(mine) == 0:
					// A new image: a random subset of the shared pool and
					// its own config.
					var layers []v1.Layer
					for _, i := range rng.Perm(len(pool))[:1+rng.IntN(3)] {
						layers = append(layers, pool[i])
					}
					img, err := gcNewImage(layers, fmt.Sprintf("w%d-op%d", w, op))
					if err != nil {
						res.errs = append(res.errs, fmt.Sprintf("image: %v", err))
						continue
					}
					mine = append(mine, owned{repo, img})
					push(repo, tag, img)
				case r < 70:
					// Re-push (and so re-tag) an image this writer made, to
					// its repository, perhaps after GC removed it.
					o := mine[rng.IntN(len(mine))]
					push(o.repo, fmt.Sprintf("w%d-%d", w, rng.IntN(tagsPerRepo)), o.img)
				default:
					// Delete one of this writer's live tags, by tag or by
					// digest; nobody else may have removed it.
					var live []key
					for k := range res.expect {
						live = append(live, k)
					}
					if len(live) == 0 {
						continue
					}
					sort.Slice(live, func(i, j int) bool {
						return live[i].repo+live[i].tag < live[j].repo+live[j].tag
					})
					k := live[rng.IntN(len(live))]
					byDigest := rng.IntN(2) == 0
					ref := k.tag
					if byDigest {
						ref = res.expect[k]
					}
					st, body, err := gcHTTPStatus(c, http.MethodDelete, s.URL+"/v2/"+k.repo+"/manifests/"+ref)
					if err != nil || st != http.StatusAccepted {
						res.errs = append(res.errs, fmt.Sprintf("DELETE %s/manifests/%s (live): %d %s %v", k.repo, ref, st, body, err))
						continue
					}
					res.deletes++
					if !byDigest {
						delete(res.expect, k)
						continue
					}
					for k2, d := range res.expect {
						if k2.repo == k.repo && d == ref {
							delete(res.expect, k2)
						}
					}
				}
			}
		}()
	}

	// A second process collects in a loop against the live server's root.
	stopCLI := make(chan struct{})
	var cliRuns int
	var cliErrs []string
	var cliWG sync.WaitGroup
	cliWG.Add(1)
	go func() {
		defer cliWG.Done()
		for i := 0; i < 200; i++ {
			select {
			case <-stopCLI:
				return
			default:
			}
			rc, cancel := context.WithTimeout(c, time.Minute)
			cmd := exec.CommandContext(rc, wharfBin, "garbage-collect", "--grace", "0s", "--quiet", s.Config)
			out, err := cmd.CombinedOutput()
			cancel()
			cliRuns++
			if err != nil {
				cliErrs = append(cliErrs, fmt.Sprintf("run %d: %v\n%s", i, err, out))
			}
		}
	}()
	wg.Wait()
	close(stopCLI)
	cliWG.Wait()

	// Gather what must exist.
	expect := map[string]map[string]string{} // repo -> tag -> digest
	images := map[string]v1.Image{}
	var pushes, attempts, failed, deletes int
	failures := map[string]int{}
	for w, r := range results {
		pushes += r.pushes
		attempts += r.attempts
		failed += r.failed
		deletes += r.deletes
		for k, v := range r.failures {
			failures[k] += v
		}
		for k, d := range r.expect {
			if expect[k.repo] == nil {
				expect[k.repo] = map[string]string{}
			}
			expect[k.repo][k.tag] = d
		}
		for d, img := range r.images {
			images[d] = img
		}
		for _, e := range r.errs {
			t.Errorf("writer %d: %s", w, e)
		}
		for _, f := range r.firstFail {
			t.Logf("writer %d: failed push (allowed): %s", w, f)
		}
	}
	t.Logf("%d pushes in %d attempts; %d pushes failed after 5 attempts; failed attempts by error %v; %d deletes; %d garbage-collect runs in the second process",
		pushes, attempts, failed, failures, deletes, cliRuns)
	for _, e := range cliErrs {
		t.Errorf("garbage-collect process failed: %s", e)
	}
	// Failed pushes are allowed: the collector won the race and said so
	// with MANIFEST_BLOB_UNKNOWN. With a grace period of 0, a pass every
	// 50 ms and a second collecting process, every upload is garbage until
	// its manifest arrives, so most attempts lose: 60-95% here, more on a
	// loaded machine. The bar is only that enough pushes succeed for the
	// checks below to mean something.
	if ok := pushes - failed; ok < 8 {
		t.Errorf("only %d of %d pushes succeeded; want at least 8", ok, pushes)
	}

	verify := func(stage string) (live map[string]int64) {
		t.Helper()
		live = map[string]int64{}
		for _, repo := range gcSortedKeys(expect) {
			// The tag list is exactly what should exist.
			r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/tags/list", nil, nil)
			var tl struct {
				Tags []string `json:"tags"`
			}
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &tl) != nil {
				t.Errorf("%s: tags of %s: %s", stage, repo, r)
			}
			sort.Strings(tl.Tags)
			if want := gcSortedKeys(expect[repo]); !slices.Equal(tl.Tags, want) {
				t.Errorf("%s: tags of %s = %v, want %v", stage, repo, tl.Tags, want)
			}
			for _, tag := range gcSortedKeys(expect[repo]) {
				d := expect[repo][tag]
				img := images[d]
				if err := whCheckImage(t, s, repo+":"+tag, img); err != nil {
					t.Errorf("%s: %s:%s (%s) does not pull completely: %v", stage, repo, tag, d, err)
				}
				b := gcMustBlobs(t, img)
				for k, v := range b {
					live[k] = v
				}
			}
		}
		for _, repo := range repos {
			if expect[repo] != nil {
				continue
			}
			r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/tags/list", nil, nil)
			var tl struct {
				Tags []string `json:"tags"`
			}
			json.Unmarshal(r.Body, &tl)
			if len(tl.Tags) != 0 {
				t.Errorf("%s: %s has tags %v, want none", stage, repo, tl.Tags)
			}
		}
		return live
	}
	nExpected := 0
	for _, tags := range expect {
		nExpected += len(tags)
	}
	t.Logf("%d tags expected at the end, over %d distinct manifests pushed", nExpected, len(images))
	verify("after the race")

	// A final full pass removes everything unreferenced.
	final := gcRun(t, s, "--grace", "0s", "--delete-untagged")
	t.Logf("final pass: %+v", final.Summary)
	live := verify("after the final pass")
	files := gcStoredBlobs(t, s.Root)
	for _, d := range gcSortedKeys(files) {
		if _, ok := live[d]; !ok {
			t.Errorf("blob %s (%d bytes) is on disk but no expected image references it", d, files[d])
		}
	}
	for _, d := range gcSortedKeys(live) {
		if sz, ok := files[d]; !ok || sz != live[d] {
			t.Errorf("blob %s: on disk %t with %d bytes, want %d", d, ok, sz, live[d])
		}
	}
	if len(files) != len(live) {
		t.Errorf("%d blob files on disk, want %d (the distinct blobs of the expected images)", len(files), len(live))
	}
	gcCheckNoMissingBytes(t, s)
	if t.Failed() {
		l := s.Log.String()
		if len(l) > 8000 {
			l = l[len(l)-8000:]
		}
		t.Logf("server log (tail):\n%s", l)
	}
}

// TestGCRepushAfterGC is distribution#3254: after a manifest is deleted and
// its blobs collected, pushing the same image again works.
func TestGCRepushAfterGC(t *testing.T) {
	cases := []struct {
		name   string
		delete func(t *testing.T, s *Server, repo, tag, dg string)
		gcArgs []string
	}{
		{"delete by digest", func(t *testing.T, s *Server, repo, _, dg string) {
			if r := gcDelete(t, s, repo+"/manifests/"+dg); r.Status != http.StatusAccepted {
				t.Fatalf("DELETE manifest: %s, want 202", r)
			}
		}, []string{"--grace", "0s"}},
		{"delete tag, collect untagged", func(t *testing.T, s *Server, repo, tag, _ string) {
			if r := gcDelete(t, s, repo+"/manifests/"+tag); r.Status != http.StatusAccepted {
				t.Fatalf("DELETE tag: %s, want 202", r)
			}
		}, []string{"--grace", "0s", "--delete-untagged"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := StartServer(t, ServerOptions{})
			const repo, tag = "repush/app", "v1"
			img := gcMustImage(t, gcLayers(t, 3, 4096), "repush")
			dg := whPush(t, s, repo+":"+tag, img).String()
			blobs := gcMustBlobs(t, img)
			tc.delete(t, s, repo, tag, dg)
			out := gcRun(t, s, tc.gcArgs...)
			if out.Summary.Blobs != len(blobs) {
				t.Errorf("garbage-collect removed %d blobs, want %d:\n%s", out.Summary.Blobs, len(blobs), out.Raw)
			}
			if left := gcStoredBlobs(t, s.Root); len(left) != 0 {
				t.Fatalf("blob files left after GC: %v", gcSortedKeys(left))
			}
			r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+dg, nil, nil)
			whExpectError(t, "GET collected manifest", r, http.StatusNotFound, "MANIFEST_UNKNOWN")

			if err := remote.Write(whRef(t, s, repo+":"+tag), img, whRemote(t)...); err != nil {
				t.Fatalf("re-push after GC: %v\nserver log:\n%s", err, s.Log.String())
			}
			whVerifyImage(t, s, repo+":"+tag, img)
			whVerifyImage(t, s, repo+"@"+dg, img)
			if files := gcStoredBlobs(t, s.Root); len(files) != len(blobs) {
				t.Errorf("%d blob files after re-push, want %d", len(files), len(blobs))
			}
			// And the re-pushed image survives the next pass.
			if out := gcRun(t, s, tc.gcArgs...); out.Summary.Blobs != 0 || out.Summary.Manifests != 0 {
				t.Errorf("pass after re-push removed something:\n%s", out.Raw)
			}
			whVerifyImage(t, s, repo+":"+tag, img)
		})
	}
}

// TestGCDryRun: a dry run lists what would go, with sizes, and deletes
// nothing; the real run then removes exactly that.
func TestGCDryRun(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	const repo = "dry/app"
	layers := gcLayers(t, 4, 5000)
	keep := gcMustImage(t, layers[:2], "keep")
	gone := gcMustImage(t, layers[1:], "gone") // shares layers[1] with keep
	whPush(t, s, repo+":keep", keep)
	goneDg := whPush(t, s, repo+":gone", gone).String()
	unique := gcMinus(gcMustBlobs(t, gone), gcMustBlobs(t, keep))
	if len(unique) != 3 { // config + layers 2, 3
		t.Fatalf("test setup: %d unique blobs, want 3", len(unique))
	}
	if r := gcDelete(t, s, repo+"/manifests/"+goneDg); r.Status != http.StatusAccepted {
		t.Fatalf("DELETE: %s, want 202", r)
	}
	before := gcStoredBlobs(t, s.Root)

	var dry gcOutput
	for i := range 2 { // twice: a dry run changes nothing, so it repeats itself
		dry = gcRun(t, s, "--dry-run")
		if !dry.DryRun || dry.Summary.Verb != "would remove" {
			t.Errorf("dry run %d does not say \"would remove\":\n%s", i, dry.Raw)
		}
		if got := gcSortedKeys(dry.Blobs); !slices.Equal(got, gcSortedKeys(unique)) {
			t.Errorf("dry run %d lists blobs %v, want %v", i, got, gcSortedKeys(unique))
		}
		for d, size := range unique {
			if dry.Blobs[d] != gcHuman(size) {
				t.Errorf("dry run %d: blob %s size %q, want %q", i, d, dry.Blobs[d], gcHuman(size))
			}
		}
		if dry.Summary.Freed != gcHuman(gcSum(unique)) {
			t.Errorf("dry run %d: freed %q, want %q", i, dry.Summary.Freed, gcHuman(gcSum(unique)))
		}
		if dry.Summary.Links != 3 || dry.Summary.Tags != 0 || dry.Summary.Manifests != 0 {
			t.Errorf("dry run %d summary %+v, want 0 tags, 0 manifests, 3 links", i, dry.Summary)
		}
		after := gcStoredBlobs(t, s.Root)
		if !maps2Equal(before, after) {
			t.Fatalf("dry run %d changed the blob store: before %v, after %v", i, gcSortedKeys(before), gcSortedKeys(after))
		}
		whVerifyImage(t, s, repo+":keep", keep)
		for d, size := range unique {
			// Still served until the real run (the links of the deleted
			// manifest are still there).
			if err := whCheckBlob(t, s, repo, d, size); err != nil {
				t.Errorf("after dry run %d: %v", i, err)
			}
		}
	}

	run := gcRun(t, s)
	if run.DryRun || run.Summary.Verb != "removed" {
		t.Errorf("real run output:\n%s", run.Raw)
	}
	if !maps2Equal(run.Blobs, dry.Blobs) {
		t.Errorf("real run removed %v, dry run listed %v", run.Blobs, dry.Blobs)
	}
	if run.Summary != (gcSummary{Verb: "removed", Links: dry.Summary.Links, Blobs: dry.Summary.Blobs, Freed: dry.Summary.Freed}) {
		t.Errorf("real summary %+v, dry %+v", run.Summary, dry.Summary)
	}
	slices.Sort(run.Links)
	slices.Sort(dry.Links)
	if !slices.Equal(run.Links, dry.Links) {
		t.Errorf("real run removed links %v, dry run listed %v", run.Links, dry.Links)
	}
	after := gcStoredBlobs(t, s.Root)
	removed := gcMinus(before, after)
	if !slices.Equal(gcSortedKeys(removed), gcSortedKeys(dry.Blobs)) {
		t.Errorf("files removed %v, dry run listed %v", gcSortedKeys(removed), gcSortedKeys(dry.Blobs))
	}
	if len(gcMinus(after, before)) != 0 {
		t.Errorf("files appeared: %v", gcSortedKeys(gcMinus(after, before)))
	}
	whVerifyImage(t, s, repo+":keep", keep)
	for d := range unique {
		r := whDo(t, http.MethodHead, s.URL+"/v2/"+repo+"/blobs/"+d, nil, nil)
		if r.Status != http.StatusNotFound {
			t.Errorf("HEAD collected blob %s: %d, want 404", d, r.Status)
		}
	}
	// Nothing left to do.
	if again := gcRun(t, s, "--dry-run"); again.Summary != (gcSummary{Verb: "would remove", Freed: "0 B"}) {
		t.Errorf("dry run after the real run: %+v\n%s", again.Summary, again.Raw)
	}
}

func maps2Equal[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestGCGracePeriod: blobs pushed with no manifest are protected for the
// grace period (default 24 h) and go once it has passed.
func TestGCGracePeriod(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	const repo = "grace/app"
	img := gcMustImage(t, gcLayers(t, 2, 2048), "kept")
	whPush(t, s, repo+":v1", img)
	orphans := map[string]int64{}
	for i := range 3 {
		data := whRandBytes(uint64(1000+i), 1000+i*700)
		orphans[whUploadBlob(t, s, repo, data)] = int64(len(data))
	}
	all := gcStoredBlobs(t, s.Root)
	checkPresent := func(stage string) {
		t.Helper()
		files := gcStoredBlobs(t, s.Root)
		if !maps2Equal(files, all) {
			t.Errorf("%s: blob files %v, want %v", stage, gcSortedKeys(files), gcSortedKeys(all))
		}
		for d, size := range orphans {
			if err := whCheckBlob(t, s, repo, d, size); err != nil {
				t.Errorf("%s: %v", stage, err)
			}
		}
	}
	zero := gcSummary{Verb: "removed", Freed: "0 B"}
	for _, args := range [][]string{nil, {"--grace", "1h"}, {"--delete-untagged"}} {
		out := gcRun(t, s, args...)
		if out.Summary != zero {
			t.Errorf("garbage-collect %v within the grace period: %+v, want nothing removed\n%s", args, out.Summary, out.Raw)
		}
		checkPresent(fmt.Sprintf("after garbage-collect %v", args))
	}

	dry := gcRun(t, s, "--dry-run", "--grace", "0s")
	if got := gcSortedKeys(dry.Blobs); !slices.Equal(got, gcSortedKeys(orphans)) {
		t.Errorf("dry run with grace 0 lists %v, want %v", got, gcSortedKeys(orphans))
	}
	checkPresent("after the dry run")

	out := gcRun(t, s, "--grace", "0s")
	if got := gcSortedKeys(out.Blobs); !slices.Equal(got, gcSortedKeys(orphans)) {
		t.Errorf("grace 0 removed %v, want %v", got, gcSortedKeys(orphans))
	}
	if out.Summary.Links != 3 || out.Summary.Blobs != 3 || out.Summary.Freed != gcHuman(gcSum(orphans)) {
		t.Errorf("grace 0 summary %+v, want 3 links, 3 blobs, %s", out.Summary, gcHuman(gcSum(orphans)))
	}
	files := gcStoredBlobs(t, s.Root)
	if want := gcMinus(all, orphans); !maps2Equal(files, want) {
		t.Errorf("blob files %v, want %v", gcSortedKeys(files), gcSortedKeys(want))
	}
	for d := range orphans {
		r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/blobs/"+d, nil, nil)
		whExpectError(t, "GET collected orphan", r, http.StatusNotFound, "BLOB_UNKNOWN")
	}
	whVerifyImage(t, s, repo+":v1", img)
}

// TestGCSeedScenario is the "done when": seed 002's flow without
// read-only mode. Delete by digest (202), garbage-collect --dry-run, then
// for real while another client pushes; the space is freed and nothing is
// lost.
func TestGCSeedScenario(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	shared := gcLayers(t, 1, 8000)[0]
	own := gcLayers(t, 3, 30000)
	hello := gcMustImage(t, append([]v1.Layer{shared}, own...), "hello-world")
	busybox := gcMustImage(t, []v1.Layer{shared}, "busybox")
	helloDg := whPush(t, s, "library/hello-world:latest", hello).String()
	whPush(t, s, "library/busybox:latest", busybox)
	// The blobs only hello-world has (the shared layer is in busybox too).
	unique := gcMinus(gcMustBlobs(t, hello), gcMustBlobs(t, busybox))
	if len(unique) != 4 {
		t.Fatalf("test setup: %d unique blobs, want 4", len(unique))
	}

	// curl -X DELETE .../manifests/<digest> -> 202
	if r := gcDelete(t, s, "library/hello-world/manifests/"+helloDg); r.Status != http.StatusAccepted {
		t.Fatalf("DELETE by digest: %s, want 202", r)
	}
	before := gcStoredBlobs(t, s.Root)

	dry := gcRun(t, s, "--dry-run")
	if got := gcSortedKeys(dry.Blobs); !slices.Equal(got, gcSortedKeys(unique)) {
		t.Errorf("dry run lists %v, want %v", got, gcSortedKeys(unique))
	}
	if dry.Summary.Freed != gcHuman(gcSum(unique)) {
		t.Errorf("dry run frees %q, want %q", dry.Summary.Freed, gcHuman(gcSum(unique)))
	}
	if after := gcStoredBlobs(t, s.Root); !maps2Equal(after, before) {
		t.Fatalf("dry run changed the blob store")
	}

	// Another client pushes while the real pass runs. Its images share the
	// base layer with busybox and the deleted hello-world.
	const pushes = 8
	type pushed struct {
		ref string
		img v1.Image
		err error
	}
	var imgs []pushed
	var newBlobs []map[string]int64
	for i := range pushes {
		img := gcMustImage(t, append([]v1.Layer{shared}, gcLayers(t, 2, 20000)...), fmt.Sprintf("other-%d", i))
		imgs = append(imgs, pushed{ref: fmt.Sprintf("library/other:v%d", i), img: img})
		newBlobs = append(newBlobs, gcMustBlobs(t, img))
	}
	refs := make([]name.Reference, pushes)
	for i := range imgs {
		refs[i] = whRef(t, s, imgs[i].ref)
	}
	opts := whRemote(t)
	firstDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range imgs {
			imgs[i].err = remote.Write(refs[i], imgs[i].img, opts...)
			if i == 0 {
				close(firstDone)
			}
		}
	}()
	<-firstDone
	run := gcRun(t, s)
	wg.Wait()

	if !maps2Equal(run.Blobs, dry.Blobs) {
		t.Errorf("real run removed %v, dry run listed %v", gcSortedKeys(run.Blobs), gcSortedKeys(dry.Blobs))
	}
	for _, p := range imgs {
		if p.err != nil {
			t.Errorf("push of %s during GC failed: %v", p.ref, p.err)
			continue
		}
		whVerifyImage(t, s, p.ref, p.img)
	}
	whVerifyImage(t, s, "library/busybox:latest", busybox)
	for _, ref := range []string{"latest", helloDg} {
		r := whDo(t, http.MethodGet, s.URL+"/v2/library/hello-world/manifests/"+ref, nil, nil)
		whExpectError(t, "GET deleted hello-world "+ref, r, http.StatusNotFound, "MANIFEST_UNKNOWN")
	}

	after := gcStoredBlobs(t, s.Root)
	for d := range unique {
		if _, ok := after[d]; ok {
			t.Errorf("blob %s of the deleted image is still on disk", d)
		}
	}
	// Disk usage of what was there before the pass dropped by at least the
	// deleted image's unique bytes; what was pushed meanwhile is extra.
	var newBytes, oldBytesLeft int64
	for d, size := range after {
		if _, ok := before[d]; ok {
			oldBytesLeft += size
		} else {
			newBytes += size
		}
	}
	freed := gcSum(before) - oldBytesLeft
	if freed < gcSum(unique) {
		t.Errorf("freed %d bytes of the blob store, want at least %d", freed, gcSum(unique))
	}
	if lost := gcMinus(gcMinus(before, after), unique); len(lost) != 0 {
		t.Errorf("blobs removed that were not the deleted image's: %v", gcSortedKeys(lost))
	}
	var wantNew int64
	seen := map[string]bool{}
	for _, b := range newBlobs {
		for d, size := range b {
			if _, old := before[d]; !old && !seen[d] {
				seen[d] = true
				wantNew += size
			}
		}
	}
	if newBytes != wantNew {
		t.Errorf("%d bytes of new blobs on disk, want %d (the concurrent pushes)", newBytes, wantNew)
	}
	t.Logf("blob store: %d bytes before, freed %d (unique to the deleted image: %d), %d bytes pushed during the pass",
		gcSum(before), freed, gcSum(unique), newBytes)
	gcCheckNoMissingBytes(t, s)
}

// TestGCOnlineCollector: the server's own collector removes deleted content
// on its schedule, with no CLI run, whatever the grace period.
func TestGCOnlineCollector(t *testing.T) {
	cases := []struct {
		name, config string
	}{
		{"grace 0", "gc:\n  interval: 200ms\n  graceperiod: 0s\n"},
		{"default grace of 24h", "gc:\n  interval: 200ms\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := StartServer(t, ServerOptions{ExtraConfig: tc.config})
			const repo = "online/app"
			layers := gcLayers(t, 3, 6000)
			a := gcMustImage(t, layers[:2], "a")
			b := gcMustImage(t, layers[1:], "b")
			// With grace 0 the collector may take a layer between the
			// client's upload and its manifest: a client retries.
			push := func(ref string, img v1.Image) string {
				var err error
				for attempt := 1; attempt <= 5; attempt++ {
					if err = remote.Write(whRef(t, s, ref), img, whRemote(t)...); err == nil {
						return gcDigest(t, img)
					}
					t.Logf("push %s attempt %d: %v", ref, attempt, err)
				}
				t.Fatalf("push %s: %v", ref, err)
				return ""
			}
			aDg := push(repo+":a", a)
			push(repo+":b", b)
			unique := gcMinus(gcMustBlobs(t, a), gcMustBlobs(t, b))
			if r := gcDelete(t, s, repo+"/manifests/"+aDg); r.Status != http.StatusAccepted {
				t.Fatalf("DELETE: %s, want 202", r)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				files := gcStoredBlobs(t, s.Root)
				var left []string
				for d := range unique {
					if _, ok := files[d]; ok {
						left = append(left, d)
					}
				}
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 10s the online collector has not removed %v\nserver log:\n%s", left, s.Log.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			files := gcStoredBlobs(t, s.Root)
			if want := gcMustBlobs(t, b); !maps2Equal(files, want) {
				t.Errorf("blob files %v, want exactly b's %v", gcSortedKeys(files), gcSortedKeys(want))
			}
			whVerifyImage(t, s, repo+":b", b)
			gcCheckNoMissingBytes(t, s)
		})
	}
}

// gcArtifact pushes an OCI artifact manifest by digest: an empty config,
// one layer of content, and subject sub (a descriptor), over raw HTTP.
func gcArtifact(t *testing.T, s *Server, repo, artifactType, content string, sub map[string]any) (dg string, layer string) {
	t.Helper()
	body, layer := gcArtifactManifest(t, s, repo, artifactType, content, sub)
	return gcPutByDigest(t, s, repo, body), layer
}

// gcArtifactManifest uploads an artifact's blobs and returns its manifest,
// not pushed yet.
func gcArtifactManifest(t *testing.T, s *Server, repo, artifactType, content string, sub map[string]any) (body []byte, layer string) {
	t.Helper()
	emptyCfg := whUploadBlob(t, s, repo, []byte("{}"))
	layer = whUploadBlob(t, s, repo, []byte(content))
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     string(types.OCIManifestSchema1),
		"artifactType":  artifactType,
		"config":        map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": emptyCfg, "size": 2},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.example.blob", "digest": layer, "size": len(content)}},
		"subject":       sub,
	}
	body, _ = json.Marshal(m)
	return body, layer
}

// gcPutByDigest pushes an OCI manifest by its digest.
func gcPutByDigest(t *testing.T, s *Server, repo string, body []byte) string {
	t.Helper()
	dg := whDigest(body)
	r := whPutManifest(t, s, repo, dg, string(types.OCIManifestSchema1), body)
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT manifest %s: %s, want 201", dg, r)
	}
	return dg
}

func gcDesc(mediaType, dg string, size int) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": dg, "size": size}
}

// gcReferrers lists the digests of the referrers of dg.
func gcReferrers(t *testing.T, s *Server, repo, dg string) []string {
	t.Helper()
	r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/referrers/"+dg, nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("referrers of %s: %s, want 200", dg, r)
	}
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(r.Body, &idx); err != nil {
		t.Fatalf("referrers: %v: %s", err, r)
	}
	out := []string{}
	for _, m := range idx.Manifests {
		out = append(out, m.Digest)
	}
	sort.Strings(out)
	return out
}

// TestGCReferrersCascade: deleting an image deletes its referrers (and
// theirs), unless gc.keepreferrers is set.
func TestGCReferrersCascade(t *testing.T) {
	setup := func(t *testing.T, s *Server) (repo, imgDg, sbom, sig string, imgBlobs map[string]int64, artBlobs []string) {
		repo = "cascade/app"
		img := gcMustImage(t, gcLayers(t, 2, 3000), "app")
		imgDg = whPush(t, s, repo+":v1", img).String()
		raw, _ := img.RawManifest()
		var sbomLayer, sigLayer string
		sbom, sbomLayer = gcArtifact(t, s, repo, "application/vnd.example.sbom.v1", "sbom of app",
			gcDesc(string(types.OCIManifestSchema1), imgDg, len(raw)))
		sbomRaw := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+sbom,
			map[string]string{"Accept": string(types.OCIManifestSchema1)}, nil)
		if sbomRaw.Status != http.StatusOK {
			t.Fatalf("GET sbom: %s", sbomRaw)
		}
		// A signature of the SBOM: a referrer of a referrer.
		sig, sigLayer = gcArtifact(t, s, repo, "application/vnd.example.sig.v1", "signature of sbom",
			gcDesc(string(types.OCIManifestSchema1), sbom, len(sbomRaw.Body)))
		if got := gcReferrers(t, s, repo, imgDg); !slices.Equal(got, []string{sbom}) {
			t.Fatalf("referrers of the image: %v, want [%s]", got, sbom)
		}
		if got := gcReferrers(t, s, repo, sbom); !slices.Equal(got, []string{sig}) {
			t.Fatalf("referrers of the sbom: %v, want [%s]", got, sig)
		}
		return repo, imgDg, sbom, sig, gcMustBlobs(t, img), []string{sbomLayer, sigLayer, whDigest([]byte("{}"))}
	}
	getStatus := func(t *testing.T, s *Server, repo, dg string) int {
		return whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+dg,
			map[string]string{"Accept": string(types.OCIManifestSchema1)}, nil).Status
	}

	t.Run("cascade", func(t *testing.T) {
		s := StartServer(t, ServerOptions{})
		repo, imgDg, sbom, sig, imgBlobs, artBlobs := setup(t, s)
		if r := gcDelete(t, s, repo+"/manifests/"+imgDg); r.Status != http.StatusAccepted {
			t.Fatalf("DELETE image: %s, want 202", r)
		}
		for _, d := range []string{imgDg, sbom, sig} {
			r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+d, nil, nil)
			whExpectError(t, "GET "+d+" after deleting the image", r, http.StatusNotFound, "MANIFEST_UNKNOWN")
		}
		if got := gcReferrers(t, s, repo, imgDg); len(got) != 0 {
			t.Errorf("referrers of the deleted image: %v, want none", got)
		}
		if got := gcReferrers(t, s, repo, sbom); len(got) != 0 {
			t.Errorf("referrers of the deleted sbom: %v, want none", got)
		}
		out := gcRun(t, s, "--grace", "0s")
		if out.Summary.Blobs != len(imgBlobs)+len(artBlobs) {
			t.Errorf("garbage-collect removed %d blobs, want %d (image and both artifacts):\n%s",
				out.Summary.Blobs, len(imgBlobs)+len(artBlobs), out.Raw)
		}
		if files := gcStoredBlobs(t, s.Root); len(files) != 0 {
			t.Errorf("blob files left: %v", gcSortedKeys(files))
		}
	})

	t.Run("keepreferrers", func(t *testing.T) {
		s := StartServer(t, ServerOptions{ExtraConfig: "gc:\n  keepreferrers: true\n"})
		repo, imgDg, sbom, sig, imgBlobs, artBlobs := setup(t, s)
		if r := gcDelete(t, s, repo+"/manifests/"+imgDg); r.Status != http.StatusAccepted {
			t.Fatalf("DELETE image: %s, want 202", r)
		}
		if st := getStatus(t, s, repo, imgDg); st != http.StatusNotFound {
			t.Errorf("GET deleted image: %d, want 404", st)
		}
		for _, d := range []string{sbom, sig} {
			if st := getStatus(t, s, repo, d); st != http.StatusOK {
				t.Errorf("GET kept referrer %s: %d, want 200", d, st)
			}
		}
		if got := gcReferrers(t, s, repo, imgDg); !slices.Equal(got, []string{sbom}) {
			t.Errorf("referrers of the deleted image: %v, want the kept sbom", got)
		}
		out := gcRun(t, s, "--grace", "0s")
		if got := gcSortedKeys(out.Blobs); !slices.Equal(got, gcSortedKeys(imgBlobs)) {
			t.Errorf("garbage-collect removed %v, want only the image's blobs %v", got, gcSortedKeys(imgBlobs))
		}
		for _, d := range artBlobs {
			if err := whCheckBlob(t, s, repo, d, -1); err != nil {
				t.Errorf("artifact blob after GC: %v", err)
			}
		}
		for _, d := range []string{sbom, sig} {
			if st := getStatus(t, s, repo, d); st != http.StatusOK {
				t.Errorf("GET kept referrer %s after GC: %d, want 200", d, st)
			}
		}

		// With --delete-untagged, referrers whose subject is gone are
		// untagged garbage, the signature of the removed SBOM included:
		// one pass removes the whole orphaned chain.
		out = gcRun(t, s, "--grace", "0s", "--delete-untagged")
		slices.Sort(out.Manifests)
		want := []string{repo + "@" + sbom, repo + "@" + sig}
		slices.Sort(want)
		if !slices.Equal(out.Manifests, want) {
			t.Errorf("--delete-untagged removed manifests %v, want %v", out.Manifests, want)
		}
		for _, d := range []string{sbom, sig} {
			if st := getStatus(t, s, repo, d); st != http.StatusNotFound {
				t.Errorf("GET orphaned referrer %s after --delete-untagged: %d, want 404", d, st)
			}
		}
		if files := gcStoredBlobs(t, s.Root); len(files) != 0 {
			t.Errorf("blob files left after --delete-untagged: %v", gcSortedKeys(files))
		}
	})
}

// TestGCOrphanReferrerChain: with keepreferrers, deleting an image leaves
// its SBOM, and a signature of the SBOM, behind. One --delete-untagged pass
// must remove the whole orphaned chain, whatever order the two were pushed
// in (here the signature first: the spec accepts a subject that does not
// exist yet), because after the SBOM goes, the signature is a referrer of a
// manifest no longer present.
func TestGCOrphanReferrerChain(t *testing.T) {
	cases := []struct {
		name   string
		config string
		online bool
	}{
		{"one garbage-collect --delete-untagged pass", "gc:\n  keepreferrers: true\n", false},
		// A grace period of 1s lets the pushes below finish before the
		// collector reviews what they uploaded.
		{"online collector", "gc:\n  keepreferrers: true\n  deleteuntagged: true\n  graceperiod: 1s\n  interval: 100ms\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := StartServer(t, ServerOptions{ExtraConfig: tc.config})
			const repo = "orphan/app"
			img := gcMustImage(t, gcLayers(t, 1, 3000), "app")
			var imgDg string
			for attempt := 1; ; attempt++ { // the online collector may win a push on a loaded machine
				err := remote.Write(whRef(t, s, repo+":v1"), img, whRemote(t)...)
				if err == nil {
					imgDg = gcDigest(t, img)
					break
				}
				if attempt == 5 {
					t.Fatalf("push: %v", err)
				}
			}
			raw, _ := img.RawManifest()
			var sbom, sig string
			for attempt := 1; ; attempt++ {
				sbomBody, _ := gcArtifactManifest(t, s, repo, "application/vnd.example.sbom.v1", "sbom of app",
					gcDesc(string(types.OCIManifestSchema1), imgDg, len(raw)))
				sbom = whDigest(sbomBody)
				sigBody, _ := gcArtifactManifest(t, s, repo, "application/vnd.example.sig.v1", "signature of sbom",
					gcDesc(string(types.OCIManifestSchema1), sbom, len(sbomBody)))
				first, second := sigBody, sbomBody
				if tc.online {
					// The online collector would take a signature whose
					// subject is not there yet: push in the natural order.
					first, second = sbomBody, sigBody
				}
				r1 := whPutManifest(t, s, repo, whDigest(first), string(types.OCIManifestSchema1), first)
				time.Sleep(10 * time.Millisecond) // distinct creation times
				r2 := whPutManifest(t, s, repo, whDigest(second), string(types.OCIManifestSchema1), second)
				if r1.Status == http.StatusCreated && r2.Status == http.StatusCreated {
					sig = whDigest(sigBody)
					break
				}
				if attempt == 5 || !tc.online {
					t.Fatalf("push artifacts: %s, %s", r1, r2)
				}
			}
			if got := gcReferrers(t, s, repo, sbom); !slices.Equal(got, []string{sig}) {
				t.Fatalf("referrers of the sbom: %v, want [%s]", got, sig)
			}
			if tc.online {
				time.Sleep(1300 * time.Millisecond) // passes after the grace period review the new artifacts and keep them
				if got := gcReferrers(t, s, repo, imgDg); !slices.Equal(got, []string{sbom}) {
					t.Fatalf("referrers of the image before the delete: %v, want [%s]", got, sbom)
				}
			}
			if r := gcDelete(t, s, repo+"/manifests/"+imgDg); r.Status != http.StatusAccepted {
				t.Fatalf("DELETE image: %s, want 202", r)
			}
			gone := func(d string) bool {
				return whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+d, nil, nil).Status == http.StatusNotFound
			}
			if tc.online {
				deadline := time.Now().Add(5 * time.Second)
				for !(gone(sbom) && gone(sig)) && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
			} else {
				out := gcRun(t, s, "--grace", "0s", "--delete-untagged")
				slices.Sort(out.Manifests)
				want := []string{repo + "@" + sbom, repo + "@" + sig}
				slices.Sort(want)
				if !slices.Equal(out.Manifests, want) {
					t.Errorf("one --delete-untagged pass removed manifests %v, want %v", out.Manifests, want)
				}
			}
			for _, d := range []string{sbom, sig} {
				if !gone(d) {
					what := "sbom"
					if d == sig {
						what = "signature of the sbom"
					}
					t.Errorf("orphaned referrer %s (%s) is still served (GET 200), want 404", d, what)
				}
			}
			if files := gcStoredBlobs(t, s.Root); len(files) != 0 {
				t.Errorf("blob files left: %v", gcSortedKeys(files))
			}
		})
	}
}

// TestGCDeleteSemantics is a table of DELETE requests and the state they
// leave.
func TestGCDeleteSemantics(t *testing.T) {
	type fixture struct {
		s      *Server
		img    v1.Image
		dg     string
		layer  string
		layerN int64
	}
	// Every case gets its own repositories: "<case>/a" with tags t1 and t2
	// on one image, "<case>/b" with the same image under t1.
	prepare := func(t *testing.T, s *Server, prefix string) fixture {
		img := gcMustImage(t, gcLayers(t, 2, 2500), prefix)
		dg := whPush(t, s, prefix+"/a:t1", img).String()
		whPush(t, s, prefix+"/a:t2", img)
		whPush(t, s, prefix+"/b:t1", img)
		m, _ := img.Manifest()
		return fixture{s: s, img: img, dg: dg, layer: m.Layers[0].Digest.String(), layerN: m.Layers[0].Size}
	}
	manifestStatus := func(t *testing.T, s *Server, repo, ref string) int {
		return whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+ref, nil, nil).Status
	}
	tagsOf := func(t *testing.T, s *Server, repo string) []string {
		r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/tags/list", nil, nil)
		var tl struct {
			Tags []string `json:"tags"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &tl) != nil {
			t.Fatalf("tags of %s: %s", repo, r)
		}
		sort.Strings(tl.Tags)
		if tl.Tags == nil {
			tl.Tags = []string{}
		}
		return tl.Tags
	}
	enabled := StartServer(t, ServerOptions{})
	disabled := StartServer(t, ServerOptions{DeleteDisabled: true})

	cases := []struct {
		name     string
		disabled bool
		path     func(f fixture, prefix string) string
		status   int
		code     string
		check    func(t *testing.T, f fixture, prefix string)
	}{
		{"by tag removes only the tag", false,
			func(f fixture, p string) string { return p + "/a/manifests/t1" }, http.StatusAccepted, "",
			func(t *testing.T, f fixture, p string) {
				if st := manifestStatus(t, f.s, p+"/a", "t1"); st != http.StatusNotFound {
					t.Errorf("t1 after delete: %d, want 404", st)
				}
				if got := tagsOf(t, f.s, p+"/a"); !slices.Equal(got, []string{"t2"}) {
					t.Errorf("tags %v, want [t2]", got)
				}
				whVerifyImage(t, f.s, p+"/a:t2", f.img)
				whVerifyImage(t, f.s, p+"/a@"+f.dg, f.img)
				whVerifyImage(t, f.s, p+"/b:t1", f.img)
			}},
		{"by digest removes the manifest and all its tags", false,
			func(f fixture, p string) string { return p + "/a/manifests/" + f.dg }, http.StatusAccepted, "",
			func(t *testing.T, f fixture, p string) {
				for _, ref := range []string{"t1", "t2", f.dg} {
					r := whDo(t, http.MethodGet, f.s.URL+"/v2/"+p+"/a/manifests/"+ref, nil, nil)
					whExpectError(t, "GET "+ref, r, http.StatusNotFound, "MANIFEST_UNKNOWN")
				}
				if got := tagsOf(t, f.s, p+"/a"); len(got) != 0 {
					t.Errorf("tags %v, want none", got)
				}
				// The other repository is untouched, before and after GC.
				whVerifyImage(t, f.s, p+"/b:t1", f.img)
				gcRun(t, f.s, "--grace", "0s")
				whVerifyImage(t, f.s, p+"/b:t1", f.img)
			}},
		{"blob unlinks from that repository only", false,
			func(f fixture, p string) string { return p + "/a/blobs/" + f.layer }, http.StatusAccepted, "",
			func(t *testing.T, f fixture, p string) {
				for _, m := range []string{http.MethodGet, http.MethodHead} {
					r := whDo(t, m, f.s.URL+"/v2/"+p+"/a/blobs/"+f.layer, nil, nil)
					if m == http.MethodGet {
						whExpectError(t, "GET unlinked blob", r, http.StatusNotFound, "BLOB_UNKNOWN")
					} else if r.Status != http.StatusNotFound {
						t.Errorf("HEAD unlinked blob: %d, want 404", r.Status)
					}
				}
				if err := whCheckBlob(t, f.s, p+"/b", f.layer, f.layerN); err != nil {
					t.Errorf("other repository: %v", err)
				}
				// The manifests stay; GC keeps the bytes b needs.
				if st := manifestStatus(t, f.s, p+"/a", "t1"); st != http.StatusOK {
					t.Errorf("manifest after blob delete: %d, want 200", st)
				}
				gcRun(t, f.s, "--grace", "0s")
				if err := whCheckBlob(t, f.s, p+"/b", f.layer, f.layerN); err != nil {
					t.Errorf("other repository after GC: %v", err)
				}
				// A second delete of the same link: unknown now.
				r := gcDelete(t, f.s, p+"/a/blobs/"+f.layer)
				whExpectError(t, "second blob DELETE", r, http.StatusNotFound, "BLOB_UNKNOWN")
			}},
		{"unknown digest", false,
			func(f fixture, p string) string { return p + "/a/manifests/" + whDigest([]byte("none")) }, http.StatusNotFound, "MANIFEST_UNKNOWN",
			func(t *testing.T, f fixture, p string) { whVerifyImage(t, f.s, p+"/a:t1", f.img) }},
		{"unknown tag", false,
			func(f fixture, p string) string { return p + "/a/manifests/nope" }, http.StatusNotFound, "MANIFEST_UNKNOWN",
			func(t *testing.T, f fixture, p string) { whVerifyImage(t, f.s, p+"/a:t1", f.img) }},
		{"unknown blob", false,
			func(f fixture, p string) string { return p + "/a/blobs/" + whDigest([]byte("none")) }, http.StatusNotFound, "BLOB_UNKNOWN",
			nil},
		{"disabled: by tag", true,
			func(f fixture, p string) string { return p + "/a/manifests/t1" }, http.StatusMethodNotAllowed, "UNSUPPORTED",
			func(t *testing.T, f fixture, p string) {
				if got := tagsOf(t, f.s, p+"/a"); !slices.Equal(got, []string{"t1", "t2"}) {
					t.Errorf("tags %v, want [t1 t2]", got)
				}
			}},
		{"disabled: by digest", true,
			func(f fixture, p string) string { return p + "/a/manifests/" + f.dg }, http.StatusMethodNotAllowed, "UNSUPPORTED",
			func(t *testing.T, f fixture, p string) { whVerifyImage(t, f.s, p+"/a@"+f.dg, f.img) }},
		{"disabled: blob", true,
			func(f fixture, p string) string { return p + "/a/blobs/" + f.layer }, http.StatusMethodNotAllowed, "UNSUPPORTED",
			func(t *testing.T, f fixture, p string) {
				if err := whCheckBlob(t, f.s, p+"/a", f.layer, f.layerN); err != nil {
					t.Error(err)
				}
			}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := enabled
			if tc.disabled {
				s = disabled
			}
			prefix := fmt.Sprintf("del%d", i)
			f := prepare(t, s, prefix)
			r := gcDelete(t, s, tc.path(f, prefix))
			if tc.code == "" {
				if r.Status != tc.status {
					t.Fatalf("DELETE %s: %s, want %d%s", tc.path(f, prefix), r, tc.status, whLogIf5xx(s, r))
				}
			} else {
				whExpectError(t, "DELETE "+tc.path(f, prefix), r, tc.status, tc.code)
			}
			if tc.check != nil {
				tc.check(t, f, prefix)
			}
			// Everything left still pulls: b always, a by tag when it still has t2.
			whVerifyImage(t, s, prefix+"/b:t1", f.img)
		})
	}
	// The disabled server said why.
	r := gcDelete(t, disabled, "x/manifests/t1")
	if !strings.Contains(string(r.Body), "delete") {
		t.Errorf("disabled delete message does not say deletion is disabled: %s", r)
	}
}

// gcRowsWithoutBytes opens the server's SQLite metadata read-only and lists
// the blob rows whose bytes are neither on disk nor inline: the rule "a row
// never outlives its bytes" broken.
func gcRowsWithoutBytes(t *testing.T, root string) (rows int, missing []string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(root, "metadata", "wharf.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.Query("SELECT digest FROM blobs ORDER BY digest")
	if err != nil {
		t.Fatalf("read blob rows: %v", err)
	}
	defer rs.Close()
	files := gcStoredBlobs(t, root)
	for rs.Next() {
		var d string
		if err := rs.Scan(&d); err != nil {
			t.Fatal(err)
		}
		rows++
		if _, ok := files[d]; !ok {
			missing = append(missing, d)
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, missing
}

// TestGCKillDuringCollection kills a garbage-collect process at random
// moments while it removes orphaned blobs: a crash of the collector must
// never leave a blob row whose bytes are gone (the design's rule), since
// such a row can be mounted anonymously into a repository and then served
// as a blob that does not exist.
func TestGCKillDuringCollection(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	const orphans = 400
	for i := range orphans {
		whUploadBlob(t, s, "kill/app", whRandBytes(uint64(5000+i), 100+i))
	}
	rng := rand.New(rand.NewPCG(42, 7))
	for k := 0; k < 40; k++ {
		cmd := exec.Command(wharfBin, "garbage-collect", "--grace", "0s", "--quiet", s.Config)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(10+rng.IntN(150)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		rows, missing := gcRowsWithoutBytes(t, s.Root)
		if len(missing) > 0 {
			t.Errorf("after killing garbage-collect (kill %d): %d of %d blob rows have no bytes on disk, e.g. %s",
				k, len(missing), rows, missing[0])
			// What a client can do with such a row: an anonymous mount
			// links it, and the blob is then announced but not served.
			d := missing[0]
			r := whDo(t, http.MethodPost, whWithQuery(s.URL+"/v2/kill/probe/blobs/uploads/", "mount", d), nil, nil)
			if r.Status == http.StatusCreated {
				head := whDo(t, http.MethodHead, s.URL+"/v2/kill/probe/blobs/"+d, nil, nil)
				get := whDo(t, http.MethodGet, s.URL+"/v2/kill/probe/blobs/"+d, nil, nil)
				t.Errorf("anonymous mount of %s: 201; then HEAD %d, GET %s: a blob announced but not served", d, head.Status, get)
			}
			break
		}
		if rows == 0 {
			t.Logf("all %d orphans collected after %d kills", orphans, k+1)
			break
		}
	}
	// A full pass afterwards leaves the store consistent and empty.
	gcRun(t, s, "--grace", "0s")
	if rows, missing := gcRowsWithoutBytes(t, s.Root); len(missing) > 0 || rows > 1 {
		t.Errorf("after a full pass: %d blob rows, %d without bytes %v", rows, len(missing), missing)
	}
}
