#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/fuzz/run.sh - build the libFuzzer targets and run each for a short
# smoke period over its seed corpus (tests/fuzz/corpus/<target>/).
#
#   XE_ROOT             repository root (default: two levels up)
#   XE_OUT              build output root (default: $XE_ROOT/out)
#   FUZZ_SMOKE_SECONDS  seconds per target (default 15)
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
SECS=${FUZZ_SMOKE_SECONDS:-15}
CC=${FUZZ_CC:-clang-14}
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"

# target name -> the sources it needs
declare -A SRCS=(
	[xmltok]="proxy/xmlstream.c proxy/stream_error.c tests/unit/xmlstream_check.c"
	[xmlstream]="proxy/xmlstream.c proxy/stream_error.c tests/unit/xmlstream_check.c"
	[xmlelem]="proxy/xmlelem.c proxy/xmlstream.c proxy/stream_error.c"
	[config]="proxy/config.c proxy/config_schema.c proxy/config_files.c proxy/run_user.c proxy/gateway_pins.c dns/addrpolicy.c proxy/config_print.c proxy/domain.c proxy/netaddr.c proxy/log.c proxy/log_ratelimit.c dns/name.c tls/pin.c tls/certstore.c tls/rng.c tls/identity.c tls/tls_conn.c"
	[metrics_http]="proxy/metrics_http.c"
	[ratelimit]="proxy/ratelimit.c proxy/prefix_count.c proxy/log.c proxy/log_ratelimit.c"
	[admin_proto]="proxy/admin_proto.c"
	[blocklist]="proxy/blocklist.c proxy/textlines.c proxy/domain.c dns/name.c"
	[strangers]="proxy/strangers.c proxy/textlines.c proxy/domain.c dns/name.c"
	[import_sfb]="proxy/import_sfb.c proxy/config.c proxy/config_schema.c proxy/config_files.c proxy/run_user.c proxy/gateway_pins.c dns/addrpolicy.c proxy/config_print.c proxy/domain.c proxy/netaddr.c proxy/log.c proxy/log_ratelimit.c dns/name.c tls/pin.c tls/certstore.c tls/rng.c tls/identity.c tls/tls_conn.c"
)
# target name -> libraries (from the dev dependency build, out/deps-glibc)
DEPS=${XE_OUT:-$XE_ROOT/out}/deps-glibc
declare -A LIBS=(
	[blocklist]="-I$DEPS/include"
	[strangers]="-I$DEPS/include -L$DEPS/lib -lyajl"
	[config]="-I$DEPS/include -DMBEDTLS_CONFIG_FILE=\"mbedtls_config.h\" -L$DEPS/lib -lyajl -lmbedtls -lmbedx509 -lmbedcrypto"
	[import_sfb]="-I$DEPS/include -DMBEDTLS_CONFIG_FILE=\"mbedtls_config.h\" -L$DEPS/lib -lyajl -lmbedtls -lmbedx509 -lmbedcrypto"
	[ratelimit]="-I$DEPS/include -DMBEDTLS_CONFIG_FILE=\"mbedtls_config.h\" -L$DEPS/lib -lyajl -luv -lpthread -ldl"
)
TARGETS=${FUZZ_TARGETS:-"xmltok xmlstream xmlelem config import_sfb metrics_http blocklist strangers admin_proto ratelimit"}

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "fuzz: $CC not found; install the packages in tests/fuzz/packages"
	echo "0 passed, ${#SRCS[@]} failed"
	exit 1
fi
mkdir -p "$OUT"
passed=0
failed=0
for t in $TARGETS; do
	bin=$OUT/fuzz_$t
	srcs=""
	for f in tests/fuzz/fuzz_$t.c ${SRCS[$t]}; do
		srcs="$srcs $XE_ROOT/$f"
	done
	# Rebuild when any source is newer than the binary.
	need=0
	[ -x "$bin" ] || need=1
	for f in $srcs $XE_ROOT/proxy/*.h $XE_ROOT/dns/*.h $XE_ROOT/tls/*.h $XE_ROOT/tests/unit/*.h; do
		[ "$f" -nt "$bin" ] && need=1
	done
	if [ $need = 1 ]; then
		echo "fuzz: building $t"
		# shellcheck disable=SC2086
		if ! $CC $CFLAGS -I"$XE_ROOT/proxy" -I"$XE_ROOT/tls" \
		    -I"$XE_ROOT/dns" -I"$XE_ROOT/tests/unit" $srcs ${LIBS[$t]:-} -o "$bin"; then
			echo "FAIL $t (build)"
			failed=$((failed + 1))
			continue
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
	if "$bin" $dict $budget -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$OUT/crash_${t}_" \
	    "$scratch" "$XE_ROOT/tests/fuzz/corpus/$t" >"$OUT/$t.log" 2>&1; then
		echo "ok   $t ($(grep -m1 stat::number_of_executed_units \
		    "$OUT/$t.log" | awk '{print $2}') executions)"
		passed=$((passed + 1))
	else
		echo "FAIL $t (see $OUT/$t.log)"
		tail -n 30 "$OUT/$t.log"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
