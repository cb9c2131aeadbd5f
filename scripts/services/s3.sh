# shellcheck shell=bash
# An S3 server for wharf's tests: versitygw's posix backend (a real S3
# protocol server over a directory) on a loopback port. Sourced by
# scripts/test-services.sh, which calls start_s3 before the tests and stop_s3
# after them.
#
# Exports for the tests (internal/blob/s3_test.go and the end-to-end suite):
#   WHARF_TEST_S3_ENDPOINT    http://127.0.0.1:<port>
#   WHARF_TEST_S3_ACCESS_KEY  WHARF_TEST_S3_SECRET_KEY  WHARF_TEST_S3_REGION
# The tests create their own buckets.

WHARF_VERSITYGW_VERSION="${WHARF_VERSITYGW_VERSION:-v1.8.0}"

# s3_free_port prints a loopback TCP port nothing listens on.
s3_free_port() {
	local port i
	for i in $(seq 1 50); do
		port=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "s3: no free port found" >&2
	return 1
}

start_s3() {
	local bin="$WHARF_CACHE_DIR/bin/versitygw"
	if [ ! -x "$bin" ]; then
		echo "s3: installing versitygw $WHARF_VERSITYGW_VERSION into $WHARF_CACHE_DIR/bin (takes a few minutes, once)" >&2
		mkdir -p "$WHARF_CACHE_DIR/bin"
		GOBIN="$WHARF_CACHE_DIR/bin" go install "github.com/versity/versitygw/cmd/versitygw@$WHARF_VERSITYGW_VERSION"
	fi

	local dir="$WHARF_SERVICES_DIR/s3"
	mkdir -p "$dir/data"
	local port
	port="$(s3_free_port)"
	local access=wharftest secret=wharftest-secret-key region=us-east-1

	# The posix backend keeps object metadata in extended attributes; the
	# sidecar directory works on filesystems without them too.
	mkdir -p "$dir/meta"
	ROOT_ACCESS_KEY="$access" ROOT_SECRET_KEY="$secret" \
		"$bin" --port "127.0.0.1:$port" --region "$region" --quiet \
		posix --sidecar "$dir/meta" "$dir/data" \
		>"$dir/versitygw.log" 2>&1 &
	S3_PID=$!
	echo "$S3_PID" >"$dir/pid"

	# Wait until it answers HTTP (any status: an unsigned request is refused).
	local i code
	for i in $(seq 1 150); do
		if ! kill -0 "$S3_PID" 2>/dev/null; then
			echo "s3: versitygw exited; its log:" >&2
			cat "$dir/versitygw.log" >&2
			return 1
		fi
		code="$(curl -s -o /dev/null -w '%{http_code}' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://127.0.0.1:$port/" || true)"
		if [ -n "$code" ] && [ "$code" != 000 ]; then
			break
		fi
		sleep 0.1
	done
	if [ -z "$code" ] || [ "$code" = 000 ]; then
		echo "s3: versitygw did not answer on 127.0.0.1:$port; its log:" >&2
		cat "$dir/versitygw.log" >&2
		return 1
	fi

	export WHARF_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
	export WHARF_TEST_S3_ACCESS_KEY="$access"
	export WHARF_TEST_S3_SECRET_KEY="$secret"
	export WHARF_TEST_S3_REGION="$region"
	echo "s3: versitygw listening on $WHARF_TEST_S3_ENDPOINT (pid $S3_PID)" >&2
}

stop_s3() {
	local dir="$WHARF_SERVICES_DIR/s3" pid i
	[ -f "$dir/pid" ] || return 0
	pid="$(cat "$dir/pid")"
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}
