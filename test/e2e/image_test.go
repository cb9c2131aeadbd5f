package e2e

// The container image (make image): its file tree run for real under
// chroot, and the image itself run by a Docker daemon the way registry:2
// users run theirs (seed 003's docker run, seed 002's compose command and
// docker exec ... registry garbage-collect).

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/testenv"
	"go.yaml.in/yaml/v3"
)

const (
	imageTag = "wharf:latest"
	// imageConfig is the default config's path inside the image.
	imageConfig = "/etc/docker/registry/config.yml"
	dockerHow   = "run through scripts/test-services.sh as root: it starts a private dockerd " +
		"(Debian's docker.io, vfs storage) and exports WHARF_TEST_DOCKER_HOST"
)

// TestImage builds the image's file tree once with the Makefile, builds and
// runs the image with Docker, then runs the tree under chroot.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a static binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: chroot and dockerd")
	}
	dir := filepath.Join(t.TempDir(), "image")
	makeCmd := exec.CommandContext(ctx(t), "make", "--no-print-directory", "image-rootfs", "IMAGE_DIR="+dir)
	makeCmd.Dir = repoRoot()
	if out, err := makeCmd.CombinedOutput(); err != nil {
		t.Fatalf("make image-rootfs: %v\n%s", err, out)
	}
	// Docker first: the chroot run writes data into the tree.
	t.Run("docker", func(t *testing.T) { testImageDocker(t, dir) })
	t.Run("rootfs", func(t *testing.T) { testImageRootfs(t, filepath.Join(dir, "rootfs")) })
}

