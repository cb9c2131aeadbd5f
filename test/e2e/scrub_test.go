package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScrub pushes an image, checks that scrub passes, alters one layer's
// bytes on disk, and checks that scrub names that blob and exits 1. (The
// layers are larger than what is kept inline; TestScrubInline alters an
// inline one.)
func TestScrub(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	img := whRandomImage(t, 4*inlineMax, 2)
	whPush(t, s, "scrub/app:v1", img)

	out, errOut, code := runWharf(t, nil, "scrub", s.Config)
	if code != 0 || !strings.Contains(out, "0 problems") {
		t.Fatalf("scrub of a healthy store: exit %d\n%s%s", code, out, errOut)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Root, "blobs", d.Algorithm, d.Hex[:2], d.Hex)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open stored layer: %v", err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0x00, 0xff}, 5); err != nil {
		t.Fatal(err)
	}
	f.Close()

	out, errOut, code = runWharf(t, nil, "scrub", s.Config)
	if code != 1 {
		t.Fatalf("scrub after corruption: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "blob-corrupt: "+d.String()) || !strings.Contains(out, "1 problems") {
		t.Fatalf("scrub did not name the altered blob %s:\n%s", d, out)
	}
}

// TestDu checks per-repository usage: shared blobs count for both
// repositories but are exclusive to neither.
func TestDu(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	img := whRandomImage(t, 10000, 2)
	whPush(t, s, "du/a:v1", img)
	whPush(t, s, "du/b:v1", img)
	solo := whRandomImage(t, 20000, 1)
	whPush(t, s, "du/c:v1", solo)

	out, errOut, code := runWharf(t, nil, "du", s.Config)
	if code != 0 {
		t.Fatalf("du: exit %d\n%s%s", code, out, errOut)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 6 {
			rows[f[0]] = f
		}
	}
	for _, repo := range []string{"du/a", "du/b"} {
		r := rows[repo]
		if r == nil || r[1] != "1" || r[2] != "1" || r[5] != "0" {
			t.Errorf("du row for %s = %v, want 1 tag, 1 manifest, 0 exclusive bytes\n%s", repo, r, out)
		}
	}
	if r := rows["du/c"]; r == nil || r[4] != r[5] || r[4] == "0" {
		t.Errorf("du row for du/c = %v, want all bytes exclusive\n%s", r, out)
	}
}
