package e2e

// Scale-out: three wharf nodes sharing one PostgreSQL database and one
// object store, started from the example node configuration of
// docs/scale-out.md (see scaleout_helpers_test.go), reached directly and
// through a round-robin reverse proxy. Each test runs once per object store
// (S3, Azure, GCS: scaleout_backends_test.go). They need
// scripts/test-services.sh (or `make test`) to start PostgreSQL and the
// emulators, and skip otherwise.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const soNodes = 3

// TestScaleOutConformance runs the OCI conformance suite's development
// profile (every switch on) through the round-robin proxy over three
// nodes, with presigned redirects on and off: every case must pass, none
// skipped.
func TestScaleOutConformance(t *testing.T) {
	soForEachBackend(t, func(t *testing.T, backend string) { soConformance(t, backend, soNodes, true) })
}

// TestOneNodeConformance runs the conformance suite's development profile
// against one node on each object store other than S3 (whose nodes the
// scale-out tests cover), with redirects on.
func TestOneNodeConformance(t *testing.T) {
	for _, backend := range soBackendNames[1:] {
		t.Run(backend, func(t *testing.T) { soConformance(t, backend, 1, false) })
	}
}

// soConformance runs the suite over n nodes on backend, with redirects on
// and, when both, off.
func soConformance(t *testing.T, backend string, n int, both bool) {
	if testing.Short() {
		t.Skip("conformance suite skipped in -short mode")
	}
	bin, err := conformanceBinary(repoRoot())
	if err != nil {
		t.Fatalf("conformance suite: %v", err)
	}
	for _, tc := range []struct {
		name string
		set  soSettings
	}{
		{"redirect", soSettings{RedirectDisable: false, Extra: conformanceDevConfig}},
		{"no redirect", soSettings{RedirectDisable: true, Extra: conformanceDevConfig}},
	} {
		if tc.set.RedirectDisable && !both {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if !tc.set.RedirectDisable {
				// With redirects the suite's blob GETs end at the S3
				// server, whose answer cannot carry Docker-Content-Digest
				// (S3 sends only its own and x-amz-meta-* headers). That
				// check is optional and off by default for spec 1.1; the
				// 307 itself carries the header, which soCheckBlob checks.
				t.Setenv("OCI_API_BLOBS_DIGEST_HEADER", "false")
			}
			c := soStartCluster(t, soNewStoresOn(t, backend), n, tc.set)
			results := t.TempDir()
			out, runErr := runConformanceProfile(t, bin, c.Proxy.Addr, results, conformanceDevEnv)

			var logs strings.Builder
			for i, s := range c.Nodes {
				fmt.Fprintf(&logs, "=== node %d (%s)\n%s", i+1, s.Addr, s.Log.String())
			}
			fmt.Fprintf(&logs, "=== proxy\n%s", c.Proxy.Log.String())
			if err := os.WriteFile(filepath.Join(results, "wharf.log"), []byte(logs.String()), 0o644); err != nil {
				t.Errorf("save server logs: %v", err)
			}
			if dst := os.Getenv("OCI_RESULTS_OUT"); dst != "" {
				dst = filepath.Join(dst, "scaleout-"+strings.ReplaceAll(tc.name, " ", "-"))
				if err := confCopyResults(results, dst); err != nil {
					t.Errorf("copy conformance results to OCI_RESULTS_OUT: %v", err)
				}
			}

			hits := c.Proxy.Hits()
			t.Logf("requests per node through the proxy: %v", hits)
			for i, h := range hits {
				if h == 0 {
					t.Errorf("node %d got no request through the proxy (hits %v)", i+1, hits)
				}
			}

			report, err := confReadJUnit(filepath.Join(results, "junit.xml"))
			if err != nil {
				t.Fatalf("conformance suite wrote no usable report (run: %v): %v\nsuite output:\n%s\n%s",
					runErr, err, confTail(out, 16<<10), c.Logs())
			}
			sum := report.summary()
			t.Logf("OCI conformance %s against %d wharf nodes on %s (%s): %s", conformanceVersion, n, backend, tc.name, sum)
			if problems := sum.problems(); len(problems) > 0 {
				t.Errorf("OCI conformance over %d nodes on %s (%s): %s\n%s\n%s\n%s", n, backend, tc.name,
					sum, strings.Join(problems, "; "), confDescribeCases(report.notPassed()), c.Logs())
				return
			}
			if runErr != nil {
				t.Errorf("conformance suite exited with %v although junit.xml shows %s\nsuite output:\n%s",
					runErr, sum, confTail(out, 16<<10))
			}
			soCheckNodeRoots(t, c)
		})
	}
}

