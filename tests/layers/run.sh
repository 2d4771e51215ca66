#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/layers/run.sh - the source folders are layers (README, Layout).
#
#   1. check_includes.py finds no include pointing up or across the layer
#      order build.sh declares (`./build.sh layers`), no folder's private
#      header (*_int.h, *_internal.h) used elsewhere, no header name held
#      by two folders;
#   2. on a scratch copy of the tree, it refuses each kind of bad include
#      (up, across, private, unknown, a name in two folders), naming the
#      file and line: the check can fail;
#   3. the build's include paths refuse an upward include by themselves
#      (`./build.sh includes FOLDER` is what each folder compiles with);
#   4. the README's Layout section names every layer folder, and the fuzz
#      suite lists no module (it links the build's library).
#
# Prints "N passed, N failed" last.
set -u

ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$ROOT/out}
CHECK=$ROOT/tests/layers/check_includes.py

# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/xe-layers-test.XXXXXX")
trap 'rm -rf "${WORK:?}"' EXIT

mapfile -t FOLDERS < <("$ROOT/build.sh" layers | cut -d: -f1)
check "build.sh declares the layers (${FOLDERS[*]})" [ ${#FOLDERS[@]} -ge 4 ]

# --- 1. the tree as it is ------------------------------------------------------

out=$("$CHECK" "$ROOT" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then pass "no include points up or across a layer"; else fail "no include points up or across a layer" "$out"; fi

# --- 2. a scratch copy with one bad include at a time --------------------------

# scratch: a fresh copy of build.sh and the layer folders in $WORK/tree.
scratch() {
	rm -rf "${WORK:?}/tree"
	mkdir -p "$WORK/tree"
	(cd "$ROOT" && cp -r build.sh "${FOLDERS[@]}" "$WORK/tree/")
}
# expect_refused DESCRIPTION TEXT: check_includes.py fails on the scratch
# copy and says TEXT.
expect_refused() {
	local out rc
	out=$("$CHECK" "$WORK/tree" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && grep -qF -- "$2" <<<"$out"; then pass "$1"; else fail "$1" "(exit $rc) $out"; fi
}
# FILE HEADER WHAT: each a bad include appended to FILE in a fresh copy;
# the refusal must name FILE:LINE, the include and WHAT.
while read -r file header what; do
	scratch
	printf '#include "%s"\n' "$header" >>"$WORK/tree/$file"
	n=$(wc -l <"$WORK/tree/$file")
	expect_refused "$file including $header is refused ($what)" "$file:$n: #include \"$header\": $what"
done <<'CASES'
tls/pin.c s2s_in.h points up: proxy is above tls
proxy/router.c daemon.h points up: daemon is above proxy
dns/name.c tls.h points across: dns does not build on tls
common/netaddr.h config.h points up: proxy is above common
proxy/config.c dns_internal.h dns's private header
cli/main.c nosuch.h no layer folder has this header
cli/main.c ../proxy/config.h a path, not a header name
CASES
scratch
cp "$WORK/tree/common/log.h" "$WORK/tree/proxy/log.h"
expect_refused "a header name held by two folders is refused" \
	"log.h: a header in common and proxy"
scratch
out=$("$CHECK" "$WORK/tree" 2>&1)
rc=$?
check "the unchanged scratch copy passes (the refusals above came from the bad includes)" \
	[ "$rc:$out" = "0:" ]

# --- 3. the build's include paths ------------------------------------------------

# A file in tls/ including a proxy header does not compile with tls's
# include path, and the same include compiles with proxy's.
DEPS_INC=$OUT/deps-glibc/include
printf '#include "s2s_in.h"\n' >"$WORK/up.c"
inc_tls=$(cd "$ROOT" && ./build.sh includes tls)
inc_proxy=$(cd "$ROOT" && ./build.sh includes proxy)
# shellcheck disable=SC2086 # one option a word.
out=$(cd "$ROOT" && gcc -std=c11 -D_GNU_SOURCE -E $inc_tls -I"$DEPS_INC" "$WORK/up.c" -o /dev/null 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "s2s_in.h: No such file" <<<"$out"; then
	pass "compiled as tls ($inc_tls), an include of a proxy header fails"
else
	fail "compiled as tls ($inc_tls), an include of a proxy header fails" "(exit $rc) $out"
fi
# shellcheck disable=SC2086
check "compiled as proxy ($inc_proxy), the same include is found" \
	bash -c 'cd "$1" && shift && gcc -std=c11 -D_GNU_SOURCE -E "$@" -o /dev/null' _ "$ROOT" $inc_proxy -I"$DEPS_INC" "$WORK/up.c"
out=$(cd "$ROOT" && ./build.sh includes nosuch 2>&1)
check "build.sh includes refuses a folder that is not a layer" grep -q "no layer nosuch" <<<"$out"

# --- 4. the README and the fuzz suite ----------------------------------------------

layout=$(awk '/^## Layout/ { s = 1; next } /^## / { s = 0 } s' "$ROOT/README.md")
for f in "${FOLDERS[@]}"; do
	check "README's Layout section names the layer $f/" grep -q "\`$f/\`" <<<"$layout"
done
listed=$(grep -noE "\\b($(IFS='|'; echo "${FOLDERS[*]}"))/[a-z0-9_]+\\.c\\b" "$ROOT/tests/fuzz/run.sh")
check "tests/fuzz/run.sh lists no module (links the build's library; listed: ${listed:-none})" [ -z "$listed" ]

finish
