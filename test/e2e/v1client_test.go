package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharf-registry/wharf/internal/testenv"
)

const podmanHow = "run through scripts/test-services.sh: it installs Debian's podman and exports WHARF_TEST_PODMAN"

// v1ClientRepos are the repositories the real-client tests search; only
// library/* is public under auPolicy, so bob/httpd-private is bob's alone.
var v1ClientRepos = []string{"library/httpd", "library/httpd-tools", "library/nginx", "bob/httpd-private"}

// v1SeedBlobs creates v1ClientRepos as alice by pushing a small image to each.
func v1SeedBlobs(t *testing.T, s *Server) {
	t.Helper()
	for _, repo := range v1ClientRepos {
		img := whRandomImage(t, 100, 1)
		if err := remote.Write(whRef(t, s, repo+":latest"), img, auRemote(t, auBasic("alice"), nil)...); err != nil {
			t.Fatalf("seed %s: %v", repo, err)
		}
	}
}

// runTool runs a client binary bounded in time with env added, returning
// its combined output.
func runTool(t *testing.T, env []string, stdin string, bin string, args ...string) (string, error) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx(t), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// searchNames takes the repository names (host stripped) from a client's
// `--format {{.Name}}` output, sorted.
func searchNames(out, host string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		names = append(names, strings.TrimPrefix(line, host+"/"))
	}
	slices.Sort(names)
	return names
}

// TestV1SearchPodman runs Debian's podman search against wharf. podman
// searches /v1/search without credentials, so it finds the public
// repositories only, never bob's private one.
func TestV1SearchPodman(t *testing.T) {
	podman := testenv.Need(t, podmanHow, "WHARF_TEST_PODMAN")[0]
	s, _ := auBasicServer(t, auPolicy)
	v1SeedBlobs(t, s)
	out, err := runTool(t, nil, "", podman, "search", "--tls-verify=false", "--limit", "25",
		"--format", "{{.Name}}", s.Addr+"/httpd")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := searchNames(out, s.Addr), []string{"library/httpd", "library/httpd-tools"}; !slices.Equal(got, want) {
		t.Errorf("podman search httpd = %q, want %q\nserver log:\n%s", got, want, confTail(s.Log.String(), 3000))
	}
}

// TestV1SearchDocker runs `docker search` through the test Docker daemon:
// anonymous (the daemon sends Basic Og==) it finds the public
// repositories; after `docker login` as bob also bob's private one; as
// carol, never bob's.
func TestV1SearchDocker(t *testing.T) {
	host := dockerHost(t)
	for _, mode := range []string{"basic", "token"} {
		t.Run(mode, func(t *testing.T) {
			var s *Server
			if mode == "basic" {
				s, _ = auBasicServer(t, auPolicy)
			} else {
				s, _ = auTokenServer(t, auPolicy)
			}
			v1SeedBlobs(t, s)
			for _, tc := range []struct {
				user string
				want []string
			}{
				{"", []string{"library/httpd", "library/httpd-tools"}},
				{"bob", []string{"bob/httpd-private", "library/httpd", "library/httpd-tools"}},
				{"carol", []string{"library/httpd", "library/httpd-tools"}},
			} {
				t.Run("user="+tc.user, func(t *testing.T) {
					env := []string{"DOCKER_HOST=" + host, "DOCKER_CONFIG=" + t.TempDir()}
					if tc.user != "" {
						if _, err := runTool(t, env, auUsers[tc.user], "docker", "login", "-u", tc.user, "--password-stdin", s.Addr); err != nil {
							t.Fatal(err)
						}
					}
					out, err := runTool(t, env, "", "docker", "search", "--format", "{{.Name}}", s.Addr+"/httpd")
					if err != nil {
						t.Fatalf("%v\nserver log:\n%s", err, confTail(s.Log.String(), 3000))
					}
					if got := searchNames(out, s.Addr); !slices.Equal(got, tc.want) {
						t.Errorf("docker search httpd as %q = %q, want %q\nserver log:\n%s", tc.user, got, tc.want, confTail(s.Log.String(), 3000))
					}
				})
			}
		})
	}
}
