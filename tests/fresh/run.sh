#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/fresh/run.sh - the README's promise, checked on a brand-new Debian 12:
# a minimal root (`debootstrap --variant=minbase bookworm`, plus git and
# ca-certificates only), this repository's current HEAD cloned under
# /root/xmpp-edge (mode 0700, as a newcomer clones), and as root inside it:
#
#   1. (host network: the Debian mirror) `./build.sh` from nothing, then
#      `./build.sh packages` (every package the build and the suites need,
#      installed by build.sh itself) and `./build.sh appliance` (fetches the
#      kernel packages the appliance suite builds its image from);
#   2. (a network namespace of its own, loopback only, so the suites' fixed
#      ports never meet another checkout's) `./build.sh run`: serving
#      ("daemon.ready"), then SIGTERM and a clean exit; then `./build.sh
#      test`, which must end with "N passed, 0 failed";
#   3. no process started in the root is left (Prosody, ejabberd, epmd,
#      dnsmasq or any other), and no Prosody/ejabberd service was started.
#
# Not in ./build.sh test's list (build.sh skips tests/fresh): it installs
# about 260 packages into the new root and runs every suite, 20 to 30
# minutes on 2 cores.  Run it as root from a clone:
#
#   tests/fresh/run.sh >/tmp/fresh.log 2>&1    # last line "N passed, N failed"
#
# Environment: FRESH_MIRROR (default: the first URIs of
# /etc/apt/sources.list.d/debian.sources), FRESH_KEEP=1 keeps the root,
# TMPDIR (where the root goes; it needs about 6 GB).  Needs debootstrap
# (tests/fresh/packages; `./build.sh packages fresh` installs it).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/check.sh
. "$ROOT/tests/lib/check.sh"

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (debootstrap, chroot, namespaces)"; finish; }
"$ROOT/build.sh" packages fresh || { fail "host packages for tests/fresh"; finish; }

