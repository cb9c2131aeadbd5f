package blob_test

import (
	"bytes"
	crand "crypto/rand"
	_ "crypto/sha512" // registers sha512 for digest.SHA512
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/blob/blobtest"
	"github.com/wharf-registry/wharf/internal/testenv"
)

const mib = 1 << 20

// s3Env is the S3 server of scripts/services/s3.sh.
type s3Env struct{ testenv.S3Server }

var (
	s3BucketOnce sync.Once
	s3Bucket     string
	s3BucketErr  error
	s3PrefixSeq  atomic.Int64
)

// s3TestEnv skips the test unless an S3 server was started for it.
func s3TestEnv(t *testing.T) s3Env {
	t.Helper()
	return s3Env{testenv.S3(t, "S3 tests need an S3 server: run them with `make test` or scripts/test-services.sh go test ./internal/blob/")}
}

// bucket creates, once per test binary, a bucket with a fresh name.
func (e s3Env) bucket(t *testing.T) string {
	t.Helper()
	s3BucketOnce.Do(func() {
		host, secure := e.Host()
		c, err := minio.New(host, &minio.Options{
			Creds:  credentials.NewStaticV4(e.AccessKey, e.SecretKey, ""),
			Secure: secure,
			Region: e.Region,
		})
		if err != nil {
			s3BucketErr = err
			return
		}
		var b [6]byte
		crand.Read(b[:])
		s3Bucket = "wharf-test-" + hex.EncodeToString(b[:])
		s3BucketErr = c.MakeBucket(t.Context(), s3Bucket, minio.MakeBucketOptions{Region: e.Region})
	})
	if s3BucketErr != nil {
		t.Fatalf("create test bucket: %v", s3BucketErr)
	}
	return s3Bucket
}

// options returns store options for the test bucket under root.
func (e s3Env) options(t *testing.T, root string) blob.S3Options {
	host, secure := e.Host()
	return blob.S3Options{
		Endpoint:      host,
		Secure:        secure,
		Region:        e.Region,
		Bucket:        e.bucket(t),
		RootDirectory: root,
		AccessKey:     e.AccessKey,
		SecretKey:     e.SecretKey,
		PathStyle:     true,
		PartSize:      blob.S3MinPartSize,
	}
}

// freshRoot is a root prefix no other test uses.
func freshRoot(t *testing.T) string {
	name := strings.ReplaceAll(t.Name(), "/", "-")
	return fmt.Sprintf("%s-%d-%d", name[:min(len(name), 40)], time.Now().UnixNano(), s3PrefixSeq.Add(1))
}

// newS3 opens a store on the test bucket under root.
func newS3(t *testing.T, e s3Env, root string) *blob.S3 {
	t.Helper()
	s, err := blob.NewS3(t.Context(), e.options(t, root))
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	return s
}

// newS3Tracked opens a store under a fresh root prefix.
func newS3Tracked(t *testing.T) (*blobtest.Tracker, s3Env, string) {
	t.Helper()
	e := s3TestEnv(t)
	root := freshRoot(t)
	return blobtest.Track(newS3(t, e, root)), e, root
}

func TestS3Conformance(t *testing.T) {
	e := s3TestEnv(t)
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return newS3(t, e, freshRoot(t))
	})
}

func TestS3BadOptions(t *testing.T) {
	e := s3TestEnv(t)
	opts := e.options(t, "x")
	opts.Bucket = "wharf-no-such-bucket"
	if _, err := blob.NewS3(t.Context(), opts); err == nil {
		t.Errorf("NewS3 with a bucket that does not exist succeeded")
	}
	opts = e.options(t, "x")
	opts.PartSize = 1 * mib
	if _, err := blob.NewS3(t.Context(), opts); err == nil {
		t.Errorf("NewS3 with a 1 MiB part size succeeded")
	}
}

