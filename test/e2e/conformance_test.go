package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The OCI distribution-spec conformance suite, run as a program against a
// real `wharf serve`.
//
// The suite lives in its own Go module inside the distribution-spec
// repository. That module has no release tags of its own (the repository's
// v1.1.x tags name the root module only), so the Go module proxy serves it
// only under a pseudo-version; conformanceVersion pins the one it serves. It is
// the rewritten (non-Ginkgo) suite, configured through OCI_* variables read by
// its config.go; it tests spec version 1.1 when OCI_VERSION is "1.1".
const (
	conformanceModule  = "github.com/opencontainers/distribution-spec/conformance"
	conformanceVersion = "v0.0.0-20260831232431-97274622c111"

	// conformanceTimeout bounds one run of the suite, which takes seconds
	// against a healthy server on loopback.
	conformanceTimeout = 15 * time.Minute
)

// conformanceEnv is the suite's configuration: spec 1.1 with every API group
// and every data set switched on, plus the optional checks a Docker Registry
// v2 compatible registry passes (Docker-Content-Digest headers, cancelling an
// upload). A variable already set in the environment wins, so one run can
// switch a check off or on (say OCI_API_MANIFESTS_TAG_PARAM=true) without
// editing this file.
//
// Left at the suite's default (off) here, and switched on by the
// development profile (conformanceDevEnv):
//   - OCI_DATA_SPARSE: manifests whose descriptors were never pushed.
//   - OCI_API_MANIFESTS_TAG_PARAM: PUT by digest with ?tag= parameters, a
//     feature of the spec's development branch, not of 1.1.
var conformanceEnv = []string{
	"OCI_VERSION=1.1",
	"OCI_LOG=warn",
	"OCI_CACHE_AUTH=true",
	// APIs: pull, push, content discovery, content management, referrers.
	"OCI_API_PING=true",
	"OCI_API_PULL=true",
	"OCI_API_PUSH=true",
	"OCI_API_BLOBS_ATOMIC=true",
	"OCI_API_BLOBS_DELETE=true",
	"OCI_API_BLOBS_DIGEST_HEADER=true",
	"OCI_API_BLOBS_MOUNT_ANONYMOUS=true",
	"OCI_API_BLOBS_UPLOAD_CANCEL=true",
	"OCI_API_MANIFESTS_ATOMIC=true",
	"OCI_API_MANIFESTS_DELETE=true",
	"OCI_API_MANIFESTS_DIGEST_HEADER=true",
	"OCI_API_TAGS_ATOMIC=true",
	"OCI_API_TAGS_DELETE=true",
	"OCI_API_TAGS_LIST=true",
	"OCI_API_REFERRER=true",
	// Data: every kind of content the suite generates, sha512 included.
	"OCI_DATA_IMAGE=true",
	"OCI_DATA_INDEX=true",
	"OCI_DATA_INDEX_LIST=true",
	"OCI_DATA_ARTIFACT=true",
	"OCI_DATA_SUBJECT=true",
	"OCI_DATA_SUBJECT_MISSING=true",
	"OCI_DATA_ARTIFACT_LIST=true",
	"OCI_DATA_SUBJECT_LIST=true",
	"OCI_DATA_DATA_FIELD=true",
	"OCI_DATA_NONDISTRIBUTABLE=true",
	"OCI_DATA_CUSTOM_FIELDS=true",
	"OCI_DATA_NO_LAYERS=true",
	"OCI_DATA_EMPTY_BLOB=true",
	"OCI_DATA_SHA512=true",
}

// conformanceDevEnv is the development profile: every switch of the
// suite on, for the spec's development branch (tag parameters, sha512
// tags) and sparse manifests. Its sparse data includes an image pushed
// without one of its layers, which wharf accepts only when told to
// (validation.manifests.sparse: all; the default takes sparse indexes).
var conformanceDevEnv = append(slices.Clone(conformanceEnv),
	"OCI_VERSION=dev",
	"OCI_DATA_SPARSE=true",
	"OCI_API_MANIFESTS_TAG_PARAM=true",
)

