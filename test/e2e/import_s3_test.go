package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/minio/minio-go/v7"

	"github.com/wharf-registry/wharf/internal/testenv"
)

// TestImportRegistry2S3 is TestImportRegistry2Filesystem on distribution's
// S3 layout: docker-registry writes to the S3 server under the root
// directory of docs/scale-out.md, then a wharf node on S3 and PostgreSQL
// serves it in place.
func TestImportRegistry2S3(t *testing.T) {
	st := soNewStores(t)
	env := st.env.s3
	r2, stopR2 := startRegistry2Storage(t, fmt.Sprintf(`  s3:
    accesskey: %s
    secretkey: %s
    region: %s
    regionendpoint: %s
    bucket: %s
    rootdirectory: /%s
    secure: false
    v4auth: true
`, env.AccessKey, env.SecretKey, env.Region, env.Endpoint, st.Bucket, st.Root))

	plain := whRandomImage(t, 3000, 2)
	whPush(t, r2, "plain/a:v1", plain)
	multiTag := whRandomOCIImage(t, 2000, 1)
	for _, tag := range []string{"v1", "latest"} {
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
	idx, err := random.Index(1500, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(whRef(t, r2, "multi/idx:v1"), idx, whRemote(t)...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	gone := whRandomImage(t, 1000, 1)
	goneDigest := whPush(t, r2, "gone/x:v1", gone)
	whPush(t, r2, "gone/x:keep", whRandomImage(t, 1000, 1))
	if r := whDo(t, http.MethodDelete, r2.URL+"/v2/gone/x/manifests/"+goneDigest.String(), nil, nil); r.Status != http.StatusAccepted {
		t.Fatalf("registry:2 DELETE manifest: %s", r)
	}
	before := readState(t, r2)
	stopR2()
	legacy := s3ETags(t, st, "docker/registry/v2/blobs/")
	if len(legacy) == 0 {
		t.Fatalf("docker-registry wrote no blobs under %s/docker/registry/v2/blobs/", st.Root)
	}

	c := soStartCluster(t, st, 1, soSettings{RedirectDisable: true})
	s := c.Front
	if d := before.diff(readState(t, s)); d != "" {
		t.Fatalf("after import: %s\n%s", d, c.Logs())
	}
	whVerifyImage(t, s, "plain/a:v1", plain)
	whVerifyImage(t, s, "plain/b:latest", multiTag)
	whVerifyImage(t, s, "shared/two:v1", two)
	im, _ := idx.IndexManifest()
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
	if own := st.Objects(t, "blobs/"); len(own) != 0 {
		t.Errorf("the import copied %d blobs into wharf's keys: %v", len(own), own[:min(3, len(own))])
	}
	for key, etag := range s3ETags(t, st, "docker/registry/v2/blobs/") {
		if legacy[key] != etag {
			t.Errorf("%s changed", key)
		}
	}

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
	out, errOut, code := runWharf(t, nil, "garbage-collect", c.Nodes[0].Config)
	if code != 0 {
		t.Fatalf("garbage-collect: exit %d\n%s%s", code, out, errOut)
	}
	after := s3ETags(t, st, "docker/registry/v2/blobs/")
	unique := layerDigest(t, plain, 0)
	sharedDigest, _ := shared.Digest()
	if _, ok := after[s3LegacyKey(st, unique.String())]; ok {
		t.Errorf("old unique layer %s still in the bucket after collection\n%s", unique, out)
	}
	if _, ok := after[s3LegacyKey(st, sharedDigest.String())]; !ok {
		t.Errorf("shared layer %s was removed", sharedDigest)
	}
	whVerifyImage(t, s, "shared/two:v1", two)
}

// s3ETags maps the keys under the root prefix and prefix to their ETags.
func s3ETags(t testing.TB, st *soStores, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for obj := range st.minio.ListObjects(ctx(t), st.Bucket, minio.ListObjectsOptions{Prefix: st.Root + "/" + prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list objects: %v", obj.Err)
		}
		out[obj.Key] = obj.ETag
	}
	return out
}

func s3LegacyKey(st *soStores, dg string) string {
	alg, hexd, _ := strings.Cut(dg, ":")
	return st.Root + "/docker/registry/v2/blobs/" + alg + "/" + hexd[:2] + "/" + hexd + "/data"
}

// BenchmarkImportRegistry2TagsS3 is BenchmarkImportRegistry2Tags on
// distribution's S3 layout, imported into S3 and PostgreSQL: every link
// is a GET. Each iteration imports into a fresh database. Run:
//
//	scripts/test-services.sh go test -run '^$' -bench ImportRegistry2TagsS3 -benchtime 1x ./test/e2e/
func BenchmarkImportRegistry2TagsS3(b *testing.B) {
	st := soNewStores(b)
	env := st.env.s3
	r2, stopR2 := startRegistry2Storage(b, fmt.Sprintf(`  s3:
    accesskey: %s
    secretkey: %s
    region: %s
    regionendpoint: %s
    bucket: %s
    rootdirectory: /%s
    secure: false
    v4auth: true
`, env.AccessKey, env.SecretKey, env.Region, env.Endpoint, st.Bucket, st.Root))
	const repos, tags = 100, 100
	base := whRandomOCIImage(b, 1000, 1)
	start := time.Now()
	for i := range repos {
		pushTagVariants(b, r2, fmt.Sprintf("bench/r%03d", i), base, tags)
	}
	b.Logf("docker-registry took %s to receive %d tags", time.Since(start).Round(time.Millisecond), repos*tags)
	stopR2()
	for b.Loop() {
		b.StopTimer()
		dsn := testenv.FreshDatabase(b, st.env.pgDSN, "wharf_bench_")
		if err := st.minio.RemoveObject(ctx(b), st.Bucket, st.Root+"/registry2-imported.json", minio.RemoveObjectOptions{}); err != nil {
			b.Fatal(err)
		}
		cfg := filepath.Join(b.TempDir(), "wharf.yml")
		body := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  s3:
    accesskey: %s
    secretkey: %s
    region: %s
    regionendpoint: %s
    bucket: %s
    rootdirectory: /%s
    forcepathstyle: true
  delete:
    enabled: true
database:
  dsn: %q
`, b.TempDir(), env.AccessKey, env.SecretKey, env.Region, env.Endpoint, st.Bucket, st.Root, dsn)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			b.Fatal(err)
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
