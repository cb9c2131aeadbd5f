package e2e

// Real clients pulling through the pull-through cache: podman with a
// registries.conf mirror, containerd's ctr with a hosts.toml mirror (which
// sends ?ns=), and a Docker daemon with registry-mirrors. The upstreams are
// docker-registry processes on loopback standing in for Docker Hub and
// quay.io; the names docker.io and quay.io are only names here, and each
// client's fallback to the "real" registry points at a closed loopback
// port, so a pull can only succeed through wharf.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/wharf-registry/wharf/internal/testenv"
)

// pxClientSetup is wharf mirroring two docker-registry upstreams as
// docker.io (the default, for docker's registry-mirrors) and quay.io, with
// library/alpine:3.20 and org/tool:1 in them.
type pxClientSetup struct {
	wharf        *Server
	hub, quay    *pxUpstream
	alpine, tool v1.Image
	closed       string // a loopback address nothing listens on
}

func pxClients(t *testing.T) *pxClientSetup {
	t.Helper()
	c := &pxClientSetup{hub: pxStartUpstream(t, ""), quay: pxStartUpstream(t, ""), closed: freeAddr(t)}
	c.wharf = StartServer(t, ServerOptions{ExtraConfig: fmt.Sprintf(`proxy:
  upstreams:
    - name: docker.io
      aliases: [index.docker.io, registry-1.docker.io]
      url: %s
      default: true
    - name: quay.io
      url: %s
`, c.hub.URL, c.quay.URL)})
	c.alpine = pxLinuxImage(t, 2)
	whPush(t, c.hub.Server, "library/alpine:3.20", c.alpine)
	c.tool = pxLinuxImage(t, 3)
	whPush(t, c.quay.Server, "org/tool:1", c.tool)
	return c
}

