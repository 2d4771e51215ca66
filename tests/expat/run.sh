#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/expat/run.sh - differential check of the stream tokenizer against
# libexpat (test-only dependency: libexpat1-dev).
#
# Builds expat_diff.c with proxy/xmlstream.c into ${XE_OUT:-out}/expat/ and
# runs it over tests/expat/inputs/*.xml plus EXPAT_GENERATED (default
# 1000) generated streams.  Each input is parsed by expat in one go and by
# xmlstream in reads of 1, 7, 4096 bytes and all at once; element
# boundaries, names, namespaces and to/from/type/id/xml:lang must agree.
# Last line: "N passed, N failed".
set -u

XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$XE_ROOT/out}/expat
CC=${CC:-gcc}
N=${EXPAT_GENERATED:-1000}

mkdir -p "$OUT"
if ! $CC -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
    -fsanitize=address,undefined -fno-sanitize-recover=all \
    -I"$XE_ROOT/proxy" -I"$XE_ROOT/common" "$XE_ROOT/tests/expat/expat_diff.c" \
    "$XE_ROOT/proxy/xmlstream.c" "$XE_ROOT/proxy/stream_error.c" "$XE_ROOT/common/buf.c" \
    -lexpat -o "$OUT/expat_diff"; then
	echo "expat: build failed (is libexpat1-dev installed?)"
	echo "0 passed, 1 failed"
	exit 1
fi
exec "$OUT/expat_diff" -n "$N" "$XE_ROOT"/tests/expat/inputs/*.xml