// soCheckNodeRoots checks that the nodes kept neither blobs nor metadata in
// their root directories: everything went to S3 and PostgreSQL.
func soCheckNodeRoots(t *testing.T, c *soCluster) {
	t.Helper()
	for i, s := range c.Nodes {
		for _, sub := range []string{"blobs", "uploads", "metadata"} {
			if _, err := os.Stat(filepath.Join(s.Root, sub)); err == nil {
				t.Errorf("node %d keeps %s/ in its root directory %s; in scale-out mode it belongs in S3 or PostgreSQL", i+1, sub, s.Root)
			}
		}
	}
}

// soPatch sends one chunk of an upload to node s and returns the next
// Location.
func soPatch(t *testing.T, c *soCluster, s *Server, loc string, offset int64, chunk []byte) string {
	t.Helper()
	r := whDo(t, http.MethodPatch, soOn(t, s, loc), map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("%d-%d", offset, offset+int64(len(chunk))-1),
	}, chunk)
	if r.Status != http.StatusAccepted {
		t.Fatalf("PATCH %d bytes at %d on %s: %s, want 202\n%s", len(chunk), offset, s.Addr, r, c.Logs())
	}
	if got, want := r.Header.Get("Range"), fmt.Sprintf("0-%d", offset+int64(len(chunk))-1); got != want {
		t.Errorf("PATCH on %s: Range %q, want %q", s.Addr, got, want)
	}
	return r.Header.Get("Location")
}

// soFinish PUTs ?digest= (with an optional last chunk) on node s.
func soFinish(t *testing.T, c *soCluster, s *Server, loc string, offset int64, last []byte, dg string) {
	t.Helper()
	hdr := map[string]string{"Content-Type": "application/octet-stream"}
	if len(last) > 0 {
		hdr["Content-Range"] = fmt.Sprintf("%d-%d", offset, offset+int64(len(last))-1)
	}
	var body []byte
	if len(last) > 0 {
		body = last
	}
	r := whDo(t, http.MethodPut, whWithQuery(soOn(t, s, loc), "digest", dg), hdr, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT ?digest=%s on %s: %s, want 201\n%s", dg, s.Addr, r, c.Logs())
	}
	if got := r.Header.Get("Docker-Content-Digest"); got != dg {
		t.Errorf("PUT on %s: Docker-Content-Digest %q, want %s", s.Addr, got, dg)
	}
}

// TestScaleOutUploadAcrossNodes: one chunked upload whose requests each go
// to a different node; then uploads whose node is killed (kill -9) between
// two chunks and in the middle of a chunk, finished on the other nodes.
func TestScaleOutUploadAcrossNodes(t *testing.T) { soForEachBackend(t, soTestUploadAcrossNodes) }