// s3Content returns n deterministic pseudo-random bytes.
func s3Content(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// s3Upload drives one upload the way the registry does: the state returned
// by each write is kept and handed to the next call, on whichever store
// ("node") that call uses.
type s3Upload struct {
	id  string
	st  blob.UploadState
	off int64
}

func (u *s3Upload) write(t *testing.T, s blob.Store, data []byte) {
	t.Helper()
	n, st, err := s.WriteUpload(t.Context(), u.id, u.st, u.off, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("WriteUpload(%q, %d, %d bytes) = %d, %v", u.id, u.off, len(data), n, err)
	}
	u.st, u.off = st, u.off+n
}

// writeChunks writes data in chunks of the given sizes, the last size
// repeated until data is used up.
func (u *s3Upload) writeChunks(t *testing.T, s blob.Store, data []byte, sizes ...int) {
	t.Helper()
	for i := 0; u.off < int64(len(data)); i++ {
		n := min(int64(sizes[min(i, len(sizes)-1)]), int64(len(data))-u.off)
		u.write(t, s, data[u.off:u.off+n])
	}
}

func (u *s3Upload) checkParts(t *testing.T, wantParts int, wantTail int64) {
	t.Helper()
	parts, tail, err := blob.S3UploadParts(u.st)
	if err != nil {
		t.Fatal(err)
	}
	if parts != wantParts || tail != wantTail {
		t.Errorf("upload %q holds %d parts and a %d-byte tail, want %d and %d", u.id, parts, tail, wantParts, wantTail)
	}
}

func (u *s3Upload) commit(t *testing.T, s blob.Store, d digest.Digest) {
	t.Helper()
	if err := s.CommitUpload(t.Context(), u.id, u.st, u.off, d); err != nil {
		t.Fatalf("CommitUpload(%q, %d, %s): %v", u.id, u.off, d, err)
	}
}

// s3Leftovers lists the objects under root's uploads/ and the incomplete
// multipart uploads under root, straight from the server.
func s3Leftovers(t *testing.T, e s3Env, root string) []string {
	t.Helper()
	host, secure := e.Host()
	c, err := minio.NewCore(host, &minio.Options{
		Creds:  credentials.NewStaticV4(e.AccessKey, e.SecretKey, ""),
		Secure: secure,
		Region: e.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for obj := range c.Client.ListObjects(t.Context(), e.bucket(t), minio.ListObjectsOptions{Prefix: root + "/uploads/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list: %v", obj.Err)
		}
		out = append(out, obj.Key)
	}
	res, err := c.ListMultipartUploads(t.Context(), e.bucket(t), root+"/", "", "", "", 1000)
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	for _, u := range res.Uploads {
		out = append(out, "multipart:"+u.Key)
	}
	return out
}

func TestS3SmallChunks(t *testing.T) {
	e := s3TestEnv(t)
	root := freshRoot(t)
	s := newS3(t, e, root)
	data := s3Content(12*mib, 1)
	u := &s3Upload{id: "small-chunks"}
	u.writeChunks(t, s, data, 1*mib)
	u.checkParts(t, 2, 2*mib)
	d := digest.FromBytes(data)
	u.commit(t, s, d)
	blobtest.CheckBlob(t, s, d, data)
	if left := s3Leftovers(t, e, root); len(left) != 0 {
		t.Errorf("after commit, upload objects remain: %v", left)
	}
}

func TestS3ChunkSizes(t *testing.T) {
	e := s3TestEnv(t)
	root := freshRoot(t)
	s := newS3(t, e, root)
	for _, tc := range []struct {
		name      string
		size      int
		chunks    []int
		parts     int
		tail      int64
		wantMulti bool
	}{
		{"exactly one part", 5 * mib, []int{5 * mib}, 1, 0, true},
		{"one part and a byte", 5*mib + 1, []int{5*mib + 1}, 1, 1, true},
		{"one byte short of a part", 5*mib - 1, []int{5*mib - 1}, 0, 5*mib - 1, false},
		{"part-sized chunks after an odd one", 15*mib + 3, []int{3, 5 * mib}, 3, 3, true},
		{"chunks larger than a part", 23 * mib, []int{7 * mib}, 4, 3 * mib, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := s3Content(tc.size, uint64(tc.size))
			u := &s3Upload{id: fmt.Sprintf("sizes-%d", tc.size)}
			u.writeChunks(t, s, data, tc.chunks...)
			u.checkParts(t, tc.parts, tc.tail)
			d := digest.FromBytes(data)
			u.commit(t, s, d)
			blobtest.CheckBlob(t, s, d, data)
		})
	}
	if left := s3Leftovers(t, e, root); len(left) != 0 {
		t.Errorf("after commits, upload objects remain: %v", left)
	}
}

// TestS3AnotherNode continues an upload on other stores (other clients,
// as on other wharf nodes) with nothing but the state.
func TestS3AnotherNode(t *testing.T) {
	e := s3TestEnv(t)
	root := freshRoot(t)
	a, b, c := newS3(t, e, root), newS3(t, e, root), newS3(t, e, root)
	data := s3Content(17*mib+5, 2)
	u := &s3Upload{id: "nodes"}
	u.write(t, a, data[:7*mib])
	u.write(t, b, data[7*mib:8*mib])
	u.write(t, c, data[8*mib:16*mib])
	u.write(t, a, data[16*mib:])
	if size, err := b.UploadSize(t.Context(), u.id, u.st); err != nil || size != int64(len(data)) {
		t.Errorf("UploadSize on another node = %d, %v; want %d", size, err, len(data))
	}
	d := digest.FromBytes(data)
	u.commit(t, c, d)
	blobtest.CheckBlob(t, a, d, data)
}

// TestS3LostWrite: a write whose state the caller never recorded (a crash,
// a failed metadata update) is redone from the previous state with other
// bytes; only the recorded writes count.
func TestS3LostWrite(t *testing.T) {
	e := s3TestEnv(t)
	s := newS3(t, e, freshRoot(t))
	first := s3Content(6*mib, 3)
	lost := s3Content(6*mib, 4)
	redo := s3Content(6*mib+7, 5)
	u := &s3Upload{id: "lost"}
	u.write(t, s, first)
	if _, _, err := s.WriteUpload(t.Context(), u.id, u.st, u.off, bytes.NewReader(lost)); err != nil {
		t.Fatalf("lost WriteUpload: %v", err)
	}
	u.write(t, s, redo)
	want := append(slices.Clip(first), redo...)
	d := digest.FromBytes(want)
	u.commit(t, s, d)
	blobtest.CheckBlob(t, s, d, want)
}

// failAfter yields data, then fails.
type failAfter struct {
	data []byte
	err  error
}

func (r *failAfter) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data[:min(len(r.data), 64*1024)])
	r.data = r.data[n:]
	return n, nil
}

