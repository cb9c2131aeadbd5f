# shellcheck shell=bash
# A Google Cloud Storage server for wharf's tests: fake-gcs-server (go
# install'ed into $WHARF_CACHE_DIR/bin) on a loopback port, over plain HTTP,
# keeping objects in a directory. Sourced by scripts/test-services.sh, which
# calls start_gcs before the tests and stop_gcs after them.
#
# Exports for the tests (internal/blob/gcs and the end-to-end suite):
#   WHARF_TEST_GCS_ENDPOINT   http://127.0.0.1:<port>
# Clients reach it through STORAGE_EMULATOR_HOST, which the tests set to
# that value. The tests create their own buckets.

WHARF_FAKE_GCS_VERSION="${WHARF_FAKE_GCS_VERSION:-v1.56.1}"

# gcs_free_port prints a loopback TCP port nothing listens on.
gcs_free_port() {
	local port i
	for i in $(seq 1 50); do
		port=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "gcs: no free port found" >&2
	return 1
}

start_gcs() {
	local bin="$WHARF_CACHE_DIR/bin/fake-gcs-server"
	local stamp="$WHARF_CACHE_DIR/bin/fake-gcs-server.version"
	if [ ! -x "$bin" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$WHARF_FAKE_GCS_VERSION" ]; then
		echo "gcs: installing fake-gcs-server $WHARF_FAKE_GCS_VERSION into $WHARF_CACHE_DIR/bin (takes a few minutes, once)" >&2
		mkdir -p "$WHARF_CACHE_DIR/bin"
		GOBIN="$WHARF_CACHE_DIR/bin" go install "github.com/fsouza/fake-gcs-server@$WHARF_FAKE_GCS_VERSION"
		echo "$WHARF_FAKE_GCS_VERSION" >"$stamp"
	fi

	local dir="$WHARF_SERVICES_DIR/gcs"
	mkdir -p "$dir/data"
	local port attempt
	# A port found free may be taken before the server binds it (other
	# test runs share the machine): try a few.
	for attempt in 1 2 3; do
		port="$(gcs_free_port)"
		gcs_launch "$dir" "$port" && break
		[ "$attempt" = 3 ] && return 1
	done
	export WHARF_TEST_GCS_ENDPOINT="http://127.0.0.1:$port"
	echo "gcs: fake-gcs-server listening on $WHARF_TEST_GCS_ENDPOINT (pid $GCS_PID)" >&2
}

# gcs_launch starts fake-gcs-server on port and waits until it answers.
gcs_launch() {
	local dir="$1" port="$2"
	# -public-host makes path-style object URLs (signed URLs) on this
	# address serve the object, as storage.googleapis.com does.
	"$bin" -scheme http -host 127.0.0.1 -port "$port" \
		-public-host "127.0.0.1:$port" -external-url "http://127.0.0.1:$port" \
		-backend filesystem -filesystem-root "$dir/data" -log-level warn \
		>"$dir/fake-gcs-server.log" 2>&1 &
	GCS_PID=$!
	echo "$GCS_PID" >"$dir/pid"

	local i code
	for i in $(seq 1 150); do
		if ! kill -0 "$GCS_PID" 2>/dev/null; then
			echo "gcs: fake-gcs-server exited; its log:" >&2
			cat "$dir/fake-gcs-server.log" >&2
			return 1
		fi
		code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/storage/v1/b" || true)"
		if [ "$code" = 200 ]; then
			break
		fi
		sleep 0.1
	done
	if [ "$code" != 200 ]; then
		echo "gcs: fake-gcs-server did not answer on 127.0.0.1:$port; its log:" >&2
		cat "$dir/fake-gcs-server.log" >&2
		kill "$GCS_PID" 2>/dev/null
		return 1
	fi
}

stop_gcs() {
	local dir="$WHARF_SERVICES_DIR/gcs" pid i
	[ -f "$dir/pid" ] || return 0
	pid="$(cat "$dir/pid")"
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}