func soTestUploadAcrossNodes(t *testing.T, backend string) {
	c := soStartCluster(t, soNewStoresOn(t, backend), soNodes, soSettings{})
	a, b, cc := c.Nodes[0], c.Nodes[1], c.Nodes[2]

	t.Run("POST on A, PATCHes on B, C and A, PUT on C", func(t *testing.T) {
		const repo = "scaleout/upload"
		sizes := []int{6 << 20, 7 << 20, 100 << 10, 6<<20 + 1, 12 << 20}
		last := 333 // sent with the PUT
		total := last
		for _, n := range sizes {
			total += n
		}
		data := whRandBytes(501, total)
		dg := whDigest(data)

		r := whDo(t, http.MethodPost, a.URL+"/v2/"+repo+"/blobs/uploads/", map[string]string{"Content-Length": "0"}, nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("POST on A: %s, want 202\n%s", r, c.Logs())
		}
		if got := r.Header.Get("OCI-Chunk-Min-Length"); got != fmt.Sprint(c.Stores.chunkSize()) {
			t.Errorf("POST: OCI-Chunk-Min-Length %q, want %d (the chunk size of the docs' example)", got, c.Stores.chunkSize())
		}
		loc := r.Header.Get("Location")
		order := []*Server{b, cc, a, b, cc}
		var off int64
		for i, n := range sizes {
			loc = soPatch(t, c, order[i], loc, off, data[off:off+int64(n)])
			off += int64(n)
			// Every other node sees the same offset.
			for _, s := range c.Nodes {
				if got, _ := soUploadStatus(t, s, loc); got != off {
					t.Fatalf("after PATCH %d: upload status on %s at offset %d, want %d", i+1, s.Addr, got, off)
				}
			}
		}
		soFinish(t, c, cc, loc, off, data[off:], dg)
		for _, s := range c.Nodes {
			c.must(soCheckBlob(s, c.Stores, repo, dg, int64(total), true, false))
		}
		if !c.Stores.BlobExists(t, dg) {
			t.Errorf("blob %s not at %s in the bucket", dg, c.Stores.BlobKey(dg))
		}
	})

	t.Run("node killed between chunks", func(t *testing.T) {
		const repo = "scaleout/killed-between"
		data := whRandBytes(502, 20<<20+4321)
		dg := whDigest(data)
		loc := whDo(t, http.MethodPost, a.URL+"/v2/"+repo+"/blobs/uploads/", map[string]string{"Content-Length": "0"}, nil).Header.Get("Location")
		first := int64(11 << 20)
		loc = soPatch(t, c, a, loc, 0, data[:first])
		a.Kill()
		off, loc := soUploadStatus(t, b, loc)
		if off != first {
			t.Fatalf("after A was killed, B reports offset %d, want %d", off, first)
		}
		loc = soPatch(t, c, b, loc, off, data[off:16<<20])
		soFinish(t, c, cc, loc, 16<<20, data[16<<20:], dg)
		c.RestartNode(0)
		for _, s := range c.Nodes {
			c.must(soCheckBlob(s, c.Stores, repo, dg, int64(len(data)), true, false))
		}
	})

	t.Run("node killed mid-PATCH", func(t *testing.T) {
		const repo = "scaleout/killed-mid"
		data := whRandBytes(503, 32<<20+77)
		dg := whDigest(data)
		r := whDo(t, http.MethodPost, b.URL+"/v2/"+repo+"/blobs/uploads/", map[string]string{"Content-Length": "0"}, nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("POST on B: %s", r)
		}
		loc := r.Header.Get("Location")
		sent := 23<<20 + 5
		whKillDuring(t, b, http.MethodPatch, soOn(t, b, loc), data, sent, time.Second)

		off, loc := soUploadStatus(t, cc, loc)
		t.Logf("after B was killed with %d bytes sent, C reports offset %d", sent, off)
		if off > int64(sent) {
			t.Fatalf("upload reports %d bytes, only %d were sent", off, sent)
		}
		if off != 0 && off%c.Stores.chunkSize() != 0 {
			// What the docs promise for a cut-off PATCH holds for a client
			// that went away; a killed node loses at most the part it was
			// receiving. Not an error, but worth seeing.
			t.Logf("offset %d is not a multiple of the part size", off)
		}
		loc = soPatch(t, c, cc, loc, off, data[off:])
		soFinish(t, c, a, loc, int64(len(data)), nil, dg)
		c.RestartNode(1)
		for _, s := range c.Nodes {
			c.must(soCheckBlob(s, c.Stores, repo, dg, int64(len(data)), true, false))
		}
		// A session killed in a PATCH and then finished leaves nothing
		// under uploads/ once it is committed (the collector of abandoned
		// uploads is not needed for it).
		if left := c.Stores.Objects(t, "uploads/"); len(left) > 0 {
			t.Logf("objects left under uploads/ after the upload was committed: %v", left)
		}
	})

	soCheckNodeRoots(t, c)
}

// TestScaleOutPushPullAcrossNodes: go-containerregistry pushes to one node
// and pulls from the others and through the proxy, first with presigned
// redirects, then (same database and bucket, nodes restarted) with blobs
// streamed through wharf.
func TestScaleOutPushPullAcrossNodes(t *testing.T) { soForEachBackend(t, soTestPushPullAcrossNodes) }

