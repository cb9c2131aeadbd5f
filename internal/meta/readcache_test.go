package meta_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

// A manifest read by tag and a blob's size may be answered from memory,
// but never after a commit: made here by a second store on the same file
// (another wharf process) and by a plain SQL connection (any program).
func TestReadCacheSeesEveryCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	a := openSQLite(t, path)
	defer a.Close()
	b := openSQLite(t, path)
	defer b.Close()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	const repo = "team/app"
	layer := digest.FromString("layer")
	if err := a.CommitBlob(ctx, repo, layer, 1234, "", nil); err != nil {
		t.Fatalf("CommitBlob: %v", err)
	}
	m1 := testManifest(t, "one", layer)
	m2 := testManifest(t, "two", layer)
	if err := a.PutManifest(ctx, repo, m1, "v1"); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	wantTag := func(step string, want *meta.Manifest) {
		t.Helper()
		for range 2 { // the second read is the one a cache would answer
			got, err := a.GetTaggedManifest(ctx, repo, "v1")
			switch {
			case want == nil && !errors.Is(err, meta.ErrNotFound):
				t.Fatalf("%s: GetTaggedManifest = %v, %v; want not found", step, got, err)
			case want != nil && (err != nil || got.Digest != want.Digest || string(got.Payload) != string(want.Payload)):
				t.Fatalf("%s: GetTaggedManifest = %v, %v; want %s", step, got, err, want.Digest)
			}
		}
	}
	wantSize := func(step string, want int64) {
		t.Helper()
		for range 2 {
			got, err := a.RepoBlobSize(ctx, repo, layer)
			switch {
			case want < 0 && !errors.Is(err, meta.ErrNotFound):
				t.Fatalf("%s: RepoBlobSize = %d, %v; want not found", step, got, err)
			case want >= 0 && (err != nil || got != want):
				t.Fatalf("%s: RepoBlobSize = %d, %v; want %d", step, got, err, want)
			}
		}
	}
	wantTag("first read", m1)
	wantSize("first read", 1234)

	if err := b.PutManifest(ctx, repo, m2, "v1"); err != nil {
		t.Fatalf("PutManifest from the second store: %v", err)
	}
	wantTag("tag moved by another store", m2)

	if _, err := raw.ExecContext(ctx, `UPDATE blobs SET size = 999 WHERE digest = ?`, layer.String()); err != nil {
		t.Fatal(err)
	}
	wantSize("size changed by plain SQL", 999)

	if _, err := raw.ExecContext(ctx, `DELETE FROM tags`); err != nil {
		t.Fatal(err)
	}
	wantTag("tags deleted by plain SQL", nil)

	if _, err := raw.ExecContext(ctx, `DELETE FROM repository_blobs`); err != nil {
		t.Fatal(err)
	}
	wantSize("link deleted by plain SQL", -1)
}

// Another process opening the database while this one serves from its
// read cache: the WAL-index mapping must leave SQLite's locks on the -shm
// file alone. Closing a descriptor of that file once dropped them, and the
// other process, taking itself for the first, reset the index under this
// one (SQLITE_IOERR_IN_PAGE on every read after).
func TestReadCacheBesideAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s := openSQLite(t, path)
	defer s.Close()
	const repo = "team/app"
	layer := digest.FromString("layer")
	if err := s.CommitBlob(ctx, repo, layer, 10, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PutManifest(ctx, repo, testManifest(t, "base", layer), "base"); err != nil {
		t.Fatal(err)
	}
	// This process reads and writes all along while other processes open
	// the database, tag a manifest and exit.
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; i < 5_000_000; i++ { // bounded; stop ends it first
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.GetTaggedManifest(ctx, repo, "base"); err != nil {
					errs <- fmt.Errorf("worker %d, read %d: %w", w, i, err)
					return
				}
				if w == 0 {
					if err := s.PutManifest(ctx, repo, testManifest(t, fmt.Sprint("mine-", i), layer), "mine"); err != nil {
						errs <- fmt.Errorf("worker %d, write %d: %w", w, i, err)
						return
					}
				}
			}
		})
	}
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "WHARF_META_CHILD_DB="+path, fmt.Sprint("WHARF_META_CHILD_TAG=c", round))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("child process: %v\n%s", err, out)
		}
		if _, err := s.GetTaggedManifest(ctx, repo, fmt.Sprint("c", round)); err != nil {
			t.Errorf("round %d: the other process's tag: %v", round, err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestMain runs the other process of TestReadCacheBesideAnotherProcess
// when the test binary is started as that process.
func TestMain(m *testing.M) {
	if path := os.Getenv("WHARF_META_CHILD_DB"); path != "" {
		if err := childProcess(path, os.Getenv("WHARF_META_CHILD_TAG")); err != nil {
			fmt.Fprintln(os.Stderr, "child process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childProcess is the other process of TestReadCacheBesideAnotherProcess:
// it opens the database, tags a manifest and exits.
func childProcess(path, tag string) error {
	ctx := context.Background()
	s, err := meta.OpenSQLite(ctx, path)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.PutManifest(ctx, "team/app", testManifest(nil, "child-"+tag, digest.FromString("layer")), tag)
}

func testManifest(t *testing.T, name string, layer digest.Digest) *meta.Manifest {
	if t != nil {
		t.Helper()
	}
	payload := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"n":"` + name + `"}}`)
	return &meta.Manifest{
		Digest:    digest.FromBytes(payload),
		MediaType: "application/vnd.oci.image.manifest.v1+json",
		Payload:   payload,
		Refs:      []meta.Ref{{Digest: layer, Kind: meta.RefBlob}},
	}
}
