package azure_test

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/blob/azure"
	"github.com/wharf-registry/wharf/internal/blob/blobtest"
	"github.com/wharf-registry/wharf/internal/testenv"
)

var rootSeq atomic.Int64

// azureEnv is Azurite with one fresh container for the calling test.
type azureEnv struct {
	testenv.AzureServer
	Container string
}

// newEnv creates a container with a fresh name, deleted when the test ends.
func newEnv(t *testing.T) azureEnv {
	t.Helper()
	e := azureEnv{AzureServer: testenv.Azure(t, testenv.AzureHow)}
	cred, err := azblob.NewSharedKeyCredential(e.AccountName, e.AccountKey)
	if err != nil {
		t.Fatalf("account key: %v", err)
	}
	c, err := azblob.NewClientWithSharedKeyCredential(e.ServiceURL, cred, nil)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	var b [6]byte
	crand.Read(b[:])
	e.Container = "wharf-test-" + hex.EncodeToString(b[:])
	if _, err := c.CreateContainer(t.Context(), e.Container, nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() { c.DeleteContainer(t.Context(), e.Container, nil) })
	return e
}

func (e azureEnv) options(root string) azure.Options {
	return azure.Options{
		AccountName:   e.AccountName,
		AccountKey:    e.AccountKey,
		Container:     e.Container,
		ServiceURL:    e.ServiceURL,
		RootDirectory: root,
		BlockSize:     1 << 20,
	}
}

func open(t *testing.T, opts azure.Options) *azure.Store {
	t.Helper()
	s, err := azure.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("azure.New: %v", err)
	}
	return s
}

func freshRoot() string { return fmt.Sprintf("/root-%d-%d/", time.Now().UnixNano(), rootSeq.Add(1)) }

func TestAzureConformance(t *testing.T) {
	e := newEnv(t)
	blobtest.Run(t, func(t *testing.T) blob.Store { return open(t, e.options(freshRoot())) })
}

func TestAzureBadOptions(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		change func(o *azure.Options)
	}{
		{"missing container", func(o *azure.Options) { o.Container = "wharf-no-such-container" }},
		{"no container", func(o *azure.Options) { o.Container = "" }},
		{"bad service url", func(o *azure.Options) { o.ServiceURL = "ftp://x" }},
		{"wrong key", func(o *azure.Options) { o.AccountKey = "d3JvbmcK" }},
		{"unknown credentials type", func(o *azure.Options) { o.Credentials.Type = "password" }},
		{"tiny blocks", func(o *azure.Options) { o.BlockSize = 1000 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := e.options("x")
			tc.change(&opts)
			if _, err := azure.New(t.Context(), opts); err == nil {
				t.Errorf("New succeeded")
			}
		})
	}
}

func TestAzureServiceURL(t *testing.T) {
	for _, tc := range []struct {
		opts azure.Options
		want string
	}{
		{azure.Options{AccountName: "acct"}, "https://acct.blob.core.windows.net"},
		{azure.Options{AccountName: "acct", Realm: "core.chinacloudapi.cn"}, "https://acct.blob.core.chinacloudapi.cn"},
		{azure.Options{AccountName: "acct", ServiceURL: "http://127.0.0.1:10000/acct/"}, "http://127.0.0.1:10000/acct"},
	} {
		got, err := azure.ServiceURL(tc.opts)
		if err != nil || got != tc.want {
			t.Errorf("ServiceURL(%+v) = %q, %v; want %q", tc.opts, got, err, tc.want)
		}
	}
	if _, err := azure.ServiceURL(azure.Options{}); err == nil {
		t.Errorf("ServiceURL without account or URL succeeded")
	}
}

