#!/usr/bin/env bash
# Starts the outside services wharf's tests need (PostgreSQL, an S3 server,
# Azurite, fake-gcs-server, ...),
# exports where they listen, runs its arguments as a command, and stops the
# services again, whatever the command's outcome.
#
#   scripts/test-services.sh go test ./...
#
# Each service lives in scripts/services/<name>.sh and defines
# start_<name> and stop_<name>; start_<name> installs what it needs when it
# is missing and exports the WHARF_TEST_* variables its tests read. Tests
# that find their variable unset skip with a message naming this script.
#
# WHARF_SERVICES=postgres,s3 starts only the services named (for a quick
# run of a few tests); unset, every service starts, as CI needs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
export WHARF_SERVICES_DIR="${WHARF_SERVICES_DIR:-$(mktemp -d /tmp/wharf-services.XXXXXX)}"
export WHARF_CACHE_DIR="${WHARF_CACHE_DIR:-$repo/.cache}"

started=()
cleanup() {
	local rc=$?
	for name in "${started[@]}"; do
		"stop_$name" || echo "test-services: stopping $name failed" >&2
	done
	rm -rf "$WHARF_SERVICES_DIR"
	exit "$rc"
}
trap cleanup EXIT INT TERM

for svc in "$here"/services/*.sh; do
	[ -e "$svc" ] || continue
	name="$(basename "$svc" .sh)"
	if [ -n "${WHARF_SERVICES:-}" ] && [[ ",$WHARF_SERVICES," != *",$name,"* ]]; then
		continue
	fi
	# shellcheck source=/dev/null
	source "$svc"
	echo "test-services: starting $name" >&2
	"start_$name"
	started+=("$name")
done

"$@"
