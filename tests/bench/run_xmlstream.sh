#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/run_xmlstream.sh - tokenizer throughput vs libexpat.
#
# Builds bench_xmlstream.c -O2 (no sanitizers) into ${XE_OUT:-out}/bench/
# and runs it: same 32 MiB stanza mix, 64 KiB reads, best of
# ${BENCH_REPS:-7} runs each.  Not a pass/fail test; needs libexpat1-dev.
set -eu

XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$XE_ROOT/out}/bench
CC=${CC:-gcc}

mkdir -p "$OUT"
$CC -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -I"$XE_ROOT/proxy" -I"$XE_ROOT/common" \
    "$XE_ROOT/tests/bench/bench_xmlstream.c" "$XE_ROOT/proxy/xmlstream.c" \
    "$XE_ROOT/proxy/stream_error.c" "$XE_ROOT/common/buf.c" -lexpat -o "$OUT/bench_xmlstream"
echo "compiler: $($CC --version | head -n 1)"
"$OUT/bench_xmlstream" "${BENCH_REPS:-7}"