func TestS3ReaderFailsMidPart(t *testing.T) {
	e := s3TestEnv(t)
	s := newS3(t, e, freshRoot(t))
	data := s3Content(14*mib, 6)
	u := &s3Upload{id: "midpart"}
	u.write(t, s, data[:1*mib])
	broken := errors.New("client went away")
	n, st, err := s.WriteUpload(t.Context(), u.id, u.st, u.off, &failAfter{data: data[1*mib : 8*mib], err: broken})
	if !errors.Is(err, broken) || n != 7*mib {
		t.Fatalf("WriteUpload with a reader failing after 7 MiB = %d, %v; want %d, %v", n, err, 7*mib, broken)
	}
	u.st, u.off = st, u.off+n
	u.checkParts(t, 1, 3*mib)
	u.write(t, s, data[8*mib:])
	d := digest.FromBytes(data)
	u.commit(t, s, d)
	blobtest.CheckBlob(t, s, d, data)
}

func TestS3Redirect(t *testing.T) {
	e := s3TestEnv(t)
	s := newS3(t, e, freshRoot(t))
	data := s3Content(6*mib+11, 7)
	u := &s3Upload{id: "redirect"}
	u.write(t, s, data)
	d := digest.FromBytes(data)
	u.commit(t, s, d)

	url, err := s.RedirectURL(t.Context(), d)
	if err != nil {
		t.Fatalf("RedirectURL: %v", err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET presigned URL: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GET presigned URL: status %d, %d bytes, %v; want 200 and the blob", resp.StatusCode, len(got), err)
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	req.Header.Set("Range", "bytes=5242870-5242889")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("ranged GET presigned URL: %v", err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || err != nil || !bytes.Equal(got, data[5242870:5242890]) {
		t.Errorf("ranged GET presigned URL: status %d, %q, %v; want 206 and bytes [5242870, 5242890)", resp.StatusCode, got, err)
	}
}

func TestS3OpenSeek(t *testing.T) {
	e := s3TestEnv(t)
	s := newS3(t, e, freshRoot(t))
	data := s3Content(11*mib+1, 8)
	u := &s3Upload{id: "seek"}
	u.writeChunks(t, s, data, 4*mib)
	d := digest.FromBytes(data)
	u.commit(t, s, d)

	c, size, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if size != int64(len(data)) {
		t.Fatalf("Open size = %d, want %d", size, len(data))
	}
	for _, off := range []int64{9 * mib, 17, int64(len(data)) - 3, 5*mib - 2, 0} {
		if pos, err := c.Seek(off, io.SeekStart); err != nil || pos != off {
			t.Fatalf("Seek(%d) = %d, %v", off, pos, err)
		}
		want := data[off:min(off+4096, int64(len(data)))]
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
			t.Errorf("read %d bytes at %d: %v, equal %t", len(want), off, err, bytes.Equal(got, want))
		}
	}

	// http.ServeContent over the content answers Range requests, as the API
	// does when redirects are disabled.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := s.Open(r.Context(), d)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer c.Close()
		http.ServeContent(w, r, "", time.Time{}, c)
	}))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	req.Header.Set("Range", "bytes=6291456-6292479")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("ranged GET: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || err != nil || !bytes.Equal(got, data[6291456:6292480]) {
		t.Errorf("ranged GET through ServeContent: status %d, %d bytes, %v; want 206 and 1024 bytes", resp.StatusCode, len(got), err)
	}
}