func soTestPushPullAcrossNodes(t *testing.T, backend string) {
	c := soStartCluster(t, soNewStoresOn(t, backend), soNodes, soSettings{RedirectDisable: false})

	type pushed struct {
		ref string
		img v1.Image
	}
	var all []pushed
	var indexes []struct {
		ref string
		idx v1.ImageIndex
	}
	bigLayer := func() v1.Image {
		// One layer over two parts of the docs' chunk size, one small.
		img := whRandomImage(t, 1024, 1)
		l, err := random.Layer(soChunkSize*2+12345, "application/vnd.oci.image.layer.v1.tar")
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.AppendLayers(img, l)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}

	for _, mode := range []struct {
		name     string
		redirect bool
	}{{"redirect", true}, {"no redirect", false}} {
		t.Run(mode.name, func(t *testing.T) {
			if !mode.redirect {
				c.Restart(soSettings{RedirectDisable: true})
			}
			a, b, cc := c.Nodes[0], c.Nodes[1], c.Nodes[2]
			if !mode.redirect {
				a, b, cc = c.Nodes[1], c.Nodes[2], c.Nodes[0]
			}
			img := bigLayer()
			ref := "scaleout/pushpull:" + strings.ReplaceAll(mode.name, " ", "-")
			d := whPush(t, a, ref, img)
			t.Logf("pushed %s (%s) to %s", ref, d, a.Addr)
			all = append(all, pushed{ref, img})

			idx, err := random.Index(2048, 2, 2)
			if err != nil {
				t.Fatal(err)
			}
			iref := "scaleout/index:" + strings.ReplaceAll(mode.name, " ", "-")
			if err := remote.WriteIndex(whRef(t, c.Front, iref), idx, whRemote(t)...); err != nil {
				t.Fatalf("push index %s through the proxy: %v\n%s", iref, err, c.Logs())
			}
			indexes = append(indexes, struct {
				ref string
				idx v1.ImageIndex
			}{iref, idx})

			// Everything pushed so far (in this mode and before the
			// restart) pulls from every node and through the proxy.
			for _, p := range all {
				for _, s := range []*Server{b, cc, a, c.Front} {
					c.must(soCheckImage(t, s, c.Stores, p.ref, p.img, mode.redirect))
				}
			}
			for _, ix := range indexes {
				want, _ := ix.idx.Digest()
				for _, s := range []*Server{b, cc, c.Front} {
					got, err := remote.Index(whRef(t, s, ix.ref), whRemote(t)...)
					if err != nil {
						t.Fatalf("pull index %s from %s: %v\n%s", ix.ref, s.Addr, err, c.Logs())
					}
					gd, _ := got.Digest()
					if gd != want {
						t.Errorf("index %s from %s: digest %s, want %s", ix.ref, s.Addr, gd, want)
					}
					im, _ := ix.idx.IndexManifest()
					for _, m := range im.Manifests {
						child, _ := ix.idx.Image(m.Digest)
						c.must(soCheckImage(t, s, c.Stores, whRepoOf(ix.ref)+"@"+m.Digest.String(), child, mode.redirect))
					}
				}
			}
			// Ranged reads of the big layer, on one node.
			m, _ := img.Manifest()
			l := m.Layers[len(m.Layers)-1]
			if err := soCheckBlob(b, c.Stores, whRepoOf(ref), l.Digest.String(), l.Size, mode.redirect, true); err != nil {
				t.Error(err)
			}
		})
	}
	t.Logf("requests per node through the proxy: %v", c.Proxy.Hits())
	soCheckNodeRoots(t, c)
}

// TestScaleOutGC: an image is deleted on one node while the collectors of
// all three nodes run every 300ms with grace 0 and other pushes go on. The
// deleted image's own blobs leave the bucket; a layer it shared with other
// images stays; every image whose push succeeded pulls from every node.
func TestScaleOutGC(t *testing.T) { soForEachBackend(t, soTestGC) }