// conformanceProfiles are the suite's configurations TestOCIConformance
// runs, each against a fresh server.
var conformanceProfiles = []struct {
	name   string
	env    []string
	config string // extra wharf configuration
}{
	{"1.1", conformanceEnv, ""},
	{"dev", conformanceDevEnv, conformanceDevConfig},
}

// conformanceDevConfig is the wharf configuration the development profile
// runs against: its sparse data needs images that miss a layer accepted.
const conformanceDevConfig = "validation:\n  manifests:\n    sparse: all\n"

// conformanceDropEnv are variables never passed to the suite from the
// environment: the test owns the target and the output, and a filter makes the
// suite stop before it writes its reports. The legacy OCI_ROOT_URL,
// OCI_NAMESPACE and OCI_CROSSMOUNT_NAMESPACE would name another target.
var conformanceDropEnv = []string{
	"OCI_CONFIGURATION", "OCI_REGISTRY", "OCI_TLS", "OCI_REPO1", "OCI_REPO2",
	"OCI_USERNAME", "OCI_PASSWORD", "OCI_RESULTS_DIR", "OCI_FILTER_TEST",
	"OCI_ROOT_URL", "OCI_NAMESPACE", "OCI_CROSSMOUNT_NAMESPACE",
}

// TestOCIConformance runs the OCI distribution-spec conformance suite, in
// each of conformanceProfiles, against a wharf with deletes enabled and the
// embedded defaults otherwise, and fails unless every test case passed: no
// failure, no error, nothing skipped or disabled. With OCI_RESULTS_OUT set, the
// suite's junit.xml, report.html and results.yaml, and the server's log as
// wharf.log, are copied to a directory per profile there.
func TestOCIConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite skipped in -short mode")
	}
	bin, err := conformanceBinary(repoRoot())
	if err != nil {
		t.Fatalf("conformance suite: %v", err)
	}
	for _, p := range conformanceProfiles {
		t.Run(p.name, func(t *testing.T) { conformanceProfile(t, bin, p.name, p.env, p.config) })
	}
}

// conformanceProfile runs the suite once with env against a fresh server.
func conformanceProfile(t *testing.T, bin, profile string, env []string, config string) {
	srv := StartServer(t, ServerOptions{ExtraConfig: config})
	results := t.TempDir()
	out, runErr := runConformanceProfile(t, bin, srv.Addr, results, env)
	if err := os.WriteFile(filepath.Join(results, "wharf.log"), []byte(srv.Log.String()), 0o644); err != nil {
		t.Errorf("save server log: %v", err)
	}

	if dst := os.Getenv("OCI_RESULTS_OUT"); dst != "" {
		dst = filepath.Join(dst, profile)
		if err := confCopyResults(results, dst); err != nil {
			t.Errorf("copy conformance results to OCI_RESULTS_OUT: %v", err)
		} else {
			t.Logf("conformance results copied to %s", dst)
		}
	}

	report, err := confReadJUnit(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance suite wrote no usable report (run: %v): %v\nsuite output:\n%s\nserver log (tail):\n%s",
			runErr, err, confTail(out, 16<<10), confTail(srv.Log.String(), 8<<10))
	}
	sum := report.summary()
	t.Logf("OCI conformance %s, profile %s, against wharf: %s", conformanceVersion, profile, sum)

	if problems := sum.problems(); len(problems) > 0 {
		t.Errorf("OCI conformance: %s\n%s\n%s\nserver log (tail):\n%s",
			sum, strings.Join(problems, "; "), confDescribeCases(report.notPassed()),
			confTail(srv.Log.String(), 8<<10))
		return
	}
	if runErr != nil {
		// Every case passed but the suite still reported failure (for
		// example an error outside any test case).
		t.Errorf("conformance suite exited with %v although junit.xml shows %s\nsuite output:\n%s",
			runErr, sum, confTail(out, 16<<10))
	}
}

