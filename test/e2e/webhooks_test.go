package e2e

// Webhooks (internal/notify) end to end: a real receiver on loopback that
// fails a share of deliveries and goes down for a while, a wharf killed
// with SIGKILL during pushes, and after recovery every acknowledged
// manifest push arrived, duplicates counted.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// hookEvent is the part of distribution's event the tests check.
type hookEvent struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Target struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
	} `json:"target"`
}

// hookReceiver is a webhook endpoint on a fixed loopback address that can
// go down (its listener closed: connections refused) and come back, and
// fails every failEvery-th request with a 500.
type hookReceiver struct {
	t         testing.TB
	addr      string
	failEvery int64

	mu       sync.Mutex
	srv      *http.Server
	arrived  map[string]hookEvent // by event id, answered 2xx
	count    map[string]int       // 2xx answers by event id
	first    map[string]int       // when each event first arrived (an order)
	badHdr   int
	requests atomic.Int64
}

func hkStartReceiver(t testing.TB, failEvery int64) *hookReceiver {
	r := &hookReceiver{t: t, addr: freeAddr(t), failEvery: failEvery, arrived: map[string]hookEvent{}, count: map[string]int{}, first: map[string]int{}}
	r.up()
	t.Cleanup(r.down)
	return r
}

func (r *hookReceiver) URL() string { return "http://" + r.addr + "/hook" }

func (r *hookReceiver) up() {
	r.t.Helper()
	var ln net.Listener
	var err error
	for range 100 { // the port may linger a moment after down
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("receiver listen %s: %v", r.addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(ln)
}

func (r *hookReceiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	n := r.requests.Add(1)
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	if r.failEvery > 0 && n%r.failEvery == 0 {
		http.Error(w, "receiver failing on purpose", http.StatusInternalServerError)
		return
	}
	var env struct {
		Events []hookEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &env); err != nil || len(env.Events) != 1 ||
		req.Header.Get("Content-Type") != "application/vnd.docker.distribution.events.v1+json" {
		http.Error(w, "not one distribution event", http.StatusBadRequest)
		return
	}
	ev := env.Events[0]
	r.mu.Lock()
	if req.Header.Get("Authorization") != "Bearer hook-token" || req.Header.Get("X-Ci") != "wharf-e2e" {
		r.badHdr++
	}
	if _, seen := r.first[ev.ID]; !seen {
		r.first[ev.ID] = len(r.first)
	}
	r.arrived[ev.ID] = ev
	r.count[ev.ID]++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// pushes maps "repo:tag@digest" of every manifest push event that arrived
// to how many events reported it.
func (r *hookReceiver) pushes() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, ev := range r.arrived {
		if ev.Action == "push" && ev.Target.Tag != "" {
			out[ev.Target.Repository+":"+ev.Target.Tag+"@"+ev.Target.Digest]++
		}
	}
	return out
}

// firstArrival maps "repo:tag@digest" of each manifest push event to when
// it first arrived, in arrival order.
func (r *hookReceiver) firstArrival() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for id, ev := range r.arrived {
		if ev.Action == "push" && ev.Target.Tag != "" {
			out[ev.Target.Repository+":"+ev.Target.Tag+"@"+ev.Target.Digest] = r.first[id]
		}
	}
	return out
}

// duplicates counts the extra arrivals of events that arrived more than once.
func (r *hookReceiver) duplicates() (dups, events int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.count {
		dups += c - 1
	}
	return dups, len(r.count)
}

func hkConfig(url string) string {
	return fmt.Sprintf(`notifications:
  endpoints:
    - name: ci
      url: %s
      headers:
        Authorization: [Bearer hook-token]
        X-Ci: [wharf-e2e]
      timeout: 1s
      threshold: 3
      backoff: 50ms
      maxbackoff: 500ms
      ignoredmediatypes: [application/octet-stream]
      ignore:
        actions: [pull]
`, url)
}

// TestWebhooksSurviveCrashes: pushes go on while wharf is killed with
// SIGKILL three times and the receiver fails every third request and is
// down for two of the rounds. Once all is up, every manifest push a
// client saw acknowledged arrives with its repository, tag, digest and the
// configured headers; duplicates (an event delivered, then the kill before
// its delivery was recorded) are counted and bounded.
func TestWebhooksSurviveCrashes(t *testing.T) {
	rcv := hkStartReceiver(t, 3)
	s := StartServer(t, ServerOptions{ExtraConfig: hkConfig(rcv.URL())})
	const (
		rounds      = 3
		workers     = 3
		perRound    = 12
		killAfter   = 6 // acknowledged pushes in a round before the kill...
		killBy      = 8 * time.Second
		deliverWait = 90 * time.Second
	)
	type push struct{ ref, want string }
	var mu sync.Mutex
	var acked []push
	for round := range rounds {
		if round == 1 {
			rcv.down() // down through rounds 1 and 2
		}
		jobs := make(chan int, perRound)
		for i := range perRound {
			jobs <- i
		}
		close(jobs)
		pushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		opts := whRemote(t, remote.WithContext(pushCtx))
		ackedCh := make(chan struct{}, perRound)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range jobs {
					if pushCtx.Err() != nil {
						return
					}
					ref := fmt.Sprintf("hooks/w%d:r%d-i%d", w, round, i)
					img := whRandomImage(t, 2048, 1)
					d, _ := img.Digest()
					if err := remote.Write(whRef(t, s, ref), img, opts...); err == nil {
						mu.Lock()
						acked = append(acked, push{ref: ref, want: ref + "@" + d.String()})
						mu.Unlock()
						ackedCh <- struct{}{}
					}
				}
			})
		}
		deadline := time.After(killBy)
	wait:
		for range killAfter {
			select {
			case <-ackedCh:
			case <-deadline:
				break wait
			}
		}
		s.Kill()
		cancel()
		wg.Wait()
		s.Restart()
	}
	rcv.up()
	mu.Lock()
	want := append([]push(nil), acked...)
	mu.Unlock()
	if len(want) == 0 {
		t.Fatalf("no push acknowledged\nserver log:\n%s", s.Log.String())
	}
	missing := want
	for end := time.Now().Add(deliverWait); len(missing) > 0 && time.Now().Before(end); {
		time.Sleep(200 * time.Millisecond)
		got := rcv.pushes()
		missing = missing[:0:0]
		for _, p := range want {
			if got[p.want] == 0 {
				missing = append(missing, p)
			}
		}
	}
	for _, p := range missing {
		t.Errorf("acknowledged push %s: its event never arrived", p.want)
	}
	// Each repository is one worker's, pushed one image after another:
	// their events arrive in the order the pushes were acknowledged.
	order := rcv.firstArrival()
	last := map[string]push{}
	for _, p := range want {
		repo := whRepoOf(p.ref)
		if prev, ok := last[repo]; ok && order[prev.want] > order[p.want] {
			t.Errorf("%s arrived after %s, pushed later", prev.want, p.want)
		}
		last[repo] = p
	}
	dups, events := rcv.duplicates()
	rcv.mu.Lock()
	badHdr := rcv.badHdr
	rcv.mu.Unlock()
	t.Logf("%d acknowledged pushes over %d kills; %d events arrived, %d duplicates; %d requests to the receiver",
		len(want), rounds, events, dups, rcv.requests.Load())
	if badHdr > 0 {
		t.Errorf("%d deliveries without the configured headers", badHdr)
	}
	// A duplicate needs a kill between the receiver's answer and the
	// recorded delivery: at most one claim's worth per kill (16
	// repositories × 16 events).
	if limit := rounds * 16 * 16; dups > limit {
		t.Errorf("%d duplicates, more than %d (%d kills × one claim)", dups, limit, rounds)
	}
}

