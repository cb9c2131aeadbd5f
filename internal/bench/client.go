package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// client speaks the registry API to one server: net/http for everything
// but the small reads the latency workloads repeat, which go through read.
type client struct {
	base *url.URL
	http *http.Client
	read *readClient
}

// newHTTPClient returns a client tuned for many concurrent loopback
// requests: enough idle connections for every worker, no compression, big
// socket buffers, no proxy.
func newHTTPClient() *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
	// A generous bound so a wedged server fails the run instead of hanging it.
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}
}

func newClient(base string, hc *http.Client) (*client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("parsing base URL %q: %w", base, err)
	}
	return &client{base: u, http: hc, read: newReadClient(u.Host)}, nil
}

// close drops the client's idle connections to a server going away.
func (c *client) close() {
	c.http.CloseIdleConnections()
	c.read.close()
}

// url resolves a path or a Location header against the server. A plain
// path, the common case, is joined without parsing twice.
func (c *client) url(ref string) (*url.URL, error) {
	if strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "//") && !strings.ContainsAny(ref, "?#%") {
		u := *c.base
		u.Path, u.RawPath, u.RawQuery, u.Fragment = ref, "", "", ""
		return &u, nil
	}
	u, err := url.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("parsing URL %q: %w", ref, err)
	}
	return c.base.ResolveReference(u), nil
}

// do sends a request and checks its status; the response body is drained
// and closed unless keep is set.
func (c *client) do(ctx context.Context, method, ref string, body io.Reader, hdr http.Header, want int, keep bool) (*http.Response, error) {
	u, err := c.url(ref)
	if err != nil {
		return nil, err
	}
	// The request is made on the bare base URL, which is quick to parse,
	// and then pointed at u: both name the same host.
	req, err := http.NewRequestWithContext(ctx, method, c.base.Scheme+"://"+c.base.Host, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	req.URL = u
	for k, v := range hdr {
		req.Header[k] = v
	}
	if _, ok := body.(*streamReader); ok {
		req.ContentLength = -1 // unknown: chunked transfer encoding
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: got %s, want %d: %s", method, u.Path, resp.Status, want, bytes.TrimSpace(msg))
	}
	if !keep {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, nil
}

// location returns the response's Location header, failing if it is empty.
func location(resp *http.Response, what string) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%s: no Location header", what)
	}
	return loc, nil
}

// withQuery adds key=value to the query of a URL reference.
func withQuery(ref, key, value string) (string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("parsing Location %q: %w", ref, err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// startUpload opens an upload session (POST) and returns its Location.
func (c *client) startUpload(ctx context.Context, repo string) (string, error) {
	resp, err := c.do(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil, http.StatusAccepted, false)
	if err != nil {
		return "", err
	}
	return location(resp, "POST upload")
}

// finishUpload closes an upload with PUT ?digest= and checks the digest the
// server reports.
func (c *client) finishUpload(ctx context.Context, loc, digest string) error {
	ref, err := withQuery(loc, "digest", digest)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPut, ref, nil, nil, http.StatusCreated, false)
	if err != nil {
		return err
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != digest {
		return fmt.Errorf("PUT upload: Docker-Content-Digest %s, want %s", got, digest)
	}
	return nil
}

var octetStream = http.Header{"Content-Type": {"application/octet-stream"}}

// pushStreamed uploads b the way docker does (POST, one PATCH whose body
// is streamed with chunked transfer encoding, PUT ?digest=), in 1 MiB
// chunks.
func (c *client) pushStreamed(ctx context.Context, repo string, b blob) error {
	return c.pushStream(ctx, repo, b, streamPiece)
}

// pushDockerChunks uploads b as pushStreamed does, but in the 32 KiB HTTP
// chunks docker's daemon sends (one per io.Copy buffer; seen under strace
// with Debian's docker 20.10).
func (c *client) pushDockerChunks(ctx context.Context, repo string, b blob) error {
	return c.pushStream(ctx, repo, b, dockerPiece)
}

// pushStream uploads b in one PATCH streamed in HTTP chunks of piece
// bytes, then PUT ?digest=.
func (c *client) pushStream(ctx context.Context, repo string, b blob, piece int) error {
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPatch, loc, &streamReader{p: b.data, piece: piece}, octetStream, http.StatusAccepted, false)
	if err != nil {
		return err
	}
	if loc, err = location(resp, "PATCH upload"); err != nil {
		return err
	}
	return c.finishUpload(ctx, loc, b.digest)
}

// pushChunked uploads b as POST, PATCHes of chunk bytes with Content-Range
// (following each new Location), PUT ?digest=.
func (c *client) pushChunked(ctx context.Context, repo string, b blob, chunk int) error {
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return err
	}
	for off := 0; off < len(b.data); off += chunk {
		end := min(off+chunk, len(b.data))
		hdr := http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {strconv.Itoa(off) + "-" + strconv.Itoa(end-1)},
		}
		resp, err := c.do(ctx, http.MethodPatch, loc, bytes.NewReader(b.data[off:end]), hdr, http.StatusAccepted, false)
		if err != nil {
			return fmt.Errorf("chunk at %d: %w", off, err)
		}
		if loc, err = location(resp, "PATCH chunk"); err != nil {
			return err
		}
	}
	return c.finishUpload(ctx, loc, b.digest)
}

