package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seed002Config is the config.yml of seed 002, as users run registry:2 with
// it, except for the root directory and address, which the test must own.
const seed002Config = `version: 0.1
log:
  level: debug
  fields:
    service: registry
storage:
    cache:
        layerinfo: inmemory
    filesystem:
        rootdirectory: ROOT
    maintenance:
        uploadpurging:
            enabled: false
        readonly:
            enabled: false
    delete:
        enabled: true
http:
    addr: ADDR
    secret: yoursecret
`

// runWharf runs the wharf binary with args and returns its output and exit code.
func runWharf(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(wharfBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run wharf %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLIConfigCheck(t *testing.T) {
	seed := strings.NewReplacer("ROOT", t.TempDir(), "ADDR", ":5000").Replace(seed002Config)
	tests := []struct {
		name       string
		config     string
		env        []string
		wantCode   int
		wantOut    []string
		wantNotOut []string
		wantErr    []string
	}{
		{name: "seed 002 config", config: seed, wantOut: []string{"addr: :5000", "secret: '*****'", "service: registry", "enabled: true"},
			wantNotOut: []string{"yoursecret"}},
		{name: "env override", config: seed, env: []string{"REGISTRY_HTTP_ADDR=127.0.0.1:6000"}, wantOut: []string{"addr: 127.0.0.1:6000"}},
		{name: "unimplemented key warns", config: seed + "reporting:\n  bugsnag:\n    apikey: k\n", wantOut: []string{"addr: :5000"},
			wantErr: []string{"reporting"}},
		{name: "malformed yaml", config: "version: 0.1\nhttp:\n  addr: [\n", wantCode: 1, wantErr: []string{"config"}},
		{name: "bad value names key", config: "version: 0.1\nstorage:\n  delete:\n    enabled: maybe\n", wantCode: 1,
			wantErr: []string{"storage.delete.enabled"}},
		{name: "bad log level", config: "version: 0.1\nlog:\n  level: loud\n", wantCode: 1, wantErr: []string{"log.level"}},
		{name: "key classes listed", config: seed + "redis:\n  addr: r:6379\n", wantOut: []string{
			"# keys set, and what wharf does with them:", "storage.delete.enabled", "implemented", "redis", "harmless: distribution caches"},
			wantErr: []string{"redis is not needed by wharf"}},
		{name: "refused storage driver", config: "version: 0.1\nstorage:\n  swift:\n    username: a\n", wantCode: 1,
			wantErr: []string{"storage.swift", "refused: a storage backend wharf does not have"}},
		{name: "refused silly auth", config: "version: 0.1\nauth:\n  silly:\n    realm: r\n", wantCode: 1,
			wantErr: []string{"auth.silly", "refused"}},
		{name: "refused by env", config: seed, env: []string{"REGISTRY_AUTH_SILLY_REALM=r"}, wantCode: 1,
			wantErr: []string{"REGISTRY_AUTH_SILLY_REALM", "refused: silly auth lets any client in"}},
		// What serve would refuse, config check refuses too.
		{name: "s3 without bucket", config: "version: 0.1\nstorage:\n  s3:\n    region: us-east-1\n", wantCode: 1,
			wantErr: []string{"storage.s3.bucket"}},
		{name: "s3 chunk too small", config: "version: 0.1\nstorage:\n  s3:\n    bucket: b\n    chunksize: 1024\n", wantCode: 1,
			wantErr: []string{"storage.s3.chunksize"}},
		{name: "access without auth", config: "version: 0.1\naccess:\n  admins: [root]\n", wantCode: 1,
			wantErr: []string{"access", "needs auth"}},
		{name: "tls key without certificate", config: "version: 0.1\nhttp:\n  tls:\n    key: /k.pem\n", wantCode: 1,
			wantErr: []string{"http.tls"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runWharf(t, tt.env, "config", "check", writeFile(t, tt.config))
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNotOut {
				if strings.Contains(out+errOut, w) {
					t.Errorf("output shows %q:\n%s%s", w, out, errOut)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestCLIServeRefusesKeys: serve refuses, at start and naming the key,
// what a registry:2 config asks for and wharf cannot do, instead of
// starting with a meaning other than the file's.
func TestCLIServeRefusesKeys(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"storage driver", "version: 0.1\nstorage:\n  swift:\n    container: c\n", "storage.swift"},
		{"silly auth", "version: 0.1\nauth:\n  silly:\n    realm: r\n    service: s\n", "auth.silly"},
		{"storage middleware", "version: 0.1\nmiddleware:\n  storage:\n    - name: cloudfront\n", "middleware"},
		{"path prefix", "version: 0.1\nhttp:\n  prefix: /nested/\n", "http.prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, wharfBin, "serve", writeFile(t, tt.config))
			cmd.Dir = t.TempDir() // the default root ./data lands here if it ever starts
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("serve: %v, want exit 1\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), "refused") {
				t.Errorf("output does not name %s as refused:\n%s", tt.want, out)
			}
		})
	}
}

func TestCLIVersion(t *testing.T) {
	out, _, code := runWharf(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "wharf ") {
		t.Fatalf("version: code %d, output %q", code, out)
	}
	if _, _, code := runWharf(t, nil, "frobnicate"); code != 1 {
		t.Fatalf("unknown command: exit code %d, want 1", code)
	}
}

// TestCLISeedConfigServes starts wharf with seed 002's config.yml unchanged
// but for the root directory and address.
func TestCLISeedConfigServes(t *testing.T) {
	addr := freeAddr(t)
	cfg := writeFile(t, strings.NewReplacer("ROOT", t.TempDir(), "ADDR", addr).Replace(seed002Config))
	cmd := exec.Command(wharfBin, "serve", cfg)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/_catalog")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("catalog: %s", resp.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wharf did not start with seed 002's config:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// log.fields and log.level: debug are honoured.
	// The process's output arrives through a pipe: give it a moment.
	for end := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "service=registry") && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "service=registry") {
		t.Errorf("log lines lack the configured field service=registry:\n%s", logs.String())
	}
}

// TestCLIDefaultServe runs `wharf serve` with no config in an empty working
// directory: it must listen and keep its data under ./data.
func TestCLIDefaultServe(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cmd := exec.Command(wharfBin, "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REGISTRY_HTTP_ADDR="+addr)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wharf serve did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "metadata", "wharf.db")); err != nil {
		t.Fatalf("no metadata under ./data: %v", err)
	}
}