// TestS3SHA512 hashes a multi-part upload through OpenUpload, as the
// registry does for digests other than sha256, then commits it with the
// same state.
func TestS3SHA512(t *testing.T) {
	e := s3TestEnv(t)
	root := freshRoot(t)
	s := newS3(t, e, root)
	data := s3Content(13*mib+77, 9)
	u := &s3Upload{id: "sha512"}
	u.writeChunks(t, s, data, 6*mib)
	for range 2 { // reading twice works too (a retried PUT)
		rc, err := s.OpenUpload(t.Context(), u.id, u.st, u.off)
		if err != nil {
			t.Fatalf("OpenUpload: %v", err)
		}
		got, err := digest.SHA512.FromReader(rc)
		rc.Close()
		if err != nil || got != digest.SHA512.FromBytes(data) {
			t.Fatalf("sha512 of OpenUpload = %s, %v; want %s", got, err, digest.SHA512.FromBytes(data))
		}
	}
	d := digest.SHA512.FromBytes(data)
	u.commit(t, s, d)
	blobtest.CheckBlob(t, s, d, data)
	if left := s3Leftovers(t, e, root); len(left) != 0 {
		t.Errorf("after commit, upload objects remain: %v", left)
	}

	// An opened upload can also be cancelled.
	v := &s3Upload{id: "sha512-cancel"}
	v.writeChunks(t, s, data[:7*mib], 7*mib)
	rc, err := s.OpenUpload(t.Context(), v.id, v.st, v.off)
	if err != nil {
		t.Fatalf("OpenUpload: %v", err)
	}
	rc.Close()
	if err := s.CancelUpload(t.Context(), v.id, v.st); err != nil {
		t.Fatalf("CancelUpload: %v", err)
	}
	if left := s3Leftovers(t, e, root); len(left) != 0 {
		t.Errorf("after cancel, upload objects remain: %v", left)
	}
}

