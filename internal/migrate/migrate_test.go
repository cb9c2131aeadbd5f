package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/migrate"
)

// newStores opens an empty SQLite store and filesystem blob store.
func newStores(t *testing.T) migrate.Stores {
	t.Helper()
	dir := t.TempDir()
	md, err := meta.OpenSQLite(t.Context(), filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	bs, err := blob.NewFilesystem(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return migrate.Stores{Meta: md, Blobs: bs}
}

// putBlob stores data in s's blob store and records it in repo.
func putBlob(t *testing.T, s migrate.Stores, repo string, data []byte) digest.Digest {
	t.Helper()
	ctx := t.Context()
	d := digest.FromBytes(data)
	state, err := writeUpload(ctx, s.Blobs, "u-"+d.Encoded()[:8], data)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Meta.CommitBlob(ctx, repo, d, int64(len(data)), "", func() error {
		return s.Blobs.CommitUpload(ctx, "u-"+d.Encoded()[:8], state, int64(len(data)), d)
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func writeUpload(ctx context.Context, bs blob.Store, id string, data []byte) (blob.UploadState, error) {
	_, state, err := bs.WriteUpload(ctx, id, nil, 0, bytes.NewReader(data))
	return state, err
}

// fill gives src a tagged image with a layer in the blob store and an
// inline config.
func fill(t *testing.T, src migrate.Stores) digest.Digest {
	t.Helper()
	ctx := t.Context()
	layer := putBlob(t, src, "app", bytes.Repeat([]byte("layer"), 1000))
	cfg := []byte(`{"config":true}`)
	if err := src.Meta.CommitInlineBlob(ctx, "app", digest.FromBytes(cfg), cfg, ""); err != nil {
		t.Fatal(err)
	}
	m := &meta.Manifest{Digest: digest.FromString("manifest"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Payload: []byte(`{}`), Refs: []meta.Ref{{Digest: layer, Kind: meta.RefBlob}, {Digest: digest.FromBytes(cfg), Kind: meta.RefBlob}}}
	if err := src.Meta.PutManifestTags(ctx, "app", m, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	return layer
}

func TestRun(t *testing.T) {
	cases := []struct {
		name    string
		blobs   bool
		wantErr string
	}{
		{"blobs copied", true, ""},
		{"blobs missing in the target", false, "--blobs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := newStores(t), newStores(t)
			layer := fill(t, src)
			var progress bytes.Buffer
			rep, err := migrate.Run(t.Context(), src, dst, migrate.Options{Blobs: tc.blobs, Batch: 1, Progress: &progress})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Run = %v, want an error saying %q", err, tc.wantErr)
				}
				if _, err := dst.Meta.BlobSize(t.Context(), layer); !errors.Is(err, meta.ErrNotFound) {
					t.Errorf("a blob row without its bytes was written: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, progress.String())
			}
			if rep.BlobsCopied != 1 || rep.Written == 0 {
				t.Errorf("report %+v, want one blob copied and rows written", rep)
			}
			rc, _, err := dst.Blobs.Open(t.Context(), layer)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if digest.FromBytes(got) != layer {
				t.Error("copied layer differs")
			}
			again, err := migrate.Run(t.Context(), src, dst, migrate.Options{Blobs: true})
			if err != nil || again.Written != 0 || again.BlobsCopied != 0 {
				t.Errorf("second run: %+v, %v; want nothing written", again, err)
			}
		})
	}
}

// TestRunRefusesOtherData: a target holding a row the source lacks, or a
// row that differs, is another deployment.
func TestRunRefusesOtherData(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(t *testing.T, dst migrate.Stores)
	}{
		{"extra repository", func(t *testing.T, dst migrate.Stores) {
			putBlob(t, dst, "other", []byte("other"))
		}},
		{"other signing key", func(t *testing.T, dst migrate.Stores) {
			if _, err := dst.Meta.SigningKey(t.Context(), meta.TokenSigningKey, []byte("theirs")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := newStores(t), newStores(t)
			fill(t, src)
			if _, err := src.Meta.SigningKey(t.Context(), meta.TokenSigningKey, []byte("ours")); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, dst)
			if _, err := migrate.Run(t.Context(), src, dst, migrate.Options{Blobs: true}); !errors.Is(err, migrate.ErrTargetDiffers) {
				t.Fatalf("Run = %v, want ErrTargetDiffers", err)
			}
		})
	}
}
