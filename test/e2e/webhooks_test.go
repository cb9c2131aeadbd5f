package e2e

// Webhooks (internal/notify) end to end: a real receiver on loopback that
// fails a share of deliveries and goes down for a while, a wharf killed
// with SIGKILL during pushes, and after recovery every acknowledged
// manifest push arrived, duplicates counted.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	badHdr   int
	requests atomic.Int64
}

func hkStartReceiver(t testing.TB, failEvery int64) *hookReceiver {
	r := &hookReceiver{t: t, addr: freeAddr(t), failEvery: failEvery, arrived: map[string]hookEvent{}, count: map[string]int{}}
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
      timeout: 2s
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
	// recorded delivery: at most one claim's worth per kill.
	if limit := rounds * 16; dups > limit {
		t.Errorf("%d duplicates, more than %d (%d kills × 16 in flight)", dups, limit, rounds)
	}
}
