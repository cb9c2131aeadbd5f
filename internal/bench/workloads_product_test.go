package bench

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/config"
)

func TestPushEvents(t *testing.T) {
	tests := []struct {
		name   string
		layers []int // layer count of every image
		want   int
	}{
		{"none", nil, 0},
		{"one image, one layer", []int{1}, 3},     // config, layer, manifest
		{"bench's small image", []int{3}, 5},      // config, 3 layers, manifest
		{"mixed", []int{3, 1, 0}, 5 + 3 + 2},      // an image without layers still has its config
		{"quick push-small", repeat(3, 100), 500}, // what -quick expects
	}
	for _, tt := range tests {
		imgs := make([]image, len(tt.layers))
		for i, n := range tt.layers {
			imgs[i] = smallImage(uint64(i+1), n, 16)
		}
		if got := pushEvents(imgs); got != tt.want {
			t.Errorf("%s: pushEvents = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestInRoundOrder(t *testing.T) {
	tests := []struct {
		round int
		want  []string
	}{
		{1, []string{"a", "b"}},
		{2, []string{"b", "a"}},
		{3, []string{"a", "b"}},
		{4, []string{"b", "a"}},
	}
	in := []string{"a", "b"}
	for _, tt := range tests {
		if got := inRoundOrder(tt.round, in); !slices.Equal(got, tt.want) {
			t.Errorf("round %d: %q, want %q", tt.round, got, tt.want)
		}
	}
	if !slices.Equal(in, []string{"a", "b"}) {
		t.Errorf("input changed to %q", in)
	}
}

// TestProductConfigsParse: the sections the wharf-only workloads append
// to the bench's config are ones wharf accepts.
func TestProductConfigsParse(t *testing.T) {
	base := configFor(Wharf, t.TempDir(), "127.0.0.1:5000")
	tests := []struct {
		name  string
		extra string
		check func(*config.Config) bool
	}{
		{"none", "", func(c *config.Config) bool { return len(c.Proxy.Upstreams) == 0 && len(c.Notifications.Endpoints) == 0 }},
		{"mirror", mirrorConfig("http://127.0.0.1:5001"), func(c *config.Config) bool {
			u := c.Proxy.Upstreams
			return len(u) == 1 && u[0].Name == mirrorUpstream && u[0].URL == "http://127.0.0.1:5001" && u[0].TTL == time.Hour
		}},
		{"webhook", webhookConfig("http://127.0.0.1:5002/events"), func(c *config.Config) bool {
			e := c.Notifications.Endpoints
			return len(e) == 1 && e[0].URL == "http://127.0.0.1:5002/events" && len(e[0].Ignore.Actions) == 0
		}},
	}
	for _, tt := range tests {
		cfg, _, err := config.Parse([]byte(base+tt.extra), nil)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.check(cfg) {
			t.Errorf("%s: unexpected config %+v %+v", tt.name, cfg.Proxy, cfg.Notifications)
		}
	}
}

func TestHookReceiver(t *testing.T) {
	r, err := startHookReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	tests := []struct {
		name, body string
		status     int
	}{
		{"push", `{"events":[{"id":"a","action":"push"}]}`, http.StatusOK},
		{"second push", `{"events":[{"id":"b","action":"push"}]}`, http.StatusOK},
		{"duplicate", `{"events":[{"id":"a","action":"push"}]}`, http.StatusOK},
		{"pull", `{"events":[{"id":"c","action":"pull"}]}`, http.StatusOK},
		{"two in one", `{"events":[{"id":"d","action":"push"},{"id":"e","action":"mount"}]}`, http.StatusOK},
		{"not JSON", `nope`, http.StatusBadRequest},
		{"no events", `{"events":[]}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		resp, err := http.Post(r.url+"/events", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
	}
	if got, _ := r.waitFor(context.Background(), 3, time.Second); got != 3 {
		t.Errorf("waitFor(3) = %d, want 3", got)
	}
	// More than arrived: the wait is bounded and reports what came.
	if got, _ := r.waitFor(context.Background(), 10, 50*time.Millisecond); got != 3 {
		t.Errorf("waitFor(10) = %d, want 3", got)
	}
	want := hookStats{requests: 7, duplicates: 1, other: 2, bad: 2}
	if got := r.stats(); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

// TestWharfOnlySkipsPeers: a wharf-only workload is not run for a peer
// (no server is started, nothing recorded), and the tables show "-" in
// the peers' columns and no per-round rows for them.
func TestWharfOnlySkipsPeers(t *testing.T) {
	ran := false
	w := workload{name: "x", wharfOnly: true, run: func(context.Context, *env, *meter) error {
		ran = true
		return nil
	}}
	res := &results{}
	for _, k := range []Kind{Distribution, DistributionV3} {
		if err := runOne(context.Background(), Options{}, w, k, "/nonexistent", 1, nil, nil, res, t.Logf); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if ran || len(res.order) != 0 {
		t.Fatalf("ran=%v, results %d: a peer ran a wharf-only workload", ran, len(res.order))
	}
	res.add("mount", "ops/s", Wharf, figure{value: 10})
	res.add("mount", "ops/s", Distribution, figure{value: 5})
	res.add("mount", "ops/s", DistributionV3, figure{value: 4})
	res.add("push-small, 1 webhook", "images/s", Wharf, figure{value: 100, lat: &Latency{P50: 2e6, P99: 3e6}})
	kinds := []Kind{Wharf, Distribution, DistributionV3}
	tab := buildTable(kinds, res)
	row := tab.Rows[1]
	if want := []string{"push-small, 1 webhook", "images/s", "100", "-", "-", "-", "2.00", "3.00"}; !slices.Equal(row[:len(want)], want) {
		t.Errorf("row = %q, want prefix %q", row, want)
	}
	rounds := buildRoundsTable(kinds, res)
	if len(rounds.Rows) != 4 || rounds.Rows[3][0] != "push-small, 1 webhook" || rounds.Rows[3][2] != Wharf.Label() {
		t.Errorf("rounds table = %q", rounds.Rows)
	}
}

func TestSelectProductWorkloads(t *testing.T) {
	tests := []struct {
		only []string
		want []string
	}{
		{[]string{"push-webhook"}, []string{"push-webhook"}},
		{[]string{"push-webhook", "mirror-hit", "mount"}, []string{"mount", "mirror-hit", "push-webhook"}},
	}
	for _, tt := range tests {
		ws, err := selectWorkloads(tt.only)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range ws {
			got = append(got, w.name)
			if w.wharfOnly != (w.name == "mirror-hit" || w.name == "push-webhook") {
				t.Errorf("%s: wharfOnly = %v", w.name, w.wharfOnly)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("selectWorkloads(%q) = %q, want %q", tt.only, got, tt.want)
		}
	}
	all, _ := selectWorkloads(nil)
	if names := WorkloadNames(); len(all) != len(names) || !slices.Contains(names, "mirror-hit") || !slices.Contains(names, "push-webhook") {
		t.Errorf("a full run does not include the wharf-only workloads: %q", names)
	}
}