// hkCollector records every event each endpoint path receives, with the
// request it came in.
type hkCollector struct {
	mu  sync.Mutex
	got map[string][]hookEvent // by URL path
	raw map[string][]map[string]any
}

func hkStartCollector(t *testing.T) (*hkCollector, string) {
	c := &hkCollector{got: map[string][]hookEvent{}, raw: map[string][]map[string]any{}}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env struct {
			Events []hookEvent `json:"events"`
		}
		var raw struct {
			Events []map[string]any `json:"events"`
		}
		json.Unmarshal(body, &env)
		json.Unmarshal(body, &raw)
		c.mu.Lock()
		c.got[r.URL.Path] = append(c.got[r.URL.Path], env.Events...)
		c.raw[r.URL.Path] = append(c.raw[r.URL.Path], raw.Events...)
		c.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return c, "http://" + ln.Addr().String()
}

// summary lists "action kind repo:tag@digest method" per event of path.
func (c *hkCollector) summary(path string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for i, ev := range c.got[path] {
		req, _ := c.raw[path][i]["request"].(map[string]any)
		kind := "manifest"
		if ev.Target.MediaType == "application/octet-stream" {
			kind = "blob"
		}
		out = append(out, fmt.Sprintf("%s %s %s:%s@%s %v", ev.Action, kind, ev.Target.Repository, ev.Target.Tag, ev.Target.Digest, req["method"]))
	}
	return out
}

