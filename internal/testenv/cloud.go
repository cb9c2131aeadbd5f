package testenv

import "testing"

// AzureServer is the test Azure Blob Storage server (Azurite) and its
// account.
type AzureServer struct {
	// ServiceURL is the blob endpoint with the account as first path
	// segment: http://127.0.0.1:<port>/<account>.
	ServiceURL, AccountName, AccountKey string
}

// Azure returns the test Azure Blob Storage server that
// scripts/services/azurite.sh started.
func Azure(t testing.TB, how string) AzureServer {
	t.Helper()
	v := Need(t, how, "WHARF_TEST_AZURE_SERVICE_URL", "WHARF_TEST_AZURE_ACCOUNT_NAME", "WHARF_TEST_AZURE_ACCOUNT_KEY")
	return AzureServer{ServiceURL: v[0], AccountName: v[1], AccountKey: v[2]}
}

// GCSServer is the test Google Cloud Storage server (fake-gcs-server).
type GCSServer struct {
	// Endpoint is http://127.0.0.1:<port>; clients reach it through
	// STORAGE_EMULATOR_HOST, as Google's client libraries do.
	Endpoint string
}

// GCS returns the test Google Cloud Storage server that
// scripts/services/gcs.sh started.
func GCS(t testing.TB, how string) GCSServer {
	t.Helper()
	return GCSServer{Endpoint: Need(t, how, "WHARF_TEST_GCS_ENDPOINT")[0]}
}

// AzureHow and GCSHow say how to run tests that need the emulators.
const (
	AzureHow = "Azure tests need Azurite: run them with `make test` or WHARF_SERVICES=azurite scripts/test-services.sh go test ..."
	GCSHow   = "GCS tests need fake-gcs-server: run them with `make test` or WHARF_SERVICES=gcs scripts/test-services.sh go test ..."
)
