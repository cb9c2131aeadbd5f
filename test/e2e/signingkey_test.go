package e2e

// The built-in token server's signing key lives in the metadata database:
// every node of a scale-out deployment signs and accepts the same tokens
// without configuration, and a key an earlier wharf generated under the
// root directory is moved into the database, so its tokens stay valid.
// Every name here starts with "sk".

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// skTokenServerConfig turns on htpasswd and the built-in token server
// (without auth.tokenserver.signingkey) over auUsers.
func skTokenServerConfig(t *testing.T) string {
	ht := auHtpasswd(t, auUsers)
	return fmt.Sprintf(`auth:
  htpasswd:
    realm: wharf-test
    path: %s
  tokenserver:
    enabled: true
`, ht)
}

// skWaitAuth waits until s answers GET /v2/ (401 with auth on).
func skWaitAuth(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("wharf exited during start:\n%s", s.Log.String())
		default:
		}
		resp, err := http.Get(s.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("wharf not ready after 30s:\n%s", s.Log.String())
}

// skCheckToken asks s for /v2/ with tok and wants 200.
func skCheckToken(t *testing.T, s *Server, what, tok string) {
	t.Helper()
	r := auDo(t, auReq{Method: http.MethodGet, URL: s.URL + "/v2/", Token: tok})
	if r.Status != http.StatusOK {
		t.Errorf("%s: GET /v2/ with the token = %d, want 200: %s\n%s", what, r.Status, r, s.Log.String())
	}
}

// TestSigningKeySharedAcrossNodes: three nodes on S3 and PostgreSQL with
// the token server and no signing key configured, started at once (so
// their first starts race to store a key); a token any node issues is
// accepted by every node, also after a restart.
func TestSigningKeySharedAcrossNodes(t *testing.T) {
	st := soNewStores(t)
	c := &soCluster{t: t, Stores: st, Set: soSettings{Extra: skTokenServerConfig(t)}}
	for i := range 3 {
		s := &Server{t: t, Root: t.TempDir(), Addr: freeAddr(t)}
		s.URL = "http://" + s.Addr
		s.Config = filepath.Join(t.TempDir(), fmt.Sprintf("node%d.yml", i+1))
		c.Nodes = append(c.Nodes, s)
		t.Cleanup(func() { s.Kill() })
	}
	c.writeConfigs()
	launchAll := func() {
		for _, s := range c.Nodes {
			soLaunch(s)
		}
		for _, s := range c.Nodes {
			skWaitAuth(t, s)
		}
	}
	launchAll()
	checkAll := func(when string) {
		for i, issuer := range c.Nodes {
			r, tr := auGetToken(t, issuer, "alice", auUsers["alice"], "repository:alice/app:pull,push")
			if r.Status != http.StatusOK {
				t.Fatalf("%s: token from node %d = %d: %s", when, i+1, r.Status, r)
			}
			for j, s := range c.Nodes {
				skCheckToken(t, s, fmt.Sprintf("%s: token of node %d on node %d", when, i+1, j+1), tr.Token)
			}
		}
	}
	checkAll("first start")
	_, tr := auGetToken(t, c.Nodes[0], "alice", auUsers["alice"])
	for _, s := range c.Nodes {
		s.Kill()
	}
	launchAll()
	checkAll("after restart")
	for j, s := range c.Nodes {
		skCheckToken(t, s, fmt.Sprintf("token issued before the restart, on node %d", j+1), tr.Token)
	}
}

// TestSigningKeyFileMovesIntoDatabase: a root directory holding the key an
// earlier wharf generated (auth/token-signing-key.pem) keeps it: a token
// signed with that key is accepted after the upgrade, and the key is the
// one in the database from then on (still accepted with the file gone).
func TestSigningKeyFileMovesIntoDatabase(t *testing.T) {
	root := t.TempDir()
	key := auNewKey(t)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(root, "auth", "token-signing-key.pem")
	if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Root: root, Addr: freeAddr(t)}
	s.URL = "http://" + s.Addr
	s.Config = filepath.Join(t.TempDir(), "config.yml")
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
%s`, root, s.Addr, skTokenServerConfig(t))
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Kill() })
	soLaunch(s)
	skWaitAuth(t, s)

	// A token as the earlier wharf signed it: issuer and audience "wharf".
	old := auExtToken(t, key, nil, "wharf", "wharf", "alice", time.Now().Add(time.Hour))
	skCheckToken(t, s, "token signed with the file's key", old)
	_, fresh := auGetToken(t, s, "alice", auUsers["alice"])

	s.Kill()
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	soLaunch(s)
	skWaitAuth(t, s)
	skCheckToken(t, s, "token signed with the file's key, file removed", old)
	skCheckToken(t, s, "token issued before the restart, file removed", fresh.Token)
}
