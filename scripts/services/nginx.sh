# shellcheck shell=bash
# nginx for the tests that put wharf behind a reverse proxy (test/e2e
# nginx_test.go); sourced by scripts/test-services.sh, which calls
# start_nginx and stop_nginx.
#
# start_nginx only makes sure Debian's nginx package is installed and
# exports WHARF_TEST_NGINX, the binary's path: each test starts its own
# nginx process on a free loopback port with a generated configuration and
# a prefix directory of its own, so there is nothing to stop here.

_nginx_bin() {
	local b
	for b in /usr/sbin/nginx "$(command -v nginx 2>/dev/null)"; do
		if [ -n "$b" ] && [ -x "$b" ]; then
			echo "$b"
			return 0
		fi
	done
	return 1
}

_nginx_install() {
	echo "test-services: installing nginx (Debian's nginx package)" >&2
	export DEBIAN_FRONTEND=noninteractive
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	if ! $sudo apt-get install -y -q nginx >&2; then
		$sudo apt-get update -q >&2
		$sudo apt-get install -y -q nginx >&2
	fi
}

start_nginx() {
	local bin
	if ! bin="$(_nginx_bin)"; then
		_nginx_install
		bin="$(_nginx_bin)" || {
			echo "test-services: nginx installed but not found" >&2
			return 1
		}
	fi
	export WHARF_TEST_NGINX="$bin"
	echo "test-services: $("$bin" -v 2>&1) at $bin" >&2
}

stop_nginx() {
	return 0
}
