package e2e

// The docker push race against garbage collection (issue 10, part 3): an
// image is deleted, so its layer's link is due for collection at once; a
// push then HEADs that layer, is told it is present, skips the upload and
// puts a manifest referencing it, while collectors run every few
// milliseconds. Every such manifest PUT must be accepted. Helpers here
// start with "gcpr".

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// gcprResult counts what the pushes of one race saw.
type gcprResult struct {
	Pushes      int // manifest PUTs sent after a HEAD
	Rejected    int // of those, refused with MANIFEST_BLOB_UNKNOWN
	HeadPresent int // HEADs answered 200: the push relied on the layer
	HeadAbsent  int // HEADs answered 404: the push uploaded the layer again
	Errors      []string
}

func (r *gcprResult) add(o gcprResult) {
	r.Pushes += o.Pushes
	r.Rejected += o.Rejected
	r.HeadPresent += o.HeadPresent
	r.HeadAbsent += o.HeadAbsent
	r.Errors = append(r.Errors, o.Errors...)
}

// gcprDo sends one request (from any goroutine) and returns the status and
// body.
func gcprDo(c context.Context, method, u string, hdr map[string]string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(c, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := whHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b, err
}

// gcprUpload pushes data as one monolithic POST.
func gcprUpload(c context.Context, s *Server, repo string, data []byte) error {
	u := s.URL + "/v2/" + repo + "/blobs/uploads/?digest=" + whDigest(data)
	st, b, err := gcprDo(c, http.MethodPost, u, map[string]string{"Content-Type": "application/octet-stream"}, data)
	if err != nil {
		return fmt.Errorf("upload to %s: %w", repo, err)
	}
	if st != http.StatusCreated {
		return fmt.Errorf("upload to %s: %d %s", repo, st, b)
	}
	return nil
}

// gcprManifest is an OCI image manifest over config and layer.
func gcprManifest(config, layer []byte) []byte {
	desc := func(mt string, b []byte) map[string]any {
		return map[string]any{"mediaType": mt, "digest": whDigest(b), "size": len(b)}
	}
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc("application/vnd.oci.image.config.v1+json", config),
		"layers":        []any{desc("application/vnd.oci.image.layer.v1.tar", layer)},
	})
	if err != nil {
		panic(err)
	}
	return m
}

// gcprPutManifest PUTs m under ref and returns the status and body.
func gcprPutManifest(c context.Context, s *Server, repo, ref string, m []byte) (int, []byte, error) {
	return gcprDo(c, http.MethodPut, s.URL+"/v2/"+repo+"/manifests/"+ref,
		map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, m)
}

// gcprRound is one round of a worker: push image a (config and layer),
// delete it, then push image b the way docker does (HEAD the layer; upload
// it only if absent; upload b's config; PUT the manifest), each request to
// the next node.
func gcprRound(c context.Context, nodes []*Server, repo string, seed uint64) gcprResult {
	var res gcprResult
	fail := func(format string, args ...any) gcprResult {
		res.Errors = append(res.Errors, fmt.Sprintf(repo+": "+format, args...))
		return res
	}
	next := 0
	node := func() *Server {
		next++
		return nodes[int(seed+uint64(next))%len(nodes)]
	}
	// Larger than storage.inline.maxsize: its bytes live in the blob store.
	layer := whRandBytes(seed, inlineMax+4096)
	cfgA := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","a":%d}`, seed))
	cfgB := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","b":%d}`, seed))
	for _, b := range [][]byte{layer, cfgA} {
		if err := gcprUpload(c, node(), repo, b); err != nil {
			return fail("%v", err)
		}
	}
	ma := gcprManifest(cfgA, layer)
	if st, b, err := gcprPutManifest(c, node(), repo, "a", ma); err != nil || st != http.StatusCreated {
		return fail("PUT image a: %d %s %v", st, b, err)
	}
	st, b, err := gcprDo(c, http.MethodDelete, node().URL+"/v2/"+repo+"/manifests/"+whDigest(ma), nil, nil)
	if err != nil || st != http.StatusAccepted {
		return fail("DELETE image a: %d %s %v", st, b, err)
	}

	// docker push of b: the layer's last reference just went.
	st, b, err = gcprDo(c, http.MethodHead, node().URL+"/v2/"+repo+"/blobs/"+whDigest(layer), nil, nil)
	switch {
	case err != nil:
		return fail("HEAD layer: %v", err)
	case st == http.StatusOK:
		res.HeadPresent++
	case st == http.StatusNotFound:
		res.HeadAbsent++
		if err := gcprUpload(c, node(), repo, layer); err != nil {
			return fail("%v", err)
		}
	default:
		return fail("HEAD layer: %d %s", st, b)
	}
	// The config upload stands for the other layers docker sends between
	// its HEADs and the manifest: the window the collector had.
	if err := gcprUpload(c, node(), repo, cfgB); err != nil {
		return fail("%v", err)
	}
	res.Pushes++
	st, b, err = gcprPutManifest(c, node(), repo, "b", gcprManifest(cfgB, layer))
	switch {
	case err != nil:
		return fail("PUT image b: %v", err)
	case st == http.StatusBadRequest && strings.Contains(string(b), "MANIFEST_BLOB_UNKNOWN"):
		res.Rejected++
		return res
	case st != http.StatusCreated:
		return fail("PUT image b: %d %s", st, b)
	}
	// Accepted: the layer is there and stays (b references it).
	if st, _, err := gcprDo(c, http.MethodGet, node().URL+"/v2/"+repo+"/blobs/"+whDigest(layer), nil, nil); err != nil || (st != http.StatusOK && st != http.StatusTemporaryRedirect) {
		return fail("GET layer of image b: %d %v", st, err)
	}
	return res
}

