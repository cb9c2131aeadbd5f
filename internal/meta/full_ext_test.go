package meta_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/testenv"
)

// TestSQLiteFull fills a real small disk under SQLite: the write that does
// not fit fails with ErrFull (nothing of it kept), and the hook run before
// each write can make room so that the next write succeeds.
func TestSQLiteFull(t *testing.T) {
	dir := testenv.SmallFS(t, 4<<20)
	s := openSQLite(t, filepath.Join(dir, "m.db"))
	defer s.Close()
	filler := filepath.Join(dir, "filler")
	testenv.FillDisk(t, filler)

	content := make([]byte, 64<<10)
	var err error
	var written int
	for ; written < 256 && err == nil; written++ { // 16 MiB cannot fit in 4
		err = s.CreateUpload(t.Context(), &meta.Upload{ID: uuid.NewString(), Repo: "r", HashState: []byte{1}, Content: content})
	}
	if !errors.Is(err, meta.ErrFull) {
		t.Fatalf("after %d writes on a full disk: %v, want ErrFull", written, err)
	}

	made := false
	s.SetBeforeWrite(func() {
		if !made {
			made = os.Remove(filler) == nil
		}
	})
	if err := s.CreateUpload(t.Context(), &meta.Upload{ID: uuid.NewString(), Repo: "r", HashState: []byte{1}}); err != nil {
		t.Fatalf("write after the hook made room: %v", err)
	}
	if !made {
		t.Fatal("the hook did not run before the write")
	}
}
