package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/testenv"
)

// dfLayerSize is the size of each image's one layer in the disk-full test:
// a 48 MiB filesystem holds about a dozen.
const dfLayerSize = 3 << 20

// dfFree is the space left to unprivileged writers on the filesystem of dir.
func dfFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("statfs %s: %v", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// dfDo is whDo with a short deadline: a registry on a full disk must
// answer, never hang.
func dfDo(t *testing.T, method, u string, hdr map[string]string, body []byte) whResp {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(c, method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := whHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v (a hang or a dropped connection instead of an answer)", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return whResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// dfDoStream sends a body of size bytes read from body. The server may
// answer before it has read everything; that answer is what counts.
func dfDoStream(t *testing.T, method, u string, body io.Reader, size int64) whResp {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(c, method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := whHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v (a hang or a dropped connection instead of an answer)", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return whResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// dfImage is one pushed image: its manifest digest and blobs.
type dfImage struct {
	repo, tag, manifest string
	layer, config       string
}

// dfPushBlob uploads data, chunked (POST, PATCH, PUT) or monolithic (POST
// ?digest=), and returns the first response that is not a success.
func dfPushBlob(t *testing.T, s *Server, repo string, data []byte, chunked bool) (whResp, bool) {
	t.Helper()
	dg := whDigest(data)
	octet := map[string]string{"Content-Type": "application/octet-stream"}
	if !chunked {
		r := dfDo(t, http.MethodPost, s.URL+"/v2/"+repo+"/blobs/uploads/?digest="+dg, octet, data)
		return r, r.Status == http.StatusCreated
	}
	r := dfDo(t, http.MethodPost, s.URL+"/v2/"+repo+"/blobs/uploads/", nil, nil)
	if r.Status != http.StatusAccepted {
		return r, false
	}
	loc := whResolve(t, s, r.Header.Get("Location"))
	r = dfDo(t, http.MethodPatch, loc, map[string]string{"Content-Type": "application/octet-stream",
		"Content-Range": fmt.Sprintf("0-%d", len(data)-1)}, data)
	if r.Status != http.StatusAccepted {
		return r, false
	}
	loc = whResolve(t, s, r.Header.Get("Location"))
	r = dfDo(t, http.MethodPut, whWithQuery(loc, "digest", dg), nil, nil)
	return r, r.Status == http.StatusCreated
}

// dfPushImage pushes a one-layer image; ok is false with the refusing
// response when any step fails.
func dfPushImage(t *testing.T, s *Server, i int) (dfImage, whResp, bool) {
	t.Helper()
	img := dfImage{repo: fmt.Sprintf("full/app%d", i%3), tag: fmt.Sprintf("v%d", i)}
	layer := whRandBytes(uint64(1000+i), dfLayerSize)
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Labels":{"i":"%d"}}}`, i))
	img.layer, img.config = whDigest(layer), whDigest(config)
	if r, ok := dfPushBlob(t, s, img.repo, layer, i%2 == 0); !ok {
		return img, r, false
	}
	if r, ok := dfPushBlob(t, s, img.repo, config, false); !ok {
		return img, r, false
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.config, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": img.layer, "size": len(layer)}},
	})
	img.manifest = whDigest(m)
	r := dfDo(t, http.MethodPut, s.URL+"/v2/"+img.repo+"/manifests/"+img.tag,
		map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, m)
	return img, r, r.Status == http.StatusCreated
}

// dfCheckImage reads back an acknowledged image completely.
func dfCheckImage(t *testing.T, s *Server, img dfImage) {
	t.Helper()
	r := dfDo(t, http.MethodGet, s.URL+"/v2/"+img.repo+"/manifests/"+img.tag,
		map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"}, nil)
	if r.Status != http.StatusOK || whDigest(r.Body) != img.manifest {
		t.Errorf("acknowledged image %s:%s lost: %s%s", img.repo, img.tag, r, whLogIf5xx(s, r))
		return
	}
	for _, dg := range []string{img.layer, img.config} {
		if err := whCheckBlob(t, s, img.repo, dg, -1); err != nil {
			t.Errorf("acknowledged image %s:%s: %v", img.repo, img.tag, err)
		}
	}
}

// dfFill writes a file until the filesystem is full, as another program

// dfUploadBytes is what upload files hold under root.
func dfUploadBytes(t *testing.T, root string) int64 {
	t.Helper()
	var sum int64
	filepath.WalkDir(filepath.Join(root, "uploads"), func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				sum += info.Size()
			}
		}
		return nil
	})
	return sum
}

// dfExpectFull checks that r is the refusal of a full disk: 507 with an
// OCI body whose message says why.
func dfExpectFull(t *testing.T, s *Server, what string, r whResp) {
	t.Helper()
	whExpectError(t, what, r, http.StatusInsufficientStorage, "DENIED")
	if !strings.Contains(string(r.Body), "storage.reserve") {
		t.Errorf("%s: the refusal does not say why (no mention of storage.reserve): %s%s", what, r, whLogIf5xx(s, r))
	}
}

// TestDiskFull fills a small filesystem holding the root directory: pushes
// are refused with 507 and a reason, nothing acknowledged is lost, and the
// way out works from the API and the CLI alone: delete images, collect
// garbage, push again, all without a restart; scrub finds nothing wrong.
func TestDiskFull(t *testing.T) {
	root := testenv.SmallFS(t, 48<<20)
	s := StartServer(t, ServerOptions{Root: root, Env: []string{"REGISTRY_STORAGE_RESERVE=8MiB"}})

	// One upload larger than the disk, started with room to spare, must
	// stop at the reserve: 507, and its bytes given back at once.
	loc := whStartUpload(t, s, "full/big")
	r := dfDoStream(t, http.MethodPatch, loc, io.LimitReader(whRandReader(1), 64<<20), 64<<20)
	dfExpectFull(t, s, "an upload larger than the disk", r)
	if n := dfUploadBytes(t, root); n != 0 {
		t.Errorf("the refused upload left %d bytes behind, to wait for the purge", n)
	}

	var pushed []dfImage
	var refused whResp
	for i := 0; i < 40; i++ { // 40 layers of 3 MiB cannot fit in 48 MiB
		img, r, ok := dfPushImage(t, s, i)
		if !ok {
			refused = r
			break
		}
		pushed = append(pushed, img)
	}
	if refused.Status == 0 {
		t.Fatalf("40 pushes of %d bytes fitted in 48 MiB", dfLayerSize)
	}
	t.Logf("%d images pushed, then: %s; %d bytes free", len(pushed), refused, dfFree(t, root))
	dfExpectFull(t, s, "push on a full disk", refused)
	if len(pushed) < 4 {
		t.Fatalf("only %d images fitted before the refusal", len(pushed))
	}

	// Another program takes what is left; wharf must still refuse
	// cleanly and keep its metadata writable.
	filler := testenv.FillDisk(t, filepath.Join(root, "filler"))
	t.Logf("filler took %d bytes", filler)
	for _, chunked := range []bool{true, false} {
		r, ok := dfPushBlob(t, s, "full/app0", whRandBytes(7, dfLayerSize), chunked)
		if ok {
			t.Fatalf("a push was accepted on a full disk (chunked %t)", chunked)
		}
		dfExpectFull(t, s, fmt.Sprintf("push after the disk filled up (chunked %t)", chunked), r)
	}
	if n := dfUploadBytes(t, root); n != 0 {
		t.Errorf("failed uploads left %d bytes behind, to wait for the purge", n)
	}
	for _, img := range pushed {
		dfCheckImage(t, s, img)
	}

	// The way out: delete half of the images by digest, then collect.
	half := len(pushed) / 2
	for _, img := range pushed[:half] {
		r := dfDo(t, http.MethodDelete, s.URL+"/v2/"+img.repo+"/manifests/"+img.manifest, nil, nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("DELETE %s@%s on a full disk: %s%s", img.repo, img.manifest, r, whLogIf5xx(s, r))
		}
	}
	before := dfFree(t, root)
	out, errOut, code := runWharf(t, nil, "garbage-collect", s.Config)
	if code != 0 {
		t.Fatalf("garbage-collect on a full disk: exit %d\n%s%s", code, out, errOut)
	}
	after := dfFree(t, root)
	// The layers' bytes, less what the metadata written meanwhile took.
	if want := int64(half)*dfLayerSize - 1<<20; after-before < want {
		t.Errorf("garbage-collect freed %d bytes, want at least %d (%d images' layers)", after-before, want, half)
	}

	// Space is back: uploads are accepted again without a restart.
	img, r, ok := dfPushImage(t, s, 100)
	if !ok {
		t.Fatalf("push after garbage collection freed %d bytes: %s%s", after-before, r, whLogIf5xx(s, r))
	}
	for _, p := range append(pushed[half:], img) {
		dfCheckImage(t, s, p)
	}
	out, errOut, code = runWharf(t, nil, "scrub", s.Config)
	if code != 0 || !strings.Contains(out, "0 problems") {
		t.Errorf("scrub after the disk filled up: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("server log:\n%s", s.Log)
}

// dfSmallPostgres makes a database whose tables live on a small tmpfs (a
// tablespace there), on the test PostgreSQL server, and returns its DSN and
// the mount. The server must run on this machine, as the postgres user, and
// the DSN's user must be a superuser: scripts/test-services.sh does both.
func dfSmallPostgres(t *testing.T, size int64) (dsn, mnt string) {
	t.Helper()
	adminDSN := testenv.Postgres(t, "PostgreSQL not running: run under scripts/test-services.sh")
	mnt = testenv.SmallFS(t, size)
	fail := t.Skipf
	if os.Getenv("CI") != "" {
		fail = t.Fatalf
	}
	owner, err := user.Lookup("postgres")
	if err != nil {
		fail("no postgres user to own a tablespace directory: %v", err)
	}
	// The server's user must reach the directory: t.TempDir makes 0700.
	if err := os.Chmod(filepath.Dir(mnt), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "ts")
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	name := fmt.Sprintf("wharf_df_%d", time.Now().UnixNano())
	if _, err := db.Exec(`CREATE TABLESPACE ` + name + ` LOCATION '` + dir + `'`); err != nil {
		fail("CREATE TABLESPACE on a tmpfs (the test PostgreSQL must run on this machine, as a superuser): %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(`DROP TABLESPACE IF EXISTS ` + name); err != nil {
			t.Errorf("DROP TABLESPACE %s: %v", name, err)
		}
	})
	if _, err := db.Exec(`CREATE DATABASE ` + name + ` TABLESPACE ` + name); err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	dsn, err = testenv.WithDatabase(adminDSN, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn, mnt
}

// TestDiskFullPostgres fills the disk under PostgreSQL's tables for real:
// the write that does not fit is answered 507 with the database's reason
// (disk_full, SQLSTATE 53100), not 500, nothing acknowledged is lost, and
// once space is back pushes work again without a restart.
func TestDiskFullPostgres(t *testing.T) {
	dsn, mnt := dfSmallPostgres(t, 32<<20)
	s := StartServer(t, ServerOptions{ExtraConfig: "database:\n  dsn: " + dsn + "\n"})
	// Small images keep their blobs inline: every push writes rows only.
	var pushed []dfImage
	for i := 0; i < 5; i++ {
		img, r, ok := dfPushSmall(t, s, i)
		if !ok {
			t.Fatalf("push with room to spare: %s%s", r, whLogIf5xx(s, r))
		}
		pushed = append(pushed, img)
	}
	filler := filepath.Join(mnt, "filler")
	testenv.FillDisk(t, filler)

	var refused whResp
	for i := 5; i < 2000; i++ {
		img, r, ok := dfPushSmall(t, s, i)
		if !ok {
			refused = r
			break
		}
		pushed = append(pushed, img)
	}
	if refused.Status == 0 {
		t.Fatalf("2000 pushes fitted in a full tablespace")
	}
	t.Logf("%d small images pushed, then: %s", len(pushed), refused)
	whExpectError(t, "push with the database's disk full", refused, http.StatusInsufficientStorage, "DENIED")
	if !strings.Contains(string(refused.Body), "metadata database is out of space") || !strings.Contains(string(refused.Body), "53100") {
		t.Errorf("the refusal does not say why: %s", refused)
	}
	for _, img := range pushed {
		dfCheckImage(t, s, img)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	img, r, ok := dfPushSmall(t, s, 10000)
	if !ok {
		t.Fatalf("push after space came back: %s%s", r, whLogIf5xx(s, r))
	}
	dfCheckImage(t, s, img)
}

// dfPushSmall pushes an image whose layer and config are small enough to be
// kept inline.
func dfPushSmall(t *testing.T, s *Server, i int) (dfImage, whResp, bool) {
	t.Helper()
	img := dfImage{repo: "small/app", tag: fmt.Sprintf("v%d", i)}
	layer := whRandBytes(uint64(50000+i), 8<<10)
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Labels":{"i":"%d"}}}`, i))
	img.layer, img.config = whDigest(layer), whDigest(config)
	for _, b := range [][]byte{layer, config} {
		if r, ok := dfPushBlob(t, s, img.repo, b, false); !ok {
			return img, r, false
		}
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.config, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": img.layer, "size": len(layer)}},
	})
	img.manifest = whDigest(m)
	r := dfDo(t, http.MethodPut, s.URL+"/v2/"+img.repo+"/manifests/"+img.tag,
		map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, m)
	return img, r, r.Status == http.StatusCreated
}

// dfSmallS3 starts an S3 server (versitygw's posix backend, the one
// scripts/test-services.sh installs) whose objects live on a small tmpfs,
// with a bucket "full", and returns the REGISTRY_* variables that point
// wharf's blob store at it.
func dfSmallS3(t *testing.T, size int64) (env []string, mnt string) {
	t.Helper()
	testenv.S3(t, "S3 not running: run under scripts/test-services.sh")
	bin := filepath.Join(os.Getenv("WHARF_CACHE_DIR"), "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		fail := t.Skipf
		if os.Getenv("CI") != "" {
			fail = t.Fatalf
		}
		fail("versitygw not found in $WHARF_CACHE_DIR/bin (scripts/test-services.sh installs it): %v", err)
	}
	mnt = testenv.SmallFS(t, size)
	for _, d := range []string{"data/full", "meta"} {
		if err := os.MkdirAll(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--port", addr, "--region", "us-east-1", "--quiet",
		"posix", "--sidecar", filepath.Join(mnt, "meta"), filepath.Join(mnt, "data"))
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY=dfaccess", "ROOT_SECRET_KEY=dfsecret-key")
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) // before the unmount
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw not answering on %s: %v\n%s", addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return []string{
		"REGISTRY_STORAGE_S3_REGIONENDPOINT=http://" + addr,
		"REGISTRY_STORAGE_S3_BUCKET=full",
		"REGISTRY_STORAGE_S3_REGION=us-east-1",
		"REGISTRY_STORAGE_S3_ACCESSKEY=dfaccess",
		"REGISTRY_STORAGE_S3_SECRETKEY=dfsecret-key",
		"REGISTRY_STORAGE_S3_FORCEPATHSTYLE=true",
		"REGISTRY_STORAGE_REDIRECT_DISABLE=true", // reads stream through wharf, checked by raw HTTP
	}, mnt
}

// TestDiskFullS3 fills the disk under an S3 server for real: the upload
// that does not fit is answered 507 with the store's reason, not 500;
// nothing acknowledged is lost; deleting images and collecting garbage
// make room, and pushes work again without a restart.
func TestDiskFullS3(t *testing.T) {
	env, mnt := dfSmallS3(t, 40<<20)
	s := StartServer(t, ServerOptions{Env: env})

	var pushed []dfImage
	var refused whResp
	for i := 0; i < 40; i++ { // 40 layers of 3 MiB cannot fit in 40 MiB
		img, r, ok := dfPushImage(t, s, i)
		if !ok {
			refused = r
			break
		}
		pushed = append(pushed, img)
	}
	if refused.Status == 0 {
		t.Fatalf("40 pushes of %d bytes fitted in 40 MiB", dfLayerSize)
	}
	t.Logf("%d images pushed, then: %s", len(pushed), refused)
	whExpectError(t, "push with the S3 server's disk full", refused, http.StatusInsufficientStorage, "DENIED")
	if !strings.Contains(string(refused.Body), "blob store is out of space") {
		t.Errorf("the refusal does not say why: %s%s", refused, whLogIf5xx(s, refused))
	}
	if len(pushed) < 2 {
		t.Fatalf("only %d images fitted before the refusal", len(pushed))
	}
	for _, img := range pushed {
		dfCheckImage(t, s, img)
	}
	if n := dfUploadBytes(t, filepath.Join(mnt, "data", "full")); n != 0 {
		t.Errorf("the refused upload left %d bytes in the bucket, to wait for the purge", n)
	}

	half := len(pushed) / 2
	for _, img := range pushed[:half] {
		r := dfDo(t, http.MethodDelete, s.URL+"/v2/"+img.repo+"/manifests/"+img.manifest, nil, nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("DELETE %s@%s: %s%s", img.repo, img.manifest, r, whLogIf5xx(s, r))
		}
	}
	out, errOut, code := runWharf(t, env, "garbage-collect", s.Config)
	if code != 0 {
		t.Fatalf("garbage-collect: exit %d\n%s%s", code, out, errOut)
	}
	img, r, ok := dfPushImage(t, s, 100)
	if !ok {
		t.Fatalf("push after garbage collection: %s%s", r, whLogIf5xx(s, r))
	}
	for _, p := range append(pushed[half:], img) {
		dfCheckImage(t, s, p)
	}
	out, errOut, code = runWharf(t, env, "scrub", s.Config)
	if code != 0 || !strings.Contains(out, "0 problems") {
		t.Errorf("scrub after the disk filled up: exit %d\n%s%s", code, out, errOut)
	}
}
