package e2e

// Shared helpers for the ggcr, seed, bad-input and crash tests. Every name
// here starts with "wh" so it cannot clash with helpers other files of this
// package define.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// whHTTP is the raw client: it never follows redirects, so a test sees the
// status the server actually chose, and every request is bounded in time.
var whHTTP = &http.Client{
	Timeout: 5 * time.Minute,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// whMaxBody bounds what whDo keeps of a response body; larger bodies are
// read streaming by the tests that expect them.
const whMaxBody = 16 << 20

// whResp is a response with its body read.
type whResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r whResp) String() string {
	b := r.Body
	if len(b) > 512 {
		b = b[:512]
	}
	return fmt.Sprintf("%d %q", r.Status, b)
}

// whDo sends one request with an in-memory body (nil: no body) and returns
// the response with its body. hdr holds request headers.
func whDo(t testing.TB, method, u string, hdr map[string]string, body []byte) whResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx(t), method, u, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, u, err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.ContentLength = int64(len(body))
	}
	resp, err := whHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, whMaxBody))
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return whResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// whOCIErrors is the OCI error body: {"errors":[{"code","message","detail"}]}.
type whOCIErrors struct {
	Errors []struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	} `json:"errors"`
}

// whErrorCodes decodes an OCI error body and returns its codes; it fails the
// test if the body is not one (every client-visible error must be).
func whErrorCodes(t testing.TB, r whResp) []string {
	t.Helper()
	var e whOCIErrors
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Errorf("error body is not OCI JSON (%v): %s", err, r)
		return nil
	}
	if len(e.Errors) == 0 {
		t.Errorf("error body has no errors: %s", r)
	}
	var codes []string
	for _, x := range e.Errors {
		codes = append(codes, x.Code)
	}
	return codes
}

// whExpectError checks status and that the OCI error body carries one of
// the allowed codes.
func whExpectError(t testing.TB, what string, r whResp, status int, codes ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d; body %s", what, r.Status, status, r)
		return
	}
	if len(codes) == 0 {
		return
	}
	got := whErrorCodes(t, r)
	for _, g := range got {
		for _, c := range codes {
			if g == c {
				return
			}
		}
	}
	t.Errorf("%s: error codes %v, want one of %v; body %s", what, got, codes, r)
}

// whDigest is the sha256 digest string of b.
func whDigest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// whHashReader counts and hashes what is read through it.
type whHashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func whNewHashReader(r io.Reader) *whHashReader {
	return &whHashReader{r: r, h: sha256.New()}
}

func (h *whHashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// Digest is the sha256 digest string of what was read so far.
func (h *whHashReader) Digest() string {
	return "sha256:" + hex.EncodeToString(h.h.Sum(nil))
}

// whStreamDigest reads r to the end and returns its sha256 digest and size,
// never holding more than a buffer of it.
func whStreamDigest(r io.Reader) (string, int64, error) {
	h := whNewHashReader(r)
	if _, err := io.Copy(io.Discard, h); err != nil {
		return "", h.n, err
	}
	return h.Digest(), h.n, nil
}

// whRandReader is an endless deterministic stream of pseudo-random bytes.
func whRandReader(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:8], seed)
	return rand.NewChaCha8(s)
}

// whRandBytes returns n deterministic pseudo-random bytes.
func whRandBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(whRandReader(seed), b); err != nil {
		panic(err)
	}
	return b
}

// whResolve turns a Location header (absolute or relative) into a URL.
func whResolve(t testing.TB, s *Server, loc string) string {
	t.Helper()
	if loc == "" {
		t.Fatalf("empty Location header")
	}
	base, _ := url.Parse(s.URL + "/")
	u, err := base.Parse(loc)
	if err != nil {
		t.Fatalf("bad Location %q: %v", loc, err)
	}
	return u.String()
}

// whWithQuery appends a query parameter to a URL that may already have some
// (upload locations may carry state in their query).
func whWithQuery(u, key, val string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + url.QueryEscape(key) + "=" + url.QueryEscape(val)
}

// whStartUpload opens an upload session in repo and returns its absolute URL.
func whStartUpload(t testing.TB, s *Server, repo string) string {
	t.Helper()
	r := whDo(t, http.MethodPost, s.URL+"/v2/"+repo+"/blobs/uploads/", map[string]string{"Content-Length": "0"}, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST upload in %s: got %s, want 202", repo, r)
	}
	return whResolve(t, s, r.Header.Get("Location"))
}

// whUploadBlob pushes data to repo with POST then a monolithic PUT and
// returns its digest.
func whUploadBlob(t testing.TB, s *Server, repo string, data []byte) string {
	t.Helper()
	dg := whDigest(data)
	loc := whStartUpload(t, s, repo)
	r := whDo(t, http.MethodPut, whWithQuery(loc, "digest", dg),
		map[string]string{"Content-Type": "application/octet-stream"}, data)
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT blob %s in %s: got %s, want 201", dg, repo, r)
	}
	return dg
}

// whPutManifest PUTs a manifest under reference ref (tag or digest).
func whPutManifest(t testing.TB, s *Server, repo, ref, mediaType string, body []byte) whResp {
	t.Helper()
	return whDo(t, http.MethodPut, s.URL+"/v2/"+repo+"/manifests/"+ref,
		map[string]string{"Content-Type": mediaType}, body)
}

