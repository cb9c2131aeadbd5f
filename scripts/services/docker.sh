# shellcheck shell=bash
# A private Docker daemon for the container image test (test/e2e
# image_test.go); sourced by scripts/test-services.sh, which calls
# start_docker and stop_docker.
#
# start_docker installs Debian's docker.io (and ca-certificates, which
# `make image` copies into the image) when missing, and starts dockerd as
# root with everything under $WHARF_SERVICES_DIR/docker: the vfs storage
# driver (works on any filesystem, and the image is small), its own data and
# exec roots, pid file and socket, so it leaves the host's Docker alone. It
# keeps the default bridge network: the test publishes a port with -p.
# It exports
#   WHARF_TEST_DOCKER_HOST   unix://.../docker.sock, once the daemon answers
# or, when the daemon cannot run here,
#   WHARF_TEST_DOCKER_ERROR  why, with the end of dockerd's log
# so the test says exactly why instead of a bare skip.

_docker_install() {
	echo "test-services: installing docker.io and ca-certificates (Debian packages)" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q docker.io ca-certificates >&2; then
		apt-get update -q >&2
		apt-get install -y -q docker.io ca-certificates >&2
	fi
}

# _docker_fail records why the daemon is unavailable, for the test to report.
_docker_fail() {
	export WHARF_TEST_DOCKER_ERROR="$1"
	echo "test-services: docker: $1" >&2
}

start_docker() {
	DOCKER_DIR="$WHARF_SERVICES_DIR/docker"
	DOCKER_PID=""
	if [ "$(id -u)" -ne 0 ]; then
		_docker_fail "dockerd needs root, and the tests run as uid $(id -u)"
		return 0
	fi
	if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1 ||
		[ ! -s /etc/ssl/certs/ca-certificates.crt ]; then
		_docker_install || true
	fi
	if ! command -v dockerd >/dev/null 2>&1; then
		_docker_fail "dockerd is not installed and apt-get install docker.io failed"
		return 0
	fi
	mkdir -p "$DOCKER_DIR"
	local sock="$DOCKER_DIR/docker.sock"
	dockerd --storage-driver=vfs \
		--data-root="$DOCKER_DIR/data" --exec-root="$DOCKER_DIR/exec" \
		--pidfile="$DOCKER_DIR/docker.pid" -H "unix://$sock" \
		>"$DOCKER_DIR/dockerd.log" 2>&1 &
	DOCKER_PID=$!
	local i
	for i in $(seq 1 120); do
		if DOCKER_HOST="unix://$sock" timeout 5 docker version >/dev/null 2>&1; then
			export WHARF_TEST_DOCKER_HOST="unix://$sock"
			echo "test-services: dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,) (pid $DOCKER_PID) at $WHARF_TEST_DOCKER_HOST" >&2
			return 0
		fi
		if ! kill -0 "$DOCKER_PID" 2>/dev/null; then
			break
		fi
		sleep 0.25
	done
	_docker_fail "dockerd did not come up (exited or silent for 30 s); its log ends: $(grep -E 'level=(error|fatal)|failed' "$DOCKER_DIR/dockerd.log" | tail -n 5 | tr '\n' ' ')"
	stop_docker
	return 0
}

stop_docker() {
	[ -n "${DOCKER_PID:-}" ] || return 0
	# dockerd stops its containers (docker stop's grace), then itself.
	kill -TERM "$DOCKER_PID" 2>/dev/null || true
	local i
	for i in $(seq 1 120); do
		kill -0 "$DOCKER_PID" 2>/dev/null || break
		sleep 0.25
	done
	kill -KILL "$DOCKER_PID" 2>/dev/null || true
	wait "$DOCKER_PID" 2>/dev/null || true
	DOCKER_PID=""
	# A daemon killed mid-way can leave mounts, which rm -rf cannot remove.
	local m
	for m in $(awk -v d="$DOCKER_DIR" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	return 0
}
