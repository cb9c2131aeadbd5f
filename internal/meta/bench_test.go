package meta_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

// BenchmarkRepoBlobSize measures the metadata side of a blob HEAD on
// SQLite, without HTTP: a link an image references (no queue row), and one
// pushed and not referenced yet (a fresh garbage candidate).
func BenchmarkRepoBlobSize(b *testing.B) {
	cases := []struct {
		name       string
		referenced bool
	}{
		{"referenced", true},
		{"unreferenced", false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := meta.OpenSQLite(ctx, filepath.Join(b.TempDir(), "m.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			d := digest.FromString("layer")
			if err := s.CommitBlob(ctx, "bench/head", d, 1000, "", nil); err != nil {
				b.Fatal(err)
			}
			if tc.referenced {
				benchReferenceAndReview(b, s, d)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.RepoBlobSize(ctx, "bench/head", d); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// benchReferenceAndReview puts a manifest referencing d and lets the
// collector review d's fresh link (kept), so it has no queue row left.
func benchReferenceAndReview(b *testing.B, s *meta.SQL, d digest.Digest) {
	b.Helper()
	ctx := context.Background()
	payload := []byte(fmt.Sprintf(`{"layer":%q}`, d))
	m := &meta.Manifest{Digest: digest.FromBytes(payload), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Payload: payload, Refs: []meta.Ref{{Digest: d, Kind: meta.RefBlob}}}
	if err := s.PutManifest(ctx, "bench/head", m, "latest"); err != nil {
		b.Fatal(err)
	}
	err := s.GC(ctx, true, func(tx meta.GCTx) error {
		cands, err := tx.Due(ctx, time.Now().Add(time.Hour), 64)
		if err != nil {
			return err
		}
		for _, c := range cands {
			if _, err := tx.Review(ctx, c, meta.ReviewOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
