package e2e

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestImportRegistry2Cloud: distribution's Azure and GCS drivers keep the
// same docker/registry/v2 tree under their root directory as its
// filesystem driver (Debian's docker-registry has neither driver, so
// registry:2 writes to a directory and the tree is copied into the
// container or bucket as those drivers would have left it). A wharf node
// on the store then serves it in place: every image and tag, nothing
// copied into wharf's own keys, a deleted manifest still gone, and the
// collector frees old layers there.
func TestImportRegistry2Cloud(t *testing.T) {
	for _, backend := range soBackendNames[1:] {
		t.Run(backend, func(t *testing.T) { icImport(t, backend) })
	}
}

func icImport(t *testing.T, backend string) {
	st := soNewStoresOn(t, backend)
	dir := t.TempDir()
	r2, stopR2 := startRegistry2Storage(t, fmt.Sprintf("  filesystem:\n    rootdirectory: %s\n", dir))
	plain := whRandomImage(t, 3000, 2)
	whPush(t, r2, "plain/a:v1", plain)
	shared, err := random.Layer(5000, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	one := withLayer(t, whRandomImage(t, 1000, 1), shared)
	whPush(t, r2, "shared/one:v1", one)
	whPush(t, r2, "shared/one:latest", one)
	idx, err := random.Index(1500, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(whRef(t, r2, "multi/idx:v1"), idx, whRemote(t)...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	gone := whPush(t, r2, "gone/x:v1", whRandomImage(t, 1000, 1))
	whPush(t, r2, "gone/x:keep", whRandomImage(t, 1000, 1))
	if r := whDo(t, http.MethodDelete, r2.URL+"/v2/gone/x/manifests/"+gone.String(), nil, nil); r.Status != http.StatusAccepted {
		t.Fatalf("registry:2 DELETE manifest: %s", r)
	}
	before := readState(t, r2)
	stopR2()

	n := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		st.backend.put(t, st.Root+"/"+filepath.ToSlash(rel), data)
		n++
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("copy registry:2's tree: %d files, %v", n, err)
	}

	c := soStartCluster(t, st, 1, soSettings{RedirectDisable: true})
	s := c.Front
	if d := before.diff(readState(t, s)); d != "" {
		t.Fatalf("after import: %s\n%s", d, c.Logs())
	}
	whVerifyImage(t, s, "plain/a:v1", plain)
	whVerifyImage(t, s, "shared/one:latest", one)
	if r := whDo(t, http.MethodGet, s.URL+"/v2/gone/x/manifests/"+gone.String(), nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("deleted manifest: %s, want 404", r)
	}
	if own := st.Objects(t, "blobs/"); len(own) != 0 {
		t.Errorf("the import copied %d blobs into wharf's keys: %v", len(own), own[:min(3, len(own))])
	}
	// Layers stream from registry:2's keys, Range requests included.
	m, err := plain.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	l := m.Layers[1]
	c.must(soCheckBlob(s, st, "plain/a", l.Digest.String(), l.Size, false, true))

	plainDigest, _ := plain.Digest()
	if r := whDo(t, http.MethodDelete, s.URL+"/v2/plain/a/manifests/"+plainDigest.String(), nil, nil); r.Status != http.StatusAccepted {
		t.Fatalf("DELETE plain/a: %s", r)
	}
	out, errOut, code := runWharf(t, st.backend.nodeEnv(), "garbage-collect", c.Nodes[0].Config)
	if code != 0 {
		t.Fatalf("garbage-collect: exit %d\n%s%s", code, out, errOut)
	}
	legacy := func(dg string) string {
		return st.Root + "/docker/registry/v2/blobs/sha256/" + dg[7:9] + "/" + dg[7:] + "/data"
	}
	if st.backend.exists(t, legacy(layerDigest(t, plain, 0).String())) {
		t.Errorf("old unique layer still in the store after collection\n%s", out)
	}
	sharedDigest, _ := shared.Digest()
	if !st.backend.exists(t, legacy(sharedDigest.String())) {
		t.Errorf("shared layer %s was removed", sharedDigest)
	}
	whVerifyImage(t, s, "shared/one:v1", one)
}
