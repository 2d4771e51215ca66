# SPDX-License-Identifier: Apache-2.0
# check.sh - the shell suites' shared result keeping (source it).
#   pass DESCRIPTION / fail DESCRIPTION [DETAIL]   record one result
#   check DESCRIPTION COMMAND...                   pass if COMMAND succeeds
#   finish                                         "N passed, N failed", exit
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
check() {
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}
