package gcs_test

import (
	"bytes"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/blob/blobtest"
	"github.com/wharf-registry/wharf/internal/blob/gcs"
	"github.com/wharf-registry/wharf/internal/testenv"
)

var rootSeq atomic.Int64

// gcsEnv is fake-gcs-server with one fresh bucket for the calling test.
type gcsEnv struct {
	testenv.GCSServer
	Bucket  string
	KeyFile string
}

// newEnv points the client library at the emulator, creates a bucket and
// writes a service account key file (fake-gcs-server checks no signature,
// but wharf signs its URLs with the key as it would on GCS).
func newEnv(t *testing.T) gcsEnv {
	t.Helper()
	e := gcsEnv{GCSServer: testenv.GCS(t, testenv.GCSHow)}
	t.Setenv("STORAGE_EMULATOR_HOST", e.Endpoint)
	var b [6]byte
	crand.Read(b[:])
	e.Bucket = "wharf-test-" + hex.EncodeToString(b[:])
	e.createBucket(t)
	e.KeyFile = writeKeyFile(t)
	return e
}

// client is a JSON API client of the emulator, for what the store does
// not do (create buckets, write objects where registry:2 would).
func (e gcsEnv) client(t testing.TB) *storage.Service {
	t.Helper()
	c, err := storage.NewService(t.Context(), option.WithEndpoint(e.Endpoint+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return c
}

func (e gcsEnv) createBucket(t testing.TB) {
	t.Helper()
	if _, err := e.client(t).Buckets.Insert("wharf-test", &storage.Bucket{Name: e.Bucket}).Context(t.Context()).Do(); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
}

// writeKeyFile writes a service account key file with a fresh RSA key.
func writeKeyFile(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(map[string]string{
		"type":         "service_account",
		"project_id":   "wharf-test",
		"client_email": "wharf@wharf-test.iam.gserviceaccount.com",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	})
	path := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(path, j, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (e gcsEnv) options(root string) gcs.Options {
	return gcs.Options{Bucket: e.Bucket, KeyFile: e.KeyFile, RootDirectory: root, ChunkSize: 1 << 20}
}

func open(t *testing.T, opts gcs.Options) *gcs.Store {
	t.Helper()
	s, err := gcs.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("gcs.New: %v", err)
	}
	return s
}

func freshRoot() string { return fmt.Sprintf("/root-%d-%d/", time.Now().UnixNano(), rootSeq.Add(1)) }

func TestGCSConformance(t *testing.T) {
	e := newEnv(t)
	blobtest.Run(t, func(t *testing.T) blob.Store { return open(t, e.options(freshRoot())) })
}

func TestGCSBadOptions(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		change func(o *gcs.Options)
	}{
		{"missing bucket", func(o *gcs.Options) { o.Bucket = "wharf-no-such-bucket" }},
		{"no bucket", func(o *gcs.Options) { o.Bucket = "" }},
		{"chunk not 256 KiB", func(o *gcs.Options) { o.ChunkSize = 1000 }},
		{"missing key file", func(o *gcs.Options) { o.KeyFile = "/nonexistent/key.json" }},
		{"key not JSON", func(o *gcs.Options) { o.KeyFile, o.CredentialsJSON = "", []byte("not json") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := e.options("x")
			tc.change(&opts)
			if _, err := gcs.New(t.Context(), opts); err == nil {
				t.Errorf("New succeeded")
			}
		})
	}
}

// TestGCSUploadAcrossStores continues one upload from three stores (as
// three nodes would), each handed only the state the previous returned,
// cuts a part, and commits more than 32 parts (composed in two rounds).
func TestGCSUploadAcrossStores(t *testing.T) {
	e := newEnv(t)
	root := freshRoot()
	opts := e.options(root)
	opts.ChunkSize = 256 << 10
	stores := []*gcs.Store{open(t, opts), open(t, opts), open(t, opts)}
	data := make([]byte, 40<<18+777) // 41 parts
	crand.Read(data)
	ctx := t.Context()
	var state blob.UploadState
	var off int64
	for i, chunk := range [][]byte{data[:3<<20+5], data[3<<20+5 : 7<<20+100], data[7<<20+100:]} {
		n, st, err := stores[i].WriteUpload(ctx, "across", state, off, bytes.NewReader(chunk))
		if err != nil || n != int64(len(chunk)) {
			t.Fatalf("write %d on store %d: n=%d err=%v", len(chunk), i, n, err)
		}
		state, off = st, off+n
	}
	off -= 1000
	n, state, err := stores[0].WriteUpload(ctx, "across", state, off, bytes.NewReader(data[off:]))
	if err != nil || n != 1000 {
		t.Fatalf("rewrite tail: n=%d err=%v", n, err)
	}
	d := digest.FromBytes(data)
	if err := stores[1].CommitUpload(ctx, "across", state, int64(len(data)), d); err != nil {
		t.Fatalf("commit: %v", err)
	}
	blobtest.CheckBlob(t, stores[2], d, data)
	if ups, err := stores[2].ListUploads(ctx); err != nil || len(ups) != 0 {
		t.Errorf("ListUploads after commit = %v, %v; want none", ups, err)
	}
}

// TestGCSRedirect fetches a blob through its signed URL.
func TestGCSRedirect(t *testing.T) {
	e := newEnv(t)
	s := blobtest.Track(open(t, e.options(freshRoot())))
	data := []byte("served by a signed URL")
	if _, err := s.WriteUpload(t.Context(), "signed", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(data)
	if err := s.CommitUpload(t.Context(), "signed", int64(len(data)), d); err != nil {
		t.Fatal(err)
	}
	u, err := s.Store.(blob.Redirector).RedirectURL(t.Context(), d)
	if err != nil {
		t.Fatalf("RedirectURL: %v", err)
	}
	if !strings.HasPrefix(u, e.Endpoint+"/"+e.Bucket+"/") || !strings.Contains(u, "X-Goog-Signature=") ||
		!strings.Contains(u, "X-Goog-Credential=wharf%40wharf-test.iam.gserviceaccount.com") {
		t.Fatalf("RedirectURL = %q, want a V4 signed URL under %s/%s signed by the key file's account", u, e.Endpoint, e.Bucket)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Errorf("GET signed URL: %d %q, want 200 %q", resp.StatusCode, body, data)
	}
	if _, err := s.Store.(blob.Redirector).RedirectURL(t.Context(), digest.FromString("none")); err != blob.ErrNotFound {
		t.Errorf("RedirectURL of a missing blob: %v, want ErrNotFound", err)
	}
}

// BenchmarkGCS measures push and pull throughput against fake-gcs-server
// with distribution's default chunk size.
func BenchmarkGCS(b *testing.B) {
	e := gcsEnv{GCSServer: testenv.GCS(b, testenv.GCSHow)}
	b.Setenv("STORAGE_EMULATOR_HOST", e.Endpoint)
	e.Bucket = fmt.Sprintf("wharf-bench-%d", time.Now().UnixNano())
	e.createBucket(b)
	opts := e.options(freshRoot())
	opts.KeyFile, opts.ChunkSize = "", 0
	s, err := gcs.New(b.Context(), opts)
	if err != nil {
		b.Fatal(err)
	}
	blobtest.Bench(b, s, 64<<20, 16<<20)
}

// TestGCSRegistry2Layout: a blob distribution's GCS driver left under the
// root (docker/registry/v2/blobs/.../data) is served, walked and deleted
// in place, and the tree is readable for the importer.
func TestGCSRegistry2Layout(t *testing.T) {
	e := newEnv(t)
	root := freshRoot()
	data := []byte("a layer registry:2 wrote")
	d := digest.FromBytes(data)
	legacy := strings.Trim(root, "/") + "/docker/registry/v2/blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data"
	link := strings.Trim(root, "/") + "/docker/registry/v2/repositories/app/_layers/sha256/" + d.Encoded() + "/link"
	c := e.client(t)
	for key, body := range map[string][]byte{legacy: data, link: []byte(d)} {
		if _, err := c.Objects.Insert(e.Bucket, &storage.Object{Name: key}).Media(bytes.NewReader(body)).Context(t.Context()).Do(); err != nil {
			t.Fatalf("write %s: %v", key, err)
		}
	}
	s := open(t, e.options(root))
	blobtest.CheckBlob(t, s, d, data)
	var walked []digest.Digest
	if err := s.Walk(t.Context(), func(got digest.Digest, _ int64) error { walked = append(walked, got); return nil }); err != nil || len(walked) != 1 || walked[0] != d {
		t.Errorf("Walk = %v, %v; want [%s]", walked, err, d)
	}
	names, err := s.List(t.Context(), blob.LegacyDir+"/repositories/app")
	if err != nil || len(names) != 1 || names[0] != "_layers" {
		t.Errorf("List = %v, %v; want [_layers]", names, err)
	}
	files, err := s.Files(t.Context(), blob.LegacyDir+"/repositories")
	if err != nil || len(files) != 1 || files[0] != "app/_layers/sha256/"+d.Encoded()+"/link" {
		t.Errorf("Files = %v, %v", files, err)
	}
	if got, err := s.Read(t.Context(), blob.LegacyDir+"/repositories/app/_layers/sha256/"+d.Encoded()+"/link"); err != nil || string(got) != string(d) {
		t.Errorf("Read link = %q, %v", got, err)
	}
	if _, err := s.Read(t.Context(), "nothing/here"); err != blob.ErrNotFound {
		t.Errorf("Read of a missing file: %v, want ErrNotFound", err)
	}
	if err := s.Delete(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), d); err != blob.ErrNotFound {
		t.Errorf("Stat after Delete: %v, want ErrNotFound", err)
	}
}
