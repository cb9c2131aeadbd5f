# shellcheck shell=bash
# Debian's podman, for the `podman search` test (test/e2e
# v1client_test.go); sourced by scripts/test-services.sh. It runs no daemon:
# start_podman installs the package when missing and exports
#   WHARF_TEST_PODMAN   the podman binary
# so the test runs it, or under CI fails when it could not be installed.

start_podman() {
	if ! command -v podman >/dev/null 2>&1; then
		echo "test-services: installing podman (Debian package)" >&2
		export DEBIAN_FRONTEND=noninteractive
		if ! apt-get install -y -q podman >&2; then
			apt-get update -q >&2
			apt-get install -y -q podman >&2 || true
		fi
	fi
	if command -v podman >/dev/null 2>&1; then
		WHARF_TEST_PODMAN="$(command -v podman)"
		export WHARF_TEST_PODMAN
		echo "test-services: $(podman --version) at $WHARF_TEST_PODMAN" >&2
	else
		echo "test-services: podman: not installed and apt-get install podman failed" >&2
	fi
}

stop_podman() { :; }
