#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build.sh - builds, tests and runs xmpp-edge.
#
#   ./build.sh            static release binary out/xmpp-edge (musl, stripped)
#   ./build.sh dev        ASan+UBSan debug build out/dev/ (glibc) + unit tests
#   ./build.sh test       builds both, runs every test suite (in two lanes;
#                         XE_TEST_LANES=1: one); last line
#                         "N passed, N failed", non-zero exit on any failure
#   ./build.sh run [ARGS] builds if needed, runs `xmpp-edge run ARGS`
#                         (no ARGS: the embedded default configuration)
#   ./build.sh fuzz [SECONDS]   runs every libFuzzer target (ASan+UBSan)
#   ./build.sh fuzz-lib   only builds out/fuzz/libxe.a, what they link
#   ./build.sh layers     the source folders from the bottom up, each as
#                         FOLDER:FOLDERS-IT-BUILDS-ON (tests/layers)
#   ./build.sh includes FOLDER   the -I options FOLDER is compiled with
#   ./build.sh bench      runs the benchmarks under tests/bench
#   ./build.sh appliance  builds the flashable appliance image (appliance/)
#   ./build.sh deps       only fetches, verifies and builds the dependencies
#   ./build.sh packages [SUITE...]  installs the Debian packages of the
#                         build and every suite (what `test` installs
#                         first), or only those of the named suites
#   ./build.sh install [PREFIX]  installs on this host: PREFIX/bin/xmpp-edge
#                         (default /usr/local), /etc/xmpp-edge, the
#                         xmpp-edge user, /var/lib/xmpp-edge and the
#                         systemd unit; DESTDIR=DIR installs under DIR
#   ./build.sh licenses   only collects and checks the third-party license
#                         files (deps/licenses.lock) into out/licenses/
#
# Dependencies (mbedTLS, c-ares, libuv, yajl) are built from the upstream
# tarballs the Debian archive carries, pinned with their SHA-256 in
# deps/deps.lock; the few fixes Debian would apply are carried in
# deps/patches/.  Set DEPS_DIR=/some/dir to use tarballs already downloaded
# there (no network).  Built dependencies are cached outside the clone in
# $XE_CACHE_DIR (default ~/.cache/xmpp-edge), keyed by deps/, the mbedTLS
# configuration and this script's recipe version, so rebuilds take seconds.
set -eu

cd "$(dirname "$0")"
ROOT=$PWD
OUT=$ROOT/out
CACHE=${XE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xmpp-edge}
JOBS=$(nproc 2>/dev/null || echo 2)
# Bump when a dependency recipe below changes: it is part of the cache key.
RECIPE_VERSION=6
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# --- host packages --------------------------------------------------------

APT_UPDATED=
# apt and dpkg write pages of progress; it goes to this log, shown only when
# something fails.
APT_LOG=$OUT/apt.log
# Servers some suites start as private instances of their own.  Debian's
# packages start them as system services at install and at every boot
# (listening on all addresses: 5222, 5269, 5280...), which would take the
# ports our daemon and suites use and leave public servers on a DMZ host.
# PACKAGE:SERVICE pairs (ejabberd brings Erlang's port mapper, epmd).
SERVER_SERVICES="prosody:prosody ejabberd:ejabberd ejabberd:epmd.socket ejabberd:epmd unbound:unbound"

# apt_quiet ARGS...: apt-get ARGS with its output in $APT_LOG; on failure
# the log's tail is printed and the build stops.
apt_quiet() {
	mkdir -p "$(dirname "$APT_LOG")"
	echo "### $(date -u +%FT%TZ) apt-get $*" >>"$APT_LOG"
	# Another apt (unattended-upgrades, a second checkout) may hold the
	# dpkg lock for a while: wait for it instead of failing.
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" >>"$APT_LOG" 2>&1 && return 0
	tail -n 30 "$APT_LOG" >&2
	die "apt-get $1 failed (last 30 lines above; whole log: $APT_LOG)"
}

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_SAVED=
# policy_rc_forbid: while packages install, invoke-rc.d asks policy-rc.d
# whether it may start a service; exit status 101 means "forbidden"
# (Debian policy §9.3.3.1).  An existing policy-rc.d is put back afterwards.
policy_rc_forbid() {
	if [ -e "$POLICY_RC" ]; then
		POLICY_RC_SAVED=$(mktemp "${TMPDIR:-/tmp}/xe-policy-rc.XXXXXX")
		cp -p "$POLICY_RC" "$POLICY_RC_SAVED"
	fi
	printf '#!/bin/sh\n# written by xmpp-edge build.sh while installing packages\nexit 101\n' >"$POLICY_RC"
	chmod 755 "$POLICY_RC"
	# Put it back however the install ends (an interrupt exits through
	# the EXIT trap).
	trap policy_rc_restore EXIT
	trap 'exit 130' INT TERM HUP
}

policy_rc_restore() {
	if [ -n "$POLICY_RC_SAVED" ]; then
		cp -p "$POLICY_RC_SAVED" "$POLICY_RC" && rm -f "$POLICY_RC_SAVED"
		POLICY_RC_SAVED=
	else
		rm -f "$POLICY_RC"
	fi
	trap - EXIT INT TERM HUP
}

