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
#      SHA-256 from the lock), under the version deps/deps.lock names, and
#      nothing else: a new dependency without a notice fails;
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
# shellcheck source=../lib/notices.sh
. "$(dirname "$0")/../lib/notices.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/xe-license-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- 1. the project's license -------------------------------------------------

check "LICENSE is the official Apache License 2.0 text (SHA-256 $APACHE_SHA256)" \
	bash -c '[ "$(sha256sum "$1" | cut -d" " -f1)" = "$2" ]' _ "$ROOT/LICENSE" "$APACHE_SHA256"
check "README.md has a License section naming Apache-2.0" \
	bash -c 'awk "/^## License/ { s = 1; next } /^## / { s = 0 } s" "$1" | grep -q "Apache-2.0"' _ "$ROOT/README.md"

# --- 2. SPDX lines --------------------------------------------------------------

mapfile -t SOURCES < <("$ROOT/tests/license/add-spdx.sh" --list "$ROOT")
check "the source list is not empty (${#SOURCES[@]} files)" [ ${#SOURCES[@]} -gt 100 ]
# heads DIR N: the first N lines of every source file under DIR, each file
# introduced by "==> FILE <==" (one head for all: quick on a busy machine).
heads() { (cd "$1" && head -v -n "$2" -- "${SOURCES[@]}"); }
# spdx_missing DIR: the source files under DIR without an
# SPDX-License-Identifier and an expression in their first lines.
spdx_missing() {
	heads "$1" $SPDX_LINES | awk '
		/^==> .* <==$/ { if (f != "" && !ok) print f; f = substr($0, 5, length($0) - 8); ok = 0; next }
		/SPDX-License-Identifier: [A-Za-z0-9(]/ { ok = 1 }
		END { if (f != "" && !ok) print f }'
}
declare -A MISSING=()
while IFS= read -r f; do MISSING[$f]=1; done < <(spdx_missing "$ROOT")
for f in "${SOURCES[@]}"; do
	if [ -n "${MISSING[$f]:-}" ]; then fail "spdx $f"; else pass "spdx $f"; fi
done

# --- 3. add-spdx.sh on a scratch copy ----------------------------------------------

# first_lines DIR: "FILE<TAB>first line" for every source file under DIR.
first_lines() {
	heads "$1" 1 | awk '/^==> .* <==$/ { f = substr($0, 5, length($0) - 8); take = 1; next }
		take { print f "\t" $0; take = 0 }'
}
S=$WORK/scratch
mkdir -p "$S"
(cd "$ROOT" && tar -cf - "${SOURCES[@]}") | tar -xf - -C "$S"
"$ROOT/tests/license/add-spdx.sh" "$S" 2>"$WORK/add.log"
missing=$(spdx_missing "$S" | tr '\n' ' ')
check "add-spdx.sh gives every source file the line (missing: ${missing:-none})" [ -z "$missing" ]
shebangs() { first_lines "$1" | awk -F '\t' '$2 ~ /^#!/ { print $1 }'; }
check "add-spdx.sh keeps every #! line first" [ "$(shebangs "$ROOT")" = "$(shebangs "$S")" ]
c_first=$(first_lines "$S" | awk -F '\t' '$1 ~ /\.[ch]$/ && $2 != "/* SPDX-License-Identifier: Apache-2.0 */" { print $1 }')
check "C files start with the SPDX comment (not: ${c_first:-none})" [ -z "$c_first" ]
broken=$(cd "$S" && for f in "${SOURCES[@]}"; do
	case $f in
	*.sh | build.sh | .ci/run) bash -n "$f" 2>/dev/null || echo "$f" ;;
	esac
done)
broken="$broken $(cd "$S" && printf '%s\n' "${SOURCES[@]}" | grep '\.py$' | python3 -c '
import ast, sys
for f in sys.stdin.read().split():
    try:
        ast.parse(open(f).read(), f)
    except SyntaxError:
        print(f)')"
broken=${broken// /}
check "scripts still parse after add-spdx.sh (broken: ${broken:-none})" [ -z "$broken" ]
before=$(cd "$S" && find . -type f -exec sha256sum {} + | LC_ALL=C sort)
"$ROOT/tests/license/add-spdx.sh" "$S" 2>/dev/null
after=$(cd "$S" && find . -type f -exec sha256sum {} + | LC_ALL=C sort)
check "a second add-spdx.sh run changes nothing" [ "$before" = "$after" ]

# --- 4. the notices inside the binaries ----------------------------------------------

# notice_sections BINARY DIR: cuts `BINARY version --licenses` into
# DIR/COMPONENT/FILE, one file per notice, and lists "COMPONENT VERSION"
# per notice in DIR.versions.
notice_sections() {
	mkdir -p "$2"
	# The blank line before each header separates notices: not part of one.
	"$1" version --licenses | awk -v d="$2" '
		function flush(keep) { while (blank > keep) { print "" >f; blank-- } blank = 0 }
		/^==== [^ ]+ [^ ]+ [^ ]+ \(.*\) ====$/ {
			if (f) { flush(1); close(f) }
			system("mkdir -p \"" d "/" $2 "\"")
			f = d "/" $2 "/" $4; printf "" >f
			print $2, $3 >(d ".versions")
			next
		}
		f && $0 == "" { blank++; next }
		f { flush(0); print >f }
		END { if (f) flush(0) }'
}

# check_binary LABEL BINARY COMPONENT...: BINARY's notices are, byte for
# byte, the files deps/licenses.lock ships for each COMPONENT, at the
# version deps/deps.lock (or the Debian package) says, and nothing else.
check_binary() {
	local label=$1 bin=$2 dir=$WORK/notices-$1 c version want=0
	shift 2
	if [ ! -x "$bin" ]; then fail "$label binary $bin exists (run ./build.sh)"; return; fi
	notice_sections "$bin" "$dir"
	check "$label: version --licenses starts with xmpp-edge's own license (Apache-2.0)" \
		bash -c '"$1" version --licenses | head -n 1 | grep -q "^xmpp-edge .*SPDX-License-Identifier: Apache-2.0"' _ "$bin"
	notices_check_tree "$label binary" "$dir" "$@"
	for c in "$@"; do
		version=$(awk -v n="$c" '$1 == n { print $2 }' "$ROOT/deps/deps.lock")
		[ -z "$version" ] && version=$(dpkg-query -W -f='${Version}' \
			"$(awk -v n="$c" '$1 == n && $2 == "debian" { print $3 }' "$ROOT/deps/licenses.lock")" 2>/dev/null)
		check "$label binary names $c's version ($version) in each of its notices" \
			bash -c 'grep -q "^$1 " "$3" && awk -v n="$1" -v v="$2" "\$1 == n && \$2 != v { bad = 1 } END { exit bad }" "$3"' \
			_ "$c" "$version" "$dir.versions"
		want=$((want + $(awk -v n="$c" '$1 == n && $2 == "ship"' "$ROOT/deps/licenses.lock" | wc -l)))
	done
	check "$label: version --licenses has no other notice ($want expected)" \
		[ "$(wc -l <"$dir.versions")" -eq "$want" ]
}
# shellcheck disable=SC2046 # one component a word.
check_binary release "$STATIC" $(notices_components)
# shellcheck disable=SC2046
check_binary dev "$BIN" $(notices_components | grep -vx musl)
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
# licenses_expect DESCRIPTION ok|refused TEXT: `./build.sh licenses` in the
# scratch checkout succeeds or fails, and says TEXT.
licenses_expect() {
	local out rc
	out=$(cd "$B" && DEPS_DIR="$B/tarballs" ./build.sh licenses 2>&1)
	rc=$?
	case $2:$rc in ok:0 | refused:[1-9]*) ;; *) rc=wrong:$rc ;; esac
	if [ "${rc%%:*}" != wrong ] && grep -qF -- "$3" <<<"$out"; then
		pass "$1"
	else
		fail "$1" "(exit $rc) $(tail -n 3 <<<"$out")"
	fi
}

licenses_expect "build.sh licenses succeeds in the scratch checkout" ok "musl "
missing=$(notices_components | while read -r c; do grep -q "^$c " "$B/out/licenses.index" || echo "$c"; done)
check "build.sh licenses collects every component (missing: ${missing:-none})" [ -z "$missing" ]
# A changed text: the locked sum of yajl's COPYING no longer matches.
sed -i 's/^\(yajl *ship COPYING \)[0-9a-f]*/\10000000000000000000000000000000000000000000000000000000000000000/' "$B/deps/licenses.lock"
licenses_expect "a license text that differs from deps/licenses.lock is refused, naming the file" refused \
	"yajl: the license file COPYING changed"
cp "$ROOT/deps/licenses.lock" "$B/deps/licenses.lock"

# A new dependency (a tarball with COPYING and NOTICE).
mkdir -p "$WORK/fake/fakedep-1.0"
echo "Copyright (c) fakedep authors. Permission granted." >"$WORK/fake/fakedep-1.0/COPYING"
echo "fakedep NOTICE" >"$WORK/fake/fakedep-1.0/NOTICE"
tar -czf "$B/tarballs/fakedep_1.0.orig.tar.gz" -C "$WORK/fake" fakedep-1.0
sum=$(sha256sum "$B/tarballs/fakedep_1.0.orig.tar.gz" | cut -d' ' -f1)
echo "fakedep 1.0 fakedep_1.0.orig.tar.gz $sum main/f/fakedep" >>"$B/deps/deps.lock"
licenses_expect "a dependency in deps/deps.lock without license rows is refused" refused \
	"no spdx and ship rows for fakedep"
printf 'fakedep spdx MIT\nfakedep ship COPYING %s\n' "$(sha256sum "$WORK/fake/fakedep-1.0/COPYING" | cut -d' ' -f1)" \
	>>"$B/deps/licenses.lock"
licenses_expect "a license file in a tarball that deps/licenses.lock does not list is refused" refused \
	"has the license file NOTICE, which deps/licenses.lock does not list"
printf 'fakedep ship NOTICE %s\n' "$(sha256sum "$WORK/fake/fakedep-1.0/NOTICE" | cut -d' ' -f1)" >>"$B/deps/licenses.lock"
licenses_expect "once listed, the new dependency's files are collected" ok "fakedep 1.0 NOTICE MIT"
check "the collected NOTICE is the tarball's" cmp -s "$B/out/licenses/fakedep/NOTICE" "$WORK/fake/fakedep-1.0/NOTICE"

finish
