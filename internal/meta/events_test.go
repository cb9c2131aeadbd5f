package meta_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

// recordingHook makes one event per change, for endpoints "a" and "b",
// with the change in the payload, and counts the calls.
func recordingHook(clock func() time.Time) meta.EventHook {
	var mu sync.Mutex
	n := 0
	return func(ctx context.Context, changes []meta.Change) []meta.OutboxEvent {
		mu.Lock()
		defer mu.Unlock()
		var out []meta.OutboxEvent
		for _, c := range changes {
			n++
			out = append(out, meta.OutboxEvent{
				ID: fmt.Sprintf("ev-%d-%d", clock().UnixNano(), n), Repo: c.Repo, Action: c.Action,
				Payload:   []byte(fmt.Sprintf("%s %s %s %s %s", c.Action, c.Kind, c.Repo, c.Tag, c.Digest)),
				Endpoints: []string{"a", "b"}, CreatedAt: clock(),
			})
		}
		return out
	}
}

func testEventStores(t *testing.T, fn func(t *testing.T, s *meta.SQL)) {
	t.Run("sqlite", func(t *testing.T) {
		s := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, openPostgres(t, freshDatabase(t)))
	})
}

// TestOutboxInTransaction: a change writes its event in its own
// transaction; a change that fails leaves no event.
func TestOutboxInTransaction(t *testing.T) {
	testEventStores(t, func(t *testing.T, s *meta.SQL) {
		ctx := t.Context()
		s.SetEventHook(recordingHook(time.Now))
		layer := digest.FromString("layer")
		if err := s.CommitBlob(ctx, "r", layer, 5, "", nil); err != nil {
			t.Fatal(err)
		}
		m := &meta.Manifest{Digest: digest.FromString("m"), MediaType: "application/vnd.oci.image.manifest.v1+json", Payload: []byte("m"),
			Refs: []meta.Ref{{Digest: layer, Kind: meta.RefBlob}}}
		if err := s.PutManifestTags(ctx, "r", m, []string{"v1", "latest"}); err != nil {
			t.Fatal(err)
		}
		bad := &meta.Manifest{Digest: digest.FromString("bad"), MediaType: m.MediaType, Payload: []byte("bad"),
			Refs: []meta.Ref{{Digest: digest.FromString("missing"), Kind: meta.RefBlob}}}
		var missing *meta.MissingRefsError
		if err := s.PutManifest(ctx, "r", bad, "bad"); !errors.As(err, &missing) {
			t.Fatalf("PutManifest with a missing layer: %v", err)
		}
		if err := s.CommitBlob(ctx, "r", digest.FromString("x"), 1, "", func() error { return errors.New("disk gone") }); err == nil {
			t.Fatal("CommitBlob whose bytes fail: no error")
		}
		if err := s.LinkBlob(ctx, "other", layer); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteTag(ctx, "r", "v1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteManifest(ctx, "r", m.Digest, false); err != nil {
			t.Fatal(err)
		}
		evs, err := s.ListEvents(ctx, meta.EventFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i := len(evs) - 1; i >= 0; i-- {
			got = append(got, string(evs[i].Payload))
			if len(evs[i].Deliveries) != 2 {
				t.Errorf("event %s has %d deliveries, want 2", evs[i].ID, len(evs[i].Deliveries))
			}
		}
		want := []string{
			"push blob r  " + layer.String(),
			"push manifest r v1 " + m.Digest.String(),
			"push manifest r latest " + m.Digest.String(),
			"mount blob other  " + layer.String(),
			"delete tag r v1 ",
			"delete tag r latest ",
			"delete manifest r  " + m.Digest.String(),
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("events =\n%q\nwant\n%q", got, want)
		}
	})
}

// TestOutboxLanes: a repository's events are claimed one at a time in
// order; other repositories and endpoints are not held up; a lease keeps
// a claimed event from a second claimer until it expires.
func TestOutboxLanes(t *testing.T) {
	testEventStores(t, func(t *testing.T, s *meta.SQL) {
		ctx := t.Context()
		t0 := time.UnixMilli(1_000_000_000)
		var evs []meta.OutboxEvent
		for i := range 3 {
			for _, repo := range []string{"r1", "r2"} {
				evs = append(evs, meta.OutboxEvent{ID: fmt.Sprintf("%s-%d", repo, i), Repo: repo, Action: "push",
					Payload: []byte("{}"), Endpoints: []string{"a", "b"}, CreatedAt: t0})
			}
		}
		if err := s.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		lease := t0.Add(time.Minute)
		claim := func(ep, owner string, now time.Time) []string {
			ds, err := s.ClaimDeliveries(ctx, ep, owner, now, now.Add(time.Minute), 10, 1)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range ds {
				ids = append(ids, d.EventID)
			}
			return ids
		}
		if got := claim("a", "n1", t0); fmt.Sprint(got) != "[r1-0 r2-0]" {
			t.Fatalf("first claim = %v, want the head of each repository", got)
		}
		if got := claim("a", "n2", t0); len(got) != 0 {
			t.Fatalf("second node claimed %v while the heads are leased", got)
		}
		if got := claim("b", "n2", t0); fmt.Sprint(got) != "[r1-0 r2-0]" {
			t.Fatalf("endpoint b claim = %v: held up by endpoint a", got)
		}
		// n1 delivers r1-0; r2-0 fails and waits for its retry.
		finish := func(id string, state meta.DeliveryState, next time.Time) bool {
			ev, err := s.GetEvent(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			held, err := s.FinishDelivery(ctx, meta.Delivery{Seq: ev.Seq, EventID: id, Endpoint: "a"}, "n1",
				meta.AttemptResult{At: t0, Status: 500, State: state, NextAt: next, Node: "n1"})
			if err != nil {
				t.Fatal(err)
			}
			return held
		}
		if !finish("r1-0", meta.DeliveryDelivered, t0) {
			t.Fatal("n1 lost its lease")
		}
		if !finish("r2-0", meta.DeliveryPending, t0.Add(10*time.Second)) {
			t.Fatal("n1 lost its lease")
		}
		if got := claim("a", "n1", t0); fmt.Sprint(got) != "[r1-1]" {
			t.Fatalf("claim after one delivery = %v, want only r1-1 (r2 waits for its retry)", got)
		}
		if got := claim("a", "n1", t0.Add(10*time.Second)); fmt.Sprint(got) != "[r2-0]" {
			t.Fatalf("claim at the retry = %v, want r2-0 again, before r2-1", got)
		}
		// An expired lease lets another node take over; the first node's
		// late result is recorded but no longer decides.
		if got := claim("a", "n2", lease.Add(time.Hour)); fmt.Sprint(got) != "[r2-0 r1-1]" {
			t.Fatalf("claim after the leases expired = %v", got)
		}
		if finish("r1-1", meta.DeliveryDelivered, t0) {
			t.Fatal("n1 still held a lease n2 took over")
		}
		ev, err := s.GetEvent(ctx, "r2-0")
		if err != nil {
			t.Fatal(err)
		}
		if d := ev.Deliveries[0]; d.Endpoint != "a" || d.Attempts != 1 || d.LastStatus != 500 || len(d.Tries) != 1 {
			t.Errorf("r2-0 to a = %+v", d)
		}
		n, oldest, err := s.EventBacklog(ctx, "a")
		if err != nil || n != 5 || !oldest.Equal(t0) {
			t.Errorf("backlog of a = %d, %v, %v; want 5 from %v", n, oldest, err, t0)
		}
		// Redeliver makes a delivered event pending again; prune keeps
		// what is pending and drops what is done.
		if n, err := s.Redeliver(ctx, "r1-0", "a", t0); err != nil || n != 1 {
			t.Fatalf("Redeliver = %d, %v", n, err)
		}
		if _, err := s.Redeliver(ctx, "nope", "", t0); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("Redeliver of an unknown event: %v", err)
		}
		for _, ep := range []string{"a", "b"} {
			for range 10 {
				ds, err := s.ClaimDeliveries(ctx, ep, "n3", lease.Add(2*time.Hour), lease.Add(3*time.Hour), 10, 10)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range ds {
					if _, err := s.FinishDelivery(ctx, d, "n3", meta.AttemptResult{At: t0, Status: 204, State: meta.DeliveryDelivered}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if n, _, _ := s.EventBacklog(ctx, "a"); n != 0 {
			t.Fatalf("backlog of a after draining = %d", n)
		}
		pruned, err := s.PruneEvents(ctx, t0.Add(time.Second))
		if err != nil || pruned != 6 {
			t.Errorf("PruneEvents = %d, %v; want 6", pruned, err)
		}
	})
}

// TestOutboxRuns: a claim takes a run of a repository's events behind its
// head, in order; another claimer gets none of that repository until the
// run is finished or given back.
func TestOutboxRuns(t *testing.T) {
	testEventStores(t, func(t *testing.T, s *meta.SQL) {
		ctx := t.Context()
		t0 := time.UnixMilli(2_000_000_000)
		var evs []meta.OutboxEvent
		for i := range 5 {
			evs = append(evs, meta.OutboxEvent{ID: fmt.Sprintf("r-%d", i), Repo: "r", Action: "push", Payload: []byte("{}"),
				Endpoints: []string{"a"}, CreatedAt: t0})
		}
		if err := s.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		ids := func(ds []meta.Delivery) string {
			var out []string
			for _, d := range ds {
				out = append(out, d.EventID)
			}
			return fmt.Sprint(out)
		}
		ds, err := s.ClaimDeliveries(ctx, "a", "n1", t0, t0.Add(time.Minute), 4, 3)
		if err != nil || ids(ds) != "[r-0 r-1 r-2]" {
			t.Fatalf("claim = %s, %v; want the run [r-0 r-1 r-2]", ids(ds), err)
		}
		if other, _ := s.ClaimDeliveries(ctx, "a", "n2", t0, t0.Add(time.Minute), 4, 3); len(other) != 0 {
			t.Fatalf("second claimer got %s of a leased run", ids(other))
		}
		// r-0 delivered, r-1 failed, r-2 given back untried.
		ok := meta.AttemptResult{At: t0, Status: 200, State: meta.DeliveryDelivered}
		fail := meta.AttemptResult{At: t0, Status: 500, State: meta.DeliveryPending, NextAt: t0.Add(time.Second)}
		held, err := s.FinishDeliveries(ctx, "n1", ds, []*meta.AttemptResult{&ok, &fail, nil})
		if err != nil || fmt.Sprint(held) != "[true true true]" {
			t.Fatalf("FinishDeliveries = %v, %v", held, err)
		}
		if again, _ := s.ClaimDeliveries(ctx, "a", "n2", t0, t0.Add(time.Minute), 4, 3); len(again) != 0 {
			t.Fatalf("claimed %s while r-1 waits for its retry", ids(again))
		}
		again, err := s.ClaimDeliveries(ctx, "a", "n2", t0.Add(time.Second), t0.Add(time.Minute), 4, 10)
		if err != nil || ids(again) != "[r-1 r-2 r-3 r-4]" {
			t.Fatalf("claim at the retry = %s, %v", ids(again), err)
		}
		if again[0].Attempts != 1 || again[1].Attempts != 0 {
			t.Errorf("attempts = %d, %d; want 1, 0", again[0].Attempts, again[1].Attempts)
		}
	})
}
