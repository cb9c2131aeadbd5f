# shellcheck shell=bash
# An Azure Blob Storage server for wharf's tests: Azurite (the npm registry's
# azurite package, run with this machine's Node.js) on a loopback port, blob
# service only. Sourced by scripts/test-services.sh, which calls
# start_azurite before the tests and stop_azurite after them.
#
# Exports for the tests (internal/blob/azure and the end-to-end suite):
#   WHARF_TEST_AZURE_SERVICE_URL   http://127.0.0.1:<port>/<account>
#   WHARF_TEST_AZURE_ACCOUNT_NAME  WHARF_TEST_AZURE_ACCOUNT_KEY
# The tests create their own containers.

WHARF_AZURITE_VERSION="${WHARF_AZURITE_VERSION:-3.37.0}"

# azurite_free_port prints a loopback TCP port nothing listens on.
azurite_free_port() {
	local port i
	for i in $(seq 1 50); do
		port=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "azurite: no free port found" >&2
	return 1
}

start_azurite() {
	local prefix="$WHARF_CACHE_DIR/azurite-$WHARF_AZURITE_VERSION"
	local bin="$prefix/node_modules/.bin/azurite-blob"
	if [ ! -x "$bin" ]; then
		command -v npm >/dev/null || { echo "azurite: npm (Node.js) is needed" >&2; return 1; }
		echo "azurite: installing azurite $WHARF_AZURITE_VERSION into $prefix (once)" >&2
		mkdir -p "$prefix"
		npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "azurite@$WHARF_AZURITE_VERSION" >&2
	fi

	local dir="$WHARF_SERVICES_DIR/azurite"
	mkdir -p "$dir/data"
	local port account=wharftest key attempt
	key="$(printf 'wharf-test-azure-account-key-0123' | base64 -w0)"
	# A port found free may be taken before Azurite binds it (other test
	# runs share the machine): try a few.
	for attempt in 1 2 3; do
		port="$(azurite_free_port)"
		azurite_launch "$dir" "$port" "$account" "$key" && break
		[ "$attempt" = 3 ] && return 1
	done
	export WHARF_TEST_AZURE_SERVICE_URL="http://127.0.0.1:$port/$account"
	export WHARF_TEST_AZURE_ACCOUNT_NAME="$account"
	export WHARF_TEST_AZURE_ACCOUNT_KEY="$key"
	echo "azurite: listening on $WHARF_TEST_AZURE_SERVICE_URL (pid $AZURITE_PID)" >&2
}

# azurite_launch starts Azurite on port and waits until it answers.
azurite_launch() {
	local dir="$1" port="$2" account="$3" key="$4" bin="$WHARF_CACHE_DIR/azurite-$WHARF_AZURITE_VERSION/node_modules/.bin/azurite-blob"

	# --skipApiVersionCheck: the Go SDK may speak a newer service version
	# than this Azurite knows; --disableProductStyleUrl: the account is the
	# first path segment, as in the exported service URL.
	AZURITE_ACCOUNTS="$account:$key" \
		"$bin" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir/data" \
		--skipApiVersionCheck --disableProductStyleUrl --disableTelemetry --silent \
		>"$dir/azurite.log" 2>&1 &
	AZURITE_PID=$!
	echo "$AZURITE_PID" >"$dir/pid"

	local i code
	for i in $(seq 1 150); do
		if ! kill -0 "$AZURITE_PID" 2>/dev/null; then
			echo "azurite: exited; its log:" >&2
			cat "$dir/azurite.log" >&2
			return 1
		fi
		code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/$account?comp=list" || true)"
		if [ -n "$code" ] && [ "$code" != 000 ]; then
			break
		fi
		sleep 0.1
	done
	if [ -z "$code" ] || [ "$code" = 000 ]; then
		echo "azurite: did not answer on 127.0.0.1:$port; its log:" >&2
		cat "$dir/azurite.log" >&2
		kill "$AZURITE_PID" 2>/dev/null
		return 1
	fi
}

stop_azurite() {
	local dir="$WHARF_SERVICES_DIR/azurite" pid i
	[ -f "$dir/pid" ] || return 0
	pid="$(cat "$dir/pid")"
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}
