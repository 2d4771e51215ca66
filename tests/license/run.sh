#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/license/run.sh - the project's license and the notices it ships.
#
#   1. LICENSE is the official Apache License 2.0 text and README.md says so;
#   2. every source file (tests/license/add-spdx.sh --list) names its license
#      with an SPDX-License-Identifier line in its first 5 lines: one check
#      per file, so a new file without it fails;
#   3. add-spdx.sh, run on a scratch copy of the sources, gives every file
#      the line, keeps "#!" lines first and scripts parseable, and a second
#      run changes nothing;
#   4. the binaries' `version --licenses` carries, for every component in
#      deps/deps.lock (and musl, statically linked into the release binary
#      only), every file deps/licenses.lock ships, byte for byte (its
#      SHA-256 from the lock): a new dependency without a notice fails;
#   5. `./build.sh licenses`, on a scratch copy, refuses a changed license
#      text, a dependency without license rows, and a license file in a
#      tarball that deps/licenses.lock does not name.
#
# Prints "N passed, N failed" last.
set -u

ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$ROOT/out}
BIN=${XE_BIN:-$OUT/dev/xmpp-edge}
STATIC=${XE_STATIC_BIN:-$OUT/xmpp-edge}
CACHE=${XE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xmpp-edge}
APACHE_SHA256=cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30
SPDX_LINES=5

# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/xe-license-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- 1. the project's license -------------------------------------------------

check "LICENSE is the official Apache License 2.0 text (SHA-256 $APACHE_SHA256)" \
	bash -c '[ "$(sha256sum "$1" | cut -d" " -f1)" = "$2" ]' _ "$ROOT/LICENSE" "$APACHE_SHA256"
check "README.md has a License section naming Apache-2.0" \
	bash -c 'awk "/^## License/ { s = 1; next } /^## / { s = 0 } s" "$1" | grep -q "Apache-2.0"' _ "$ROOT/README.md"

# --- 2. SPDX lines --------------------------------------------------------------

# spdx_ok FILE: an SPDX-License-Identifier with an expression near the top.
spdx_ok() { head -n $SPDX_LINES "$1" | grep -Eq 'SPDX-License-Identifier: [A-Za-z0-9(]'; }
mapfile -t SOURCES < <("$ROOT/tests/license/add-spdx.sh" --list "$ROOT")
check "the source list is not empty (${#SOURCES[@]} files)" [ ${#SOURCES[@]} -gt 100 ]
for f in "${SOURCES[@]}"; do
	check "spdx $f" spdx_ok "$ROOT/$f"
done

# --- 3. add-spdx.sh on a scratch copy ----------------------------------------------

S=$WORK/scratch
mkdir -p "$S"
(cd "$ROOT" && tar -cf - "${SOURCES[@]}") | tar -xf - -C "$S"
"$ROOT/tests/license/add-spdx.sh" "$S" 2>"$WORK/add.log"
missing=$(cd "$S" && for f in "${SOURCES[@]}"; do spdx_ok "$f" || echo "$f"; done)
check "add-spdx.sh gives every source file the line (missing: ${missing:-none})" [ -z "$missing" ]
moved=$(cd "$S" && for f in "${SOURCES[@]}"; do
	if head -c 2 "$ROOT/$f" | grep -q '^#!' && ! head -n 1 "$f" | grep -q '^#!'; then echo "$f"; fi
done)
check "add-spdx.sh keeps every #! line first (moved: ${moved:-none})" [ -z "$moved" ]
broken=$(cd "$S" && for f in "${SOURCES[@]}"; do
	case $f in
	*.sh | build.sh | .ci/run) bash -n "$f" 2>/dev/null || echo "$f" ;;
	*.py) python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$f" 2>/dev/null || echo "$f" ;;
	esac
done)
check "scripts still parse after add-spdx.sh (broken: ${broken:-none})" [ -z "$broken" ]
c_first=$(cd "$S" && for f in "${SOURCES[@]}"; do
	case $f in *.c | *.h) [ "$(head -n 1 "$f")" = "/* SPDX-License-Identifier: Apache-2.0 */" ] || echo "$f" ;; esac
