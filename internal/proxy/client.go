package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharf-registry/wharf/internal/config"
)

// errUnavailable marks an upstream that is down, erroring or rate limiting:
// the cache serves what it holds and fails fast for the rest.
var errUnavailable = errors.New("upstream unavailable")

// errNotFound is the upstream's 404.
var errNotFound = errors.New("upstream: not found")

// manifestAccept is every manifest type wharf stores, so the upstream
// answers with its own bytes (an index stays an index) and digests match.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// upstream is one mirrored registry: its HTTP client with credentials,
// tokens, a cap on concurrent requests and its health.
type upstream struct {
	cfg      config.Upstream
	base     *url.URL
	client   *http.Client
	sem      chan struct{}
	interval time.Duration

	mu        sync.Mutex
	tokens    map[string]token // by scope
	down      bool             // the last request or probe failed
	downUntil time.Time        // no request goes out before
	lastErr   string
}

type token struct {
	value   string
	expires time.Time
}

func newUpstream(cfg config.Upstream, probe time.Duration) (*upstream, error) {
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = config.DefaultProxyMaxConcurrent
	}
	if cfg.TTL <= 0 {
		cfg.TTL = config.DefaultProxyTTL
	}
	if cfg.Library == nil {
		off := false
		cfg.Library = &off
	}
	base, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("upstream %s: url: %w", cfg.Name, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the upstream is dialed as configured, never through the environment's proxy
	tr.MaxIdleConnsPerHost = cfg.MaxConcurrent
	// A hung upstream must not hold clients: the headers come quickly or
	// the upstream counts as down.
	tr.ResponseHeaderTimeout = 30 * time.Second
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.Insecure} // #nosec G402 -- opt-in per upstream
	if cfg.CA != "" {
		pem, err := os.ReadFile(cfg.CA)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: ca: %w", cfg.Name, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("upstream %s: ca %s holds no PEM certificate", cfg.Name, cfg.CA)
		}
		tlsCfg.RootCAs = pool
	}
	tr.TLSClientConfig = tlsCfg
	return &upstream{
		cfg:      cfg,
		base:     base,
		client:   &http.Client{Transport: tr, Timeout: 0},
		sem:      make(chan struct{}, cfg.MaxConcurrent),
		interval: probe,
		tokens:   map[string]token{},
	}, nil
}

// available fails fast while the upstream is marked unhealthy; once the
// probe interval has passed, the next request is the probe.
func (u *upstream) available() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Now().Before(u.downUntil) {
		return fmt.Errorf("%w: %s is marked unhealthy (%s); next probe in %s", errUnavailable, u.cfg.Name, u.lastErr, time.Until(u.downUntil).Round(time.Second))
	}
	return nil
}

// markDown records a failure: no request goes out until the interval (or
// the upstream's Retry-After, if longer) has passed.
func (u *upstream) markDown(reason string, retryAfter time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	wait := max(u.interval, retryAfter)
	u.down = true
	u.downUntil = time.Now().Add(wait)
	u.lastErr = reason
}

func (u *upstream) markUp() {
	u.mu.Lock()
	u.down = false
	u.downUntil = time.Time{}
	u.mu.Unlock()
}

// probe asks an unhealthy upstream's base endpoint, once its interval has
// passed, whether it answers again: any answer but 5xx or 429 (a 401 is a
// registry asking for credentials) marks it up, so it recovers without
// waiting for a client's request.
func (u *upstream) probe(ctx context.Context) {
	if u.healthy() {
		return
	}
	if err := u.available(); err != nil {
		return // not yet time
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base.String()+"/v2/", nil)
	if err != nil {
		return
	}
	req.Header.Set("User-Agent", "wharf-proxy")
	resp, err := u.client.Do(req)
	if err != nil {
		u.markDown(redact(err).Error(), 0)
		return
	}
	drainClose(resp.Body)
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		u.markDown("answered "+resp.Status, retryAfter(resp.Header.Get("Retry-After")))
		return
	}
	u.markUp()
}

// healthy reports the upstream's state for metrics and logs.
func (u *upstream) healthy() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return !u.down
}

// do sends one request for path (below /v2/) with the upstream's
// credentials, answering its auth challenge once. The caller closes the
// body of a successful response; any other status is returned as an error
// (errNotFound, errUnavailable) with the body closed. The response holds a
// slot of the concurrency cap until its body is closed.
func (u *upstream) do(ctx context.Context, method, path, accept, scope string) (*http.Response, error) {
	if err := u.available(); err != nil {
		return nil, err
	}
	select {
	case u.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	resp, err := u.send(ctx, method, path, accept, scope)
	if err != nil {
		<-u.sem
		if ctx.Err() == nil {
			u.markDown(err.Error(), 0)
			return nil, fmt.Errorf("%w: %s: %s", errUnavailable, u.cfg.Name, err.Error())
		}
		return nil, err
	}
	if err := u.checkStatus(resp); err != nil {
		drainClose(resp.Body)
		<-u.sem
		return nil, err
	}
	u.markUp()
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { <-u.sem }}
	return resp, nil
}

