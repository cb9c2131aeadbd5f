package e2e

import (
	"crypto/sha512"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // to read and alter inline blob rows
)

// inlineMax is wharf's default storage.inline.maxsize.
const inlineMax = 16 << 10

// whMetadataDB opens the server's SQLite metadata store; read-only unless
// write is set.
func whMetadataDB(t testing.TB, root string, write bool) *sql.DB {
	t.Helper()
	mode := "ro"
	if write {
		mode = "rw"
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(root, "metadata", "wharf.db")+"?mode="+mode+"&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// whInlineBlobs lists the blobs kept inline in the metadata store, digest
// -> bytes.
func whInlineBlobs(t testing.TB, root string) map[string][]byte {
	t.Helper()
	db := whMetadataDB(t, root, false)
	defer db.Close()
	rows, err := db.Query(`SELECT digest, content FROM blobs WHERE content IS NOT NULL`)
	if err != nil {
		t.Fatalf("read inline blobs: %v", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var d string
		var content []byte
		if err := rows.Scan(&d, &content); err != nil {
			t.Fatal(err)
		}
		out[d] = content
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// whDigestOf hashes b with the algorithm of digest d (sha256 or sha512).
func whDigestOf(d string, b []byte) string {
	if strings.HasPrefix(d, "sha512:") {
		s := sha512.Sum512(b)
		return "sha512:" + hex.EncodeToString(s[:])
	}
	return whDigest(b)
}

// TestInlineBlobs pushes small blobs every way a client can and checks where
// their bytes end up (inline up to storage.inline.maxsize, in the blob store
// beyond) and that they serve the same either way: GET, HEAD, ranges,
// mounts.
func TestInlineBlobs(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	const repo = "inline/app"
	octet := map[string]string{"Content-Type": "application/octet-stream"}

	type pushed struct {
		name   string
		data   []byte
		digest string
		inline bool
	}
	var all []pushed
	add := func(name string, data []byte, dg string, inline bool) {
		all = append(all, pushed{name, data, dg, inline})
	}

	// Monolithic POST ?digest=, at the limit and one byte over it.
	for _, size := range []int{1, inlineMax, inlineMax + 1} {
		data := whRandBytes(uint64(size), size)
		dg := whDigest(data)
		r := whDo(t, http.MethodPost, whWithQuery(s.URL+"/v2/"+repo+"/blobs/uploads/", "digest", dg), octet, data)
		if r.Status != http.StatusCreated {
			t.Fatalf("monolithic POST of %d bytes: %s", size, r)
		}
		add(fmt.Sprintf("monolithic POST %d", size), data, dg, size <= inlineMax)
	}
	// POST + PUT with the body.
	small := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	add("POST + PUT", small, whUploadBlob(t, s, repo, small), true)

	// Chunks that stay inline, then chunks that outgrow it: the inline
	// bytes move to the blob store with the rest.
	for _, tc := range []struct {
		name   string
		chunks []int
	}{
		{"chunks within the limit", []int{100, 200, 300}},
		{"chunks outgrowing the limit", []int{4000, 9000, 8000, 20000}},
		{"one byte then a large chunk", []int{1, 200000}},
	} {
		total := 0
		for _, n := range tc.chunks {
			total += n
		}
		data := whRandBytes(uint64(total)*7, total)
		dg := whDigest(data)
		loc := whStartUpload(t, s, repo)
		off := 0
		for _, n := range tc.chunks {
			hdr := map[string]string{"Content-Type": "application/octet-stream",
				"Content-Range": fmt.Sprintf("%d-%d", off, off+n-1)}
			r := whDo(t, http.MethodPatch, loc, hdr, data[off:off+n])
			if r.Status != http.StatusAccepted {
				t.Fatalf("%s: PATCH %d-%d: %s", tc.name, off, off+n-1, r)
			}
			if want := fmt.Sprintf("0-%d", off+n-1); r.Header.Get("Range") != want {
				t.Errorf("%s: Range after PATCH = %q, want %q", tc.name, r.Header.Get("Range"), want)
			}
			loc = whResolve(t, s, r.Header.Get("Location"))
			off += n
		}
		if st := whDo(t, http.MethodGet, loc, nil, nil); st.Header.Get("Range") != fmt.Sprintf("0-%d", total-1) {
			t.Errorf("%s: upload status Range = %q, want 0-%d", tc.name, st.Header.Get("Range"), total-1)
		}
		r := whDo(t, http.MethodPut, whWithQuery(loc, "digest", dg), nil, nil)
		if r.Status != http.StatusCreated {
			t.Fatalf("%s: PUT: %s", tc.name, r)
		}
		add(tc.name, data, dg, total <= inlineMax)
	}

	// sha512 over a chunked inline upload.
	{
		data := []byte("sha512 content kept inline")
		sum := sha512.Sum512(data)
		dg := "sha512:" + hex.EncodeToString(sum[:])
		loc := whStartUpload(t, s, repo)
		r := whDo(t, http.MethodPatch, loc, octet, data)
		if r.Status != http.StatusAccepted {
			t.Fatalf("sha512 PATCH: %s", r)
		}
		r = whDo(t, http.MethodPut, whWithQuery(whResolve(t, s, r.Header.Get("Location")), "digest", dg), nil, nil)
		if r.Status != http.StatusCreated {
			t.Fatalf("sha512 PUT: %s", r)
		}
		add("sha512", data, dg, true)
	}

	// A wrong digest on a small upload is refused and stores nothing.
	{
		data := []byte("not what the digest says")
		loc := whStartUpload(t, s, repo)
		r := whDo(t, http.MethodPut, whWithQuery(loc, "digest", whDigest([]byte("other"))), octet, data)
		whExpectError(t, "small PUT with a wrong digest", r, http.StatusBadRequest, "DIGEST_INVALID")
		r = whDo(t, http.MethodPost, whWithQuery(s.URL+"/v2/"+repo+"/blobs/uploads/", "digest", whDigest([]byte("other"))), octet, data)
		whExpectError(t, "small monolithic POST with a wrong digest", r, http.StatusBadRequest, "DIGEST_INVALID")
	}

	inline := whInlineBlobs(t, s.Root)
	files := gcBlobFiles(t, s.Root)
	for _, p := range all {
		if got := inline[p.digest]; p.inline && string(got) != string(p.data) {
			t.Errorf("%s: inline bytes of %s = %d bytes, want the %d pushed", p.name, p.digest, len(got), len(p.data))
		}
		if _, inFile := files[p.digest]; inFile == p.inline {
			t.Errorf("%s (%d bytes): in a blob file %t, want %t", p.name, len(p.data), inFile, !p.inline)
		}
		whCheckServed(t, s, repo, p.name, p.digest, p.data)
		// A range of an inline blob is served like any other.
		if len(p.data) > 10 {
			r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/blobs/"+p.digest, map[string]string{"Range": "bytes=3-9"}, nil)
			if r.Status != http.StatusPartialContent || string(r.Body) != string(p.data[3:10]) {
				t.Errorf("%s: Range bytes=3-9: %d, %q; want 206 and the bytes", p.name, r.Status, r.Body)
			}
		}
		// Mounted elsewhere, it serves there too.
		r := whDo(t, http.MethodPost, s.URL+"/v2/inline/other/blobs/uploads/?mount="+p.digest+"&from="+repo, nil, nil)
		if r.Status != http.StatusCreated {
			t.Errorf("%s: mount: %s", p.name, r)
		} else {
			whCheckServed(t, s, "inline/other", p.name+" after mount", p.digest, p.data)
		}
	}
	if len(files) == 0 || len(inline) == 0 {
		t.Errorf("%d blob files, %d inline blobs: the test should exercise both", len(files), len(inline))
	}
}

// whCheckServed checks HEAD and GET of blob dg in repo against data.
func whCheckServed(t *testing.T, s *Server, repo, what, dg string, data []byte) {
	t.Helper()
	u := s.URL + "/v2/" + repo + "/blobs/" + dg
	h := whDo(t, http.MethodHead, u, nil, nil)
	if h.Status != http.StatusOK || h.Header.Get("Docker-Content-Digest") != dg || h.Header.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Errorf("%s: HEAD: %d, digest %q, length %q; want 200, %s, %d", what, h.Status,
			h.Header.Get("Docker-Content-Digest"), h.Header.Get("Content-Length"), dg, len(data))
	}
	g := whDo(t, http.MethodGet, u, nil, nil)
	if g.Status != http.StatusOK || g.Header.Get("Docker-Content-Digest") != dg || whDigestOf(dg, g.Body) != dg {
		t.Errorf("%s: GET: %d, digest header %q, body of %d bytes hashing to %s; want 200 and %s",
			what, g.Status, g.Header.Get("Docker-Content-Digest"), len(g.Body), whDigestOf(dg, g.Body), dg)
	}
}

// TestInlineDisabled: storage.inline.maxsize 0 keeps every blob in the blob
// store.
func TestInlineDisabled(t *testing.T) {
	s := StartServer(t, ServerOptions{Env: []string{"REGISTRY_STORAGE_INLINE_MAXSIZE=0"}})
	img := whRandomImage(t, 2048, 2)
	whPush(t, s, "noinline/app:v1", img)
	whVerifyImage(t, s, "noinline/app:v1", img)
	if inline := whInlineBlobs(t, s.Root); len(inline) != 0 {
		t.Errorf("%d blobs inline with storage.inline.maxsize 0, want none", len(inline))
	}
	if files := gcBlobFiles(t, s.Root); len(files) != 3 { // 2 layers and the config
		t.Errorf("%d blob files, want 3", len(files))
	}
}

// TestScrubInline: scrub re-hashes inline blobs too, and names one whose
// row was altered.
func TestScrubInline(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	img := whRandomImage(t, 4096, 2)
	whPush(t, s, "scrubinline/app:v1", img)
	if out, errOut, code := runWharf(t, nil, "scrub", s.Config); code != 0 || !strings.Contains(out, "0 problems") {
		t.Fatalf("scrub of a healthy store: exit %d\n%s%s", code, out, errOut)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := layers[1].Digest()
	if err != nil {
		t.Fatal(err)
	}
	orig, ok := whInlineBlobs(t, s.Root)[d.String()]
	if !ok {
		t.Fatalf("layer %s is not inline", d)
	}
	db := whMetadataDB(t, s.Root, true)
	res, err := db.Exec(`UPDATE blobs SET content = ? WHERE digest = ?`, whRandBytes(9, len(orig)), d.String())
	db.Close()
	if err != nil {
		t.Fatalf("alter inline blob: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("altered %d rows, want 1", n)
	}
	out, errOut, code := runWharf(t, nil, "scrub", s.Config)
	if code != 1 || !strings.Contains(out, "blob-corrupt: "+d.String()) || !strings.Contains(out, "1 problems") {
		t.Fatalf("scrub after altering inline blob %s: exit %d, want 1 naming it\n%s%s", d, code, out, errOut)
	}
}