// runConformance runs the suite binary against addr (plain HTTP on loopback)
// with extra variables (credentials, TLS settings) and returns its combined
// output. The process runs in the results directory
// so that no stray oci-conformance.yaml is picked up from the working
// directory.
func runConformance(t *testing.T, bin, addr, results string, extra ...string) (string, error) {
	return runConformanceProfile(t, bin, addr, results, conformanceEnv, extra...)
}

// runConformanceProfile is runConformance with the suite's configuration
// profile instead of conformanceEnv.
func runConformanceProfile(t *testing.T, bin, addr, results string, profile []string, extra ...string) (string, error) {
	env := []string{}
	set := map[string]bool{}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(conformanceDropEnv, name) {
			continue
		}
		set[name] = true
		env = append(env, kv)
	}
	for _, kv := range profile {
		name, _, _ := strings.Cut(kv, "=")
		if set[name] {
			t.Logf("conformance: %s taken from the environment", name)
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"OCI_REGISTRY="+addr,
		"OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_RESULTS_DIR="+results,
	)
	// Later entries win: extra (credentials, TLS) overrides the above.
	env = append(env, extra...)

	c, cancel := context.WithTimeout(context.Background(), conformanceTimeout)
	defer cancel()
	var out syncBuffer
	cmd := exec.CommandContext(c, bin)
	cmd.Dir = results
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	t.Logf("conformance suite ran in %s (exit: %v)", time.Since(start).Round(time.Millisecond), err)
	if testing.Verbose() {
		t.Logf("suite output:\n%s", confTail(out.String(), 64<<10))
	}
	if err != nil {
		err = fmt.Errorf("run %s: %w", filepath.Base(bin), err)
	}
	return out.String(), err
}

// conformanceBinary returns the suite's binary, building it on first use
// under <root>/.cache/conformance/<version>/. The module is fetched through
// the Go module proxy with `go mod download` into a module cache of its own
// in that directory (checked against go.sum and the checksum database), then
// built with `go build` inside the downloaded module.
func conformanceBinary(root string) (string, error) {
	dir := filepath.Join(root, ".cache", "conformance", conformanceVersion)
	bin := filepath.Join(dir, "conformance")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create cache dir: %w", err)
	}
	modcache := filepath.Join(dir, "modcache")
	goEnv := append(os.Environ(),
		"GOMODCACHE="+modcache,
		"GOFLAGS=-modcacherw -mod=readonly -buildvcs=false",
		"GOWORK=off",
		"GO111MODULE=on",
		"CGO_ENABLED=0",
	)

	var stderr bytes.Buffer
	dl := exec.Command("go", "mod", "download", "-json", conformanceModule+"@"+conformanceVersion)
	dl.Dir = dir
	dl.Env = goEnv
	dl.Stderr = &stderr
	js, err := dl.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w\n%s%s", conformanceModule, conformanceVersion, err, js, stderr.String())
	}
	var mod struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(js, &mod); err != nil {
		return "", fmt.Errorf("parse go mod download output: %w\n%s", err, js)
	}
	if mod.Error != "" || mod.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", conformanceModule, conformanceVersion, mod.Error)
	}

	// Build to a temporary name and rename, so that concurrent test
	// processes never run a half-written binary.
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	build := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-X main.Version="+conformanceVersion,
		"-o", tmp, ".")
	build.Dir = mod.Dir
	build.Env = goEnv
	if out, err := build.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build %s@%s: %w\n%s", conformanceModule, conformanceVersion, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("install conformance binary: %w", err)
	}
	return bin, nil
}

// confJUnitSuites is the part of the suite's junit.xml that the test reads.
type confJUnitSuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Tests    int              `xml:"tests,attr"`
	Errors   int              `xml:"errors,attr"`
	Failures int              `xml:"failures,attr"`
	Skipped  int              `xml:"skipped,attr"`
	Disabled int              `xml:"disabled,attr"`
	Suites   []confJUnitSuite `xml:"testsuite"`
}