// whLinkNext extracts the target of a `Link: <url>; rel="next"` header.
var whLinkNext = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="?next"?`)

// whRef parses repo:tag or repo@digest on the server, over plain HTTP.
func whRef(t testing.TB, s *Server, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s.Host()+"/"+ref, name.Insecure, name.StrictValidation)
	if err != nil {
		t.Fatalf("parse reference %q: %v", ref, err)
	}
	return r
}

// whRepo parses a repository name on the server.
func whRepo(t testing.TB, s *Server, repo string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s.Host()+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatalf("parse repository %q: %v", repo, err)
	}
	return r
}

// whRemote is the ggcr option set: bounded by the test's context and with
// retries off, so a server error surfaces instead of being retried away.
func whRemote(t testing.TB, extra ...remote.Option) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx(t)),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1}),
		remote.WithRetryStatusCodes(),
	}
	return append(opts, extra...)
}

// whRandomImage is a random image with the given layers of size bytes each.
func whRandomImage(t testing.TB, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatalf("random image: %v", err)
	}
	return img
}

// whPush writes img to ref with ggcr and returns its digest.
func whPush(t testing.TB, s *Server, ref string, img v1.Image) v1.Hash {
	t.Helper()
	if err := remote.Write(whRef(t, s, ref), img, whRemote(t)...); err != nil {
		t.Fatalf("push %s: %v\nserver log:\n%s", ref, err, s.Log.String())
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	return d
}

// whVerifyImage pulls ref with ggcr and checks that it is want, byte for
// byte: manifest digest and bytes, config bytes, and every layer, whose
// compressed bytes are read and hashed here (not trusting the client's own
// verification).
func whVerifyImage(t testing.TB, s *Server, ref string, want v1.Image) {
	t.Helper()
	if err := whCheckImage(t, s, ref, want); err != nil {
		t.Errorf("%s: %v", ref, err)
	}
}

// whCheckImage is whVerifyImage returning the first difference as an error.
func whCheckImage(t testing.TB, s *Server, ref string, want v1.Image) error {
	t.Helper()
	got, err := remote.Image(whRef(t, s, ref), whRemote(t)...)
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	wd, _ := want.Digest()
	gd, err := got.Digest()
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if gd != wd {
		return fmt.Errorf("manifest digest %s, want %s", gd, wd)
	}
	wm, _ := want.RawManifest()
	gm, err := got.RawManifest()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if !bytes.Equal(gm, wm) {
		return fmt.Errorf("manifest bytes differ:\n got %s\nwant %s", gm, wm)
	}
	wc, _ := want.RawConfigFile()
	gc, err := got.RawConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if !bytes.Equal(gc, wc) {
		return fmt.Errorf("config bytes differ")
	}
	m, err := got.Manifest()
	if err != nil {
		return fmt.Errorf("parse manifest: %w", err)
	}
	repo := whRepoOf(ref)
	for i, l := range m.Layers {
		if err := whCheckBlob(t, s, repo, l.Digest.String(), l.Size); err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return nil
}

// whCheckBlob GETs a blob over raw HTTP and checks its digest, size and the
// Docker-Content-Digest header, hashing the body as it streams.
func whCheckBlob(t testing.TB, s *Server, repo, dg string, size int64) error {
	t.Helper()
	// HEAD first: existence, size and digest without the body.
	hreq, err := http.NewRequestWithContext(ctx(t), http.MethodHead, s.URL+"/v2/"+repo+"/blobs/"+dg, nil)
	if err != nil {
		return err
	}
	hresp, err := whHTTP.Do(hreq)
	if err != nil {
		return err
	}
	hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK || hresp.Header.Get("Docker-Content-Digest") != dg ||
		(size >= 0 && hresp.ContentLength != size) {
		return fmt.Errorf("HEAD blob %s: status %d, Docker-Content-Digest %q, Content-Length %d (want 200, %d)",
			dg, hresp.StatusCode, hresp.Header.Get("Docker-Content-Digest"), hresp.ContentLength, size)
	}
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, s.URL+"/v2/"+repo+"/blobs/"+dg, nil)
	if err != nil {
		return err
	}
	resp, err := whHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET blob %s: status %d: %s", dg, resp.StatusCode, b)
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != dg {
		return fmt.Errorf("GET blob %s: Docker-Content-Digest %q", dg, h)
	}
	got, n, err := whStreamDigest(resp.Body)
	if err != nil {
		return fmt.Errorf("GET blob %s: reading: %w", dg, err)
	}
	if got != dg || (size >= 0 && n != size) {
		return fmt.Errorf("GET blob %s: body hashes to %s, %d bytes (want %d)", dg, got, n, size)
	}
	return nil
}

// whRepoOf is the repository part of "repo:tag" or "repo@digest".
func whRepoOf(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// whLogIf5xx is the tail of the server's log when r is a server error, for
// failure messages: a 5xx's cause is only in the log.
func whLogIf5xx(s *Server, r whResp) string {
	if r.Status < 500 {
		return ""
	}
	l := s.Log.String()
	if len(l) > 4000 {
		l = l[len(l)-4000:]
	}
	return "\nserver log (tail):\n" + l
}
