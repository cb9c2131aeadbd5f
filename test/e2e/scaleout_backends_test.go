package e2e

// The object stores the scale-out tests run over: S3 (the docs' example
// node configuration as it is), Azure Blob Storage (Azurite) and Google
// Cloud Storage (fake-gcs-server), whose storage sections come from
// docs/scale-out.md too and replace the example's storage.s3 section.

import (
	"bufio"
	"bytes"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	azcontainer "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/wharf-registry/wharf/internal/blob/azure"
	"github.com/wharf-registry/wharf/internal/blob/gcs"
	"github.com/wharf-registry/wharf/internal/testenv"
)

// soBackendNames are the object stores every parametrized scale-out test
// runs over.
var soBackendNames = []string{"s3", "azure", "gcs"}

// soBackend is an object store other than S3 under a cluster.
type soBackend interface {
	// docMarker names the docs' ```yaml block holding its storage section.
	docMarker() string
	// vars are the values of that section's placeholders.
	vars() map[string]string
	// nodeEnv is added to every node's environment.
	nodeEnv() []string
	exists(t testing.TB, key string) bool
	// put writes an object (to lay out registry:2's tree).
	put(t testing.TB, key string, data []byte)
	keys(t testing.TB, prefix string) []string
	// redirectBase is what redirects to the store start with.
	redirectBase() string
	chunkSize() int64
}

// soForEachBackend runs fn as a subtest per object store.
func soForEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, name := range soBackendNames {
		t.Run(name, func(t *testing.T) { fn(t, name) })
	}
}

