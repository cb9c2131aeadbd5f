package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The OCI conformance suite against wharf with logins: htpasswd basic auth
// and the built-in token server. The suite logs in with OCI_USERNAME and
// OCI_PASSWORD, answering Basic challenges with the credentials and Bearer
// challenges by fetching a token from the realm.

const (
	auConfUser = "conformance"
	auConfPass = "conformance-Pass-9"
)

func TestOCIConformanceBasicAuth(t *testing.T) {
	auConformance(t, `auth:
  htpasswd:
    realm: wharf-conformance
    path: HTPASSWD
`, "Basic")
}

func TestOCIConformanceTokenAuth(t *testing.T) {
	auConformance(t, `auth:
  htpasswd:
    realm: wharf-conformance
    path: HTPASSWD
  tokenserver:
    enabled: true
`, "Bearer")
}

// auConformance starts wharf with authCfg (HTPASSWD replaced by a file
// holding the suite's user), checks that an anonymous ping is challenged
// with scheme, runs the suite with credentials and requires every case to
// pass.
func auConformance(t *testing.T, authCfg, scheme string) {
	if testing.Short() {
		t.Skip("conformance suite skipped in -short mode")
	}
	bin, err := conformanceBinary(repoRoot())
	if err != nil {
		t.Fatalf("conformance suite: %v", err)
	}
	ht := auHtpasswd(t, map[string]string{auConfUser: auConfPass})
	srv := auServe(t, auServerConfig{Extra: strings.ReplaceAll(authCfg, "HTPASSWD", ht)})

	// The server really requires a login: otherwise the run below would
	// prove nothing about authentication.
	r := auDo(t, auReq{Method: "GET", URL: srv.URL + "/v2/"})
	if r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), scheme+" ") {
		t.Fatalf("anonymous GET /v2/: %s, WWW-Authenticate %q; want 401 with a %s challenge",
			r, r.Header.Get("WWW-Authenticate"), scheme)
	}
	r = auDo(t, auReq{Method: "GET", URL: srv.URL + "/v2/conformance/repo1/tags/list"})
	if r.Status != 401 {
		t.Fatalf("anonymous tags list: %s, want 401", r)
	}

	results := t.TempDir()
	out, runErr := runConformance(t, bin, srv.Addr, results,
		"OCI_USERNAME="+auConfUser, "OCI_PASSWORD="+auConfPass)
	if err := os.WriteFile(filepath.Join(results, "wharf.log"), []byte(srv.Log.String()), 0o644); err != nil {
		t.Errorf("save server log: %v", err)
	}
	if dst := os.Getenv("OCI_RESULTS_OUT"); dst != "" {
		dst = filepath.Join(dst, strings.ToLower(scheme))
		if err := confCopyResults(results, dst); err != nil {
			t.Errorf("copy conformance results to OCI_RESULTS_OUT: %v", err)
		}
	}

	report, err := confReadJUnit(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance suite wrote no usable report (run: %v): %v\nsuite output:\n%s\nserver log (tail):\n%s",
			runErr, err, confTail(out, 16<<10), confTail(srv.Log.String(), 8<<10))
	}
	sum := report.summary()
	t.Logf("OCI conformance %s against wharf with %s auth: %s", conformanceVersion, scheme, sum)
	if problems := sum.problems(); len(problems) > 0 {
		t.Errorf("OCI conformance with %s auth: %s\n%s\n%s\nserver log (tail):\n%s",
			scheme, sum, strings.Join(problems, "; "), confDescribeCases(report.notPassed()),
			confTail(srv.Log.String(), 8<<10))
		return
	}
	if runErr != nil {
		t.Errorf("conformance suite exited with %v although junit.xml shows %s\nsuite output:\n%s",
			runErr, sum, confTail(out, 16<<10))
	}

	// The suite logged in: the server saw authenticated requests and, in
	// token mode, token requests. Its log holds no password.
	if strings.Contains(srv.Log.String(), auConfPass) {
		t.Errorf("server log contains the suite's password")
	}
}
