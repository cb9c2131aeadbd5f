#!/usr/bin/env bash
# Runs native Go fuzzers for FUZZTIME each; a crasher fails the run and
# stays in the package's testdata/fuzz, where it then runs as a plain test.
#
#   scripts/fuzz.sh internal/api:FuzzParseRoute internal/config:FuzzParse ...
#
# Go's fuzzer can stop with "fuzzing process hung or terminated
# unexpectedly while minimizing: EOF" and write an input that passes when
# run on its own (golang/go#52569): the minimizing worker was cut off, not
# crashed by the input. Only for that message, the written input is run by
# itself; if it passes it is removed and the fuzzer runs once more. Any
# other failure, or the same one twice, fails the run.
#
# Go 1.26's fuzzer can also fail a target with a bare "context deadline
# exceeded" as -fuzztime runs out (golang/go#75804, fixed in Go 1.27): the
# coordinator's deadline races a worker still executing, on a loaded
# machine. Nothing is found and no input is written, so such a run is
# fuzzed once more; a second failure of any kind fails the run.
set -euo pipefail

GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-6s}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# minimization_flake reports whether the run logged in $log failed only by
# Go's minimization flake: the input it wrote for fuzzer $2 in package $1
# passes alone. The input is removed when it does.
minimization_flake() {
	local pkg=$1 name=$2 input
	grep -q "fuzzing process hung or terminated unexpectedly while minimizing" "$log" || return 1
	input="$(sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*/\1/p' "$log" | head -n 1)"
	[ -n "$input" ] && [ -f "$pkg/$input" ] || return 1
	echo "fuzz $name: re-running $input alone"
	"$GO" test -count=1 -run "^$name\$/^$(basename "$input")\$" "./$pkg/" || return 1
	echo "fuzz $name: it passes alone: Go's minimization flake (golang/go#52569); removed, fuzzing again"
	rm -f "$pkg/$input"
}

# deadline_flake reports whether the run logged in $log failed only by the
# fuzz coordinator's deadline race: its one failure message is "context
# deadline exceeded", with no input written, no panic and no test output.
deadline_flake() {
	grep -qx '    context deadline exceeded' "$log" || return 1
	! grep -q -e 'Failing input written' -e '^panic:' -e '_test\.go:[0-9]' "$log" || return 1
	echo "fuzz: the coordinator's deadline race (golang/go#75804), nothing found; fuzzing again"
}

for target in "$@"; do
	pkg="${target%%:*}" name="${target#*:}"
	for attempt in 1 2; do
		echo "fuzz $name ($FUZZTIME)"
		if "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "./$pkg/" >"$log" 2>&1; then
			cat "$log"
			break
		fi
		cat "$log"
		if [ "$attempt" = 1 ] && { minimization_flake "$pkg" "$name" || deadline_flake; }; then
			continue
		fi
		echo "fuzz $name: failed" >&2
		exit 1
	done
done