// pxLinuxImage is a random linux/amd64 image (clients check the platform).
func pxLinuxImage(t testing.TB, layers int64) v1.Image {
	t.Helper()
	img := whRandomImage(t, 2048, layers)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// stopUpstreams stops both upstreams: from then on only the cache serves.
func (c *pxClientSetup) stopUpstreams() {
	c.hub.stop()
	c.quay.stop()
}

// cachedDigest is the digest wharf's cache holds for repo:tag (no upstream
// is asked: the answer comes from the cache when the client pulled it).
func (c *pxClientSetup) cachedDigest(t testing.TB, repo, tag string) string {
	t.Helper()
	r := pxGetManifest(t, c.wharf.URL+"/v2/"+repo+"/manifests/"+tag)
	return r.Header.Get("Docker-Content-Digest")
}

// checkPulled asserts the upstream served the image to wharf (wharf's
// user agent in its log) and that wharf holds it under its cached name.
func (c *pxClientSetup) checkPulled(t testing.TB, up *pxUpstream, upstreamRepo, cachedRepo, tag string, img v1.Image) {
	t.Helper()
	want, _ := img.Digest()
	if !strings.Contains(up.Log.String(), "wharf-proxy") {
		t.Errorf("the upstream was never asked by wharf")
	}
	if got := c.cachedDigest(t, cachedRepo, tag); got != want.String() {
		t.Errorf("wharf caches %s:%s at %q, want %s", cachedRepo, tag, got, want)
	}
}

func TestProxyClientPodman(t *testing.T) {
	podman := testenv.Need(t, podmanHow, "WHARF_TEST_PODMAN")[0]
	c := pxClients(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	// As in the README: a mirror with a path, the prefix form.
	pxWriteFile(t, conf, fmt.Sprintf(`unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "quay.io"
location = "%s"

[[registry.mirror]]
location = "%s/quay.io"
insecure = true

[[registry]]
prefix = "docker.io"
location = "%s"

[[registry.mirror]]
location = "%s/docker.io"
insecure = true
`, c.closed, c.wharf.Addr, c.closed, c.wharf.Addr))
	policy := filepath.Join(dir, "policy.json")
	pxWriteFile(t, policy, `{"default":[{"type":"insecureAcceptAnything"}]}`)
	env := []string{"CONTAINERS_REGISTRIES_CONF=" + conf}
	base := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--storage-driver", "vfs", "--events-backend", "none", "--cgroup-manager", "cgroupfs"}
	for _, tc := range []struct{ ref, id, cached, tag string }{
		{"quay.io/org/tool:1", "", "quay.io/org/tool", "1"},
		{"alpine:3.20", "", "docker.io/library/alpine", "3.20"},
	} {
		args := append(append([]string{}, base...), "pull", "--signature-policy", policy, tc.ref)
		if out, err := runTool(t, env, "", podman, args...); err != nil {
			t.Fatalf("podman pull %s: %v\n%s\nwharf log:\n%s", tc.ref, err, out, confTail(c.wharf.Log.String(), 3000))
		}
	}
	c.checkPulled(t, c.quay, "org/tool", "quay.io/org/tool", "1", c.tool)
	c.checkPulled(t, c.hub, "library/alpine", "docker.io/library/alpine", "3.20", c.alpine)
	args := append(append([]string{}, base...), "image", "inspect", "--format", "{{.Digest}}", "quay.io/org/tool:1")
	out, err := runTool(t, env, "", podman, args...)
	want, _ := c.tool.Digest()
	if err != nil || strings.TrimSpace(out) != want.String() {
		t.Errorf("podman's image digest = %q (%v), want %s", strings.TrimSpace(out), err, want)
	}

	// The same wharf hosts pushed images: push one with podman.
	hosted := c.wharf.Addr + "/team/tool:1"
	podmanRun := func(args ...string) {
		t.Helper()
		if out, err := runTool(t, env, "", podman, append(append([]string{}, base...), args...)...); err != nil {
			t.Fatalf("podman %s: %v\n%s\nwharf log:\n%s", strings.Join(args, " "), err, out, confTail(c.wharf.Log.String(), 3000))
		}
	}
	podmanRun("tag", "quay.io/org/tool:1", hosted)
	podmanRun("push", "--tls-verify=false", "--signature-policy", policy, hosted)

	// Every upstream down: with nothing left locally, all three images
	// pull again from wharf alone.
	c.stopUpstreams()
	podmanRun("rmi", "-a", "-f")
	for _, ref := range []string{"quay.io/org/tool:1", "alpine:3.20"} {
		podmanRun("pull", "--signature-policy", policy, ref)
	}
	podmanRun("pull", "--tls-verify=false", "--signature-policy", policy, hosted)
}

// TestProxyClientContainerd pulls with ctr and a hosts.toml mirror through
// the containerd that the docker service's daemon runs: containerd adds
// ?ns=<registry> to every request to a mirror.
func TestProxyClientContainerd(t *testing.T) {
	sock := pxContainerdSocket(t)
	c := pxClients(t)
	hosts := t.TempDir()
	for _, reg := range []string{"docker.io", "quay.io"} {
		pxWriteFile(t, filepath.Join(hosts, reg, "hosts.toml"), fmt.Sprintf(`server = "http://%s"

[host."http://%s"]
  capabilities = ["pull", "resolve"]
`, c.closed, c.wharf.Addr))
	}
	ns := fmt.Sprintf("wharf-proxy-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		for _, ref := range []string{"quay.io/org/tool:1", "docker.io/library/alpine:3.20"} {
			exec.Command("ctr", "-a", sock, "-n", ns, "images", "rm", ref).Run()
		}
		exec.Command("ctr", "-a", sock, "namespaces", "rm", ns).Run()
	})
	for _, ref := range []string{"quay.io/org/tool:1", "docker.io/library/alpine:3.20"} {
		out, err := runTool(t, nil, "", "ctr", "-a", sock, "-n", ns, "images", "pull", "--hosts-dir", hosts, "--snapshotter", "native", ref)
		if err != nil {
			t.Fatalf("ctr images pull %s: %v\n%s\nwharf log:\n%s", ref, err, out, confTail(c.wharf.Log.String(), 3000))
		}
	}
	c.checkPulled(t, c.quay, "org/tool", "quay.io/org/tool", "1", c.tool)
	c.checkPulled(t, c.hub, "library/alpine", "docker.io/library/alpine", "3.20", c.alpine)
	out, err := runTool(t, nil, "", "ctr", "-a", sock, "-n", ns, "images", "ls")
	want, _ := c.tool.Digest()
	if err != nil || !strings.Contains(out, want.String()) {
		t.Errorf("ctr images ls lacks %s (%v):\n%s", want, err, out)
	}
	// Every upstream down: the images resolve and pull from wharf alone.
	c.stopUpstreams()
	for _, ref := range []string{"quay.io/org/tool:1", "docker.io/library/alpine:3.20"} {
		if out, err := runTool(t, nil, "", "ctr", "-a", sock, "-n", ns, "images", "rm", ref); err != nil {
			t.Fatalf("ctr images rm %s: %v\n%s", ref, err, out)
		}
		out, err := runTool(t, nil, "", "ctr", "-a", sock, "-n", ns, "images", "pull", "--hosts-dir", hosts, "--snapshotter", "native", ref)
		if err != nil {
			t.Fatalf("ctr images pull %s with the upstreams down: %v\n%s\nwharf log:\n%s", ref, err, out, confTail(c.wharf.Log.String(), 3000))
		}
	}
}