type confJUnitSuite struct {
	Name      string          `xml:"name,attr"`
	Tests     int             `xml:"tests,attr"`
	Errors    int             `xml:"errors,attr"`
	Failures  int             `xml:"failures,attr"`
	Skipped   int             `xml:"skipped,attr"`
	Disabled  int             `xml:"disabled,attr"`
	Testcases []confJUnitCase `xml:"testcase"`
}

// confJUnitCase is one test case. The suite puts the case's errors in
// system-out and the requests and responses it made in system-err; other
// junit writers use failure, error and skipped elements, read here too.
type confJUnitCase struct {
	Name      string            `xml:"name,attr"`
	Classname string            `xml:"classname,attr"`
	Status    string            `xml:"status,attr"`
	Failure   *confJUnitMessage `xml:"failure"`
	Error     *confJUnitMessage `xml:"error"`
	Skipped   *confJUnitMessage `xml:"skipped"`
	SystemOut string            `xml:"system-out"`
	SystemErr string            `xml:"system-err"`
}

type confJUnitMessage struct {
	Message string `xml:"message,attr"`
	Data    string `xml:",chardata"`
}

// status is the case's outcome: passed, failure, error or skipped.
func (c confJUnitCase) status() string {
	switch {
	case c.Failure != nil:
		return "failure"
	case c.Error != nil:
		return "error"
	case c.Skipped != nil:
		return "skipped"
	case c.Status != "":
		return c.Status
	default:
		return "passed"
	}
}

// describe formats a case that did not pass: its name, its messages and the
// tail of the requests and responses it made.
func (c confJUnitCase) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s: %s\n", strings.ToUpper(c.status()), c.Name)
	if s := strings.TrimSpace(c.message()); s != "" {
		fmt.Fprintf(&b, "    errors: %s\n", confIndent(s))
	}
	if s := strings.TrimSpace(c.SystemErr); s != "" {
		fmt.Fprintf(&b, "    output (tail):\n        %s\n", confIndent(confTail(s, 6<<10)))
	}
	return b.String()
}

// confDetailedGroups is how many groups of failed cases confDescribeCases
// shows with the requests and responses of one of their cases.
const confDetailedGroups = 20

// confDigestRE matches digests, which differ between cases that failed the
// same way.
var confDigestRE = regexp.MustCompile(`\b(sha256|sha384|sha512):[0-9a-f]{32,128}\b`)

// confCaseGroup is the cases that failed the same way: same outcome and same
// first error line, with digests blanked out.
type confCaseGroup struct {
	key   string // outcome and first error line
	cases []confJUnitCase
}

// confDescribeCases formats the cases that did not pass, grouped by outcome
// and first error line (in the order each group first appears): each group's size
// and first case names, then the full errors and the tail of the requests and
// responses of the first case of the first confDetailedGroups groups.
func confDescribeCases(cases []confJUnitCase) string {
	var groups []*confCaseGroup
	byKey := map[string]*confCaseGroup{}
	for _, c := range cases {
		first, _, _ := strings.Cut(strings.TrimSpace(c.message()), "\n")
		if len(first) > 300 {
			first = first[:300] + "..."
		}
		key := strings.ToUpper(c.status()) + ": " + confDigestRE.ReplaceAllString(first, "$1:<hex>")
		g := byKey[key]
		if g == nil {
			g = &confCaseGroup{key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.cases = append(g.cases, c)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "not passed: %d test cases in %d groups\n", len(cases), len(groups))
	for i, g := range groups {
		fmt.Fprintf(&b, "[%d] %d x %s\n", i+1, len(g.cases), g.key)
		for j, c := range g.cases {
			if j == 5 {
				fmt.Fprintf(&b, "      ... and %d more\n", len(g.cases)-j)
				break
			}
			fmt.Fprintf(&b, "      %s\n", c.Name)
		}
	}
	fmt.Fprintf(&b, "details (first case of each group):\n")
	for i, g := range groups {
		if i == confDetailedGroups {
			fmt.Fprintf(&b, "(%d more groups; set OCI_RESULTS_OUT=dir for report.html with every request and response)\n",
				len(groups)-confDetailedGroups)
			break
		}
		fmt.Fprintf(&b, "[%d] ", i+1)
		b.WriteString(g.cases[0].describe())
	}
	return b.String()
}

// message is the case's error text, wherever the junit writer put it.
func (c confJUnitCase) message() string {
	for _, m := range []*confJUnitMessage{c.Failure, c.Error, c.Skipped} {
		if m != nil {
			return strings.TrimSpace(m.Message + "\n" + m.Data)
		}
	}
	return c.SystemOut
}

// confReadJUnit parses the junit.xml the suite wrote.
func confReadJUnit(path string) (*confJUnitSuites, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read junit report: %w", err)
	}
	var r confJUnitSuites
	if err := xml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("parse junit report %s: %w", path, err)
	}
	return &r, nil
}