// hkWaitFor polls until every wanted line is in path's summary.
func (c *hkCollector) hkWaitFor(t *testing.T, path string, want ...string) []string {
	t.Helper()
	var got []string
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		got = c.summary(path)
		missing := 0
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
	}
	t.Fatalf("%s got:\n%s\nwant among them:\n%s", path, strings.Join(got, "\n"), strings.Join(want, "\n"))
	return nil
}

// TestWebhooksPushPullDelete: a push, a pull by GET and HEAD, a tag
// deletion and a manifest deletion arrive as distribution reports them;
// an endpoint with skipheadpulls misses only the HEAD pulls; `wharf
// events` lists and shows them and redelivers one.
func TestWebhooksPushPullDelete(t *testing.T) {
	col, base := hkStartCollector(t)
	s := StartServer(t, ServerOptions{ExtraConfig: fmt.Sprintf(`notifications:
  events:
    includereferences: true
  endpoints:
    - name: all
      url: %s/all
    - name: nohead
      url: %s/nohead
      skipheadpulls: true
      format: v2
`, base, base)})
	const repo = "ev/app"
	img := whRandomImage(t, 1024, 1)
	d := whPush(t, s, repo+":v1", img).String()
	accept := map[string]string{"Accept": "application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json"}
	for _, m := range []string{http.MethodHead, http.MethodGet} {
		if r := whDo(t, m, s.URL+"/v2/"+repo+"/manifests/v1", accept, nil); r.Status != http.StatusOK {
			t.Fatalf("%s manifest: %s", m, r)
		}
	}
	if r := whDo(t, http.MethodDelete, s.URL+"/v2/"+repo+"/manifests/v1", nil, nil); r.Status != http.StatusAccepted {
		t.Fatalf("DELETE tag: %s", r)
	}
	if r := whDo(t, http.MethodDelete, s.URL+"/v2/"+repo+"/manifests/"+d, nil, nil); r.Status != http.StatusAccepted {
		t.Fatalf("DELETE manifest: %s", r)
	}
	common := []string{
		"push manifest " + repo + ":v1@" + d + " PUT",
		"pull manifest " + repo + ":v1@" + d + " GET",
		"delete manifest " + repo + ":v1@ DELETE",
		"delete manifest " + repo + ":@" + d + " DELETE",
	}
	all := col.hkWaitFor(t, "/all", append(common, "pull manifest "+repo+":v1@"+d+" HEAD")...)
	nohead := col.hkWaitFor(t, "/nohead", common...)
	for _, line := range nohead {
		if strings.HasSuffix(line, " HEAD") {
			t.Errorf("endpoint with skipheadpulls got %q", line)
		}
	}
	blobPushes := 0
	for _, line := range all {
		if strings.HasPrefix(line, "push blob "+repo) {
			blobPushes++
		}
	}
	if blobPushes != 2 {
		t.Errorf("%d blob push events, want 2 (config and layer):\n%s", blobPushes, strings.Join(all, "\n"))
	}
	// Order per repository: the push before its pulls, the deletions last.
	if i, j := slices.Index(all, common[0]), slices.Index(all, common[3]); i < 0 || j < i {
		t.Errorf("manifest push at %d, its deletion at %d:\n%s", i, j, strings.Join(all, "\n"))
	}
	col.mu.Lock()
	var pushRaw map[string]any
	for _, ev := range col.raw["/all"] {
		if ev["action"] == "push" && ev["target"].(map[string]any)["tag"] == "v1" {
			pushRaw = ev
		}
	}
	col.mu.Unlock()
	target := pushRaw["target"].(map[string]any)
	if refs, _ := target["references"].([]any); len(refs) != 2 || target["url"] != s.URL+"/v2/"+repo+"/manifests/"+d {
		t.Errorf("push target: %v", target)
	}
	if src := pushRaw["source"].(map[string]any); src["instanceID"] == "" {
		t.Errorf("source: %v", src)
	}

	// The CLI reads the same log; redelivery sends an event again.
	out, errOut, code := runWharf(t, nil, "events", "list", "--repo", repo, s.Config)
	if code != 0 || !strings.Contains(out, "all:delivered(1)") || !strings.Contains(out, repo+":v1@"+d) {
		t.Fatalf("events list: %d\n%s\n%s", code, out, errOut)
	}
	id := col.got["/all"][0].ID
	out, errOut, code = runWharf(t, nil, "events", "show", id, s.Config)
	if code != 0 || !strings.Contains(out, "endpoint all: delivered after 1 attempts") || !strings.Contains(out, "status 200") {
		t.Fatalf("events show: %d\n%s\n%s", code, out, errOut)
	}
	before := len(col.summary("/nohead"))
	if out, errOut, code = runWharf(t, nil, "events", "redeliver", "--endpoint", "nohead", id, s.Config); code != 0 {
		t.Fatalf("events redeliver: %d\n%s\n%s", code, out, errOut)
	}
	for end := time.Now().Add(30 * time.Second); len(col.summary("/nohead")) == before && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	col.mu.Lock()
	last := col.got["/nohead"][len(col.got["/nohead"])-1].ID
	col.mu.Unlock()
	if last != id {
		t.Errorf("after redeliver the last event to nohead is %s, want %s again", last, id)
	}
}