// pxContainerdSocket is the containerd socket of the docker service's
// daemon (under its exec root).
func pxContainerdSocket(t *testing.T) string {
	t.Helper()
	host := pxDockerHost(t)
	sock := filepath.Join(filepath.Dir(strings.TrimPrefix(host, "unix://")), "exec", "containerd", "containerd.sock")
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the docker service's containerd socket: %v", err)
	}
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Fatalf("ctr (Debian's containerd package, a dependency of docker.io) is missing: %v", err)
	}
	return sock
}

func pxDockerHost(t *testing.T) string {
	t.Helper()
	if why := os.Getenv("WHARF_TEST_DOCKER_ERROR"); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker service unavailable: %s", why)
		}
		t.Skipf("docker service unavailable: %s", why)
	}
	return testenv.Need(t, dockerHow, "WHARF_TEST_DOCKER_HOST")[0]
}

// TestProxyClientDocker runs a Docker daemon of its own whose daemon.json
// is the README's (registry-mirrors pointing at wharf) and pulls
// alpine:3.20 as any docker host would: no ns, no prefix, so wharf's
// default upstream answers. It needs its own daemon because
// registry-mirrors is read at daemon start; it runs with the bridge off so
// it does not fight the docker service's daemon over docker0.
func TestProxyClientDocker(t *testing.T) {
	pxDockerHost(t) // the docker service installed dockerd and runs as root
	c := pxClients(t)
	dir, err := os.MkdirTemp("", "wharf-dockerd-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	daemonJSON, _ := json.Marshal(map[string]any{
		"registry-mirrors":    []string{"http://" + c.wharf.Addr},
		"insecure-registries": []string{c.wharf.Addr},
	})
	pxWriteFile(t, filepath.Join(dir, "daemon.json"), string(daemonJSON))
	sock := "unix://" + filepath.Join(dir, "d.sock")
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dockerd", "--config-file", filepath.Join(dir, "daemon.json"), "--storage-driver=vfs",
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "x"),
		"--pidfile", filepath.Join(dir, "d.pid"), "-H", sock, "--bridge=none", "--iptables=false", "--ip-masq=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dockerd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	env := []string{"DOCKER_HOST=" + sock}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := runTool(t, env, "", "docker", "version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("dockerd with registry-mirrors did not start in 60s:\n%s", confTail(string(log), 3000))
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("dockerd with registry-mirrors exited:\n%s", confTail(string(log), 3000))
		case <-time.After(250 * time.Millisecond):
		}
	}
	if out, err := runTool(t, env, "", "docker", "pull", "alpine:3.20"); err != nil {
		t.Fatalf("docker pull alpine:3.20: %v\n%s\nwharf log:\n%s", err, out, confTail(c.wharf.Log.String(), 3000))
	}
	c.checkPulled(t, c.hub, "library/alpine", "docker.io/library/alpine", "3.20", c.alpine)
	out, err := runTool(t, env, "", "docker", "image", "inspect", "--format", "{{index .RepoDigests 0}}", "alpine:3.20")
	want, _ := c.alpine.Digest()
	if err != nil || !strings.Contains(out, want.String()) {
		t.Errorf("docker's repo digest = %q (%v), want %s", strings.TrimSpace(out), err, want)
	}
	// Every upstream down: removed locally, alpine pulls again from wharf.
	c.stopUpstreams()
	if out, err := runTool(t, env, "", "docker", "rmi", "alpine:3.20"); err != nil {
		t.Fatalf("docker rmi: %v\n%s", err, out)
	}
	if out, err := runTool(t, env, "", "docker", "pull", "alpine:3.20"); err != nil {
		t.Fatalf("docker pull alpine:3.20 with the upstreams down: %v\n%s\nwharf log:\n%s", err, out, confTail(c.wharf.Log.String(), 3000))
	}
}

func pxWriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
