# shellcheck shell=bash
# distribution 2.8.2 (Debian's docker-registry package) for the tests that
# import a data directory registry:2 wrote (test/e2e import_test.go);
# sourced by scripts/test-services.sh, which calls start_registry2 and
# stop_registry2.
#
# start_registry2 only makes sure the package is installed and exports
# WHARF_TEST_REGISTRY2, the binary's path: each test starts its own
# docker-registry process on a free loopback port with a root directory of
# its own, so there is nothing to stop here.

_registry2_bin=/usr/bin/docker-registry

start_registry2() {
	if [ ! -x "$_registry2_bin" ]; then
		echo "test-services: installing docker-registry (Debian's distribution 2.8.2)" >&2
		export DEBIAN_FRONTEND=noninteractive
		local sudo=""
		[ "$(id -u)" -eq 0 ] || sudo="sudo"
		if ! $sudo apt-get install -y -q docker-registry >&2; then
			$sudo apt-get update -q >&2
			$sudo apt-get install -y -q docker-registry >&2
		fi
		[ -x "$_registry2_bin" ] || {
			echo "test-services: docker-registry installed but $_registry2_bin is missing" >&2
			return 1
		}
	fi
	export WHARF_TEST_REGISTRY2="$_registry2_bin"
	echo "test-services: $("$_registry2_bin" --version 2>&1) at $_registry2_bin" >&2
}

stop_registry2() {
	return 0
}