// TestAzureUploadAcrossStores continues one upload from three stores (as
// three nodes would), each handed only the state the previous returned,
// with writes that fill several blocks and one that cuts a block.
func TestAzureUploadAcrossStores(t *testing.T) {
	e := newEnv(t)
	root := freshRoot()
	stores := []*azure.Store{open(t, e.options(root)), open(t, e.options(root)), open(t, e.options(root))}
	data := make([]byte, 3<<20+777)
	crand.Read(data)
	ctx := t.Context()
	var state blob.UploadState
	var off int64
	for i, chunk := range [][]byte{data[:1<<20+5], data[1<<20+5 : 2<<20+100], data[2<<20+100:]} {
		n, st, err := stores[i].WriteUpload(ctx, "across", state, off, bytes.NewReader(chunk))
		if err != nil || n != int64(len(chunk)) {
			t.Fatalf("write %d on store %d: n=%d err=%v", len(chunk), i, n, err)
		}
		state, off = st, off+n
	}
	// Rewrite the last 1000 bytes from inside a block, on another store.
	off -= 1000
	n, state, err := stores[0].WriteUpload(ctx, "across", state, off, bytes.NewReader(data[off:]))
	if err != nil || n != 1000 {
		t.Fatalf("rewrite tail: n=%d err=%v", n, err)
	}
	d := digest.FromBytes(data)
	if err := stores[1].CommitUpload(ctx, "across", state, int64(len(data)), d); err != nil {
		t.Fatalf("commit: %v", err)
	}
	blobtest.CheckBlob(t, stores[2], d, data)
	if ups, err := stores[2].ListUploads(ctx); err != nil || len(ups) != 0 {
		t.Errorf("ListUploads after commit = %v, %v; want none", ups, err)
	}
}

// TestAzureRedirect fetches a blob through its SAS URL and checks that
// Azurite refuses the URL once its signature is changed.
func TestAzureRedirect(t *testing.T) {
	e := newEnv(t)
	s := blobtest.Track(open(t, e.options(freshRoot())))
	data := []byte("served by a SAS URL")
	if _, err := s.WriteUpload(t.Context(), "sas", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(data)
	if err := s.CommitUpload(t.Context(), "sas", int64(len(data)), d); err != nil {
		t.Fatal(err)
	}
	u, err := s.Store.(blob.Redirector).RedirectURL(t.Context(), d)
	if err != nil {
		t.Fatalf("RedirectURL: %v", err)
	}
	if !strings.HasPrefix(u, e.ServiceURL+"/") || !strings.Contains(u, "sig=") {
		t.Fatalf("RedirectURL = %q, want a SAS URL under %s", u, e.ServiceURL)
	}
	status, body := get(t, u)
	if status != http.StatusOK || !bytes.Equal(body, data) {
		t.Errorf("GET SAS URL: %d %q, want 200 %q", status, body, data)
	}
	bad := strings.Replace(u, "sig=", "sig=AAAA", 1)
	if status, _ := get(t, bad); status != http.StatusForbidden {
		t.Errorf("GET SAS URL with a wrong signature: %d, want 403", status)
	}
	if _, err := s.Store.(blob.Redirector).RedirectURL(t.Context(), digest.FromString("none")); err != blob.ErrNotFound {
		t.Errorf("RedirectURL of a missing blob: %v, want ErrNotFound", err)
	}
}

func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// BenchmarkAzure measures push and pull throughput against Azurite with
// the default block size.
func BenchmarkAzure(b *testing.B) {
	e := azureEnv{AzureServer: testenv.Azure(b, testenv.AzureHow)}
	cred, err := azblob.NewSharedKeyCredential(e.AccountName, e.AccountKey)
	if err != nil {
		b.Fatal(err)
	}
	c, err := azblob.NewClientWithSharedKeyCredential(e.ServiceURL, cred, nil)
	if err != nil {
		b.Fatal(err)
	}
	e.Container = fmt.Sprintf("wharf-bench-%d", time.Now().UnixNano())
	if _, err := c.CreateContainer(b.Context(), e.Container, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.DeleteContainer(b.Context(), e.Container, nil) })
	opts := e.options(freshRoot())
	opts.BlockSize = 0
	s, err := azure.New(b.Context(), opts)
	if err != nil {
		b.Fatal(err)
	}
	blobtest.Bench(b, s, 64<<20, 16<<20)
}