// TestWebhooksScaleOut: three nodes over PostgreSQL share the deliveries
// through leases (FOR UPDATE SKIP LOCKED). Pushes go through the
// round-robin proxy, the receiver fails every fourth request, and one node
// is killed mid-way: every acknowledged push's event arrives; duplicates
// are counted and bounded by what the killed node had in flight.
func TestWebhooksScaleOut(t *testing.T) {
	soServices(t)
	rcv := hkStartReceiver(t, 4)
	c := soStartCluster(t, soNewStores(t), soNodes, soSettings{Extra: hkConfig(rcv.URL())})
	const (
		workers = 6
		images  = 36
	)
	jobs := make(chan int, images)
	for i := range images {
		jobs <- i
	}
	close(jobs)
	var mu sync.Mutex
	var acked []string
	var done atomic.Int32
	opts := whRemote(t)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				ref := fmt.Sprintf("hooks/so%d:i%d", i%6, i)
				img := whRandomImage(t, 2048, 1)
				d, _ := img.Digest()
				if err := remote.Write(whRef(t, c.Front, ref), img, opts...); err == nil {
					mu.Lock()
					acked = append(acked, ref+"@"+d.String())
					mu.Unlock()
				}
				done.Add(1)
			}
		})
	}
	// Kill a node half-way, with deliveries leased, and bring it back.
	soWaitFor(30*time.Second, func() bool { return done.Load() >= images/2 })
	c.Nodes[1].Kill()
	c.RestartNode(1)
	wg.Wait()
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()
	if len(want) < images/2 {
		t.Fatalf("only %d of %d pushes acknowledged\n%s", len(want), images, c.Logs())
	}
	var missing []string
	for end := time.Now().Add(90 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		got := rcv.pushes()
		missing = missing[:0]
		for _, p := range want {
			if got[p] == 0 {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			break
		}
	}
	for _, p := range missing {
		t.Errorf("acknowledged push %s: its event never arrived", p)
	}
	dups, events := rcv.duplicates()
	t.Logf("3 nodes, %d acknowledged pushes, 1 node killed: %d events arrived, %d duplicates, %d requests",
		len(want), events, dups, rcv.requests.Load())
	if dups > 16*16 {
		t.Errorf("%d duplicates, more than one claim (16 repositories × 16 events) of the killed node", dups)
	}
	if len(missing) > 0 {
		t.Logf("%s", c.Logs())
	}
	t.Logf("delivery attempts by node: %s", hkAttemptsByNode(t, c.Stores.DSN))
}

