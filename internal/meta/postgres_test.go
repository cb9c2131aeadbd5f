package meta_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/meta/metatest"
	"github.com/wharf-registry/wharf/internal/testenv"
)

// postgresAdminDSN returns the DSN of the test server, or skips the test.
func postgresAdminDSN(t *testing.T) string {
	t.Helper()
	return testenv.Postgres(t, "PostgreSQL tests need a server: run them with `make test` or scripts/test-services.sh go test ./internal/meta/")
}

// freshDatabase creates an empty database on the test server, dropped when
// the test ends (after the stores are closed), and returns its DSN.
func freshDatabase(t *testing.T) string {
	t.Helper()
	return testenv.FreshDatabase(t, postgresAdminDSN(t), "wharf_t_")
}

func openPostgres(t *testing.T, dsn string) *meta.SQL {
	t.Helper()
	s, err := meta.OpenPostgres(context.Background(), dsn, 8)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresConformance(t *testing.T) {
	postgresAdminDSN(t)
	metatest.Run(t, func(t *testing.T) meta.Store {
		return openPostgres(t, freshDatabase(t))
	})
}

// TestPostgresOpenTogether opens several stores on one new database at
// once, as nodes starting together do: all succeed, and each migration is
// applied once.
func TestPostgresOpenTogether(t *testing.T) {
	dsn := freshDatabase(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	stores := make([]*meta.SQL, nodes)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = meta.OpenPostgres(t.Context(), dsn, 2)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("OpenPostgres %d: %v", i, err)
		} else {
			defer stores[i].Close()
		}
	}
	if t.Failed() {
		return
	}
	db := rawDB(t, dsn)
	rows := func() []migrationRow {
		t.Helper()
		rs, err := db.Query(`SELECT version, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		defer rs.Close()
		var out []migrationRow
		for rs.Next() {
			var r migrationRow
			if err := rs.Scan(&r.version, &r.appliedAt); err != nil {
				t.Fatalf("read schema_migrations: %v", err)
			}
			out = append(out, r)
		}
		return out
	}
	first := rows()
	if len(first) == 0 {
		t.Fatalf("schema_migrations is empty")
	}
	for i, r := range first {
		if r.version != i+1 {
			t.Fatalf("schema_migrations versions = %v, want 1..%d each once", first, len(first))
		}
	}
	// The stores work, on one schema.
	ctx := t.Context()
	d := digest.FromString("shared")
	if err := stores[0].CommitBlob(ctx, "r", d, 5, "", nil); err != nil {
		t.Fatalf("CommitBlob: %v", err)
	}
	if size, err := stores[nodes-1].RepoBlobSize(ctx, "r", d); err != nil || size != 5 {
		t.Errorf("RepoBlobSize through another store = %d, %v; want 5", size, err)
	}
	// Opening again applies nothing.
	time.Sleep(5 * time.Millisecond)
	openPostgres(t, dsn)
	if again := rows(); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("schema_migrations after reopening = %v, want unchanged %v", again, first)
	}
}

// byteSet stands in for the blob store: which digests have bytes in place.
type byteSet struct {
	mu sync.Mutex
	m  map[digest.Digest]bool
}

func (b *byteSet) put(d digest.Digest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[d] = true
}

func (b *byteSet) remove(d digest.Digest) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, d)
	return nil
}

func (b *byteSet) has(d digest.Digest) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[d]
}

// collect runs garbage review rounds through s until ctx is done or stop
// is closed, everything due at once (no grace period), untagged manifests
// included. It returns the first error.
func collect(ctx context.Context, s *meta.SQL, bytes *byteSet, stop <-chan struct{}) (rounds int, err error) {
	opts := meta.ReviewOptions{DeleteUntagged: true, RemoveBytes: bytes.remove}
	for {
		select {
		case <-stop:
			return rounds, nil
		default:
		}
		err := s.GC(ctx, true, func(tx meta.GCTx) error {
			cands, err := tx.Due(ctx, time.Now().Add(time.Hour), 64)
			if err != nil {
				return err
			}
			for _, c := range cands {
				if _, err := tx.Review(ctx, c, opts); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return rounds, err
		}
		rounds++
	}
}

// checkIntegrity asserts what garbage collection must never break: every
// blob reference of a manifest has its link, every child of an index is
// there, every link its blob row, and every blob row its bytes.
func checkIntegrity(t *testing.T, db *sql.DB, bytes *byteSet) {
	t.Helper()
	for _, q := range []struct{ what, q string }{
		{"manifest references without their link", `SELECT COUNT(*) FROM manifest_refs mr WHERE mr.kind = 1
			AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repo_id = mr.repo_id AND rb.digest = mr.ref_digest)`},
		{"index children missing", `SELECT COUNT(*) FROM manifest_refs mr WHERE mr.kind = 2
			AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = mr.repo_id AND m.digest = mr.ref_digest)`},
		{"links without their blob", `SELECT COUNT(*) FROM repository_blobs rb
			WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = rb.digest)`},
	} {
		var n int
		if err := db.QueryRow(q.q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q.what, err)
		}
		if n != 0 {
			t.Errorf("%s: %d", q.what, n)
		}
	}
	rows, err := db.Query(`SELECT digest FROM blobs`)
	if err != nil {
		t.Fatalf("list blobs: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatalf("list blobs: %v", err)
		}
		if !bytes.has(digest.Digest(d)) {
			t.Errorf("blob row %s has no bytes", d)
		}
	}
}

// TestPostgresGCRaces runs pushes on one store while another store's
// collector reviews the very links, blobs and manifests they use, on the
// same database (two nodes). Whatever the interleaving, a push either
// succeeds with everything it references in place, or fails with
// MissingRefsError; a blob row never outlives its bytes.
func TestPostgresGCRaces(t *testing.T) {
	dsn := freshDatabase(t)
	pusher, collector := openPostgres(t, dsn), openPostgres(t, dsn)
	db := rawDB(t, dsn)
	bytes := &byteSet{m: map[digest.Digest]bool{}}
	ctx := t.Context()
	const repo = "race/app"
	const iterations = 150

	stop := make(chan struct{})
	var gcRounds int
	var gcErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		gcRounds, gcErr = collect(ctx, collector, bytes, stop)
	}()

	layers := []digest.Digest{digest.FromString("layer-a"), digest.FromString("layer-b")}
	var pushed, missing, childMissing int
	var kept []string // tags expected to resolve at the end
	for i := range iterations {
		if gcErr != nil {
			break
		}
		// Commit both layers; the collector may take each link and blob
		// away at any moment (every link is due at once).
		for _, l := range layers {
			if err := pusher.CommitBlob(ctx, repo, l, 10, "", func() error { bytes.put(l); return nil }); err != nil {
				t.Fatalf("iteration %d: CommitBlob: %v", i, err)
			}
		}
		payload := []byte(fmt.Sprintf(`{"schemaVersion":2,"n":%d}`, i))
		m := &meta.Manifest{Digest: digest.FromBytes(payload), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Payload: payload, Refs: []meta.Ref{{Digest: layers[0], Kind: meta.RefBlob}, {Digest: layers[1], Kind: meta.RefBlob}}}
		// Pushed by digest, untagged: the collector may remove it too.
		err := pusher.PutManifest(ctx, repo, m, "")
		var mre *meta.MissingRefsError
		switch {
		case errors.As(err, &mre):
			missing++
			continue
		case err != nil:
			t.Fatalf("iteration %d: PutManifest: %v", i, err)
		}
		pushed++
		// An index over it, racing the review of the untagged child.
		ipayload := []byte(fmt.Sprintf(`{"schemaVersion":2,"index":%d}`, i))
		idx := &meta.Manifest{Digest: digest.FromBytes(ipayload), MediaType: "application/vnd.oci.image.index.v1+json",
			Payload: ipayload, Refs: []meta.Ref{{Digest: m.Digest, Kind: meta.RefManifest}}}
		tag := fmt.Sprintf("t%d", i)
		err = pusher.PutManifest(ctx, repo, idx, tag)
		switch {
		case errors.As(err, &mre):
			childMissing++
			continue
		case err != nil:
			t.Fatalf("iteration %d: PutManifest(index): %v", i, err)
		}
		if i%10 == 0 {
			kept = append(kept, tag) // stays, keeping its child and the layers
			continue
		}
		// Drop it again: index, child and links become candidates.
		if _, err := pusher.DeleteManifest(ctx, repo, idx.Digest, false); err != nil {
			t.Fatalf("iteration %d: DeleteManifest(index): %v", i, err)
		}
		if _, err := pusher.DeleteManifest(ctx, repo, m.Digest, false); err != nil && !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("iteration %d: DeleteManifest: %v", i, err)
		}
	}
	close(stop)
	<-done
	if gcErr != nil {
		t.Fatalf("collector: %v", gcErr)
	}
	t.Logf("%d iterations: %d manifests pushed, %d refused for a missing layer, %d indexes refused for a missing child; %d collector rounds",
		iterations, pushed, missing, childMissing, gcRounds)
	checkIntegrity(t, db, bytes)
	for _, tag := range kept {
		d, err := pusher.ResolveTag(ctx, repo, tag)
		if err != nil {
			t.Errorf("ResolveTag(%s): %v", tag, err)
			continue
		}
		if _, err := pusher.GetManifest(ctx, repo, d); err != nil {
			t.Errorf("GetManifest(%s): %v", tag, err)
		}
	}
	for _, l := range layers {
		if len(kept) > 0 {
			if _, err := pusher.RepoBlobSize(ctx, repo, l); err != nil {
				t.Errorf("RepoBlobSize(%s) with tagged manifests using it: %v", l, err)
			}
			if !bytes.has(l) {
				t.Errorf("bytes of %s gone while tagged manifests use it", l)
			}
		}
	}

	// A last full collection leaves a consistent store too.
	close2 := make(chan struct{})
	go func() { time.Sleep(200 * time.Millisecond); close(close2) }()
	if _, err := collect(ctx, collector, bytes, close2); err != nil {
		t.Fatalf("collector: %v", err)
	}
	checkIntegrity(t, db, bytes)
}

// TestPostgresConcurrentCollectors runs two collectors (two nodes) over the
// same queue: every candidate is handled, none twice.
func TestPostgresConcurrentCollectors(t *testing.T) {
	dsn := freshDatabase(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	ctx := t.Context()
	bytes := &byteSet{m: map[digest.Digest]bool{}}
	const n = 200
	for i := range n {
		d := digest.FromString(fmt.Sprint("orphan ", i))
		if err := a.CommitBlob(ctx, fmt.Sprintf("repo-%d", i%7), d, 1, "", func() error { bytes.put(d); return nil }); err != nil {
			t.Fatalf("CommitBlob: %v", err)
		}
	}
	var mu sync.Mutex
	removed := map[string]int{}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*meta.SQL{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 100; round++ {
				due := 0
				err := s.GC(ctx, true, func(tx meta.GCTx) error {
					cands, err := tx.Due(ctx, time.Now().Add(time.Hour), 16)
					if err != nil {
						return err
					}
					due = len(cands)
					for _, c := range cands {
						rs, err := tx.Review(ctx, c, meta.ReviewOptions{RemoveBytes: bytes.remove})
						if err != nil {
							return err
						}
						mu.Lock()
						for _, r := range rs {
							removed[fmt.Sprint(r.Kind, r.Repo, r.Digest)]++
						}
						mu.Unlock()
					}
					return nil
				})
				if err != nil {
					errs[i] = err
					return
				}
				if due == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("collector: %v", err)
		}
	}
	if len(removed) != 2*n {
		t.Errorf("removed %d distinct links and blobs, want %d", len(removed), 2*n)
	}
	for k, c := range removed {
		if c != 1 {
			t.Errorf("%s removed %d times", k, c)
		}
	}
	for i := range n {
		d := digest.FromString(fmt.Sprint("orphan ", i))
		if _, err := a.BlobSize(ctx, d); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("BlobSize(%s) after collection = %v; want ErrNotFound", d, err)
		}
		if bytes.has(d) {
			t.Errorf("bytes of %s left", d)
		}
	}
}

// gcAndInspect runs the garbage collector's sweep, a dry run and a real
// review, and the inspection queries, over a small scenario, and returns
// what each said, for comparing the dialects.
func gcAndInspect(t *testing.T, s *meta.SQL) []string {
	t.Helper()
	ctx := t.Context()
	var out []string
	say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	layer := digest.FromString("layer")
	shared := digest.FromString("shared")
	orphan := digest.FromString("orphan")
	for _, c := range []struct {
		repo string
		d    digest.Digest
		size int64
	}{{"app", layer, 1000}, {"app", shared, 20}, {"other", shared, 20}, {"other", orphan, 3}} {
		if err := s.CommitBlob(ctx, c.repo, c.d, c.size, "", nil); err != nil {
			t.Fatalf("CommitBlob: %v", err)
		}
	}
	img := func(name string, refs ...digest.Digest) *meta.Manifest {
		p := []byte(`{"schemaVersion":2,"name":"` + name + `"}`)
		m := &meta.Manifest{Digest: digest.FromBytes(p), MediaType: "application/vnd.oci.image.manifest.v1+json", Payload: p}
		for _, r := range refs {
			m.Refs = append(m.Refs, meta.Ref{Digest: r, Kind: meta.RefBlob})
		}
		return m
	}
	tagged, untagged := img("tagged", layer, shared), img("untagged", shared)
	if err := s.PutManifest(ctx, "app", tagged, "v1"); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	if err := s.PutManifest(ctx, "other", untagged, ""); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	usage, err := s.Usage(ctx)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	say("usage %+v", usage)
	blobs, err := s.BlobPage(ctx, "", 10)
	if err != nil {
		t.Fatalf("BlobPage: %v", err)
	}
	say("blobs %+v", blobs)
	ms, err := s.ManifestPage(ctx, 0, "", 10)
	if err != nil {
		t.Fatalf("ManifestPage: %v", err)
	}
	for _, m := range ms {
		say("manifest %s %s %d refs %v", m.Repo, m.Digest, len(m.Payload), m.Refs)
	}
	run := func(commit bool) {
		err := s.GC(ctx, commit, func(tx meta.GCTx) error {
			n, err := tx.EnqueueUnreferenced(ctx, true)
			if err != nil {
				return err
			}
			say("commit %t: swept %d", commit, n)
			tags, err := tx.RetentionTags(ctx, "app")
			if err != nil {
				return err
			}
			for _, tg := range tags {
				say("retention tag %s %s", tg.Name, tg.Digest)
			}
			for range 3 {
				cands, err := tx.Due(ctx, time.Now().Add(time.Hour), 64)
				if err != nil {
					return err
				}
				// Candidates queued in one millisecond come in digest
				// order, else in time order: sorted, the two dialects'
				// batches compare whatever the timing.
				var batch []string
				for _, c := range cands {
					rs, err := tx.Review(ctx, c, meta.ReviewOptions{DeleteUntagged: true})
					if err != nil {
						return err
					}
					batch = append(batch, fmt.Sprintf("review %s %s %s: %+v", c.Kind, c.Repo, c.Digest, rs))
				}
				slices.Sort(batch)
				out = append(out, batch...)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("GC(commit %t): %v", commit, err)
		}
	}
	run(false)
	run(true)
	usage, err = s.Usage(ctx)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	say("usage %+v", usage)
	return out
}

// TestPostgresLikeSQLite runs the garbage collector and the inspection
// queries (which the conformance suite does not cover) on both dialects:
// they must say the same.
func TestPostgresLikeSQLite(t *testing.T) {
	pg := openPostgres(t, freshDatabase(t))
	lite := openSQLite(t, t.TempDir()+"/m.db")
	defer lite.Close()
	want := gcAndInspect(t, lite)
	got := gcAndInspect(t, pg)
	if !slices.Equal(got, want) {
		t.Errorf("PostgreSQL:\n%s\nSQLite:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("both said:\n%s", strings.Join(want, "\n"))
	if len(want) < 10 {
		t.Errorf("scenario said too little:\n%s", strings.Join(want, "\n"))
	}
}
