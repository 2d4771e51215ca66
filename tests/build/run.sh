#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build suite: the supply-chain promises of build.sh.
#  - a tarball whose SHA-256 differs from deps/deps.lock is refused, with
#    the expected and actual sums in the message, before anything builds;
#  - DEPS_DIR without a needed tarball names the file;
#  - with the dependency cache warm, `./build.sh` rebuilds none of them;
#  - the mbedTLS configuration the library was built with is the project's;
#  - a dependency build that fails shows the end of its log (the reason),
#    not only the log's path.
# Last line: "N passed, N failed".
set -u
ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$ROOT/out}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
status() { # status NAME EXIT-STATUS DETAIL: pass when EXIT-STATUS is 0
	if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi
}

# 1. A tampered tarball: copy the real ones, flip a byte in mbedTLS's.
mkdir -p "$tmp/deps"
while read -r name version tarball sum pool; do
	case $name in ''|\#*) continue ;; esac
	src=${XE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xmpp-edge}/src/$tarball
	[ -f "$src" ] && cp "$src" "$tmp/deps/"
done <"$ROOT/deps/deps.lock"
tb=$(ls "$tmp"/deps/mbedtls_*.orig.tar.* 2>/dev/null | head -1)
if [ -n "$tb" ]; then
	printf 'X' | dd of="$tb" bs=1 seek=1000 conv=notrunc status=none
	out=$(cd "$ROOT" && TMPDIR="$tmp" XE_CACHE_DIR="$tmp/cache" DEPS_DIR="$tmp/deps" ./build.sh deps 2>&1)
	rc=$?
	echo "$out" | grep -q "SHA-256 mismatch (expected 8fb65fae" && [ $rc -ne 0 ] &&
		! ls "$tmp/cache/deps"/*/lib/libmbedtls.a >/dev/null 2>&1
	status "tampered_tarball_refused" $? "$out"
else
	status "tampered_tarball_refused" 1 "no cached tarballs to copy (run ./build.sh first)"
fi

# 2. DEPS_DIR without the tarball.
mkdir -p "$tmp/empty"
out=$(cd "$ROOT" && TMPDIR="$tmp" XE_CACHE_DIR="$tmp/cache2" DEPS_DIR="$tmp/empty" ./build.sh deps 2>&1)
rc=$?
echo "$out" | grep -q "DEPS_DIR=$tmp/empty has no mbedtls_3.6.6.orig.tar.bz2" && [ $rc -ne 0 ]
status "deps_dir_missing_file_named" $? "$out"

# 3. Warm cache: nothing rebuilt.
out=$(cd "$ROOT" && ./build.sh 2>&1)
rc=$?
[ $rc -eq 0 ] && ! echo "$out" | grep -q "building dependencies"
status "warm_cache_rebuilds_no_dependency" $? "$out"

# 4. The installed mbedTLS configuration is ours (build.sh copies it over
#    the upstream default the library's headers would otherwise pick).
cmp -s "$ROOT/tls/mbedtls_config.h" "$OUT/deps-musl/include/mbedtls/mbedtls_config.h"
status "mbedtls_built_with_project_config" $? "installed mbedtls_config.h differs from tls/"

# 5. A failing dependency build: a musl-gcc that cannot link (as gcc
#    without libc6-dev could not) makes mbedTLS's configure step fail; the
#    compiler's own words must reach the screen.
mkdir -p "$tmp/fakebin"
printf '#!/bin/sh\necho "xe-build-test: cannot find crt1.o" >&2\nexit 1\n' >"$tmp/fakebin/musl-gcc"
chmod +x "$tmp/fakebin/musl-gcc"
# The tarballs come from the cache (DEPS_DIR, read only): no network.
src=${XE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xmpp-edge}/src
out=$(cd "$ROOT" && PATH="$tmp/fakebin:$PATH" TMPDIR="$tmp" XE_CACHE_DIR="$tmp/cache3" DEPS_DIR="$src" \
	./build.sh deps 2>&1)
rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "xe-build-test: cannot find crt1.o" &&
	echo "$out" | grep -q "mbedTLS build failed (log above, whole log: .*/mbedtls.log)"
status "failed_dependency_build_shows_log_tail" $? "$out"

finish