func soTestGC(t *testing.T, backend string) {
	interval := 300 * time.Millisecond
	if backend != "s3" {
		// A push costs more requests to Azurite and fake-gcs-server than
		// to versitygw (and each is slower); with grace 0 a collector
		// every 100ms (three nodes) would win the documented race with
		// almost every push, so soPush's retries would run out.
		interval = time.Second
	}
	c := soStartCluster(t, soNewStoresOn(t, backend), soNodes, soSettings{GCInterval: interval.String(), GCGrace: "0s"})
	opts := whRemote(t)

	shared, err := random.Layer(64<<10, "application/vnd.oci.image.layer.v1.tar")
	if err != nil {
		t.Fatal(err)
	}
	sharedDigest, _ := shared.Digest()
	withShared := func(size, layers int64) v1.Image {
		img, err := random.Image(size, layers)
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.AppendLayers(img, shared)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}

	var mu sync.Mutex
	surviving := map[string]v1.Image{}
	var refusals atomic.Int64
	push := func(s *Server, ref string, img v1.Image) error {
		n, err := soPush(s, ref, img, opts)
		refusals.Add(int64(n))
		if err != nil {
			return fmt.Errorf("push %s to %s: %w", ref, s.Addr, err)
		}
		mu.Lock()
		surviving[ref] = img
		mu.Unlock()
		return nil
	}

	keep := withShared(16<<10, 2)
	doomed := withShared(32<<10, 2)
	c.must(push(c.Nodes[0], "gc/keep:v1", keep))
	c.must(push(c.Nodes[1], "gc/doomed:v1", doomed))

	// The doomed image's own blobs: its config and its layers but the
	// shared one. Those in the bucket must leave it; the small config is
	// kept inline in PostgreSQL and goes with its row (the 404s below).
	var unique, inBucket []string
	dm, _ := doomed.Manifest()
	for _, desc := range append([]v1.Descriptor{dm.Config}, dm.Layers...) {
		if desc.Digest == sharedDigest {
			continue
		}
		unique = append(unique, desc.Digest.String())
		if desc.Size > inlineMax {
			inBucket = append(inBucket, desc.Digest.String())
		}
	}
	if len(inBucket) == 0 {
		t.Fatalf("the doomed image has no blob large enough for the bucket")
	}
	for _, dg := range inBucket {
		if !c.Stores.BlobExists(t, dg) {
			t.Fatalf("blob %s of the doomed image is not in the bucket after its push", dg)
		}
	}
	doomedDigest, _ := doomed.Digest()

	// Pushes going on meanwhile, through the proxy, each with the shared layer.
	stop := make(chan struct{})
	var errs soCollect
	var wg sync.WaitGroup
	var pushes atomic.Int64
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				img, err := random.Image(8<<10, 1)
				if err == nil {
					img, err = mutate.AppendLayers(img, shared)
				}
				if err != nil {
					errs.add(err)
					return
				}
				if err := push(c.Front, fmt.Sprintf("gc/live-%d:t%d", g, i), img); err != nil {
					errs.add(err)
					return
				}
				pushes.Add(1)
			}
		}()
	}

	time.Sleep(2 * interval)
	r := whDo(t, http.MethodDelete, c.Nodes[0].URL+"/v2/gc/doomed/manifests/"+doomedDigest.String(), nil, nil)
	if r.Status != http.StatusAccepted {
		close(stop)
		wg.Wait()
		t.Fatalf("DELETE doomed manifest on node 1: %s, want 202\n%s", r, c.Logs())
	}
	gone := soWaitFor(60*time.Second, func() bool {
		for _, dg := range inBucket {
			if c.Stores.BlobExists(t, dg) {
				return false
			}
		}
		return true
	})
	time.Sleep(5 * interval) // more passes with the pushes going on
	close(stop)
	wg.Wait()
	if err := errs.err(); err != nil {
		t.Errorf("pushes during garbage collection: %v", err)
	}
	t.Logf("%d pushes during garbage collection, %d refused with MANIFEST_BLOB_UNKNOWN and retried", pushes.Load(), refusals.Load())
	if !gone {
		var left []string
		for _, dg := range inBucket {
			if c.Stores.BlobExists(t, dg) {
				left = append(left, dg)
			}
		}
		t.Errorf("60s after the delete, blobs of the deleted image still in the bucket: %v\n%s", left, c.Logs())
	}
	time.Sleep(3 * interval) // passes after the last push

	// The deleted image is gone from every node.
	for i, s := range c.Nodes {
		r := whDo(t, http.MethodGet, s.URL+"/v2/gc/doomed/manifests/"+doomedDigest.String(), nil, nil)
		if r.Status != http.StatusNotFound {
			t.Errorf("node %d: GET deleted manifest: %s, want 404", i+1, r)
		}
		for _, dg := range unique {
			for _, m := range []string{http.MethodHead, http.MethodGet} {
				r := whDo(t, m, s.URL+"/v2/gc/doomed/blobs/"+dg, nil, nil)
				if r.Status != http.StatusNotFound {
					t.Errorf("node %d: %s collected blob %s: %d, want 404", i+1, m, dg, r.Status)
				}
			}
		}
	}
	if !c.Stores.BlobExists(t, sharedDigest.String()) {
		t.Errorf("the shared layer %s left the bucket though other images use it", sharedDigest)
	}

	// Every image whose push succeeded pulls, byte for byte, from every
	// node in turn (the kept one from all of them).
	i := 0
	for ref, img := range surviving {
		if ref == "gc/doomed:v1" {
			continue
		}
		nodes := []*Server{c.Nodes[i%soNodes]}
		if ref == "gc/keep:v1" {
			nodes = c.Nodes
		}
		for _, s := range nodes {
			if err := soCheckImage(t, s, c.Stores, ref, img, true); err != nil {
				t.Errorf("surviving image: %v", err)
			}
		}
		i++
	}

	for i, s := range c.Nodes {
		if l := soLogLines(s.Log.String(), "garbage collection failed"); len(l) > 0 {
			t.Errorf("node %d: %d failed garbage collection passes, e.g. %s", i+1, len(l), l[0])
		}
		t.Logf("node %d: %d garbage collection passes removed something", i+1, len(soLogLines(s.Log.String(), "garbage collection done")))
	}
	if t.Failed() {
		t.Logf("%s", c.Logs())
	}
}