# services_stop_disable PKG...: policy-rc.d keeps invoke-rc.d from
# starting the servers now, but their packages still enable them for the
# next boot (systemd units and init script links alike), and a service
# manager may have started one anyway: stop and disable the services of
# SERVER_SERVICES whose package is among PKG (just installed), and say so.
# systemctl enables and disables offline too (a chroot, a container
# without systemd).
services_stop_disable() {
	local pair svc unit
	for pair in $SERVER_SERVICES; do
		[[ " $* " == *" ${pair%%:*} "* ]] || continue
		svc=${pair#*:}
		unit=$svc
		[[ $unit == *.* ]] || unit=$unit.service
		if command -v systemctl >/dev/null && systemctl is-enabled --quiet "$unit" 2>/dev/null; then
			# Judged by the state reached: systemctl's exit status
			# also reflects the SysV script synchronisation.
			if [ -d /run/systemd/system ]; then
				systemctl disable --now "$unit" >>"$APT_LOG" 2>&1 || true
			else
				systemctl disable "$unit" >>"$APT_LOG" 2>&1 || true
			fi
			if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
				say "$unit: could not disable it (see $APT_LOG): it starts at the next boot"
			elif [ -d /run/systemd/system ]; then
				say "$unit: system service stopped and disabled (the tests start private instances)"
			else
				say "$unit: start at boot disabled (the tests start private instances)"
			fi
		fi
		[ -x "/etc/init.d/$svc" ] && [ ! -d /run/systemd/system ] || continue
		if service "$svc" status >/dev/null 2>&1; then
			service "$svc" stop >>"$APT_LOG" 2>&1 &&
				say "$svc: system service stopped (the tests start private instances)"
		fi
		if ls /etc/rc[2-5].d/S*"$svc" >/dev/null 2>&1; then
			update-rc.d "$svc" disable >>"$APT_LOG" 2>&1 &&
				say "$svc: init script start at boot disabled"
		fi
	done
	# ejabberd's installation runs Erlang, which starts the port mapper
	# (`epmd -daemon`, port 4369 on all addresses) outside any service
	# and policy-rc.d: ask it to stop (it refuses while nodes use it).
	if [[ " $* " == *" ejabberd "* ]] && command -v epmd >/dev/null && epmd -names >/dev/null 2>&1; then
		epmd -kill >>"$APT_LOG" 2>&1 && say "epmd: stopped the Erlang port mapper ejabberd's installation started"
	fi
}

# ensure_packages PKG...: install what is missing (as root), else say what to
# install and stop.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		die "missing Debian packages; run as root: apt-get install ${missing[*]}"
	fi
	say "installing ${#missing[@]} Debian packages and their dependencies (progress in $APT_LOG): ${missing[*]}"
	if [ -z "$APT_UPDATED" ]; then
		apt_quiet update
		APT_UPDATED=1
	fi
	policy_rc_forbid
	apt_quiet install -y --no-install-recommends "${missing[@]}"
	policy_rc_restore
	services_stop_disable "${missing[@]}"
}

# gcc-12 only recommends libc6-dev (crt1.o, the glibc headers the dev build
# needs); musl-tools brings its own.  flock and runuser are in util-linux,
# sha256sum in coreutils.
BUILD_PACKAGES="gcc libc6-dev make patch cmake musl-tools linux-libc-dev curl ca-certificates
	tar gzip bzip2 xz-utils file binutils coreutils util-linux"

