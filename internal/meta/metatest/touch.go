package metatest

import (
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

// A push that HEADs a layer, is told it is present and skips the upload,
// then puts a manifest referencing it, must not lose the layer to a garbage
// collection in between, even when the layer's last reference was just
// deleted; an image deleted and collected must still lose its layers at
// once. These cases drive the collector's review directly (meta.GCTx), with
// the grace period given as the cut-off for fresh candidates, so that "the
// grace period passed" needs no waiting.

// graceSetter is how a test shortens the store's refresh interval for
// touched links (meta.SQL.SetGracePeriod).
type graceSetter interface{ SetGracePeriod(time.Duration) }

// reportFuncs are the calls that tell a client a blob is present: HEAD
// (RepoBlobSize) and GET (RepoBlob).
var reportFuncs = []struct {
	name   string
	report func(t *testing.T, s meta.Store, repo string, d digest.Digest) error
}{
	{"HEAD", func(t *testing.T, s meta.Store, repo string, d digest.Digest) error {
		_, err := s.RepoBlobSize(t.Context(), repo, d)
		return err
	}},
	{"GET", func(t *testing.T, s meta.Store, repo string, d digest.Digest) error {
		_, _, err := s.RepoBlob(t.Context(), repo, d)
		return err
	}},
}

// collectDue reviews every candidate due with fresh ones enqueued before
// freshBefore, as a collector pass does, and returns what it removed.
func collectDue(t *testing.T, s meta.Store, freshBefore time.Time) []meta.Removal {
	t.Helper()
	return collect(t, s, freshBefore, false)
}

// collect is collectDue, ignoring touches when ignoreTouches (an
// operator's explicit collection).
func collect(t *testing.T, s meta.Store, freshBefore time.Time, ignoreTouches bool) []meta.Removal {
	t.Helper()
	var out []meta.Removal
	err := s.GC(t.Context(), true, func(tx meta.GCTx) error {
		if ignoreTouches {
			tx.IgnoreTouches()
		}
		for range 10 { // link, then blob, then bytes: a few rounds at most
			cands, err := tx.Due(t.Context(), freshBefore, 64)
			if err != nil || len(cands) == 0 {
				return err
			}
			for _, c := range cands {
				r, err := tx.Review(t.Context(), c, meta.ReviewOptions{})
				if err != nil {
					return err
				}
				out = append(out, r...)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("garbage review: %v", err)
	}
	return out
}

// orphanedLayer pushes an image with one layer to repo, then deletes it:
// the layer's link is a garbage candidate due at once.
func orphanedLayer(t *testing.T, s meta.Store, repo, name string) digest.Digest {
	t.Helper()
	layer := commitBlob(t, s, repo, name, 4000)
	m := image(name+"-old", layer)
	put(t, s, repo, m, "old")
	if _, err := s.DeleteManifest(t.Context(), repo, m.Digest, false); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	return layer
}

func removedLink(rs []meta.Removal, repo string, d digest.Digest) bool {
	for _, r := range rs {
		if r.Kind == meta.CandidateLink && r.Repo == repo && r.Digest == d {
			return true
		}
	}
	return false
}

// testTouchKeepsLink: a link reported present after its last reference
// went survives reviews for the grace period, the manifest that follows is
// accepted, and without that manifest the link goes once the grace period
// has passed.
func testTouchKeepsLink(t *testing.T, s meta.Store) {
	const grace = time.Hour
	for _, rf := range reportFuncs {
		t.Run(rf.name, func(t *testing.T) {
			repo := "touch/" + rf.name
			layer := orphanedLayer(t, s, repo, "layer-"+rf.name)
			if err := rf.report(t, s, repo, layer); err != nil {
				t.Fatalf("%s of the orphaned layer: %v", rf.name, err)
			}
			if rs := collectDue(t, s, time.Now().Add(-grace)); removedLink(rs, repo, layer) {
				t.Fatalf("a review within the grace period removed the link a %s reported present: %+v", rf.name, rs)
			}
			checkRepoBlob(t, s, repo, layer, 4000)
			if rs := collectDue(t, s, time.Now().Add(-grace)); removedLink(rs, repo, layer) {
				t.Fatalf("a second review within the grace period removed the link: %+v", rs)
			}
			put(t, s, repo, image("new-"+rf.name, layer), "new")

			// Another client's manifest referencing the layer comes and
			// goes: the touch stays, for whoever else relied on it.
			if _, err := s.DeleteManifest(t.Context(), repo, image("new-"+rf.name, layer).Digest, false); err != nil {
				t.Fatalf("DeleteManifest: %v", err)
			}
			if rs := collectDue(t, s, time.Now().Add(-grace)); removedLink(rs, repo, layer) {
				t.Fatalf("a review within the grace period removed a touched link queued again: %+v", rs)
			}
			// Reported present again; the grace period then passes
			// without a manifest: the link and blob go.
			if err := rf.report(t, s, repo, layer); err != nil {
				t.Fatalf("%s: %v", rf.name, err)
			}
			rs := collectDue(t, s, time.Now().Add(time.Second))
			if !removedLink(rs, repo, layer) {
				t.Errorf("after the grace period the link stayed: removed %+v", rs)
			}
			checkNoRepoBlob(t, s, repo, layer)
			if _, err := s.BlobSize(t.Context(), layer); !errors.Is(err, meta.ErrNotFound) {
				t.Errorf("BlobSize after the grace period: %v, want ErrNotFound", err)
			}
		})
	}
}

// testPullThenDeleteFreesAtOnce is the seed flow: a layer pulled (HEAD or
// GET) while its image references it, then the image deleted, goes at the
// first review whatever the grace period; so does one nobody asked for.
func testPullThenDeleteFreesAtOnce(t *testing.T, s meta.Store) {
	if g, ok := s.(graceSetter); ok {
		// Make every queued link old enough for a refresh: the pull must
		// not protect the layer even so, since a manifest referenced it.
		g.SetGracePeriod(10 * time.Millisecond)
		defer g.SetGracePeriod(24 * time.Hour)
	}
	for _, rf := range append(reportFuncs, struct {
		name   string
		report func(t *testing.T, s meta.Store, repo string, d digest.Digest) error
	}{"none", nil}) {
		t.Run(rf.name, func(t *testing.T) {
			repo := "seed/" + rf.name
			layer := commitBlob(t, s, repo, "seed-layer-"+rf.name, 3000)
			m := image("seed-"+rf.name, layer)
			put(t, s, repo, m, "latest")
			time.Sleep(5 * time.Millisecond)
			if rf.report != nil {
				if err := rf.report(t, s, repo, layer); err != nil {
					t.Fatalf("%s: %v", rf.name, err)
				}
			}
			if _, err := s.DeleteManifest(t.Context(), repo, m.Digest, false); err != nil {
				t.Fatalf("DeleteManifest: %v", err)
			}
			if rs := collectDue(t, s, time.Now().Add(-time.Hour)); !removedLink(rs, repo, layer) {
				t.Errorf("the deleted image's layer stayed: removed %+v", rs)
			}
			checkNoRepoBlob(t, s, repo, layer)
		})
	}
}

// testReviewBeforeTouch: a HEAD that arrives while a review of the link
// is under way (listed, not yet committed) waits for it and reports the
// link absent, so the client uploads the blob instead of relying on it.
func testReviewBeforeTouch(t *testing.T, s meta.Store) {
	const repo = "touch/late"
	layer := orphanedLayer(t, s, repo, "late-layer")
	headErr := make(chan error, 1)
	err := s.GC(t.Context(), true, func(tx meta.GCTx) error {
		cands, err := tx.Due(t.Context(), time.Now().Add(-time.Hour), 64)
		if err != nil {
			return err
		}
		go func() {
			_, err := s.RepoBlobSize(t.Context(), repo, layer)
			headErr <- err
		}()
		// Let the HEAD reach the point where it waits for this
		// transaction; the outcome must not depend on whether it did.
		time.Sleep(50 * time.Millisecond)
		for _, c := range cands {
			if _, err := tx.Review(t.Context(), c, meta.ReviewOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("garbage review: %v", err)
	}
	select {
	case err := <-headErr:
		if !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("HEAD during the review that removed the link: %v, want ErrNotFound", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("HEAD did not return after the review committed")
	}
	checkNoRepoBlob(t, s, repo, layer)
}

// testExplicitCollectionIgnoresTouch: an operator's explicit collection
// (wharf garbage-collect) frees a deleted image's layer at once even if a
// HEAD or GET reported it present after the deletion, while it still
// keeps a blob pushed within the grace period.
func testExplicitCollectionIgnoresTouch(t *testing.T, s meta.Store) {
	for _, rf := range reportFuncs {
		t.Run(rf.name, func(t *testing.T) {
			repo := "explicit/" + rf.name
			layer := orphanedLayer(t, s, repo, "explicit-"+rf.name)
			pushed := commitBlob(t, s, repo, "explicit-pushed-"+rf.name, 10)
			for _, d := range []digest.Digest{layer, pushed} {
				if err := rf.report(t, s, repo, d); err != nil {
					t.Fatalf("%s: %v", rf.name, err)
				}
			}
			rs := collect(t, s, time.Now().Add(-time.Hour), true)
			if !removedLink(rs, repo, layer) {
				t.Errorf("an explicit collection kept the touched link of a deleted image: removed %+v", rs)
			}
			if removedLink(rs, repo, pushed) {
				t.Errorf("an explicit collection removed a blob pushed within the grace period")
			}
			checkNoRepoBlob(t, s, repo, layer)
			checkRepoBlob(t, s, repo, pushed, 10)
		})
	}
}
