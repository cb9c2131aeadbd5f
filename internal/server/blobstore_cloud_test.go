package server

import (
	"encoding/json"
	"testing"

	"github.com/wharf-registry/wharf/internal/config"
)

// TestGCSOptions: an inline service account key becomes the JSON of its
// key file; the other keys pass through.
func TestGCSOptions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       config.GCS
		wantJSON map[string]string
	}{
		{"key file", config.GCS{Bucket: "b", KeyFile: "/k.json", RootDirectory: "/r", ChunkSize: 1 << 20}, nil},
		{"inline credentials", config.GCS{Bucket: "b", Credentials: map[string]string{
			"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com", "private_key": "-----BEGIN PRIVATE KEY-----\n",
		}}, map[string]string{"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com", "private_key": "-----BEGIN PRIVATE KEY-----\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := gcsOptions(&tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if opts.Bucket != tc.in.Bucket || opts.KeyFile != tc.in.KeyFile || opts.RootDirectory != tc.in.RootDirectory || opts.ChunkSize != tc.in.ChunkSize {
				t.Errorf("options %+v do not carry %+v", opts, tc.in)
			}
			if tc.wantJSON == nil {
				if opts.CredentialsJSON != nil {
					t.Errorf("CredentialsJSON = %s, want none", opts.CredentialsJSON)
				}
				return
			}
			var got map[string]string
			if err := json.Unmarshal(opts.CredentialsJSON, &got); err != nil {
				t.Fatalf("CredentialsJSON %s: %v", opts.CredentialsJSON, err)
			}
			for k, v := range tc.wantJSON {
				if got[k] != v {
					t.Errorf("CredentialsJSON[%s] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// TestAzureOptions: distribution's keys, credentials included, reach the
// store's options.
func TestAzureOptions(t *testing.T) {
	in := config.Azure{AccountName: "acct", AccountKey: "a2V5", Container: "c", Realm: "core.chinacloudapi.cn",
		ServiceURL: "https://x", RootDirectory: "/r",
		Credentials: config.AzureCredentials{Type: "client_secret", ClientID: "i", TenantID: "t", Secret: "s"}}
	got := azureOptions(&in)
	if got.AccountName != "acct" || got.AccountKey != "a2V5" || got.Container != "c" || got.Realm != in.Realm ||
		got.ServiceURL != "https://x" || got.RootDirectory != "/r" ||
		got.Credentials.Type != "client_secret" || got.Credentials.ClientID != "i" || got.Credentials.TenantID != "t" || got.Credentials.Secret != "s" {
		t.Errorf("azureOptions(%+v) = %+v", in, got)
	}
}
