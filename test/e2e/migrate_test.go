package e2e

// `wharf migrate` from a SQLite instance into PostgreSQL (and from its
// filesystem into S3 with --blobs): afterwards wharf serves every image
// byte-identically from the target; a second run writes nothing; a run
// killed half-way and run again ends identical; a target holding other
// data is refused. Every name here starts with "mg".

import (
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharf-registry/wharf/internal/testenv"
)

// mgSource is a stopped SQLite instance with images, and what it holds.
type mgSource struct {
	s       *Server
	images  map[string]v1.Image      // reference -> image
	indexes map[string]v1.ImageIndex // reference -> index
}

// mgNewSource pushes plain images (large layers in the blob store, small
// ones inline), one image under several tags and a multi-arch index into
// a fresh SQLite instance, then stops it. layers sets how many large
// layers the plain image has, so a test can make the copy take a while.
func mgNewSource(t *testing.T, layers int64) *mgSource {
	t.Helper()
	src := &mgSource{s: StartServer(t, ServerOptions{}), images: map[string]v1.Image{}, indexes: map[string]v1.ImageIndex{}}
	plain := whRandomOCIImage(t, 64<<10, layers)
	for _, tag := range []string{"v1", "v1.0", "latest"} {
		whPush(t, src.s, "mig/plain:"+tag, plain)
		src.images["mig/plain:"+tag] = plain
	}
	small := whRandomImage(t, 512, 2) // layers and config below the inline limit
	whPush(t, src.s, "mig/small:1", small)
	src.images["mig/small:1"] = small
	idx, err := random.Index(1024, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(whRef(t, src.s, "mig/multi:v1"), idx, whRemote(t)...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	src.indexes["mig/multi:v1"] = idx
	if n := len(whInlineBlobs(t, src.s.Root)); n == 0 {
		t.Fatal("the source holds no inline blob")
	}
	src.s.Stop()
	return src
}

// mgCheckServed pulls every image and index of src from s and compares
// them byte for byte with check, and compares the catalog and tag lists.
func mgCheckServed(t *testing.T, s *Server, src *mgSource, check func(ref string, img v1.Image) error) {
	t.Helper()
	verify := func(ref string, img v1.Image) {
		if err := check(ref, img); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
	for ref, img := range src.images {
		verify(ref, img)
	}
	for ref, idx := range src.indexes {
		got, err := remote.Index(whRef(t, s, ref), whRemote(t)...)
		if err != nil {
			t.Errorf("pull index %s: %v", ref, err)
			continue
		}
		gotRaw, _ := got.RawManifest()
		wantRaw, _ := idx.RawManifest()
		if string(gotRaw) != string(wantRaw) {
			t.Errorf("index %s: manifest bytes differ", ref)
		}
		im, _ := idx.IndexManifest()
		for _, child := range im.Manifests {
			img, err := idx.Image(child.Digest)
			if err != nil {
				t.Fatal(err)
			}
			verify(whRepoOf(ref)+"@"+child.Digest.String(), img)
		}
	}
	r := whDo(t, http.MethodGet, s.URL+"/v2/_catalog", nil, nil)
	if want := `{"repositories":["mig/multi","mig/plain","mig/small"]}`; r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != want {
		t.Errorf("catalog = %d %s, want %s", r.Status, r.Body, want)
	}
	r = whDo(t, http.MethodGet, s.URL+"/v2/mig/plain/tags/list", nil, nil)
	if want := `{"name":"mig/plain","tags":["latest","v1","v1.0"]}`; r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != want {
		t.Errorf("tags = %d %s, want %s", r.Status, r.Body, want)
	}
}

// mgWrittenRE reads the summary line of `wharf migrate`.
var mgWrittenRE = regexp.MustCompile(`migrate: done in \S+: (\d+) rows verified, (\d+) written by this run; (\d+) blobs \((\d+) bytes\) copied`)

// mgRun runs `wharf migrate` and returns its summary numbers: rows
// verified, rows written, blobs copied.
func mgRun(t *testing.T, from, to string, blobs bool) (verified, written, copied int) {
	t.Helper()
	args := []string{"migrate", "--from", from, "--to", to}
	if blobs {
		args = append(args, "--blobs")
	}
	stdout, stderr, code := runWharf(t, nil, args...)
	if code != 0 {
		t.Fatalf("wharf migrate: exit %d\n%s\n%s", code, stdout, stderr)
	}
	m := mgWrittenRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("wharf migrate printed no summary:\n%s", stdout)
	}
	fmt.Sscan(m[1], &verified)
	fmt.Sscan(m[2], &written)
	fmt.Sscan(m[3], &copied)
	t.Logf("wharf migrate %v:\n%s", args[1:], stdout)
	return verified, written, copied
}

// mgServe starts `wharf serve` on config, which listens on addr, and waits
// until it answers.
func mgServe(t *testing.T, config, addr string) *Server {
	t.Helper()
	s := &Server{t: t, Addr: addr, URL: "http://" + addr, Config: config}
	t.Cleanup(func() { s.Kill() })
	soLaunch(s)
	s.waitReady()
	return s
}

// TestMigrateSQLiteToPostgres: the metadata moves into a fresh PostgreSQL
// database; the blobs stay in the root directory the target shares.
func TestMigrateSQLiteToPostgres(t *testing.T) {
	pg := testenv.Postgres(t, soSkipMessage)
	src := mgNewSource(t, 2)
	dsn := testenv.FreshDatabase(t, pg, "wharf_mig_")
	to, addr := filepath.Join(t.TempDir(), "target.yml"), freeAddr(t)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
database:
  dsn: %q
`, src.s.Root, addr, dsn)
	if err := os.WriteFile(to, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The token signing key an older wharf generated under the root
	// travels with the metadata.
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mgKeyDER(t)})
	keyPath := filepath.Join(src.s.Root, "auth", "token-signing-key.pem")
	if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	verified, written, _ := mgRun(t, src.s.Config, to, false)
	if written == 0 || written != verified {
		t.Fatalf("first run wrote %d rows of %d", written, verified)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []byte
	if err := db.QueryRow(`SELECT pem FROM signing_keys`).Scan(&got); err != nil || string(got) != string(keyPEM) {
		t.Errorf("signing key in the target: %q, %v; want the source's key file", got, err)
	}
	if _, written, _ := mgRun(t, src.s.Config, to, false); written != 0 {
		t.Errorf("second run wrote %d rows, want 0", written)
	}
	target := mgServe(t, to, addr)
	mgCheckServed(t, target, src, func(ref string, img v1.Image) error { return whCheckImage(t, target, ref, img) })

	// The target is now a deployment of its own: a push there makes it
	// differ from the source, and a migration into it is refused.
	whPush(t, target, "other/app:1", whRandomImage(t, 256, 1))
	target.Stop()
	stdout, stderr, code := runWharf(t, nil, "migrate", "--from", src.s.Config, "--to", to)
	if code == 0 || !strings.Contains(stderr, "other data") {
		t.Errorf("migrate into a target with other data: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestMigrateBlobsToS3: with --blobs the blobs move into S3 as well; a run
// killed half-way and run again ends with the same, complete copy.
func TestMigrateBlobsToS3(t *testing.T) {
	st := soNewStores(t)
	src := mgNewSource(t, 24)
	to, addr := filepath.Join(t.TempDir(), "target.yml"), freeAddr(t)
	cfg := soRender(t, soDocConfig(t), map[string]string{
		"LISTEN_ADDR":      addr,
		"ROOT_DIR":         t.TempDir(),
		"S3_ACCESS_KEY":    st.env.s3.AccessKey,
		"S3_SECRET_KEY":    st.env.s3.SecretKey,
		"S3_REGION":        st.env.s3.Region,
		"S3_ENDPOINT":      st.env.s3.Endpoint,
		"S3_BUCKET":        st.Bucket,
		"REDIRECT_DISABLE": "false",
		"DATABASE_DSN":     st.DSN,
		"GC_INTERVAL":      "1h",
		"GC_GRACE":         "24h",
	})
	if err := os.WriteFile(to, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	// Without --blobs the target's bucket lacks the bytes: refused before
	// any blob row is written.
	if stdout, stderr, code := runWharf(t, nil, "migrate", "--from", src.s.Config, "--to", to); code == 0 || !strings.Contains(stderr, "--blobs") {
		t.Errorf("migrate without --blobs into an empty bucket: exit %d\n%s\n%s", code, stdout, stderr)
	}

	killedAt := mgKillMidway(t, src.s.Config, to, st.DSN)
	verified, _, copied := mgRun(t, src.s.Config, to, true)
	if copied == 0 || copied >= 24 {
		t.Errorf("run after the kill (at %d blob rows) copied %d of the 24 large blobs: the kill was not half-way", killedAt, copied)
	}
	if _, written, copied := mgRun(t, src.s.Config, to, true); written != 0 || copied != 0 {
		t.Errorf("run after a complete one wrote %d rows and copied %d blobs, want none", written, copied)
	}
	if verified == 0 {
		t.Fatal("nothing verified")
	}
	target := mgServe(t, to, addr)
	mgCheckServed(t, target, src, func(ref string, img v1.Image) error { return soCheckImage(t, target, st, ref, img, true) })
	for _, img := range []v1.Image{src.images["mig/plain:v1"]} {
		layers, _ := img.Layers()
		for _, l := range layers {
			d, _ := l.Digest()
			if !st.BlobExists(t, d.String()) {
				t.Errorf("layer %s is not in the bucket", d)
			}
		}
	}
}

// mgKillMidway starts `wharf migrate --blobs`, a few rows per transaction,
// and kills it (SIGKILL) as soon as the target database holds a row of a
// blob kept in the blob store (not inline: rows are copied in digest order,
// so the first pages may hold only inline blobs, whose bytes need no copy);
// it returns how many such rows the target held then.
func mgKillMidway(t *testing.T, from, to, dsn string) int {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cmd := exec.Command(wharfBin, "migrate", "--from", from, "--to", to, "--blobs", "--batch", "2")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() { cmd.Process.Kill(); <-done }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		// The schema appears with the migrator's first connection.
		if err := db.QueryRow(`SELECT COUNT(*) FROM blobs WHERE content IS NULL`).Scan(&n); err == nil && n > 0 {
			cmd.Process.Kill()
			<-done
			t.Logf("killed wharf migrate with %d stored-blob rows in the target", n)
			return n
		}
		select {
		case <-done:
			t.Fatal("wharf migrate finished before it could be killed half-way")
		case <-time.After(2 * time.Millisecond):
		}
	}
	t.Fatal("no blob row in the target after 60s")
	return 0
}

// mgKeyDER is a fresh P-256 private key, PKCS#8.
func mgKeyDER(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(auNewKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return der
}
