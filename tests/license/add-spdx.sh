#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/license/add-spdx.sh - gives every source file its SPDX license line.
#
#   tests/license/add-spdx.sh [ROOT]          add the line where it is missing
#   tests/license/add-spdx.sh --list [ROOT]   print the source files, one a line
#
# ROOT defaults to the checkout holding this script.  Source files are the
# tracked (outside git: present) *.c, *.h, *.sh, *.py, build.sh, Dockerfile
# and .ci/run; not the fuzz corpora (inputs, not code) nor out/.  The line
# goes where each language allows a comment first:
#
#   C                  /* SPDX-License-Identifier: Apache-2.0 */  as line 1
#   shell, Python      # SPDX-License-Identifier: Apache-2.0      after the
#                      "#!" line and a Python coding line, which must stay
#                      on lines 1-2 (PEP 263)
#   Dockerfile         after any parser directives (# syntax=, # escape=,
#                      # check=), which must stay first
#
# A file naming SPDX-License-Identifier in its first SPDX_LINES lines is left
# alone, so running it twice changes nothing.  tests/license/run.sh checks
# the same list.
set -eu

SPDX_LINES=5
EXPR=Apache-2.0
list_only=
if [ "${1:-}" = --list ]; then list_only=1; shift; fi
ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT"

list_sources() {
	{
		if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
			git ls-files
		else
			find . -path ./out -prune -o -path ./.git -prune -o -type f -print | sed 's|^\./||'
		fi
	} | while IFS= read -r f; do
		case $f in
		tests/fuzz/corpus/*) ;;
		*.c | *.h | *.sh | *.py | build.sh | Dockerfile | .ci/run) [ -f "$f" ] && echo "$f" ;;
		esac
	done | LC_ALL=C sort
}

if [ -n "$list_only" ]; then
	list_sources
	exit 0
fi

added=0
while IFS= read -r f; do
	head -n "$SPDX_LINES" "$f" | grep -q 'SPDX-License-Identifier:' && continue
	case $f in
	*.c | *.h)
		{ printf '/* SPDX-License-Identifier: %s */\n' "$EXPR"; cat "$f"; } >"$f.spdx"
		;;
	*)
		# Keep the lines that must stay on top: "#!", a coding
		# declaration, Dockerfile parser directives.
		awk -v line="# SPDX-License-Identifier: $EXPR" -v docker="$([ "${f##*/}" = Dockerfile ] && echo 1)" '
			!done && NR == 1 && /^#!/ { print; next }
			!done && NR <= 2 && /^#.*coding[:=]/ { print; next }
			!done && docker && /^# *(syntax|escape|check) *=/ { print; next }
			!done { print line; done = 1 }
			{ print }
			END { if (!done) print line }' "$f" >"$f.spdx"
		;;
	esac
	# cat into the file keeps its mode (scripts stay executable).
	cat "$f.spdx" >"$f" && rm -f "$f.spdx"
	added=$((added + 1))
done < <(list_sources)
echo "add-spdx.sh: SPDX line added to $added file(s) under $ROOT" >&2
