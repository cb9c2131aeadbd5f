package importer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/blob"
)

func TestMediaType(t *testing.T) {
	cases := []struct {
		name, payload, want string
	}{
		{"docker manifest", `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{}}`, "application/vnd.docker.distribution.manifest.v2+json"},
		{"oci manifest without mediaType", `{"schemaVersion":2,"config":{},"layers":[]}`, ocispec.MediaTypeImageManifest},
		{"oci index without mediaType", `{"schemaVersion":2,"manifests":[]}`, ocispec.MediaTypeImageIndex},
		{"not JSON", `{`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := mediaType([]byte(c.payload)); got != c.want {
				t.Errorf("mediaType = %q, want %q", got, c.want)
			}
		})
	}
}

// writeFiles writes path -> content under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLayoutReadsRepositories checks the walk of distribution's tree on
// the cases a pushed directory rarely shows: nested names, a revision
// whose link was deleted, a tag without current link, an upload.
func TestLayoutReadsRepositories(t *testing.T) {
	root := t.TempDir()
	kept, deleted := digest.FromString("kept"), digest.FromString("deleted")
	repos := blob.LegacyDir + "/repositories/"
	rev := func(repo string, d digest.Digest) string {
		return repos + repo + "/_manifests/revisions/sha256/" + d.Encoded()
	}
	writeFiles(t, root, map[string]string{
		rev("a", kept) + "/link":                                 kept.String(),
		rev("a/b", kept) + "/link":                               kept.String(),
		rev("a/b", deleted) + "/signatures/.keep":                "",
		repos + "a/b/_manifests/tags/v1/current/link":            kept.String(),
		repos + "a/b/_manifests/tags/gone/index/.keep":           "",
		repos + "a/b/_layers/sha256/" + kept.Encoded() + "/link": kept.String(),
		repos + "c/_uploads/some-id/startedat":                   "2024-01-01T00:00:00Z",
	})
	fs, err := blob.NewFilesystem(root)
	if err != nil {
		t.Fatal(err)
	}
	l := layout{tree: fs}
	names, err := l.repositories(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "a/b", "c"}; !slices.Equal(names, want) {
		t.Fatalf("repositories = %v, want %v", names, want)
	}
	r, err := l.readRepository(t.Context(), "a/b")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.revisions, []digest.Digest{kept}) {
		t.Errorf("revisions = %v, want only %s (the other's link was deleted)", r.revisions, kept)
	}
	if !slices.Equal(r.layers, []digest.Digest{kept}) || len(r.tags) != 1 || r.tags["v1"] != kept {
		t.Errorf("layers %v, tags %v", r.layers, r.tags)
	}
	c, err := l.readRepository(t.Context(), "c")
	if err != nil || len(c.uploads) != 1 {
		t.Errorf("uploads of c = %v, %v; want one", c.uploads, err)
	}
}
