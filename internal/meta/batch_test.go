package meta_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

// TestGroupCommitIsolation commits many blobs at once so that SQLite's group
// commit puts several in one transaction, with every third commit failing
// in its byte step: the failures must leave no trace and must not take the
// others down with them.
func TestGroupCommitIsolation(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	const n = 96
	errBytes := errors.New("bytes could not be placed")
	var mu sync.Mutex
	placed := map[int]bool{}
	results := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := digest.FromString(fmt.Sprintf("blob-%d", i))
			results[i] = s.CommitBlob(ctx, fmt.Sprintf("repo-%d", i%5), d, int64(i), "", func() error {
				if i%3 == 0 {
					return errBytes
				}
				mu.Lock()
				placed[i] = true
				mu.Unlock()
				return nil
			})
		}()
	}
	wg.Wait()
	for i := range n {
		d := digest.FromString(fmt.Sprintf("blob-%d", i))
		size, err := s.BlobSize(ctx, d)
		switch {
		case i%3 == 0:
			if !errors.Is(results[i], errBytes) {
				t.Errorf("commit %d: %v, want the byte step's error", i, results[i])
			}
			if !errors.Is(err, meta.ErrNotFound) {
				t.Errorf("failed commit %d left a blob row (size %d, err %v)", i, size, err)
			}
		default:
			if results[i] != nil {
				t.Errorf("commit %d: %v, want success", i, results[i])
			}
			if err != nil || size != int64(i) {
				t.Errorf("commit %d: BlobSize = %d, %v; want %d", i, size, err, i)
			}
			if !placed[i] {
				t.Errorf("commit %d succeeded without its bytes step running", i)
			}
		}
	}
}