// checkStatus maps the upstream's status to the cache's errors.
func (u *upstream) checkStatus(resp *http.Response) error {
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusNotFound:
		u.markUp()
		return fmt.Errorf("%w (%s)", errNotFound, u.cfg.Name)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		reason := fmt.Sprintf("answered %s", resp.Status)
		u.markDown(reason, retryAfter(resp.Header.Get("Retry-After")))
		return fmt.Errorf("%w: %s %s", errUnavailable, u.cfg.Name, reason)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s refused wharf's credentials (%s)", errUnavailable, u.cfg.Name, resp.Status)
	}
	return fmt.Errorf("%w: %s answered %s", errUnavailable, u.cfg.Name, resp.Status)
}

// send makes the request, answering a 401 challenge with Basic or a bearer
// token fetched from the challenge's realm.
func (u *upstream) send(ctx context.Context, method, path, accept, scope string) (*http.Response, error) {
	tok := u.cachedToken(scope)
	resp, err := u.attempt(ctx, method, path, accept, tok, false)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	challenge := resp.Header.Get("WWW-Authenticate")
	drainClose(resp.Body)
	scheme, params := parseChallenge(challenge)
	switch scheme {
	case "basic":
		return u.attempt(ctx, method, path, accept, "", true)
	case "bearer":
		if params["scope"] == "" {
			params["scope"] = scope
		}
		t, err := u.fetchToken(ctx, params)
		if err != nil {
			return nil, err
		}
		u.storeToken(scope, t)
		return u.attempt(ctx, method, path, accept, t.value, false)
	}
	return nil, fmt.Errorf("unsupported auth challenge %q", scheme)
}

func (u *upstream) attempt(ctx context.Context, method, path, accept, bearer string, basic bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.base.String()+"/v2/"+path, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("User-Agent", "wharf-proxy")
	switch {
	case bearer != "":
		req.Header.Set("Authorization", "Bearer "+bearer)
	case basic && u.cfg.Username != "":
		req.SetBasicAuth(u.cfg.Username, u.cfg.Password)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, redact(err)
	}
	return resp, nil
}

// redact keeps URLs (which may carry a token service's query) out of errors.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func (u *upstream) cachedToken(scope string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.tokens[scope]
	if !ok || time.Now().After(t.expires) {
		return ""
	}
	return t.value
}

func (u *upstream) storeToken(scope string, t token) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.tokens) > 10000 {
		clear(u.tokens) // bounded: tokens are cheap to fetch again
	}
	u.tokens[scope] = t
}

// fetchToken runs the token dance of the distribution token spec: GET the
// realm with service and scope, with Basic credentials when configured.
func (u *upstream) fetchToken(ctx context.Context, params map[string]string) (token, error) {
	realm, err := url.Parse(params["realm"])
	if err != nil || (realm.Scheme != "http" && realm.Scheme != "https") {
		return token{}, fmt.Errorf("token realm %q is not an http(s) URL", params["realm"])
	}
	q := realm.Query()
	if s := params["service"]; s != "" {
		q.Set("service", s)
	}
	if s := params["scope"]; s != "" {
		q.Set("scope", s)
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return token{}, fmt.Errorf("build token request: %w", err)
	}
	if u.cfg.Username != "" {
		req.SetBasicAuth(u.cfg.Username, u.cfg.Password)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return token{}, fmt.Errorf("token request: %w", redact(err))
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return token{}, fmt.Errorf("token service answered %s", resp.Status)
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return token{}, fmt.Errorf("token response: %w", err)
	}
	t := token{value: body.Token}
	if t.value == "" {
		t.value = body.AccessToken
	}
	if t.value == "" {
		return token{}, errors.New("token response holds no token")
	}
	life := time.Duration(body.ExpiresIn) * time.Second
	if life <= 0 {
		life = 60 * time.Second // the token spec's default
	}
	// Renew early so a token never expires between check and use.
	t.expires = time.Now().Add(life * 9 / 10)
	return t, nil
}

// parseChallenge reads a WWW-Authenticate header: the scheme (lower case)
// and its key="value" parameters.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		var val string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				val, rest = after[1:], ""
			} else {
				val, rest = after[1:end+1], after[end+2:]
			}
		} else {
			val, rest, _ = strings.Cut(after, ",")
			val = strings.TrimSpace(val)
		}
		params[key] = val
		rest = strings.TrimPrefix(strings.TrimSpace(rest), ",")
	}
	return strings.ToLower(scheme), params
}

// retryAfter reads Retry-After in seconds or as an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, time.Hour)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), time.Hour)
	}
	return 0
}

// releaseBody gives back the concurrency slot when the body is closed.
type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// drainClose reads a little of a body so the connection can be reused.
func drainClose(b io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(b, 64<<10))
	b.Close()
}