// testImageRootfs checks the tree and runs it as the image would, under
// chroot: proof the binary is static and the config paths hold, even where
// no Docker daemon can run.
func testImageRootfs(t *testing.T, rootfs string) {
	if link, err := os.Readlink(filepath.Join(rootfs, "bin/registry")); err != nil || link != "wharf" {
		t.Errorf("/bin/registry: link %q, %v; want -> wharf", link, err)
	}
	ca, err := os.ReadFile(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt"))
	if err != nil || !bytes.Contains(ca, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("CA certificates missing from the image (%v)", err)
	}
	addr := freeAddr(t)
	// Started as "registry", registry:2's command name.
	srv := chrootCmd(rootfs, "/bin/registry", "serve", imageConfig)
	srv.Env = []string{"REGISTRY_HTTP_ADDR=" + addr}
	log := &syncBuffer{}
	srv.Stdout, srv.Stderr = log, log
	if err := srv.Start(); err != nil {
		t.Fatalf("start wharf under chroot: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	t.Cleanup(func() { srv.Process.Kill(); <-done })

	s := &Server{t: t, Addr: addr, URL: "http://" + addr, Log: log}
	waitV2(t, s.URL, done, log)
	if out, err := chrootCmd(rootfs, "/bin/wharf", "healthcheck", s.URL+"/v2/").CombinedOutput(); err != nil {
		t.Errorf("healthcheck under chroot: %v\n%s", err, out)
	}
	img := whRandomImage(t, 2048, 2)
	whPush(t, s, "rootfs/app:v1", img)
	whVerifyImage(t, s, "rootfs/app:v1", img)
	if _, err := os.Stat(filepath.Join(rootfs, "var/lib/registry/metadata/wharf.db")); err != nil {
		t.Errorf("data not under /var/lib/registry: %v", err)
	}

	srv.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want 0\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30 s after SIGTERM\n%s", log.String())
	}
}

// chrootCmd runs path (a path inside rootfs) chrooted into rootfs.
func chrootCmd(rootfs, path string, args ...string) *exec.Cmd {
	c := exec.Command(path, args...)
	c.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs}
	c.Dir = "/"
	c.Env = []string{}
	return c
}

// waitV2 waits, bounded, until GET base/v2/ answers 200.
func waitV2(t *testing.T, base string, exited <-chan error, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("registry exited during start: %v\n%s", err, log)
		default:
		}
		resp, err := whHTTP.Get(base + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s/v2/ not answering after 60 s\n%s", base, log)
}

// dockerHost returns the test daemon's address, or skips saying exactly
// why the daemon could not run here (the rootfs subtest still ran).
func dockerHost(t *testing.T) string {
	t.Helper()
	if why := os.Getenv("WHARF_TEST_DOCKER_ERROR"); why != "" {
		t.Skipf("no Docker daemon in this environment: %s (the image's file tree was tested under chroot instead)", why)
	}
	return testenv.Need(t, dockerHow, "WHARF_TEST_DOCKER_HOST")[0]
}

// docker runs the docker CLI against host, bounded in time, and returns
// its trimmed output.
func docker(t *testing.T, host string, args ...string) (string, error) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx(t), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("docker %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return strings.TrimSpace(out.String()), err
}

// mustDocker is docker failing the test on error.
func mustDocker(t *testing.T, host string, args ...string) string {
	t.Helper()
	out, err := docker(t, host, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// container is one running container of the image.
type container struct {
	t    *testing.T
	host string
	id   string
}

// runContainer starts `docker run -d` with args before the image and
// cmd after it, publishing port 5000 on a loopback port Docker picks.
func runContainer(t *testing.T, host string, args []string, cmd ...string) *container {
	t.Helper()
	argv := append([]string{"run", "-d", "--health-interval=1s", "-p", "127.0.0.1::5000"}, args...)
	argv = append(append(argv, imageTag), cmd...)
	c := &container{t: t, host: host, id: mustDocker(t, host, argv...)}
	t.Cleanup(func() { docker(t, host, "rm", "-f", c.id) })
	return c
}

// server is the container's registry as the e2e helpers address it; the
// host port is read afresh because a restart may change it.
func (c *container) server() *Server {
	c.t.Helper()
	out := mustDocker(c.t, c.host, "port", c.id, "5000/tcp")
	// One line per address; only the loopback one was asked for.
	addr := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		c.t.Fatalf("published address %q, want 127.0.0.1:PORT", addr)
	}
	s := &Server{t: c.t, Addr: addr, URL: "http://" + addr, Log: &syncBuffer{}}
	waitV2(c.t, s.URL, nil, c.logs())
	return s
}

// logs returns the container's output, for failure messages.
func (c *container) logs() fmt.Stringer {
	out, _ := docker(c.t, c.host, "logs", c.id)
	b := &syncBuffer{}
	b.Write([]byte(out))
	return b
}

// inspect returns one field of docker inspect, a Go template.
func (c *container) inspect(format string) string {
	c.t.Helper()
	return mustDocker(c.t, c.host, "inspect", "-f", format, c.id)
}

// waitHealthy waits, bounded, for the image's HEALTHCHECK to pass.
func (c *container) waitHealthy() {
	c.t.Helper()
	var status string
	for end := time.Now().Add(90 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if status = c.inspect("{{.State.Health.Status}}"); status == "healthy" {
			return
		}
	}
	c.t.Fatalf("health status %q after 90 s; last probes: %s", status, c.inspect("{{json .State.Health.Log}}"))
}

// stop runs docker stop (SIGTERM, then SIGKILL after 10 s) and checks the
// exit was wharf's own clean one, not the kill: exit code 0.
func (c *container) stop() {
	c.t.Helper()
	mustDocker(c.t, c.host, "stop", c.id)
	if code := c.inspect("{{.State.ExitCode}}"); code != "0" {
		c.t.Errorf("exit code after docker stop: %s, want 0 (137 is SIGKILL after the 10 s)\n%s", code, c.logs())
	}
}

// exec runs a command in the container, as `docker exec C ...`.
func (c *container) exec(args ...string) string {
	c.t.Helper()
	return mustDocker(c.t, c.host, append([]string{"exec", c.id}, args...)...)
}

func testImageDocker(t *testing.T, dir string) {
	host := dockerHost(t)
	// make image's last step, on the tree make image-rootfs prepared.
	mustDocker(t, host, "build", "-t", imageTag, dir)
	size := mustDocker(t, host, "image", "inspect", "-f", "{{.Size}}", imageTag)
	t.Logf("image %s: %s bytes", imageTag, size)

	t.Run("seed 003 docker run", func(t *testing.T) {
		data := t.TempDir()
		c := runContainer(t, host, []string{"-v", data + ":/var/lib/registry"})
		s := c.server()
		img := whRandomImage(t, 4096, 3)
		whPush(t, s, "seed003/app:v1", img)
		whVerifyImage(t, s, "seed003/app:v1", img)
		if _, err := os.Stat(filepath.Join(data, "metadata", "wharf.db")); err != nil {
			t.Errorf("data not in the volume: %v", err)
		}
		c.waitHealthy()

		out := c.exec("registry", "garbage-collect", imageConfig)
		if !strings.Contains(out, "removed") {
			t.Errorf("registry garbage-collect printed %q", out)
		}

		mustDocker(t, host, "restart", c.id)
		s = c.server()
		whVerifyImage(t, s, "seed003/app:v1", img)

		c.stop()
		if !strings.Contains(c.logs().String(), "shutting down") {
			t.Errorf("no graceful shutdown in the log:\n%s", c.logs())
		}
	})

	// Issue 12's "done when": seed 003's command with wharf:latest on a
	// directory registry:2 wrote serves every image it had, byte for
	// byte, with no migration step and nothing re-pushed.
	t.Run("seed 003 on registry:2 data", func(t *testing.T) {
		data := t.TempDir()
		r2, stop := startRegistry2(t, data)
		imgs := map[string]v1.Image{
			"library/httpd:2.4": whRandomImage(t, 8192, 2),
			"team/app:v1":       whRandomImage(t, 4096, 3),
		}
		for ref, img := range imgs {
			whPush(t, r2, ref, img)
		}
		before := readState(t, r2)
		stop()

		c := runContainer(t, host, []string{"-v", data + ":/var/lib/registry"})
		s := c.server()
		if diff := before.diff(readState(t, s)); diff != "" {
			t.Errorf("wharf:latest on registry:2's directory differs:\n%s", diff)
		}
		for ref, img := range imgs {
			whVerifyImage(t, s, ref, img)
		}
		if n := ownBlobFiles(t, data); n != 0 {
			t.Errorf("%d blobs copied into wharf's own layout; want them served in place", n)
		}
		c.stop()
	})

	t.Run("seed 002 compose command", func(t *testing.T) {
		cfgDir := t.TempDir()
		cfg := strings.NewReplacer("ROOT", "/var/lib/registry", "ADDR", ":5000").Replace(seed002Config)
		if err := os.WriteFile(filepath.Join(cfgDir, "config.yml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		c := runContainer(t, host,
			[]string{"-v", t.TempDir() + ":/var/lib/registry", "-v", cfgDir + ":/etc/registry/", "-e", "GODEBUG=netdns=cgo"},
			"serve", "/etc/registry/config.yml")
		s := c.server()
		img := whRandomImage(t, 1024, 2)
		d := whPush(t, s, "library/hello-world:latest", img)
		whVerifyImage(t, s, "library/hello-world:latest", img)
		// The seed's soft delete, then its hard delete through /bin/registry.
		if r := whDo(t, http.MethodDelete, s.URL+"/v2/library/hello-world/manifests/"+d.String(), nil, nil); r.Status != http.StatusAccepted {
			t.Fatalf("DELETE manifest: %s", r)
		}
		for _, args := range [][]string{{"--dry-run"}, {}} {
			argv := append(append([]string{"/bin/registry", "garbage-collect"}, args...), "/etc/registry/config.yml")
			c.exec(argv...)
		}
		if !strings.Contains(c.logs().String(), "service=registry") {
			t.Errorf("seed's log.fields not applied:\n%s", c.logs())
		}
		c.stop()
	})
}

// TestDockerfilesAgree keeps the two Dockerfiles' final images alike: the
// repository's multi-stage one and the one make image uses.
func TestDockerfilesAgree(t *testing.T) {
	final := func(path string) []string {
		b, err := os.ReadFile(filepath.Join(repoRoot(), path))
		if err != nil {
			t.Fatal(err)
		}
		_, after, ok := strings.Cut(string(b), "FROM scratch\n")
		if !ok {
			t.Fatalf("%s: no FROM scratch stage", path)
		}
		var lines []string
		for _, l := range strings.Split(after, "\n") {
			// COPY differs by design: from the build stage or the context.
			if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "COPY ") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	a, b := final("Dockerfile"), final("deploy/image/Dockerfile")
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("final stages differ:\nDockerfile:\n%s\ndeploy/image/Dockerfile:\n%s",
			strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
}

// TestDeployFiles checks what deploy/ ships: the compose file runs wharf
// with seed 002's command and mounts, and every config there loads
// without a warning.
func TestDeployFiles(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	reg := compose.Services["registry"]
	if reg.Image != imageTag || strings.Join(reg.Command, " ") != "serve /etc/registry/config.yml" ||
		!slices.Contains(reg.Volumes, "./config/registry/:/etc/registry/") {
		t.Errorf("compose registry service = %+v, want seed 002's with image %s", reg, imageTag)
	}
	for _, p := range []string{"deploy/config/registry/config.yml", "deploy/image/config.yml"} {
		cfg, warnings, err := config.Load(filepath.Join(repoRoot(), p), nil)
		if err != nil || len(warnings) > 0 {
			t.Errorf("%s: %v, warnings %q", p, err, warnings)
			continue
		}
		if got := cfg.Storage.Filesystem.RootDirectory; got != "/var/lib/registry" {
			t.Errorf("%s: root %q, want /var/lib/registry", p, got)
		}
		// Below docker stop's 10 s, so a stop mid-request still exits cleanly.
		if d := cfg.HTTP.DrainTimeout; d <= 0 || d >= 10*time.Second {
			t.Errorf("%s: http.draintimeout %v, want under 10s", p, d)
		}
	}
}