done)
check "C files start with the SPDX comment (not: ${c_first:-none})" [ -z "$c_first" ]
before=$(cd "$S" && find . -type f -exec sha256sum {} + | LC_ALL=C sort)
"$ROOT/tests/license/add-spdx.sh" "$S" 2>/dev/null
after=$(cd "$S" && find . -type f -exec sha256sum {} + | LC_ALL=C sort)
check "a second add-spdx.sh run changes nothing" [ "$before" = "$after" ]

# --- 4. the notices inside the binaries ----------------------------------------------

# components: deps/deps.lock's names (the list a new dependency joins).
mapfile -t DEPS < <(awk '$1 !~ /^#/ && NF { print $1 }' "$ROOT/deps/deps.lock")
check "deps/deps.lock names dependencies (${DEPS[*]})" [ ${#DEPS[@]} -gt 0 ]

# notice_sections BINARY DIR: cuts `BINARY version --licenses` into
# DIR/COMPONENT@VERSION@FILE, one file per notice.
notice_sections() {
	mkdir -p "$2"
	# The blank line before each header separates notices: not part of one.
	"$1" version --licenses | awk -v d="$2" '
		function flush(keep) { while (blank > keep) { print "" >f; blank-- } blank = 0 }
		/^==== [^ ]+ [^ ]+ [^ ]+ \(.*\) ====$/ {
			if (f) { flush(1); close(f) }
			f = d "/" $2 "@" $3 "@" $4; printf "" >f; next
		}
		f && $0 == "" { blank++; next }
		f { flush(0); print >f }
		END { if (f) flush(0) }'
}

# check_binary LABEL BINARY COMPONENT...: every ship row of each COMPONENT
# is in BINARY's notices with the locked SHA-256, and nothing else is.
check_binary() {
	local label=$1 bin=$2 dir=$WORK/notices-$1 c version f sum want got n=0
	shift 2
	if [ ! -x "$bin" ]; then fail "$label binary $bin exists (run ./build.sh)"; return; fi
	notice_sections "$bin" "$dir"
	check "$label: version --licenses starts with xmpp-edge's own license (Apache-2.0)" \
		bash -c '"$1" version --licenses | head -n 1 | grep -q "^xmpp-edge .*SPDX-License-Identifier: Apache-2.0"' _ "$bin"
	for c in "$@"; do
		version=$(awk -v n="$c" '$1 == n { print $2 }' "$ROOT/deps/deps.lock")
		[ -z "$version" ] && version=$(dpkg-query -W -f='${Version}' \
			"$(awk -v n="$c" '$1 == n && $2 == "debian" { print $3 }' "$ROOT/deps/licenses.lock")" 2>/dev/null)
		want=$(awk -v n="$c" '$1 == n && $2 == "ship" { print $3 }' "$ROOT/deps/licenses.lock")
		if [ -z "$want" ]; then
			fail "$label: $c has a notice (deps/licenses.lock ships no file for it)"
			continue
		fi
		for f in $want; do
			sum=$(awk -v n="$c" -v f="$f" '$1 == n && $2 == "ship" && $3 == f { print $4 }' "$ROOT/deps/licenses.lock")
			got=none
			[ -f "$dir/$c@$version@$f" ] && got=$(sha256sum "$dir/$c@$version@$f" | cut -d' ' -f1)
			check "$label: $c $version $f is in version --licenses, byte for byte" [ "$got" = "$sum" ]
			n=$((n + 1))
		done
	done
	check "$label: version --licenses has no other notice ($(ls "$dir" | wc -l) sections, $n expected)" \
		[ "$(ls "$dir" | wc -l)" -eq "$n" ]
}
check_binary release "$STATIC" "${DEPS[@]}" musl
check_binary dev "$BIN" "${DEPS[@]}"
if [ -x "$STATIC" ]; then
	check "version --licenses with an extra argument is a usage error (exit 2)" \
		bash -c '"$1" version --licenses extra >/dev/null 2>&1; [ $? -eq 2 ]' _ "$STATIC"
fi

# --- 5. build.sh refuses unchecked license texts ------------------------------------------

# A scratch checkout with the verified tarballs in DEPS_DIR (no network).
B=$WORK/build
mkdir -p "$B/deps" "$B/tarballs"
cp "$ROOT/build.sh" "$ROOT/LICENSE" "$B/"
cp "$ROOT/deps/deps.lock" "$ROOT/deps/licenses.lock" "$B/deps/"
while read -r name version tarball rest; do
	case $name in '' | \#*) continue ;; esac
	ln -s "${DEPS_DIR:-$CACHE/src}/$tarball" "$B/tarballs/$tarball"
done <"$ROOT/deps/deps.lock"
# licenses_run: ./build.sh licenses in the scratch checkout; output in $out.
licenses_run() { out=$(cd "$B" && DEPS_DIR="$B/tarballs" ./build.sh licenses 2>&1); }

licenses_run
check "build.sh licenses collects every component in the scratch checkout" \
	bash -c '[ $1 -eq 0 ] && for c in "${@:3}"; do grep -q "^$c " <<<"$2" || exit 1; done' _ $? "$out" "${DEPS[@]}" musl ||
	echo "$out" | tail -n 3

# A changed text: the locked sum of yajl's COPYING no longer matches.
cp "$ROOT/deps/licenses.lock" "$B/deps/licenses.lock"
sed -i 's/^\(yajl *ship COPYING \)[0-9a-f]*/\10000000000000000000000000000000000000000000000000000000000000000/' "$B/deps/licenses.lock"
licenses_run
check "a license text that differs from deps/licenses.lock is refused, naming the file" \
	bash -c '[ $1 -ne 0 ] && grep -q "yajl: the license file COPYING changed" <<<"$2"' _ $? "$out" ||
	echo "$out" | tail -n 3

# A new dependency (a tarball with COPYING and NOTICE) without license rows.
cp "$ROOT/deps/licenses.lock" "$B/deps/licenses.lock"
mkdir -p "$WORK/fake/fakedep-1.0"
echo "Copyright (c) fakedep authors. Permission granted." >"$WORK/fake/fakedep-1.0/COPYING"
echo "fakedep NOTICE" >"$WORK/fake/fakedep-1.0/NOTICE"
tar -czf "$B/tarballs/fakedep_1.0.orig.tar.gz" -C "$WORK/fake" fakedep-1.0
sum=$(sha256sum "$B/tarballs/fakedep_1.0.orig.tar.gz" | cut -d' ' -f1)
echo "fakedep 1.0 fakedep_1.0.orig.tar.gz $sum main/f/fakedep" >>"$B/deps/deps.lock"
licenses_run
check "a dependency in deps/deps.lock without license rows is refused" \
	bash -c '[ $1 -ne 0 ] && grep -q "no spdx and ship rows for fakedep" <<<"$2"' _ $? "$out" ||
	echo "$out" | tail -n 3
copying=$(sha256sum "$WORK/fake/fakedep-1.0/COPYING" | cut -d' ' -f1)
printf 'fakedep spdx MIT\nfakedep ship COPYING %s\n' "$copying" >>"$B/deps/licenses.lock"
licenses_run
check "a license file in a tarball that deps/licenses.lock does not list is refused" \
	bash -c '[ $1 -ne 0 ] && grep -q "has the license file NOTICE, which deps/licenses.lock does not list" <<<"$2"' _ $? "$out" ||
	echo "$out" | tail -n 3
notice=$(sha256sum "$WORK/fake/fakedep-1.0/NOTICE" | cut -d' ' -f1)
printf 'fakedep ship NOTICE %s\n' "$notice" >>"$B/deps/licenses.lock"
licenses_run
check "once listed, the new dependency's files are collected" \
	bash -c '[ $1 -eq 0 ] && cmp -s "$2/out/licenses/fakedep/NOTICE" "$3"' _ $? "$B" "$WORK/fake/fakedep-1.0/NOTICE" ||
	echo "$out" | tail -n 3

finish
