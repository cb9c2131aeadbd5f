# shellcheck shell=bash
# PostgreSQL for the tests of the PostgreSQL metadata store; sourced by
# scripts/test-services.sh, which calls start_postgres and stop_postgres.
#
# start_postgres installs Debian's postgresql package when initdb is
# missing, creates a throwaway cluster in a temporary directory under
# $WHARF_SERVICES_DIR (as the postgres user: initdb refuses to run as root),
# starts it on a free loopback port with its socket in that directory and
# trust authentication on loopback, creates the database wharf_test and
# exports WHARF_TEST_POSTGRES_DSN. Tests create their own databases from it.

_pg_bindir() {
	local d
	# The newest installed major version.
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
		return 0
	fi
	return 1
}

_pg_install() {
	echo "test-services: installing PostgreSQL (Debian's postgresql package)" >&2
	export DEBIAN_FRONTEND=noninteractive
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	if ! $sudo apt-get install -y -q postgresql >&2; then
		$sudo apt-get update -q >&2
		$sudo apt-get install -y -q postgresql >&2
	fi
}

_pg_free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# _pg_as_owner runs a command as the cluster's owner: the postgres user
# when we are root (initdb and postgres refuse root), else ourselves.
_pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start_postgres() {
	local bindir
	if ! bindir="$(_pg_bindir)"; then
		_pg_install
		bindir="$(_pg_bindir)" || {
			echo "test-services: PostgreSQL installed but initdb not found" >&2
			return 1
		}
	fi
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
	fi

	PG_DIR="$(mktemp -d "$WHARF_SERVICES_DIR/postgres.XXXXXX")"
	PG_BINDIR="$bindir"
	export PG_DIR PG_BINDIR
	mkdir -p "$PG_DIR/data" "$PG_DIR/socket"
	chmod 755 "$WHARF_SERVICES_DIR" "$PG_DIR"
	if [ "$(id -u)" -eq 0 ]; then
		chown -R postgres: "$PG_DIR"
	fi

	_pg_as_owner "$bindir/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync \
		>"$PG_DIR/initdb.log" 2>&1 || {
		cat "$PG_DIR/initdb.log" >&2
		return 1
	}

	local port tries
	for tries in 1 2 3; do
		port="$(_pg_free_port)" || return 1
		# fsync off and no full-page writes: a throwaway test cluster.
		if _pg_as_owner "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR/socket -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200" \
			start >/dev/null; then
			break
		fi
		if [ "$tries" -eq 3 ]; then
			cat "$PG_DIR/postgres.log" >&2
			return 1
		fi
	done
	PG_PORT="$port"
	export PG_PORT

	_pg_as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres wharf_test || return 1
	export WHARF_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$port/wharf_test?sslmode=disable"
	echo "test-services: PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
}

stop_postgres() {
	[ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ] || return 0
	_pg_as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
}
