package bench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// readClient sends the small requests of the latency workloads
// (pull-manifest, head-blob, mirror-hit) with fasthttp. On two shared
// cores, net/http's client took more CPU per request than the registry
// under test (about 50 µs: three goroutines and their hand-offs per
// request, and the allocations); every microsecond the load generator
// spends is taken from the server and shows in the p99 of every server
// alike. fasthttp's client does one request on its caller's goroutine
// with pooled buffers, as load generators such as bombardier do. It
// checks status, headers and bodies exactly as the net/http path does.
type readClient struct {
	hc *fasthttp.HostClient
}

func newReadClient(host string) *readClient {
	return &readClient{hc: &fasthttp.HostClient{
		Addr:                host,
		MaxConns:            512,
		MaxIdleConnDuration: 90 * time.Second,
		// A generous bound so a wedged server fails the run instead of
		// hanging it; a timed loop's own deadline is sooner.
		ReadTimeout:  5 * time.Minute,
		WriteTimeout: 5 * time.Minute,
		// The registry's header names are checked as sent.
		NoDefaultUserAgentHeader: true,
	}}
}

// close drops the idle connections to a server that is going away.
func (r *readClient) close() { r.hc.CloseIdleConnections() }

// do sends method to path (with an Accept header unless empty), waits at
// most until ctx's deadline, and checks the status; check then sees the
// response before its buffers go back to the pool.
func (r *readClient) do(ctx context.Context, method, path, accept string, want int, check func(*fasthttp.Response) error) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost(r.hc.Addr)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	var err error
	if d, ok := ctx.Deadline(); ok {
		err = r.hc.DoDeadline(req, resp, d)
	} else {
		err = r.hc.Do(req, resp)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if got := resp.StatusCode(); got != want {
		return fmt.Errorf("%s %s: got %d, want %d: %.512s", method, path, got, want, resp.Body())
	}
	return check(resp)
}

// getManifest fetches repo:ref and checks the body hashes to want and the
// Docker-Content-Digest header names it.
func (r *readClient) getManifest(ctx context.Context, repo, ref, want string) error {
	return r.do(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, mediaManifest, http.StatusOK, func(resp *fasthttp.Response) error {
		if got := sha256Digest(resp.Body()); got != want {
			return fmt.Errorf("GET manifest %s:%s: body digest %s, want %s", repo, ref, got, want)
		}
		if got := resp.Header.Peek("Docker-Content-Digest"); string(got) != want {
			return fmt.Errorf("GET manifest %s:%s: Docker-Content-Digest %q, want %s", repo, ref, got, want)
		}
		return nil
	})
}

// headBlob checks that repo serves b: HEAD answers 200 with its digest and
// size.
func (r *readClient) headBlob(ctx context.Context, repo string, b blob) error {
	return r.do(ctx, http.MethodHead, "/v2/"+repo+"/blobs/"+b.digest, "", http.StatusOK, func(resp *fasthttp.Response) error {
		if got := resp.Header.Peek("Content-Length"); string(got) != strconv.Itoa(len(b.data)) {
			return fmt.Errorf("HEAD blob %s: Content-Length %q, want %d", b.digest, got, len(b.data))
		}
		if got := resp.Header.Peek("Docker-Content-Digest"); string(got) != b.digest {
			return fmt.Errorf("HEAD blob: Docker-Content-Digest %q, want %s", got, b.digest)
		}
		return nil
	})
}