// soNewStoresOn is soNewStores on the named object store.
func soNewStoresOn(t testing.TB, backend string) *soStores {
	t.Helper()
	switch backend {
	case "s3":
		return soNewStores(t)
	case "azure":
		st := &soStores{env: soEnv{pgDSN: testenv.Postgres(t, soSkipMessage)}, Root: "wharf"}
		st.backend = soNewAzure(t)
		st.DSN = testenv.FreshDatabase(t, st.env.pgDSN, "wharf_e2e_")
		return st
	case "gcs":
		st := &soStores{env: soEnv{pgDSN: testenv.Postgres(t, soSkipMessage)}, Root: "wharf"}
		st.backend = soNewGCS(t)
		st.DSN = testenv.FreshDatabase(t, st.env.pgDSN, "wharf_e2e_")
		return st
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
}

// soSwapStorage replaces the storage.s3 section of the docs' node
// configuration with the section of the docs' block holding marker.
func soSwapStorage(t testing.TB, cfg, marker string) string {
	t.Helper()
	section := soDocBlock(t, marker)
	var out []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(cfg))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "  s3:":
			in = true
			for _, l := range strings.Split(strings.TrimRight(section, "\n"), "\n") {
				if strings.TrimSpace(l) != marker {
					out = append(out, l)
				}
			}
		case in && (strings.HasPrefix(line, "    ") || strings.TrimSpace(line) == ""):
		default:
			in = false
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// soDocBlock returns the one ```yaml block of docs/scale-out.md holding
// the line marker.
func soDocBlock(t testing.TB, marker string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), soDocPath))
	if err != nil {
		t.Fatalf("read %s: %v", soDocPath, err)
	}
	var found []string
	var block []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(trimmed, "```yaml"):
			in, block = true, nil
		case in && trimmed == "```":
			in = false
			for _, l := range block {
				if strings.TrimSpace(l) == marker {
					found = append(found, strings.Join(block, "\n")+"\n")
					break
				}
			}
		case in:
			block = append(block, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want exactly one ```yaml block with the line %q, found %d", soDocPath, marker, len(found))
	}
	return found[0]
}

// soAzure is a fresh container on Azurite.
type soAzure struct {
	env       testenv.AzureServer
	container string
	client    *azcontainer.Client
}

func soNewAzure(t testing.TB) *soAzure {
	t.Helper()
	e := testenv.Azure(t, testenv.AzureHow)
	cred, err := azblob.NewSharedKeyCredential(e.AccountName, e.AccountKey)
	if err != nil {
		t.Fatalf("azure account key: %v", err)
	}
	var b [6]byte
	crand.Read(b[:])
	a := &soAzure{env: e, container: "wharf-e2e-" + hex.EncodeToString(b[:])}
	a.client, err = azcontainer.NewClientWithSharedKeyCredential(e.ServiceURL+"/"+a.container, cred, nil)
	if err != nil {
		t.Fatalf("azure client: %v", err)
	}
	if _, err := a.client.Create(ctx(t), nil); err != nil {
		t.Fatalf("create container %s: %v", a.container, err)
	}
	return a
}

func (a *soAzure) docMarker() string { return "# example: azure storage" }

func (a *soAzure) vars() map[string]string {
	return map[string]string{
		"AZURE_ACCOUNT_NAME": a.env.AccountName,
		"AZURE_ACCOUNT_KEY":  a.env.AccountKey,
		"AZURE_CONTAINER":    a.container,
		"AZURE_SERVICE_URL":  a.env.ServiceURL,
	}
}

func (a *soAzure) nodeEnv() []string { return nil }

func (a *soAzure) exists(t testing.TB, key string) bool {
	t.Helper()
	_, err := a.client.NewBlobClient(key).GetProperties(ctx(t), nil)
	if err == nil {
		return true
	}
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return false
	}
	t.Fatalf("stat %s: %v", key, err)
	return false
}

func (a *soAzure) put(t testing.TB, key string, data []byte) {
	t.Helper()
	if _, err := a.client.NewBlockBlobClient(key).UploadBuffer(ctx(t), data, nil); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func (a *soAzure) keys(t testing.TB, prefix string) []string {
	t.Helper()
	var out []string
	pager := a.client.NewListBlobsFlatPager(&azcontainer.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		for _, b := range page.Segment.BlobItems {
			out = append(out, *b.Name)
		}
	}
	return out
}

func (a *soAzure) redirectBase() string { return a.env.ServiceURL + "/" + a.container + "/" }

func (a *soAzure) chunkSize() int64 { return azure.DefaultBlockSize }

// soGCS is a fresh bucket on fake-gcs-server, reached by the nodes through
// STORAGE_EMULATOR_HOST, and a service account key file that signs their
// redirect URLs (the emulator checks no signature).
type soGCS struct {
	env     testenv.GCSServer
	bucket  string
	keyFile string
	client  *storage.Service
}

func soNewGCS(t testing.TB) *soGCS {
	t.Helper()
	e := testenv.GCS(t, testenv.GCSHow)
	c, err := storage.NewService(ctx(t), option.WithEndpoint(e.Endpoint+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatalf("gcs client: %v", err)
	}
	var b [6]byte
	crand.Read(b[:])
	g := &soGCS{env: e, bucket: "wharf-e2e-" + hex.EncodeToString(b[:]), client: c}
	if _, err := c.Buckets.Insert("wharf-e2e", &storage.Bucket{Name: g.bucket}).Context(ctx(t)).Do(); err != nil {
		t.Fatalf("create bucket %s: %v", g.bucket, err)
	}
	key, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(map[string]string{
		"type":         "service_account",
		"client_email": "wharf@wharf-e2e.iam.gserviceaccount.com",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	})
	g.keyFile = filepath.Join(t.TempDir(), "gcs-key.json")
	if err := os.WriteFile(g.keyFile, j, 0o600); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *soGCS) docMarker() string { return "# example: gcs storage" }

func (g *soGCS) vars() map[string]string {
	return map[string]string{"GCS_BUCKET": g.bucket, "GCS_KEYFILE": g.keyFile}
}

func (g *soGCS) nodeEnv() []string { return []string{"STORAGE_EMULATOR_HOST=" + g.env.Endpoint} }

func (g *soGCS) exists(t testing.TB, key string) bool {
	t.Helper()
	_, err := g.client.Objects.Get(g.bucket, key).Context(ctx(t)).Do()
	if err == nil {
		return true
	}
	if ge := (*googleapi.Error)(nil); errors.As(err, &ge) && ge.Code == 404 {
		return false
	}
	t.Fatalf("stat %s: %v", key, err)
	return false
}

func (g *soGCS) put(t testing.TB, key string, data []byte) {
	t.Helper()
	if _, err := g.client.Objects.Insert(g.bucket, &storage.Object{Name: key}).Media(bytes.NewReader(data)).Context(ctx(t)).Do(); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func (g *soGCS) keys(t testing.TB, prefix string) []string {
	t.Helper()
	var out []string
	err := g.client.Objects.List(g.bucket).Prefix(prefix).Pages(ctx(t), func(page *storage.Objects) error {
		for _, o := range page.Items {
			out = append(out, o.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	return out
}

func (g *soGCS) redirectBase() string { return g.env.Endpoint + "/" + g.bucket + "/" }

func (g *soGCS) chunkSize() int64 { return gcs.DefaultChunkSize }
