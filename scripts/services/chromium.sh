# shellcheck shell=bash
# Headless Chromium (Debian's chromium package) and axe-core (npm) for the
# web UI's browser tests (test/e2e ui_test.go); sourced by
# scripts/test-services.sh, which calls start_chromium and stop_chromium.
#
# start_chromium installs what is missing and exports WHARF_TEST_CHROMIUM
# (the browser's path) and WHARF_TEST_AXE (axe.min.js, injected into pages
# for the accessibility scan). Each test starts its own browser process,
# so there is nothing to stop here.

_chromium_bin=/usr/bin/chromium
_axe_version=4.11.0

start_chromium() {
	if [ ! -x "$_chromium_bin" ]; then
		echo "test-services: installing chromium (Debian)" >&2
		export DEBIAN_FRONTEND=noninteractive
		local sudo=""
		[ "$(id -u)" -eq 0 ] || sudo="sudo"
		if ! $sudo apt-get install -y -q chromium >&2; then
			$sudo apt-get update -q >&2
			$sudo apt-get install -y -q chromium >&2
		fi
		[ -x "$_chromium_bin" ] || {
			echo "test-services: chromium installed but $_chromium_bin is missing" >&2
			return 1
		}
	fi
	export WHARF_TEST_CHROMIUM="$_chromium_bin"
	echo "test-services: $("$_chromium_bin" --version 2>/dev/null) at $_chromium_bin" >&2

	local axe_dir="$WHARF_CACHE_DIR/axe-core-$_axe_version"
	if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
		echo "test-services: installing axe-core $_axe_version (npm)" >&2
		mkdir -p "$axe_dir"
		npm install --silent --no-audit --no-fund --prefix "$axe_dir" "axe-core@$_axe_version" >&2
	fi
	export WHARF_TEST_AXE="$axe_dir/node_modules/axe-core/axe.min.js"
}

stop_chromium() {
	return 0
}