# suite_packages [SUITE...]: the Debian packages the suites list in
# tests/SUITE/packages (no argument: every suite).
suite_packages() {
	local files=("$ROOT"/tests/*/packages) s
	if [ $# -gt 0 ]; then
		files=()
		for s in "$@"; do files+=("$ROOT/tests/$s/packages"); done
	fi
	cat "${files[@]}" 2>/dev/null | sed 's/#.*//' | tr -s ' \t\n' '\n' | sed '/^$/d' | sort -u
}

# --- dependencies -----------------------------------------------------------

# fetch_dep TARBALL SHA256 POOLPATH: prints the path of a verified tarball.
fetch_dep() {
	local tarball=$1 sum=$2 pool=$3 dst
	mkdir -p "$CACHE/src"
	if [ -n "${DEPS_DIR:-}" ]; then
		dst=$DEPS_DIR/$tarball
		[ -f "$dst" ] || die "DEPS_DIR=$DEPS_DIR has no $tarball"
	else
		dst=$CACHE/src/$tarball
		if [ ! -f "$dst" ]; then
			say "fetching $tarball from the Debian archive"
			curl -fsS --retry 3 -o "$dst.part" "$DEBIAN_MIRROR/pool/$pool/$tarball" ||
				die "cannot download $DEBIAN_MIRROR/pool/$pool/$tarball (set DEPS_DIR to a directory holding it)"
			mv "$dst.part" "$dst"
		fi
	fi
	echo "$sum  $dst" | sha256sum -c --quiet - >/dev/null 2>&1 ||
		die "$dst: SHA-256 mismatch (expected $sum, got $(sha256sum "$dst" | cut -d' ' -f1)); refusing to build"
	echo "$dst"
}

dep_field() { # dep_field NAME COLUMN
	awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$ROOT/deps/deps.lock"
}

# unpack NAME DIR: unpacks the verified tarball of NAME into DIR/src.
unpack() {
	local tb
	tb=$(fetch_dep "$(dep_field "$1" 3)" "$(dep_field "$1" 4)" "$(dep_field "$1" 5)")
	rm -rf "$2/src" && mkdir -p "$2/src"
	tar -xf "$tb" -C "$2/src" --strip-components=1
	local p
	for p in "$ROOT/deps/patches/$1-"*.patch; do
		[ -f "$p" ] || continue
		patch -s -d "$2/src" -p1 <"$p" || die "cannot apply $p"
	done
}

# dep_build_failed NAME LOG: the end of a failed build's log says why
# (a missing compiler, crt1.o, a header); show it, not only where it is.
dep_build_failed() {
	printf '%s\n' "--- last 30 lines of $2" >&2
	tail -n 30 "$2" >&2
	die "$1 build failed (log above, whole log: $2)"
}

# build_deps FLAVOUR CC: builds the four libraries into
# $CACHE/deps/FLAVOUR-KEY and prints that prefix.  FLAVOUR is musl or glibc.
build_deps() {
	local flavour=$1 cc=$2 key prefix work cflags mbedtls_cflags cmake_common
	key=$( (cat "$ROOT/deps/deps.lock" "$ROOT"/deps/patches/* "$ROOT/tls/mbedtls_config.h" \
		"$ROOT"/tls/psa_driver/*; echo "$RECIPE_VERSION $flavour";
		$cc --version 2>/dev/null | head -1) | sha256sum | cut -c1-16)
	prefix=$CACHE/deps/$flavour-$key
	if [ -f "$prefix/.done" ]; then echo "$prefix"; return 0; fi
	# Concurrent builds (several checkouts, CI jobs) share the cache: the
	# first one builds, the others wait for it.
	mkdir -p "$CACHE/deps"
	exec 9>"$CACHE/deps/.lock"
	flock 9
	if [ -f "$prefix/.done" ]; then exec 9>&-; echo "$prefix"; return 0; fi
	say "building dependencies ($flavour) into $prefix"
	rm -rf "$prefix" && mkdir -p "$prefix/lib" "$prefix/include"
	work=$(mktemp -d "${TMPDIR:-/tmp}/xe-deps.XXXXXX")
	cflags="-O2 -fPIE -fstack-protector-strong"
	if [ "$flavour" = musl ]; then
		# musl-gcc hides /usr/include; libuv needs the kernel's headers.
		mkdir -p "$prefix/kernel-include"
		ln -sfn /usr/include/linux "$prefix/kernel-include/linux"
		ln -sfn /usr/include/asm-generic "$prefix/kernel-include/asm-generic"
		ln -sfn "/usr/include/$(gcc -dumpmachine)/asm" "$prefix/kernel-include/asm"
		cflags="$cflags -isystem $prefix/kernel-include"
	fi
	cmake_common=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc"
		-DCMAKE_C_FLAGS="$cflags" -DCMAKE_INSTALL_PREFIX="$prefix"
		-DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED_LIBS=OFF)

	unpack mbedtls "$work/mbedtls"
	# The PSA drivers (tls/psa_driver/: the AES-GCM accelerator, X25519 on
	# Everest's HACL*, P-256) are compiled into libmbedcrypto: deps/patches/
	# mbedtls-{gcm,p256,x25519}-driver.patch list them among the library's
	# sources and call them from the PSA dispatch.
	cp "$ROOT"/tls/psa_driver/*.[ch] "$work/mbedtls/src/library/"
	# On x86-64, -maes -mpclmul make mbedTLS compile its AES-NI/PCLMUL
	# code from intrinsics (library/aesni.h: MBEDTLS_AESNI_HAVE_CODE 2)
	# instead of inline assembly; the code stays behind mbedTLS's run-time
	# CPUID check (mbedtls_aesni_has_support), and the compiler never
	# emits these instructions by itself, so the library still runs on a
	# CPU without them.  Not -msse4.1: that one the vectorizer may use
	# anywhere, which would make the binary require it (the GCM driver
	# gets SSE4.1 per function, after its own CPUID check).
	mbedtls_cflags=$cflags
	case $($cc -dumpmachine 2>/dev/null || true) in x86_64-*) mbedtls_cflags="$cflags -maes -mpclmul" ;; esac
	cmake -S "$work/mbedtls/src" -B "$work/mbedtls/b" "${cmake_common[@]}" \
		-DCMAKE_C_FLAGS="$mbedtls_cflags" \
		-DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
		-DMBEDTLS_CONFIG_FILE="$ROOT/tls/mbedtls_config.h" >"$work/mbedtls.log" 2>&1 &&
		cmake --build "$work/mbedtls/b" -j"$JOBS" >>"$work/mbedtls.log" 2>&1 &&
		cmake --install "$work/mbedtls/b" >>"$work/mbedtls.log" 2>&1 ||
		dep_build_failed mbedTLS "$work/mbedtls.log"
	# Everest (X25519, tls/mbedtls_config.h) is built as a library of its
	# own; folded into libmbedcrypto.a every link line stays -lmbedcrypto.
	if [ -f "$prefix/lib/libeverest.a" ]; then
		mkdir -p "$work/everest-o"
		(cd "$work/everest-o" && ar x "$prefix/lib/libeverest.a" &&
			ar qs "$prefix/lib/libmbedcrypto.a" ./*.o) || die "cannot fold libeverest.a into libmbedcrypto.a"
		rm -f "$prefix/lib/libeverest.a"
	fi
	# build_info.h does #include MBEDTLS_CONFIG_FILE, and a quoted include
	# is looked up next to build_info.h first: the installed upstream
	# default config would win over tls/ and our code would see other
	# struct layouts than the library.  Install ours in its place.
	cp "$ROOT/tls/mbedtls_config.h" "$prefix/include/mbedtls/mbedtls_config.h"
	# mbedTLS's own GCM test data, which the unit tests run through the
	# PSA AEAD calls and so through the GCM driver (test_tls_gcm_driver.c).
	mkdir -p "$prefix/share/mbedtls-tests"
	cp "$work/mbedtls/src/tests/suites/"test_suite_gcm.aes*.data "$prefix/share/mbedtls-tests/"

	unpack c-ares "$work/cares"
	cmake -S "$work/cares/src" -B "$work/cares/b" "${cmake_common[@]}" \
		-DCARES_STATIC=ON -DCARES_SHARED=OFF -DCARES_BUILD_TOOLS=OFF \
		-DCARES_BUILD_TESTS=OFF -DCARES_STATIC_PIC=ON >"$work/cares.log" 2>&1 &&
		cmake --build "$work/cares/b" -j"$JOBS" >>"$work/cares.log" 2>&1 &&
		cmake --install "$work/cares/b" >>"$work/cares.log" 2>&1 ||
		dep_build_failed c-ares "$work/cares.log"

	unpack libuv "$work/uv"
	cmake -S "$work/uv/src" -B "$work/uv/b" "${cmake_common[@]}" \
		-DLIBUV_BUILD_SHARED=OFF -DLIBUV_BUILD_TESTS=OFF -DLIBUV_BUILD_BENCH=OFF \
		>"$work/uv.log" 2>&1 &&
		cmake --build "$work/uv/b" -j"$JOBS" >>"$work/uv.log" 2>&1 &&
		cmake --install "$work/uv/b" >>"$work/uv.log" 2>&1 ||
		dep_build_failed libuv "$work/uv.log"

	# yajl's CMake build installs into a versioned tree and builds shared
	# objects too; its nine sources are simpler to compile directly.
	unpack yajl "$work/yajl"
	mkdir -p "$prefix/include/yajl" "$work/yajl/o"
	cp "$work/yajl/src/src/api/"yajl_{common,gen,parse,tree}.h "$prefix/include/yajl/"
	sed -e 's/${YAJL_MAJOR}/2/; s/${YAJL_MINOR}/1/; s/${YAJL_MICRO}/0/' \
		"$work/yajl/src/src/api/yajl_version.h.cmake" >"$prefix/include/yajl/yajl_version.h"
	for f in "$work/yajl/src/src/"*.c; do
		$cc $cflags -I"$prefix/include" -c "$f" -o "$work/yajl/o/$(basename "$f" .c).o" ||
			die "yajl build failed ($f)"
	done
	ar rcs "$prefix/lib/libyajl.a" "$work/yajl/o/"*.o

	rm -rf "$work"
	touch "$prefix/.done"
	exec 9>&-
	echo "$prefix"
}

# --- third-party notices ------------------------------------------------------

# collect_licenses: copies every shipped component's license files, as
# deps/licenses.lock lists them, from the verified tarballs (and, for musl,
# from the host's Debian package) into out/licenses/COMPONENT/, with
# xmpp-edge's own LICENSE at out/licenses/LICENSE, and writes the index
# out/licenses.index ("COMPONENT VERSION FILE SPDX...") the generated C file
# and the tests read.  Refuses to go on, with a sentence saying what to do,
# when a text differs from its recorded SHA-256, when a tarball has a
# license file the lock does not name, or when a dependency has no row.
# The tarball listing takes seconds, so the result is kept until an input
# changes.
collect_licenses() {
	local lock=$ROOT/deps/licenses.lock dst=$OUT/licenses index=$OUT/licenses.index
	local key name version tb top f sum want kind pkg spdx files
	key=$( (cat "$lock" "$ROOT/deps/deps.lock" "$ROOT/LICENSE"
		awk '$2 == "debian" { print $3 }' "$lock" | xargs -r dpkg-query -W -f='${Package} ${Version}\n' 2>&1) |
		sha256sum | cut -c1-16)
	if [ -f "$index" ] && [ "$(head -n 1 "$index")" = "# key $key" ]; then return 0; fi
	say "collecting third-party license files into out/licenses"
	rm -rf "$dst" "$index.part" && mkdir -p "$dst"
	echo "# key $key" >"$index.part"
	cp "$ROOT/LICENSE" "$dst/LICENSE"
	# Components: deps/deps.lock's, then those the lock takes from Debian.
	for name in $(awk '$1 !~ /^#/ && NF { print $1 }' "$ROOT/deps/deps.lock") \
		$(awk '$2 == "debian" { print $1 }' "$lock"); do
		spdx=$(awk -v n="$name" '$1 == n && $2 == "spdx" { $1 = $2 = ""; sub(/^ +/, ""); print }' "$lock")
		files=$(awk -v n="$name" '$1 == n && $2 == "ship" { print $3 }' "$lock")
		[ -n "$spdx" ] && [ -n "$files" ] ||
			die "deps/licenses.lock has no spdx and ship rows for $name: add its license files (see the comment at its top)"
		[[ "$spdx" =~ ^[A-Za-z0-9\ .+()-]+$ ]] || die "deps/licenses.lock: '$spdx' is not an SPDX expression"
		mkdir -p "$dst/$name"
		pkg=$(awk -v n="$name" '$1 == n && $2 == "debian" { print $3 }' "$lock")
		if [ -n "$pkg" ]; then
			version=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) ||
				die "$name's license comes from the Debian package $pkg, which is not installed: apt-get install $pkg"
			for f in $files; do
				[ -f "/usr/share/doc/$pkg/$f" ] || die "/usr/share/doc/$pkg/$f missing (reinstall $pkg)"
				cp "/usr/share/doc/$pkg/$f" "$dst/$name/$f"
			done
		else
			version=$(dep_field "$name" 2)
			tb=$(fetch_dep "$(dep_field "$name" 3)" "$(dep_field "$name" 4)" "$(dep_field "$name" 5)")
			# Every license-like file at the top of the tarball must be
			# in the lock, shipped or skipped with a reason: a new one in a
			# new release is noticed, not silently left out.
			top=
			while IFS= read -r f; do
				top=${f%%/*}
				f=${f#*/}
				awk -v n="$name" -v f="$f" '$1 == n && ($2 == "ship" || $2 == "skip") && $3 == f { found = 1 }
					END { exit !found }' "$lock" ||
					die "$name: $(basename "$tb") has the license file $f, which deps/licenses.lock does not list: read it, then add a ship (or skip, saying why) row"
			done < <(tar -tf "$tb" | awk -F/ 'NF == 2 && toupper($2) ~ /^(LICEN[CS]E|COPYING|COPYRIGHT|NOTICE)/')
			[ -n "$top" ] || top=$(tar -tf "$tb" | head -n 1 | cut -d/ -f1)
			for f in $(awk -v n="$name" '$1 == n && ($2 == "ship" || $2 == "skip") { print $3 }' "$lock"); do
				tar -xf "$tb" -C "$dst/$name" --strip-components=1 "$top/$f" 2>/dev/null ||
					die "$name: deps/licenses.lock lists $f, which $(basename "$tb") does not have"
			done
		fi
		# Names and versions become C strings and paths: plain words only.
		[[ "$name $version" =~ ^[A-Za-z0-9._+~:-]+\ [A-Za-z0-9._+~:-]+$ ]] ||
			die "$name $version: a component name or version with unexpected characters"
		for f in $(awk -v n="$name" '$1 == n && ($2 == "ship" || $2 == "skip") { print $3 }' "$lock"); do
			[[ "$f" =~ ^[A-Za-z0-9._-]+$ ]] || die "deps/licenses.lock: '$f' is not a plain file name"
			want=$(awk -v n="$name" -v f="$f" '$1 == n && ($2 == "ship" || $2 == "skip") && $3 == f { print $4 }' "$lock")
			sum=$(sha256sum "$dst/$name/$f" | cut -d' ' -f1)
			[ "$sum" = "$want" ] ||
				die "$name: the license file $f changed (SHA-256 $sum, deps/licenses.lock says $want): read the new text, then update deps/licenses.lock"
			kind=$(awk -v n="$name" -v f="$f" '$1 == n && ($2 == "ship" || $2 == "skip") && $3 == f { print $2 }' "$lock")
			if [ "$kind" = skip ]; then rm -f "$dst/$name/$f"; else echo "$name $version $f $spdx" >>"$index.part"; fi
		done
	done
	# A row for a component nothing ships any more is a stale claim.
	for name in $(awk '$1 !~ /^#/ && NF { print $1 }' "$lock" | sort -u); do
		grep -q "^$name " "$index.part" ||
			die "deps/licenses.lock has rows for $name, which is neither in deps/deps.lock nor taken from Debian: remove them"
	done
	mv "$index.part" "$index"
}

# licenses_generate_c DEST [EXCLUDE...]: writes DEST, a C file holding every
# collected notice (struct notice, cli/notices.h) but those of the
# EXCLUDEd components, for the binary to print with `version --licenses`.
# DEST is replaced only when its text changes, so make relinks only then.
licenses_generate_c() {
	local dest=$1 i=0 name version f spdx rows=
	shift
	mkdir -p "$(dirname "$dest")"
	{
		printf '/* Generated by build.sh (licenses_generate_c) from out/licenses: do not edit. */\n'
		printf '#include "notices.h"\n\n'
		while read -r name version f spdx; do
			[ "$name" = "#" ] && continue
			[[ " $* " == *" $name "* ]] && continue
			printf 'static const unsigned char notice_%d[] = {\n' $i
			od -An -v -tx1 "$OUT/licenses/$name/$f" | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'
			printf '};\n'
			rows="$rows	{ \"$name\", \"$version\", \"$spdx\", \"$f\", notice_$i, sizeof(notice_$i) },
"
			i=$((i + 1))
		done <"$OUT/licenses.index"
		printf 'const struct notice notices[] = {\n%s};\n' "$rows"
		printf 'const size_t notices_count = %d;\n' $i
	} >"$dest.part"
	if cmp -s "$dest.part" "$dest"; then rm -f "$dest.part"; else mv "$dest.part" "$dest"; fi
}

# --- the project --------------------------------------------------------------

WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-unused-parameter"
LIBS="-lmbedtls -lmbedx509 -lmbedcrypto -lcares -luv -lyajl -lpthread"

# The source folders are layers, from the bottom up: each is compiled with
# its own include path and those of the folders it builds on, so a header
# of a folder above (or beside) is not found and cannot be included.
# FOLDER:BELOW,... (README, Layout; tests/layers checks every #include).
LAYERS="common: tls:common dns:common proxy:common,tls,dns daemon:common,tls,dns,proxy cli:common,tls,dns,proxy,daemon"

# layer_includes FOLDER: the -I options FOLDER is compiled with.
layer_includes() {
	local l below inc
	for l in $LAYERS; do
		[ "${l%%:*}" = "$1" ] || continue
		inc="-I$1"
		below=${l#*:}
		for l in ${below//,/ }; do inc="$inc -I$l"; done
		echo "$inc"
		return 0
	done
	die "no layer $1 (LAYERS in build.sh)"
}

# layer_make_rules: each folder's include path and the list of folders, as
# make variables for compile's makefile.
layer_make_rules() {
	local l all=
	for l in $LAYERS; do
		all="$all ${l%%:*}"
		printf '$(DIR)/obj/%s/%%.o: LAYER_INC := %s\n' "${l%%:*}" "$(layer_includes "${l%%:*}")"
	done
	printf 'LAYER_DIRS :=%s\n' "$all"
	printf 'ALL_INC :=%s\n' "$(for l in $all; do printf ' -I%s' "$l"; done)"
}

# compile VARIANT CC CFLAGS LDFLAGS PREFIX [TARGET]: builds out/VARIANT/xmpp-edge
# and, for dev, out/VARIANT/unit_tests; TARGET: only that file of
# out/VARIANT (libxe.a for the fuzz targets).  make does the incremental part.
compile() {
	local variant=$1 cc=$2 cflags=$3 ldflags=$4 prefix=$5 dir=$OUT/$1 target=${6:-all} werror=-Werror
	# gcc's warnings are the ones the tree is held to (dev, release); the
	# fuzz variant is built by clang, whose set differs.
	[ "$variant" = fuzz ] && werror=
	mkdir -p "$dir"
	# Dependencies built anew (another mbedTLS configuration: other struct
	# layouts) are a new prefix that make cannot see: start over.
	if [ "$(cat "$dir/.deps-prefix" 2>/dev/null)" != "$prefix" ]; then
		rm -rf "$dir/obj" "$dir/libxe.a" "$dir/xmpp-edge" "$dir/unit_tests"
		echo "$prefix" >"$dir/.deps-prefix"
	fi
	[ "$target" = all ] || target=$dir/$target
	{ layer_make_rules; cat <<'EOF'; } | make -s -j"$JOBS" -C "$ROOT" -f - \
		DIR="$dir" CC="$cc" PREFIX="$prefix" VARIANT="$variant" \
		XCFLAGS="$cflags" XLDFLAGS="$ldflags" LIBS="$LIBS" WARN="$WARN $werror" "$target"
SRCS := $(sort $(wildcard $(addsuffix /*.c,$(LAYER_DIRS))))
LIB_SRCS := $(filter-out cli/main.c,$(SRCS))
TEST_SRCS := $(sort $(wildcard tests/unit/*.c))
OBJ = $(patsubst %.c,$(DIR)/obj/%.o,$(1))
CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -I$(PREFIX)/include \
	-DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' $(XCFLAGS) -MMD -MP
# The unit tests reach every layer.
$(DIR)/obj/tests/%.o: LAYER_INC := -Itests/unit $(ALL_INC)
$(DIR)/obj/gen/%.o: LAYER_INC := -Icli
all: $(DIR)/xmpp-edge $(if $(filter dev,$(VARIANT)),$(DIR)/unit_tests)
$(DIR)/libxe.a: $(call OBJ,$(LIB_SRCS))
	@rm -f $@; ar rcs $@ $^
$(DIR)/xmpp-edge: $(call OBJ,cli/main.c) $(DIR)/obj/gen/notices.o $(DIR)/libxe.a
	$(CC) $(XCFLAGS) $(XLDFLAGS) -o $@ $^ -L$(PREFIX)/lib $(LIBS)
$(DIR)/obj/gen/notices.o: $(DIR)/gen/notices.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LAYER_INC) -c $< -o $@
$(DIR)/unit_tests: $(call OBJ,$(TEST_SRCS)) $(DIR)/libxe.a
	$(CC) $(XCFLAGS) $(XLDFLAGS) -o $@ $^ -L$(PREFIX)/lib $(LIBS)
$(DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LAYER_INC) -c $< -o $@
-include $(shell find $(DIR)/obj -name '*.d' 2>/dev/null)
EOF
}

build_release() {
	ensure_packages $BUILD_PACKAGES
	local prefix
	prefix=$(build_deps musl musl-gcc)
	mkdir -p "$OUT" && ln -sfn "$prefix" "$OUT/deps-musl"
	collect_licenses
	licenses_generate_c "$OUT/release/gen/notices.c"
	say "building out/xmpp-edge (static, musl)"
	compile release musl-gcc "-O2 -fstack-protector-strong -isystem $prefix/kernel-include" \
		"-static -s" "$prefix"
	# Replaced by a rename, and only when it changed: a suite may be
	# running out/xmpp-edge (writing into it fails with "Text file busy").
	if ! cmp -s "$OUT/release/xmpp-edge" "$OUT/xmpp-edge"; then
		cp "$OUT/release/xmpp-edge" "$OUT/xmpp-edge.part"
		mv "$OUT/xmpp-edge.part" "$OUT/xmpp-edge"
	fi
	say "out/xmpp-edge: $(stat -c %s "$OUT/xmpp-edge") bytes; $(file -b "$OUT/xmpp-edge")"
}

build_dev() {
	ensure_packages $BUILD_PACKAGES
	local prefix
	prefix=$(build_deps glibc gcc)
	mkdir -p "$OUT" && ln -sfn "$prefix" "$OUT/deps-glibc"	# for test tools
	collect_licenses
	# Dynamically linked against glibc: no musl inside.
	licenses_generate_c "$OUT/dev/gen/notices.c" musl
	say "building out/dev/ (ASan+UBSan)"
	compile dev gcc "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
		"" "$prefix"
}

# build_fuzz_lib: out/fuzz/libxe.a, every module but main built by clang
# with libFuzzer's coverage and ASan+UBSan, for tests/fuzz/run.sh to link
# its targets against: a target takes the modules it calls, and a new
# module needs no list edited.
build_fuzz_lib() {
	local prefix
	prefix=$(build_deps glibc gcc)
	say "building out/fuzz/libxe.a (clang, libFuzzer coverage, ASan+UBSan)"
	compile fuzz "${FUZZ_CC:-clang-14}" \
		"-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" "" "$prefix" libxe.a
}

# --- tests ------------------------------------------------------------------

# Suites run in two lanes side by side (XE_TEST_LANES=2, the default).
# The serial lane takes the suites that must not run beside one another:
# those that listen on fixed ports (5269, 5270, 5280, 53...) and those that
# rewrite the shared build output (out/xmpp-edge, out/licenses); a file
# tests/SUITE/serial says so and why.  The other lane takes the rest, which
# open only ports of their own or work inside network namespaces named after
# their PID.  Most suites spend their time waiting on daemons, peers and
# timers rather than computing, so a second lane fills the idle core.
# Each lane runs its suites one after the other; once the serial lane is
# through its own, it takes over the other lane's suites not yet started
# (from the end of that lane's list).  A suite's output goes to
# out/test-logs/SUITE.log and is printed whole when it ends (one log at a
# time).  XE_TEST_LANES=1 runs every suite in one lane, output live.

# run_suite NAME CMD...: runs one suite, logs it and writes its summary
# "NAME PASSED FAILED SECONDS EXIT" to out/test-logs/NAME.result.  A suite
# that prints no "N passed, N failed" line failed.
run_suite() {
	local name=$1 log=$OUT/test-logs/$1.log line p f rc start secs
	shift
	start=$(date +%s)
	set +e
	if [ "$LANES" -eq 1 ]; then
		say "suite $name"
		XE_ROOT=$ROOT XE_OUT=$OUT XE_BIN=$OUT/dev/xmpp-edge XE_STATIC_BIN=$OUT/xmpp-edge \
			timeout --kill-after=10 "${XE_SUITE_TIMEOUT:-900}" "$@" 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
	else
		# In the background with its PID noted, for lanes_stop.
		XE_ROOT=$ROOT XE_OUT=$OUT XE_BIN=$OUT/dev/xmpp-edge XE_STATIC_BIN=$OUT/xmpp-edge \
			timeout --kill-after=10 "${XE_SUITE_TIMEOUT:-900}" "$@" >"$log" 2>&1 </dev/null &
		echo $! >"$OUT/test-logs/.running-$name"
		wait $!
		rc=$?
		rm -f "$OUT/test-logs/.running-$name"
	fi
	set -e
	secs=$(($(date +%s) - start))
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
	else
		p=0; f=1
	fi
	# A suite that crashed after printing its counts still fails.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	echo "$name $p $f $secs $rc" >"$OUT/test-logs/$name.result"
	if [ "$LANES" -ne 1 ]; then
		# The other lane prints its logs too: one whole log at a time.
		(
			flock 8
			say "suite $name (${secs}s)"
			cat "$log"
		) 8>"$OUT/test-logs/.print.lock"
	fi
}

# run_lane SUITE...: runs the suites one after the other ("unit" is the
# unit test binary, the others tests/SUITE/run.sh).  With lanes, a suite
# runs only once claimed (mkdir is atomic): the serial lane, done with its
# own suites, takes those of the other lane that have not started yet, so
# that the two lanes end close together.
run_lane() {
	local name
	for name in "$@"; do
		if [ "$LANES" -ne 1 ]; then
			mkdir "$OUT/test-logs/.claimed-$name" 2>/dev/null || continue
		fi
		if [ "$name" = unit ]; then
			# Two tests at a time (the runner forks each anyway).
			run_suite unit "$OUT/dev/unit_tests" -j "${XE_UNIT_JOBS:-2}"
		else
			run_suite "$name" "$ROOT/tests/$name/run.sh"
		fi
	done
}

# lanes_stop: an interrupted run ends the suites the lanes are running
# (timeout passes the signal on to the suite, whose cleanup then runs; it
# runs in a process group of its own, which the terminal's ^C misses).
LANE_PIDS=
lanes_stop() {
	local f
	trap - INT TERM
	for f in "$OUT"/test-logs/.running-*; do
		[ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null
	done
	# shellcheck disable=SC2086
	kill -TERM $LANE_PIDS 2>/dev/null
	wait
	rm -f "$OUT"/test-logs/.running-*
	exit 130
}

run_tests() {
	local pkgs s name all=(unit) serial=() free=(unit) p f secs rc total_p=0 total_f=0 pid i
	build_release
	build_dev
	# Each suite lists the Debian packages it needs (real peers, tools).
	pkgs=$(suite_packages)
	[ -n "$pkgs" ] && ensure_packages $pkgs
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	LANES=${XE_TEST_LANES:-2}
	case $LANES in 1 | 2) ;; *) die "XE_TEST_LANES must be 1 or 2, not '$LANES'" ;; esac
	for s in tests/*/run.sh; do
		[ -x "$s" ] || continue
		name=$(basename "$(dirname "$s")")
		# tests/fresh builds a new Debian root and runs this very
		# command inside it: it is run by hand (README, Tests).
		[ "$name" = fresh ] && continue
		[ -n "${XE_SUITES:-}" ] && ! [[ " $XE_SUITES " == *" $name "* ]] && continue
		all+=("$name")
		if [ -e "tests/$name/serial" ]; then serial+=("$name"); else free+=("$name"); fi
	done
	mkdir -p "$OUT/test-logs"
	for name in "${all[@]}"; do rm -f "$OUT/test-logs/$name.result"; done
	if [ "$LANES" -eq 1 ]; then
		run_lane "${all[@]}"
	else
		say "suites in the serial lane: ${serial[*]:-none}; beside it: ${free[*]}"
		rm -rf "$OUT"/test-logs/.running-* "$OUT"/test-logs/.claimed-*
		# The serial lane then takes the other lane's suites from the
		# end of its list, while that lane goes on from the start.
		for ((i = ${#free[@]} - 1; i >= 0; i--)); do serial+=("${free[i]}"); done
		# Both lanes in the background: the shell waits in `wait`,
		# which a signal interrupts (lanes_stop).
		run_lane "${serial[@]}" &
		LANE_PIDS=$!
		run_lane "${free[@]}" &
		LANE_PIDS="$LANE_PIDS $!"
		trap lanes_stop INT TERM
		for pid in $LANE_PIDS; do wait "$pid" || true; done
		trap - INT TERM
	fi
	for name in "${all[@]}"; do
		# No result file: the lane itself died before the suite ended.
		if ! read -r _ p f secs rc 2>/dev/null <"$OUT/test-logs/$name.result"; then
			p=0; f=1; secs=?; rc=?
		fi
		total_p=$((total_p + p))
		total_f=$((total_f + f))
		printf '%-12s %4d passed %4d failed  (%ss, exit %s)\n' "$name" "$p" "$f" "$secs" "$rc"
	done
	echo "$total_p passed, $total_f failed"
	[ "$total_f" -eq 0 ]
}

# --- the service account -----------------------------------------------------

# ensure_service_user: as root, creates the system user and group xmpp-edge
# the daemon drops to (its default `user`) when missing; uid/gid 5269 like the
# container and the appliance when that id is free, else the next system id.
# useradd comes with `passwd`, Essential on Debian (5269 is above
# SYS_UID_MAX: useradd's warning about it is dropped).  Not root: nothing to do
# (the daemon then runs as whoever started it).
ensure_service_user() {
	[ "$(id -u)" -eq 0 ] || return 0
	getent passwd xmpp-edge >/dev/null && return 0
	local idopt=()
	if ! getent passwd 5269 >/dev/null && ! getent group 5269 >/dev/null; then
		idopt=(--uid 5269)
		getent group xmpp-edge >/dev/null || groupadd --system --gid 5269 xmpp-edge
	fi
	getent group xmpp-edge >/dev/null && idopt+=(--gid xmpp-edge) || idopt+=(--user-group)
	say "creating the system user xmpp-edge (the daemon's account)"
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
		"${idopt[@]}" xmpp-edge 2> >(grep -v 'greater than SYS_UID_MAX' >&2) || die "cannot create the user xmpp-edge (useradd failed)"
}

# --- host install -------------------------------------------------------------

# The account ensure_service_user creates; the host install's files belong
# to it.
SERVICE_USER=xmpp-edge

# install_host [PREFIX]: the static binary in PREFIX/bin (default
# /usr/local), /etc/xmpp-edge with an example configuration and a
# self-signed certificate for it (neither replaced when present),
# /var/lib/xmpp-edge (0750, the service user's) and the systemd unit in
# /etc/systemd/system (the administrator's units; /lib is the packages').
# DESTDIR=/some/dir puts all of it under that directory (for packaging
# and the host suite); the user is still created on this machine, since
# the files belong to it.
install_host() {
	local prefix=${1:-/usr/local} dest=${DESTDIR:-} bin etc state unit
	case $prefix in /*) ;; *) die "install: PREFIX must be an absolute path, not '$prefix'" ;; esac
	[ "$(id -u)" -eq 0 ] || die "install: run as root (it creates the $SERVICE_USER user and sets owners)"
	build_release
	ensure_service_user
	bin=$dest$prefix/bin/xmpp-edge
	etc=$dest/etc/xmpp-edge
	state=$dest/var/lib/xmpp-edge
	unit=$dest/etc/systemd/system/xmpp-edge.service
	install -D -m 0755 "$OUT/xmpp-edge" "$bin"
	# The service reads its configuration and keys as its own group;
	# only root writes them (`cert rotate` runs as root).
	install -d -m 0750 -o root -g "$SERVICE_USER" "$etc"
	install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$state"
	if [ -e "$etc/xmpp-edge.json" ]; then
		say "kept the existing $etc/xmpp-edge.json"
	else
		install -m 0640 -o root -g "$SERVICE_USER" "$ROOT/appliance/xmpp-edge.host.json" "$etc/xmpp-edge.json"
		say "installed an example configuration $etc/xmpp-edge.json (domain example.com: edit it)"
	fi
	if [ ! -e "$etc/example.com.crt" ] && [ ! -e "$etc/example.com.key" ] &&
		grep -q '"/etc/xmpp-edge/example.com.crt"' "$etc/xmpp-edge.json"; then
		"$bin" cert selfsign example.com --cert "$etc/example.com.crt" --key "$etc/example.com.key" >/dev/null ||
			die "cannot write the example certificate into $etc"
		# The key is the service user's alone (0600), as the daemon
		# wants it; the certificate is public.
		chown "$SERVICE_USER:$SERVICE_USER" "$etc/example.com.key"
		chmod 0644 "$etc/example.com.crt"
		say "wrote a self-signed certificate for example.com to $etc (replace it with yours)"
	fi
	mkdir -p "$(dirname "$unit")"
	sed "s|/usr/local/bin/xmpp-edge|$prefix/bin/xmpp-edge|g" "$ROOT/appliance/xmpp-edge.service" >"$unit.tmp"
	chmod 0644 "$unit.tmp" && mv "$unit.tmp" "$unit"
	say "installed $bin and $unit"
	if [ -z "$dest" ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		say "start it with: systemctl enable --now xmpp-edge (README: Run on a host)"
	fi
}

# --- main -------------------------------------------------------------------

cmd=${1:-release}
[ $# -gt 0 ] && shift
case $cmd in
release) build_release ;;
dev) build_dev ;;
deps) ensure_packages $BUILD_PACKAGES; build_deps musl musl-gcc >/dev/null; build_deps glibc gcc >/dev/null ;;
licenses) collect_licenses; cat "$OUT/licenses.index" ;;
packages)
	# No argument: the build's and every suite's; else the named suites'.
	if [ $# -eq 0 ]; then
		ensure_packages $BUILD_PACKAGES $(suite_packages)
	else
		for s in "$@"; do [ -f "tests/$s/packages" ] || die "no tests/$s/packages"; done
		ensure_packages $(suite_packages "$@")
	fi
	;;
install) install_host "$@" ;;
test) ensure_service_user; run_tests ;;
run)
	build_release
	ensure_service_user
	exec "$OUT/xmpp-edge" run "$@"
	;;
fuzz)
	ensure_packages clang-14 libclang-rt-14-dev
	build_fuzz_lib
	XE_ROOT=$ROOT XE_OUT=$OUT FUZZ_SMOKE_SECONDS=${1:-60} exec "$ROOT/tests/fuzz/run.sh"
	;;
bench)
	build_release
	for s in tests/bench/run_*.sh; do XE_ROOT=$ROOT XE_OUT=$OUT "$s"; done
	;;
appliance)
	build_release
	exec "$ROOT/appliance/build-image.sh" "$OUT/xmpp-edge" "$OUT/appliance"
	;;
fuzz-lib) build_fuzz_lib ;;
layers) printf '%s\n' $LAYERS ;;
includes) layer_includes "${1:?usage: ./build.sh includes FOLDER}" ;;
-h|--help|help) sed -n '2,/^[^#]/{/SPDX-License-Identifier/d; s/^# \{0,1\}//p}' "$0" ;;
*) die "unknown command '$cmd' (try ./build.sh help)" ;;
esac