// hkAttemptsByNode reads from the shared database how many delivery
// attempts each node made: the leases spread the work.
func hkAttemptsByNode(t *testing.T, dsn string) string {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT node, COUNT(*) FROM event_attempts GROUP BY node ORDER BY node`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var node string
		var n int
		if err := rows.Scan(&node, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", node, n))
	}
	return strings.Join(out, " ")
}

// TestWebhooksMetricsAndSecrets: the per-endpoint metrics are exported;
// the endpoint's headers and signing secret appear in no metric, no log
// line and not in `wharf config check`, even while deliveries fail.
func TestWebhooksMetricsAndSecrets(t *testing.T) {
	const token, secret = "Bearer tok-NEVER-SHOWN", "whsec_U0VDUkVULU5FVkVSLVNIT1dOLTEyMzQ1Njc4"
	dead := freeAddr(t) // nothing listens: every delivery fails
	debug := freeAddr(t)
	s := StartServer(t, ServerOptions{ExtraConfig: fmt.Sprintf(`  debug:
    addr: %s
    prometheus:
      enabled: true
notifications:
  endpoints:
    - name: down
      url: http://%s/hook
      headers:
        Authorization: [%s]
      secrets: [%s]
      backoff: 10ms
      maxbackoff: 50ms
`, debug, dead, token, secret)})
	// The harness's config ends inside http:, so debug lands there.
	whPush(t, s, "sec/app:v1", whRandomImage(t, 512, 1))
	var metrics string
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		r := whDo(t, http.MethodGet, "http://"+debug+"/metrics", nil, nil)
		metrics = string(r.Body)
		if strings.Contains(metrics, `wharf_webhook_failures_total{endpoint="down"}`) {
			break
		}
	}
	for _, want := range []string{`wharf_webhook_backlog{endpoint="down"}`, `wharf_webhook_oldest_pending_seconds{endpoint="down"}`,
		`wharf_webhook_failures_total{endpoint="down"}`, `wharf_webhook_attempts_total{endpoint="down",result="retry"}`,
		`wharf_webhook_attempt_duration_seconds_bucket{endpoint="down"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	out, _, _ := runWharf(t, nil, "config", "check", s.Config)
	shown, _, _ := runWharf(t, nil, "events", "list", s.Config)
	s.Stop()
	for what, text := range map[string]string{"metrics": metrics, "log": s.Log.String(), "config check": out, "events list": shown} {
		for _, leak := range []string{"tok-NEVER-SHOWN", strings.TrimPrefix(secret, "whsec_")} {
			if strings.Contains(text, leak) {
				t.Errorf("%s shows a secret (%s…):\n%s", what, leak[:6], text)
			}
		}
	}
}

// TestWebhooksPullsSurviveGracefulStop: pull events, written after the
// response in batches, are all in the event log after a SIGTERM that
// comes right after the pulls; undeliverable events stay there.
func TestWebhooksPullsSurviveGracefulStop(t *testing.T) {
	s := StartServer(t, ServerOptions{ExtraConfig: fmt.Sprintf(`notifications:
  endpoints:
    - name: down
      url: http://%s/hook
      ignoredmediatypes: [application/octet-stream]
`, freeAddr(t))})
	whPush(t, s, "pulls/app:v1", whRandomImage(t, 512, 1))
	const pulls = 200
	accept := map[string]string{"Accept": "application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json"}
	for range pulls {
		if r := whDo(t, http.MethodGet, s.URL+"/v2/pulls/app/manifests/v1", accept, nil); r.Status != http.StatusOK {
			t.Fatalf("GET manifest: %s", r)
		}
	}
	s.Stop()
	out, errOut, code := runWharf(t, nil, "events", "list", "--n", "1000", s.Config)
	if code != 0 {
		t.Fatalf("events list: %d %s", code, errOut)
	}
	got := strings.Count(out, " pull ")
	if got != pulls {
		t.Errorf("%d pull events in the log after a graceful stop, want %d\n%s", got, pulls, s.Log.String())
	}
	if !strings.Contains(out, "down:pending") {
		t.Errorf("undelivered events not pending:\n%s", out)
	}
}

// TestWebhooksActor: the event log names who pushed, pulled and deleted
// (htpasswd users), as distribution's actor.name.
func TestWebhooksActor(t *testing.T) {
	col, base := hkStartCollector(t)
	s, _ := auBasicServer(t, fmt.Sprintf(`notifications:
  endpoints:
    - name: audit
      url: %s/audit
      ignoredmediatypes: [application/octet-stream]
`, base))
	const repo = "audit/app"
	img := whRandomImage(t, 512, 1)
	ref := whRef(t, s, repo+":v1")
	if err := remote.Write(ref, img, whRemote(t, remote.WithAuth(&authn.Basic{Username: "alice", Password: auUsers["alice"]}))...); err != nil {
		t.Fatalf("push as alice: %v", err)
	}
	if r := auDo(t, auReq{Method: http.MethodGet, URL: s.URL + "/v2/" + repo + "/manifests/v1", User: "carol", Pass: auUsers["carol"],
		Header: map[string]string{"Accept": "application/vnd.docker.distribution.manifest.v2+json"}}); r.Status != http.StatusOK {
		t.Fatalf("pull as carol: %s", r)
	}
	if r := auDo(t, auReq{Method: http.MethodDelete, URL: s.URL + "/v2/" + repo + "/manifests/v1", User: "bob", Pass: auUsers["bob"]}); r.Status != http.StatusAccepted {
		t.Fatalf("delete as bob: %s", r)
	}
	want := map[string]string{"push": "alice", "pull": "carol", "delete": "bob"}
	var got map[string]string
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		got = map[string]string{}
		col.mu.Lock()
		for _, ev := range col.raw["/audit"] {
			actor, _ := ev["actor"].(map[string]any)
			name, _ := actor["name"].(string)
			got[ev["action"].(string)] = name
		}
		col.mu.Unlock()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
	}
	t.Errorf("actors by action = %v, want %v", got, want)
}