func TestS3Walk(t *testing.T) {
	e := s3TestEnv(t)
	s := newS3(t, e, freshRoot(t))
	want := map[digest.Digest]int64{}
	for i, alg := range []digest.Algorithm{digest.SHA256, digest.SHA256, digest.SHA512} {
		data := s3Content(1000+i, uint64(100+i))
		u := &s3Upload{id: fmt.Sprintf("walk-%d", i)}
		u.write(t, s, data)
		d := alg.FromBytes(data)
		u.commit(t, s, d)
		want[d] = int64(len(data))
	}
	// An upload in progress is no blob.
	(&s3Upload{id: "walk-open"}).write(t, s, []byte("not a blob"))
	got := map[digest.Digest]int64{}
	err := s.Walk(t.Context(), func(d digest.Digest, size int64) error {
		got[d] = size
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if len(got) != len(want) {
		t.Errorf("Walk found %v, want %v", got, want)
	}
	for d, size := range want {
		if got[d] != size {
			t.Errorf("Walk: %s size %d, want %d", d, got[d], size)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.Walk(t.Context(), func(digest.Digest, int64) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk with fn failing = %v after %d calls; want the error after 1 call", err, calls)
	}
}

// TestS3CancelWithoutState finds an upload's multipart upload and objects
// by its id alone, as purging orphaned uploads does.
func TestS3CancelWithoutState(t *testing.T) {
	e := s3TestEnv(t)
	root := freshRoot(t)
	s := newS3(t, e, root)
	u := &s3Upload{id: "orphan"}
	u.writeChunks(t, s, s3Content(6*mib, 10), 6*mib)
	infos, err := s.ListUploads(t.Context())
	if err != nil || len(infos) != 1 || infos[0].ID != u.id {
		t.Fatalf("ListUploads = %v, %v; want just %q", infos, err, u.id)
	}
	if err := s.CancelUpload(t.Context(), u.id, nil); err != nil {
		t.Fatalf("CancelUpload without state: %v", err)
	}
	if left := s3Leftovers(t, e, root); len(left) != 0 {
		t.Errorf("after cancel, upload objects remain: %v", left)
	}
	if infos, err := s.ListUploads(t.Context()); err != nil || len(infos) != 0 {
		t.Errorf("ListUploads after cancel = %v, %v; want none", infos, err)
	}
}

// TestS3Large pushes a blob of several parts in uneven chunks and commits
// it with a (parallel) multipart copy, as blobs over the copy threshold are.
func TestS3Large(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB through S3: not in -short")
	}
	e := s3TestEnv(t)
	root := freshRoot(t)
	s := newS3(t, e, root)
	blob.SetS3CopySizes(s, 20*mib, 6*mib)
	data := s3Content(64*mib+3, 11)
	u := &s3Upload{id: "large"}
	u.writeChunks(t, s, data, 3*mib, 13*mib, 1*mib, 20*mib)
	d := digest.FromBytes(data)
	u.commit(t, s, d)
	blobtest.CheckBlob(t, s, d, data)
	if left := s3Leftovers(t, e, root); len(left) != 0 {
		t.Errorf("after commit, upload objects remain: %v", left)
	}
}

// failingParts answers uploads of part numbers from failFrom on with 403
// AccessDenied (not retried) while armed.
type failingParts struct {
	armed    atomic.Bool
	failFrom int
}

func (f *failingParts) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.armed.Load() && req.Method == http.MethodPut {
		if n, err := strconv.Atoi(req.URL.Query().Get("partNumber")); err == nil && n >= f.failFrom {
			if req.Body != nil {
				req.Body.Close()
			}
			body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>injected</Message></Error>`
			return &http.Response{
				StatusCode: http.StatusForbidden, Status: "403 Forbidden", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Content-Type": {"application/xml"}}, ContentLength: int64(len(body)),
				Body: io.NopCloser(strings.NewReader(body)), Request: req,
			}, nil
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestS3PartFails: when S3 refuses a part midway through a write, the parts
// stored before it are reported with a state that holds exactly them, and
// the upload goes on from there.
func TestS3PartFails(t *testing.T) {
	e := s3TestEnv(t)
	root := freshRoot(t)
	ft := &failingParts{failFrom: 3}
	opts := e.options(t, root)
	opts.Transport = ft
	s, err := blob.NewS3(t.Context(), opts)
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	data := s3Content(23*mib, 12)
	u := &s3Upload{id: "part-fails"}
	u.write(t, s, data[:1*mib])
	ft.armed.Store(true)
	n, st, err := s.WriteUpload(t.Context(), u.id, u.st, u.off, bytes.NewReader(data[1*mib:]))
	if err == nil || n != 9*mib {
		t.Fatalf("WriteUpload with part 3 refused = %d, %v; want %d (parts 1 and 2 less the first MiB) and an error", n, err, 9*mib)
	}
	u.st, u.off = st, u.off+n
	u.checkParts(t, 2, 0)
	ft.armed.Store(false)
	u.writeChunks(t, s, data, 4*mib)
	d := digest.FromBytes(data)
	u.commit(t, s, d)
	blobtest.CheckBlob(t, s, d, data)
}

// BenchmarkS3 measures push and pull throughput against the test S3
// server with distribution's default chunk size, for comparison with the
// Azure and GCS stores.
func BenchmarkS3(b *testing.B) {
	e := s3Env{testenv.S3(b, "S3 benchmarks need an S3 server: run them with scripts/test-services.sh")}
	host, secure := e.Host()
	c, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(e.AccessKey, e.SecretKey, ""), Secure: secure, Region: e.Region})
	if err != nil {
		b.Fatal(err)
	}
	bucket := fmt.Sprintf("wharf-bench-%d", time.Now().UnixNano())
	if err := c.MakeBucket(b.Context(), bucket, minio.MakeBucketOptions{Region: e.Region}); err != nil {
		b.Fatal(err)
	}
	s, err := blob.NewS3(b.Context(), blob.S3Options{Endpoint: host, Secure: secure, Region: e.Region, Bucket: bucket,
		AccessKey: e.AccessKey, SecretKey: e.SecretKey, PathStyle: true, RootDirectory: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	blobtest.Bench(b, s, 64<<20, 16<<20)
}