// conformanceSummary counts a report two ways: the totals the suite wrote
// and the outcomes of the test cases themselves.
type conformanceSummary struct {
	Tests, Failures, Errors, Skipped, Disabled int // from the testsuites element
	Cases                                      int
	ByStatus                                   map[string]int // case outcome -> count
}

func (r *confJUnitSuites) summary() conformanceSummary {
	s := conformanceSummary{
		Tests: r.Tests, Failures: r.Failures, Errors: r.Errors,
		Skipped: r.Skipped, Disabled: r.Disabled,
		ByStatus: map[string]int{},
	}
	for _, suite := range r.Suites {
		for _, c := range suite.Testcases {
			s.Cases++
			s.ByStatus[c.status()]++
		}
	}
	return s
}

func (s conformanceSummary) String() string {
	return fmt.Sprintf("tests=%d passed=%d failures=%d errors=%d skipped=%d disabled=%d (test cases: %d)",
		s.Tests, s.ByStatus["passed"], s.Failures, s.Errors, s.Skipped, s.Disabled, s.Cases)
}

// problems lists every reason the run does not count as a full pass.
func (s conformanceSummary) problems() []string {
	var p []string
	if s.Tests == 0 || s.Cases == 0 {
		p = append(p, "the suite ran no test")
	}
	if s.Failures > 0 {
		p = append(p, fmt.Sprintf("%d failed", s.Failures))
	}
	if s.Errors > 0 {
		p = append(p, fmt.Sprintf("%d errors", s.Errors))
	}
	if s.Skipped > 0 {
		p = append(p, fmt.Sprintf("%d skipped", s.Skipped))
	}
	if s.Disabled > 0 {
		p = append(p, fmt.Sprintf("%d disabled", s.Disabled))
	}
	for st, n := range s.ByStatus {
		if st != "passed" && n > 0 {
			p = append(p, fmt.Sprintf("%d test cases %s", n, st))
		}
	}
	return p
}

// notPassed returns the cases whose outcome is not "passed", in report order.
func (r *confJUnitSuites) notPassed() []confJUnitCase {
	var out []confJUnitCase
	for _, suite := range r.Suites {
		for _, c := range suite.Testcases {
			if c.status() != "passed" {
				out = append(out, c)
			}
		}
	}
	return out
}

// confCopyResults copies the suite's report files from src into dst.
func confCopyResults(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	var errs []error
	for _, name := range []string{"junit.xml", "report.html", "results.yaml", "wharf.log"} {
		if err := confCopyFile(filepath.Join(src, name), filepath.Join(dst, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func confCopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dst, err)
	}
	return nil
}

// confTail returns at most the last n bytes of s, marking a cut.
func confTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("[... %d bytes cut ...]\n%s", len(s)-n, s[len(s)-n:])
}

// confIndent indents every line after the first for nesting under a label.
func confIndent(s string) string {
	return strings.ReplaceAll(s, "\n", "\n        ")
}