// pushSmall uploads b the way a client pushing a small image does: HEAD
// (which must answer 404), POST, PATCH, PUT.
func (c *client) pushSmall(ctx context.Context, repo string, b blob) error {
	if _, err := c.do(ctx, http.MethodHead, "/v2/"+repo+"/blobs/"+b.digest, nil, nil, http.StatusNotFound, false); err != nil {
		return err
	}
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPatch, loc, bytes.NewReader(b.data), octetStream, http.StatusAccepted, false)
	if err != nil {
		return err
	}
	if loc, err = location(resp, "PATCH upload"); err != nil {
		return err
	}
	return c.finishUpload(ctx, loc, b.digest)
}

// mount links digest from repo from into repo (POST ?mount=&from=), which
// must answer 201.
func (c *client) mount(ctx context.Context, repo, from, digest string) error {
	q := url.Values{"mount": {digest}, "from": {from}}
	resp, err := c.do(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?"+q.Encode(), nil, nil, http.StatusCreated, false)
	if err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != digest {
		return fmt.Errorf("mount: Docker-Content-Digest %s, want %s", got, digest)
	}
	return nil
}

var manifestHeader = http.Header{"Content-Type": {mediaManifest}}

// putManifest stores im's manifest under ref (a tag) and checks the digest.
func (c *client) putManifest(ctx context.Context, repo, ref string, im *image) error {
	resp, err := c.do(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, bytes.NewReader(im.manifest.data), manifestHeader, http.StatusCreated, false)
	if err != nil {
		return err
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != im.manifest.digest {
		return fmt.Errorf("PUT manifest %s:%s: Docker-Content-Digest %q, want %s", repo, ref, got, im.manifest.digest)
	}
	return nil
}

var acceptManifest = http.Header{"Accept": {mediaManifest}}

// getManifest fetches repo:ref and checks the body hashes to want.
func (c *client) getManifest(ctx context.Context, repo, ref, want string) error {
	return c.read.getManifest(ctx, repo, ref, want)
}

// headBlob checks that repo serves b: HEAD answers 200 with its digest and
// size.
func (c *client) headBlob(ctx context.Context, repo string, b blob) error {
	return c.read.headBlob(ctx, repo, b)
}

// pullVerify downloads a blob, hashing it as it arrives, and checks size
// and digest.
func (c *client) pullVerify(ctx context.Context, repo string, b blob) error {
	resp, err := c.do(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+b.digest, nil, nil, http.StatusOK, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sum, n, err := hashPipelined(resp.Body)
	if err != nil {
		return fmt.Errorf("GET blob %s: reading body: %w", b.digest, err)
	}
	if n != int64(len(b.data)) {
		return fmt.Errorf("GET blob %s: %d bytes, want %d", b.digest, n, len(b.data))
	}
	if got := "sha256:" + hex.EncodeToString(sum); got != b.digest {
		return fmt.Errorf("GET blob: content hashes to %s, want %s", got, b.digest)
	}
	return nil
}

// hashPipelined reads r to its end and returns its sha256 and length,
// hashing one buffer in a second goroutine while the next is received.
// Done in one goroutine, receiving and hashing took a full core at about
// 1 GB/s, and every server measured the same: the client's speed.
func hashPipelined(r io.Reader) ([]byte, int64, error) {
	const bufSize, buffers = 1 << 20, 4
	free := make(chan []byte, buffers)
	for range buffers {
		free <- make([]byte, bufSize)
	}
	full := make(chan []byte, buffers)
	sum := make(chan []byte, 1)
	go func() {
		h := sha256.New()
		for p := range full {
			h.Write(p)
			free <- p[:cap(p)]
		}
		sum <- h.Sum(nil)
	}()
	var n int64
	var err error
	for err == nil {
		p := <-free
		var k int
		k, err = io.ReadFull(r, p)
		n += int64(k)
		if k > 0 {
			full <- p[:k]
		} else {
			free <- p
		}
	}
	close(full)
	s := <-sum
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return s, n, err
}

// streamPiece and dockerPiece are the HTTP chunk sizes of a streamed
// upload: the bench's push-large, and docker's.
const (
	streamPiece = 1 << 20
	dockerPiece = 32 << 10
)

// streamReader hands out p in writes of piece bytes and hides its length,
// so the request goes out with chunked transfer encoding, the way docker
// streams a layer it compresses on the fly.
type streamReader struct {
	p     []byte
	piece int
}

func (r *streamReader) Read(b []byte) (int, error) {
	if len(r.p) == 0 {
		return 0, io.EOF
	}
	n := copy(b, r.p)
	r.p = r.p[n:]
	return n, nil
}

// WriteTo writes the rest of p in pieces (one HTTP chunk each).
func (r *streamReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for len(r.p) > 0 {
		n, err := w.Write(r.p[:min(len(r.p), r.piece)])
		total += int64(n)
		r.p = r.p[n:]
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// getJSON GETs ref, decodes its JSON body into v and returns the target of
// its rel="next" Link, if any.
func (c *client) getJSON(ctx context.Context, ref string, v any) (string, error) {
	resp, err := c.do(ctx, http.MethodGet, ref, nil, acceptJSON, http.StatusOK, true)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return "", fmt.Errorf("GET %s: decoding JSON: %w", ref, err)
	}
	next, _ := NextLink(resp.Header.Get("Link"))
	return next, nil
}
