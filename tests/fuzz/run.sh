#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/fuzz/run.sh - build the libFuzzer targets and run each for a short
# smoke period over its seed corpus (tests/fuzz/corpus/<target>/).
#
#   XE_ROOT             repository root (default: two levels up)
#   XE_OUT              build output root (default: $XE_ROOT/out)
#   FUZZ_SMOKE_SECONDS  seconds per target (default 6: every committed seed
#                       is replayed first, then mutated for the rest)
#   FUZZ_RUNS           if set, run each target for this many executions
#                       instead (libFuzzer -runs=N; no time limit)
#   FUZZ_TARGETS        targets to run (default: all), e.g. "xmltok"
#
# One target for 10^7 executions:
#   FUZZ_TARGETS=xmltok FUZZ_RUNS=10000000 tests/fuzz/run.sh
#
# A target passes when libFuzzer exits 0 (no crash, leak, sanitizer report
# or timeout).  New inputs found go to a scratch corpus, never into the
# committed seeds.  Last line: "N passed, N failed".
set -u

XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$XE_ROOT/out}/fuzz
SECS=${FUZZ_SMOKE_SECONDS:-6}
CC=${FUZZ_CC:-clang-14}
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"

# Each target links out/fuzz/libxe.a (./build.sh fuzz-lib: every module,
# clang with libFuzzer's coverage and ASan+UBSan) and takes from it what it
# calls, so a new module needs no edit here.  Test helpers a target uses
# besides its own file:
declare -A EXTRA=(
	[xmltok]="tests/unit/xmlstream_check.c"
	[xmlstream]="tests/unit/xmlstream_check.c"
	[session]="tests/unit/session_fixture.c"
	# Not in libxe.a but in libmbedcrypto.a (a PSA driver build.sh
	# compiles into mbedTLS): built here as well, so that it is
	# instrumented; its symbols take the place of the library's copy.
	[gcm]="tls/psa_driver/gcm_driver.c"
	[x25519]="tls/psa_driver/x25519_driver.c"
	[p256]="tls/psa_driver/p256_driver.c"
)
# target name -> extra compiler and linker flags.  session: router_route_tagged is
# wrapped to watch what is routed; its input is a program of opcodes, not
# text the library compares against constants, so comparison tracing (a
# quarter of its time) is left out.
declare -A FLAGS=(
	[session]="-fno-sanitize-coverage=trace-cmp -Wl,--wrap=router_route_tagged"
	# gcm: its input is lengths and bytes to encrypt, not text compared
	# against constants; comparison tracing only slows it down.
	[gcm]="-fno-sanitize-coverage=trace-cmp"
	# x25519: two 32-byte numbers, nothing compared against constants.
	[x25519]="-fno-sanitize-coverage=trace-cmp"
	# p256: numbers again; the scalar multiplications dominate.
	[p256]="-fno-sanitize-coverage=trace-cmp"
)
# target name -> ASAN_OPTIONS.  session: a smaller quarantine (a run frees
# what it allocated within milliseconds; 256 MB of quarantine made every
# allocation touch fresh pages, a third of the time).
declare -A ASAN=(
	[session]="quarantine_size_mb=16"
)
DEPS=${XE_OUT:-$XE_ROOT/out}/deps-glibc
LIB=${XE_OUT:-$XE_ROOT/out}/fuzz/libxe.a
LIBS="-L$DEPS/lib -lmbedtls -lmbedx509 -lmbedcrypto -lcares -luv -lyajl -lpthread"
# Every layer's folder (build.sh's LAYERS), for the targets' includes.
INC="-I$XE_ROOT/tests/unit -I$DEPS/include"
for l in $("$XE_ROOT/build.sh" layers); do INC="$INC -I$XE_ROOT/${l%%:*}"; done
# Every tests/fuzz/fuzz_NAME.c is a target: a new one needs no edit here.
TARGETS=${FUZZ_TARGETS:-$(cd "$XE_ROOT/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//' | tr '\n' ' ')}

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "fuzz: $CC not found; install the packages in tests/fuzz/packages"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p "$OUT"
if ! (cd "$XE_ROOT" && ./build.sh fuzz-lib) >"$OUT/fuzz-lib.log" 2>&1; then
	tail -n 30 "$OUT/fuzz-lib.log"
	echo "fuzz: ./build.sh fuzz-lib failed (whole log: $OUT/fuzz-lib.log)"
	echo "0 passed, 1 failed"
	exit 1
fi
# fuzz_one TARGET: builds TARGET if needed and runs it; its lines go to
# stdout, its status says whether it passed.
fuzz_one() {
	local t=$1 bin=$OUT/fuzz_$1 srcs="" f need scratch budget dict
	for f in tests/fuzz/fuzz_$t.c ${EXTRA[$t]:-}; do
		srcs="$srcs $XE_ROOT/$f"
	done
	# Relink when the library or a source is newer than the binary (the
	# library is newer whenever a module or header it uses changed).
	need=0
	[ -x "$bin" ] || need=1
	for f in $srcs "$LIB" "$XE_ROOT"/tests/unit/*.h; do
		[ "$f" -nt "$bin" ] && need=1
	done
	if [ $need = 1 ]; then
		echo "fuzz: building $t"
		# shellcheck disable=SC2086
		if ! $CC $CFLAGS ${FLAGS[$t]:-} $INC -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' \
		    $srcs "$LIB" $LIBS -o "$bin.part" || ! mv "$bin.part" "$bin"; then
			echo "FAIL $t (build)"
			return 1
		fi
	fi
	scratch=$OUT/corpus_$t
	mkdir -p "$scratch"
	if [ -n "${FUZZ_RUNS:-}" ]; then
		budget="-runs=$FUZZ_RUNS"
		echo "fuzz: running $t for $FUZZ_RUNS executions"
	else
		budget="-max_total_time=$SECS"
		echo "fuzz: running $t for ${SECS}s"
	fi
	dict=""
	[ -f "$XE_ROOT/tests/fuzz/$t.dict" ] && dict="-dict=$XE_ROOT/tests/fuzz/$t.dict"
	# shellcheck disable=SC2086
	if ASAN_OPTIONS=${ASAN_OPTIONS:-${ASAN[$t]:-}} "$bin" $dict $budget -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$OUT/crash_${t}_" \
	    "$scratch" "$XE_ROOT/tests/fuzz/corpus/$t" >"$OUT/$t.log" 2>&1; then
		echo "ok   $t ($(grep -m1 stat::number_of_executed_units \
		    "$OUT/$t.log" | awk '{print $2}') executions)"
		return 0
	fi
	echo "FAIL $t (see $OUT/$t.log)"
	tail -n 30 "$OUT/$t.log"
	return 1
}

# FUZZ_JOBS targets are built and run at a time (default 2, the CI
# machine's cores): libFuzzer's budget is wall time, so two at a time halve
# the suite's time; each still replays every committed seed first.  Their
# output is printed in target order at the end.
JOBS=${FUZZ_JOBS:-2}
passed=0
failed=0
for t in $TARGETS; do
	# A free job slot first: wait for any running target to end.
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
	rm -f "$OUT/$t.rc"
	{ fuzz_one "$t" >"$OUT/$t.out" 2>&1; echo $? >"$OUT/$t.rc"; } &
done
wait
for t in $TARGETS; do
	cat "$OUT/$t.out"
	if [ "$(cat "$OUT/$t.rc" 2>/dev/null)" = 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
