# shellcheck shell=bash
# Let's Encrypt's test ACME server, pebble, and its DNS companion
# pebble-challtestsrv, for the http.tls.letsencrypt tests. Sourced by
# scripts/test-services.sh. Nothing is started here: each test runs its own
# pebble on loopback ports with a configuration that points its challenges
# at that test's wharf, so start_pebble only installs the binaries.
#
# Exports for the tests (test/e2e/letsencrypt_test.go):
#   WHARF_TEST_PEBBLE               path of the pebble binary
#   WHARF_TEST_PEBBLE_CHALLTESTSRV  path of the pebble-challtestsrv binary

WHARF_PEBBLE_VERSION="${WHARF_PEBBLE_VERSION:-v2.10.3}"

start_pebble() {
	local bin="$WHARF_CACHE_DIR/bin" cmd
	for cmd in pebble pebble-challtestsrv; do
		if [ ! -x "$bin/$cmd" ]; then
			echo "pebble: installing $cmd $WHARF_PEBBLE_VERSION into $bin (once)" >&2
			mkdir -p "$bin"
			GOBIN="$bin" go install "github.com/letsencrypt/pebble/v2/cmd/$cmd@$WHARF_PEBBLE_VERSION"
		fi
	done
	export WHARF_TEST_PEBBLE="$bin/pebble"
	export WHARF_TEST_PEBBLE_CHALLTESTSRV="$bin/pebble-challtestsrv"
	echo "pebble: $WHARF_TEST_PEBBLE" >&2
}

stop_pebble() {
	:
}