MIRROR=${FRESH_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
HEAD=$(git -C "$ROOT" rev-parse HEAD)
FRESH=$(mktemp -d "${TMPDIR:-/tmp}/xe-fresh.XXXXXX")
chmod 0755 "$FRESH"
R=$FRESH/root
T0=$(date +%s)
stamp() { echo "--- $(date -u +%T) (+$(( $(date +%s) - T0 )) s) $*"; }

cleanup() {
	local left
	# Every mount was made in a private mount namespace (in_root), so
	# none can remain here; refuse to remove anything if one does.
	left=$(findmnt -rn -o TARGET | grep -F "$R" || true)
	if [ -n "$left" ]; then
		echo "mounts left under $R, not removing it: $left"
	elif [ -z "${FRESH_KEEP:-}" ]; then
		rm -rf "$FRESH"
	else
		echo "kept $R"
	fi
}
trap cleanup EXIT

# in_root NET SCRIPT: runs SCRIPT with bash as root inside $R, with /proc,
# /sys and /dev, in a private mount namespace (the mounts vanish with it)
# and, for NET=isolated, a network namespace with loopback only.  `mount
# --bind R R` makes the root a mount point, which `ip netns` needs inside.
in_root() {
	local net=()
	[ "$1" = isolated ] && net=(--net)
	unshare --mount --propagation private "${net[@]}" --fork bash -c '
		r=$1
		shift
		mount --bind "$r" "$r" &&
			mount -t proc proc "$r/proc" &&
			mount --rbind /sys "$r/sys" &&
			mount --rbind /dev "$r/dev" || exit 97
		[ -n "'"${net[*]}"'" ] && ip link set lo up
		exec chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			/bin/bash -c "$1"
	' _ "$R" "$2"
}

# procs_in_root: "PID COMMAND" of every process whose root is $R.
procs_in_root() {
	local p root
	for p in /proc/[0-9]*; do
		root=$(readlink "$p/root" 2>/dev/null) || continue
		case $root in "$R" | "$R"/*) echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-120)" ;; esac
	done
}

# --- 0. the fresh root --------------------------------------------------------

stamp "debootstrap --variant=minbase bookworm $R $MIRROR"
if unshare --mount --propagation private debootstrap --variant=minbase --include=git,ca-certificates \
	bookworm "$R" "$MIRROR" >"$FRESH/debootstrap.log" 2>&1; then
	pass "debootstrap minbase bookworm + git ca-certificates ($(( $(date +%s) - T0 )) s)"
else
	fail "debootstrap" "$(tail -n 20 "$FRESH/debootstrap.log")"
	finish
fi
cp /etc/resolv.conf "$R/etc/resolv.conf"
before=$(chroot "$R" dpkg-query -W -f='${Status}\n' | grep -c 'install ok installed')
echo "packages in the fresh root: $before"

# The clone: HEAD of this checkout, under /root as a newcomer clones it.
git clone -q --no-local "$ROOT" "$R/root/xmpp-edge" &&
	git -C "$R/root/xmpp-edge" checkout -q "$HEAD" &&
	chown -R root:root "$R/root/xmpp-edge" && chmod 0700 "$R/root" ||
	{ fail "clone $HEAD under /root/xmpp-edge"; finish; }
pass "cloned $HEAD under /root/xmpp-edge (/root is $(stat -c %a "$R/root"))"

# --- 1. build and packages, with the host's network ---------------------------

t=$(date +%s)
stamp "./build.sh (release, from nothing)"
if in_root host 'cd /root/xmpp-edge && ./build.sh'; then
	pass "./build.sh from nothing ($(( $(date +%s) - t )) s)"
else
	fail "./build.sh from nothing"
	finish
fi
t=$(date +%s)
stamp "./build.sh packages"
if in_root host 'cd /root/xmpp-edge && ./build.sh packages'; then
	after=$(chroot "$R" dpkg-query -W -f='${Status}\n' | grep -c 'install ok installed')
	pass "./build.sh packages: $((after - before)) packages installed ($(( $(date +%s) - t )) s, $(du -sm "$R" | cut -f1) MB root)"
else
	fail "./build.sh packages"
	finish
fi
t=$(date +%s)
stamp "./build.sh appliance"
if in_root host 'cd /root/xmpp-edge && ./build.sh appliance' >"$FRESH/appliance.log" 2>&1; then
	pass "./build.sh appliance ($(( $(date +%s) - t )) s)"
else
	fail "./build.sh appliance" "$(tail -n 20 "$FRESH/appliance.log")"
fi
check "no policy-rc.d left behind" test ! -e "$R/usr/sbin/policy-rc.d"
left=$(procs_in_root)
if [ -z "$left" ]; then
	pass "installing the packages started no server"
else
	fail "installing the packages started no server" "$left"
fi

# --- 2. run and test, in a network namespace of their own ------------------------

stamp "./build.sh run"
in_root isolated '
	cd /root/xmpp-edge
	./build.sh run >/root/run.log 2>&1 &
	pid=$!
	for _ in $(seq 1 600); do
		grep -q "daemon.ready" /root/run.log && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "daemon.ready" /root/run.log || { cat /root/run.log; kill "$pid"; exit 1; }
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	cat /root/run.log
	exit "$rc"
' >"$FRESH/run.log" 2>&1
rc=$?
cat "$FRESH/run.log"
check "./build.sh run: serving, then exit 0 on SIGTERM" test "$rc" -eq 0

t=$(date +%s)
stamp "./build.sh test"
in_root isolated 'cd /root/xmpp-edge && ./build.sh test' >"$FRESH/test.log" 2>&1
rc=$?
tail -n 40 "$FRESH/test.log"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$FRESH/test.log" | tail -n 1)
if [ "$rc" -eq 0 ] && [ -n "$line" ] && [ "${line#*, }" = "0 failed" ]; then
	pass "./build.sh test: $line ($(( $(date +%s) - t )) s)"
else
	fail "./build.sh test: ${line:-no summary line} (exit $rc)" "$(grep -E '^(FAIL|build.sh:)' "$FRESH/test.log" | head -n 40)"
	cp "$FRESH/test.log" "${TMPDIR:-/tmp}/xe-fresh-test.log" && echo "whole log: ${TMPDIR:-/tmp}/xe-fresh-test.log"
fi

# --- 3. nothing left running ---------------------------------------------------------

sleep 2
left=$(procs_in_root)
if [ -z "$left" ]; then
	pass "no process left in the root (Prosody, ejabberd, epmd, dnsmasq or other)"
else
	fail "no process left in the root" "$left"
	# Ours to end: they run in the root this script made.
	echo "$left" | while read -r pid _; do kill -KILL "$pid" 2>/dev/null; done
fi
host=$(ps -eo pid=,comm=,args= | grep -E ' (prosody|lua5\.[0-9]|beam\.smp|epmd|dnsmasq) ' | grep -v grep || true)
echo "prosody/ejabberd/epmd/dnsmasq processes on the host now (other checkouts' suites may own them): ${host:-none}"
enabled=$(ls "$R"/etc/rc[2-5].d/S*prosody "$R"/etc/rc[2-5].d/S*ejabberd \
	"$R"/etc/systemd/system/*.wants/prosody.service "$R"/etc/systemd/system/*.wants/ejabberd.service \
	"$R"/etc/systemd/system/*.wants/epmd.* 2>/dev/null)
if [ -z "$enabled" ]; then
	pass "no Prosody/ejabberd/epmd service enabled in the root (init links, systemd units)"
else
	fail "no Prosody/ejabberd/epmd service enabled in the root" "$enabled"
fi

stamp "done"
finish