// gcprRace runs workers, each for at most rounds rounds, until deadline, and
// sums their results.
func gcprRace(t *testing.T, nodes []*Server, workers, rounds int, maxDuration time.Duration) gcprResult {
	t.Helper()
	c := ctx(t)
	deadline := time.Now().Add(maxDuration)
	results := make([]gcprResult, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := fmt.Sprintf("pushrace/w%d", w)
			for i := 0; i < rounds && time.Now().Before(deadline); i++ {
				results[w].add(gcprRound(c, nodes, repo, uint64(w*100000+i+1)))
			}
		}()
	}
	wg.Wait()
	var total gcprResult
	for _, r := range results {
		total.add(r)
	}
	return total
}

// gcprCheck fails the test on any rejected PUT or unexpected answer, and
// reports the figures the issue asks for.
func gcprCheck(t *testing.T, res gcprResult) {
	t.Helper()
	t.Logf("manifest PUTs after a HEAD: %d, rejected with MANIFEST_BLOB_UNKNOWN: %d (HEAD present %d, absent %d)",
		res.Pushes, res.Rejected, res.HeadPresent, res.HeadAbsent)
	for i, e := range res.Errors {
		if i == 10 {
			t.Errorf("... and %d more", len(res.Errors)-10)
			break
		}
		t.Error(e)
	}
	if res.Pushes == 0 {
		t.Fatalf("no push got to its manifest")
	}
	if res.Rejected > 0 {
		t.Errorf("%d of %d manifest PUTs were rejected: the collector removed a layer a HEAD had just reported present", res.Rejected, res.Pushes)
	}
}

// TestGCPushRace runs the race on the embedded default (SQLite and the
// filesystem), the server collecting every 25 ms with a grace period (more
// often, its collector wins nearly every race for the write lock and the
// HEADs mostly answer 404, leaving the kept-link path little exercised).
func TestGCPushRace(t *testing.T) {
	s := StartServer(t, ServerOptions{ExtraConfig: "gc:\n  interval: 25ms\n  graceperiod: 1h\n"})
	res := gcprRace(t, []*Server{s}, 4, 40, 30*time.Second)
	gcprCheck(t, res)
	gcCheckNoMissingBytes(t, s)
}

// TestScaleOutGCPushRace runs the race on S3 and PostgreSQL with several
// nodes, every one collecting every 5 ms, each request of a push going to
// another node.
func TestScaleOutGCPushRace(t *testing.T) {
	c := soStartCluster(t, soNewStores(t), soNodes, soSettings{GCInterval: "5ms", GCGrace: "1h"})
	res := gcprRace(t, c.Nodes, 4, 40, 30*time.Second)
	gcprCheck(t, res)
	for _, s := range c.Nodes {
		gcCheckNoMissingBytes(t, s)
	}
}
