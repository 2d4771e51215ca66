#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/run_gcm.sh - AES-128-GCM per TLS record: PSA with xmpp-edge's
# GCM driver, PSA with mbedTLS's own GCM, OpenSSL (bench_gcm.c).
#
# Built -O2 (no sanitizers) against each mbedTLS build given, in turn:
#   BENCH_GCM_DEPS="main=/path/to/deps-prefix now=out/deps-glibc"
# (default: now=${XE_OUT:-out}/deps-glibc, the dependencies ./build.sh dev
# builds; a prefix without the driver prints only its built-in GCM).  The
# benchmark is pinned to CPU ${BENCH_PROXY_CPU:-1}; best of ${BENCH_REPS:-5}.
# Not a pass/fail test; needs libssl-dev.
set -eu

XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$XE_ROOT/out}/bench
CC=${CC:-gcc}
PCPU=${BENCH_PROXY_CPU:-1}
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run_gcm.sh: %s\n' "$*" >&2; exit 1; }
. "$XE_ROOT/tests/bench/benchlib.sh"
bench_packages libssl-dev
bench_pin

mkdir -p "$OUT"
for e in ${BENCH_GCM_DEPS:-now=${XE_OUT:-$XE_ROOT/out}/deps-glibc}; do
	label=${e%%=*} prefix=$(readlink -f "${e#*=}")
	[ -f "$prefix/lib/libmbedcrypto.a" ] || die "$prefix: no libmbedcrypto.a (run ./build.sh dev)"
	$CC -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -I"$prefix/include" -I"$XE_ROOT/tls" \
		-DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' "$XE_ROOT/tests/bench/bench_gcm.c" \
		-L"$prefix/lib" -lmbedcrypto -lcrypto -o "$OUT/bench_gcm.$label"
	echo "$label: $prefix"
	"${PROXY_RUN[@]}" "$OUT/bench_gcm.$label" "${BENCH_REPS:-5}"
done
echo "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1); $(openssl version)"