// TestAzureRegistry2Layout: a blob distribution's Azure driver left under
// the root (docker/registry/v2/blobs/.../data) is served, walked and
// deleted in place, and the tree is readable for the importer.
func TestAzureRegistry2Layout(t *testing.T) {
	e := newEnv(t)
	root := freshRoot()
	data := []byte("a layer registry:2 wrote")
	d := digest.FromBytes(data)
	legacy := strings.Trim(root, "/") + "/docker/registry/v2/blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data"
	link := strings.Trim(root, "/") + "/docker/registry/v2/repositories/app/_layers/sha256/" + d.Encoded() + "/link"
	cred, _ := azblob.NewSharedKeyCredential(e.AccountName, e.AccountKey)
	c, err := azblob.NewClientWithSharedKeyCredential(e.ServiceURL, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string][]byte{legacy: data, link: []byte(d)} {
		if _, err := c.UploadBuffer(t.Context(), e.Container, key, body, nil); err != nil {
			t.Fatalf("upload %s: %v", key, err)
		}
	}
	s := open(t, e.options(root))
	blobtest.CheckBlob(t, s, d, data)
	var walked []digest.Digest
	if err := s.Walk(t.Context(), func(got digest.Digest, _ int64) error { walked = append(walked, got); return nil }); err != nil || len(walked) != 1 || walked[0] != d {
		t.Errorf("Walk = %v, %v; want [%s]", walked, err, d)
	}
	names, err := s.List(t.Context(), blob.LegacyDir+"/repositories/app")
	if err != nil || len(names) != 1 || names[0] != "_layers" {
		t.Errorf("List = %v, %v; want [_layers]", names, err)
	}
	files, err := s.Files(t.Context(), blob.LegacyDir+"/repositories")
	if err != nil || len(files) != 1 || files[0] != "app/_layers/sha256/"+d.Encoded()+"/link" {
		t.Errorf("Files = %v, %v", files, err)
	}
	if got, err := s.Read(t.Context(), blob.LegacyDir+"/repositories/app/_layers/sha256/"+d.Encoded()+"/link"); err != nil || string(got) != string(d) {
		t.Errorf("Read link = %q, %v", got, err)
	}
	if _, err := s.Read(t.Context(), "nothing/here"); err != blob.ErrNotFound {
		t.Errorf("Read of a missing file: %v, want ErrNotFound", err)
	}
	if err := s.Delete(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), d); err != blob.ErrNotFound {
		t.Errorf("Stat after Delete: %v, want ErrNotFound", err)
	}
}

// TestAzureSmallChunksFewBlocks: many chunks smaller than a block end up
// in whole blocks (the small last block is staged again with the next
// chunk), so a client sending small chunks does not run into Azure's
// 50,000 committed blocks per blob.
func TestAzureSmallChunksFewBlocks(t *testing.T) {
	e := newEnv(t)
	s := open(t, e.options(freshRoot())) // 1 MiB blocks
	data := make([]byte, 40*100<<10+17)
	crand.Read(data)
	var state blob.UploadState
	var off int64
	for off < int64(len(data)) {
		end := min(off+100<<10, int64(len(data)))
		n, st, err := s.WriteUpload(t.Context(), "small", state, off, bytes.NewReader(data[off:end]))
		if err != nil || n != end-off {
			t.Fatalf("write at %d: n=%d err=%v", off, n, err)
		}
		state, off = st, end
	}
	var st struct {
		Blocks []struct{ Size int64 } `json:"blocks"`
	}
	if err := json.Unmarshal(state, &st); err != nil {
		t.Fatal(err)
	}
	if want := len(data)/(1<<20) + 1; len(st.Blocks) != want {
		t.Errorf("%d chunks of 100 KiB made %d blocks, want %d", 41, len(st.Blocks), want)
	}
	for i, b := range st.Blocks[:len(st.Blocks)-1] {
		if b.Size != 1<<20 {
			t.Errorf("block %d holds %d bytes, want a full block", i, b.Size)
		}
	}
	d := digest.FromBytes(data)
	if err := s.CommitUpload(t.Context(), "small", state, int64(len(data)), d); err != nil {
		t.Fatal(err)
	}
	blobtest.CheckBlob(t, s, d, data)
}
