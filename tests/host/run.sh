#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/host/run.sh - `./build.sh install` (README "Run on a host") into a
# temporary DESTDIR, never the real /:
#
#   1. the layout: PREFIX/bin/xmpp-edge, /etc/xmpp-edge with the example
#      configuration and its certificate, /var/lib/xmpp-edge, the unit in
#      /etc/systemd/system, each with its owner and mode; the system user
#      and group xmpp-edge (created on this machine when missing, as the
#      installed files belong to it);
#   2. a second install keeps an edited configuration; another PREFIX is
#      written into the unit;
#   3. the unit: `systemd-analyze verify` clean (with ExecStart pointing
#      into DESTDIR), `systemd-analyze security --offline` exposure printed
#      and at most 2.0;
#   4. the installed binary, chrooted into DESTDIR as the service user,
#      accepts the installed configuration (`check`), then serves with it
#      in a network namespace of its own (loopback only) and stops cleanly
#      on SIGTERM: what the unit runs, without systemd;
#   5. with systemd as PID 1 only: `check` run by `systemd-run` under the
#      unit's sandbox options (skipped, and said, otherwise).
#
# Needs root.  Prints "N passed, N failed" last.
set -u

ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}

# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (install creates a user and sets owners)"; finish; }
command -v systemd-analyze >/dev/null || { fail "systemd-analyze missing (apt-get install systemd)"; finish; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/xe-host-test.XXXXXX")
chmod 0755 "$WORK"
DEST=$WORK/root
DPID=
export HOST_PATHS="/dev/null /dev/urandom /dev/random /etc/ssl/certs /etc/resolv.conf"
cleanup() {
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
	[ -n "${XE_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# stat_is PATH "MODE OWNER GROUP": one check per file.
stat_is() {
	local got
	got=$(stat -c '%a %U %G' "$DEST$1" 2>&1)
	if [ "$got" = "$2" ]; then pass "layout $1 is $2"; else fail "layout $1 is $2" "got: $got"; fi
}

# --- 1. install and layout ---------------------------------------------------------

if DESTDIR=$DEST "$ROOT/build.sh" install >"$WORK/install.log" 2>&1; then
	pass "install into DESTDIR"
else
	fail "install into DESTDIR" "$(tail -n 30 "$WORK/install.log")"
	finish
fi

stat_is /usr/local/bin/xmpp-edge "755 root root"
stat_is /etc/xmpp-edge "750 root xmpp-edge"
stat_is /etc/xmpp-edge/xmpp-edge.json "640 root xmpp-edge"
stat_is /etc/xmpp-edge/example.com.crt "644 root root"
stat_is /etc/xmpp-edge/example.com.key "600 xmpp-edge xmpp-edge"
stat_is /var/lib/xmpp-edge "750 xmpp-edge xmpp-edge"
stat_is /etc/systemd/system/xmpp-edge.service "644 root root"
check "installed binary is the static release binary" cmp -s "$ROOT/out/xmpp-edge" "$DEST/usr/local/bin/xmpp-edge"
check "installed configuration is appliance/xmpp-edge.host.json" \
	cmp -s "$ROOT/appliance/xmpp-edge.host.json" "$DEST/etc/xmpp-edge/xmpp-edge.json"

pw=$(getent passwd xmpp-edge)
uid=$(echo "$pw" | cut -d: -f3)
gid=$(echo "$pw" | cut -d: -f4)
if [ -n "$pw" ] && [ "$uid" -ne 0 ] && [ "$(echo "$pw" | cut -d: -f7)" = /usr/sbin/nologin ] &&
	[ "$(getent group xmpp-edge | cut -d: -f3)" = "$gid" ]; then
	pass "user and group xmpp-edge (uid $uid, gid $gid, no login)"
else
	fail "system user and group xmpp-edge" "passwd: $pw" "group: $(getent group xmpp-edge)"
fi
unit=$DEST/etc/systemd/system/xmpp-edge.service
check "unit runs as xmpp-edge" grep -qx 'User=xmpp-edge' "$unit"
check "unit starts PREFIX/bin/xmpp-edge" \
	grep -qx 'ExecStart=/usr/local/bin/xmpp-edge run -c /etc/xmpp-edge/xmpp-edge.json' "$unit"

# --- 2. reinstall, other PREFIX ---------------------------------------------------

echo '{"edited": true}' >"$DEST/etc/xmpp-edge/xmpp-edge.json"
key_before=$(sha256sum <"$DEST/etc/xmpp-edge/example.com.key")
if DESTDIR=$DEST "$ROOT/build.sh" install /opt/xe >"$WORK/install2.log" 2>&1 &&
	grep -q "kept the existing" "$WORK/install2.log" &&
	[ "$(cat "$DEST/etc/xmpp-edge/xmpp-edge.json")" = '{"edited": true}' ] &&
	[ "$(sha256sum <"$DEST/etc/xmpp-edge/example.com.key")" = "$key_before" ]; then
	pass "second install keeps the configuration and the key"
else
	fail "second install keeps the configuration and the key" "$(tail -n 20 "$WORK/install2.log")"
fi
check "PREFIX /opt/xe: binary installed" test -x "$DEST/opt/xe/bin/xmpp-edge"
check "PREFIX /opt/xe: written into the unit" \
	grep -qx 'ExecStartPre=/opt/xe/bin/xmpp-edge check -c /etc/xmpp-edge/xmpp-edge.json' "$unit"
cp "$ROOT/appliance/xmpp-edge.host.json" "$DEST/etc/xmpp-edge/xmpp-edge.json"
if DESTDIR=$DEST "$ROOT/build.sh" install relative/path >"$WORK/install3.log" 2>&1; then
	fail "relative PREFIX refused" "$(cat "$WORK/install3.log")"
else
	check "relative PREFIX refused" grep -q "PREFIX must be an absolute path" "$WORK/install3.log"
fi

# --- 3. the unit ------------------------------------------------------------------

# verify checks that every Exec* program exists: point them into DESTDIR.
sed "s|/opt/xe/bin/xmpp-edge|$DEST/opt/xe/bin/xmpp-edge|g" "$unit" >"$WORK/xmpp-edge.service"
if systemd-analyze verify "$WORK/xmpp-edge.service" >"$WORK/verify" 2>&1 && ! [ -s "$WORK/verify" ]; then
	pass "systemd-analyze verify: clean"
else
	fail "systemd-analyze verify: clean" "$(cat "$WORK/verify")"
fi
systemd-analyze security --offline=yes "$WORK/xmpp-edge.service" >"$WORK/security" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for xmpp-edge.service: \([0-9.]*\).*/\1/p' "$WORK/security")
echo "systemd-analyze security: exposure ${exposure:-?}"
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
	pass "systemd-analyze security: exposure $exposure (at most 2.0)"
else
	fail "systemd-analyze security: exposure at most 2.0" "$(tail -n 30 "$WORK/security")"
fi

# --- 4. the installed binary as the service user ------------------------------------

# The unit's ExecStartPre and ExecStart, without systemd: as the service
# user, no capability, in mount and network namespaces of their own
# (loopback only: the example listens on 0.0.0.0:5269/5270).  The chroot
# gets what the host gives the unit: the random devices (mbedTLS reads
# /dev/urandom; PrivateDevices=yes keeps them), the CA bundle (default
# tls.ca_file) and the resolver configuration, bind-mounted in the private
# mount namespace, so they vanish with it and rm -rf never reaches the
# host's files.  Serving is proven by `status` over the control socket in
# the installed state directory: only this daemon answers there.  The
# PID namespace ends the daemon with the shell, however the suite ends.
for p in $HOST_PATHS; do
	if [ -d "$p" ]; then mkdir -p "$DEST$p"; else mkdir -p "$(dirname "$DEST$p")" && touch "$DEST$p"; fi
done
unshare --mount --propagation private --net --pid --fork --kill-child bash -c '
	w=$1 dest=$2
	shift 2
	for p in $HOST_PATHS; do mount --bind "$(readlink -f "$p")" "$dest$p" || exit 1; done
	ip link set lo up
	"$@" check -c /etc/xmpp-edge/xmpp-edge.json >"$w/check" 2>&1
	"$@" run -c /etc/xmpp-edge/xmpp-edge.json >"$w/daemon.log" 2>&1 &
	d=$!
	for _ in $(seq 1 100); do
		"$@" status -c /etc/xmpp-edge/xmpp-edge.json --quiet >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$@" status -c /etc/xmpp-edge/xmpp-edge.json >"$w/status" 2>&1
	echo "status exit $?" >>"$w/status"
	kill -TERM "$d" 2>/dev/null
	wait "$d"
	echo "$?" >"$w/daemon.rc"
' _ "$WORK" "$DEST" chroot --userspec="$uid:$gid" "$DEST" /usr/local/bin/xmpp-edge &
DPID=$!
wait "$DPID"
DPID=
if grep -q "is valid" "$WORK/check" 2>/dev/null; then
	pass "installed check accepts the installed configuration (as xmpp-edge)"
else
	fail "installed check accepts the installed configuration" "$(cat "$WORK/check" 2>&1)"
fi
if grep -q "status exit 0" "$WORK/status" 2>/dev/null; then
	pass "installed daemon serves as xmpp-edge (status answers on its control socket)"
else
	fail "installed daemon serves as xmpp-edge" "$(cat "$WORK/status" 2>&1)" "$(tail -n 20 "$WORK/daemon.log")"
fi
check "installed daemon stops on SIGTERM with status 0" grep -qx 0 "$WORK/daemon.rc"
created=$(find "$DEST/var/lib/xmpp-edge" -mindepth 1 | wc -l)
foreign=$(find "$DEST/var/lib/xmpp-edge" ! -user xmpp-edge)
if [ "$created" -gt 0 ] && [ -z "$foreign" ]; then
	pass "state directory: $created files written by the daemon, all the service user's"
else
	fail "state directory written by the service user" "files: $created, not xmpp-edge's: $foreign"
fi

# --- 5. the unit's sandbox, with systemd ----------------------------------------------

if [ -d /run/systemd/system ]; then
	# The unit's [Service] settings but the Exec*, Type and restart ones,
	# as properties of a transient service running `check`.
	props=()
	while IFS= read -r line; do
		props+=(-p "$line")
	done < <(sed -n '/^\[Service\]/,/^\[/p' "$ROOT/appliance/xmpp-edge.service" |
		grep -E '^[A-Za-z]+=' | grep -vE '^(Exec|Type|Restart|KillMode|TimeoutStopSec|StateDirectory|RuntimeDirectory|ReadWritePaths)')
	if systemd-run --quiet --wait --pipe --collect "${props[@]}" -p ReadOnlyPaths=/ \
		-p "BindReadOnlyPaths=$DEST/etc/xmpp-edge:/etc/xmpp-edge" \
		"$DEST/usr/local/bin/xmpp-edge" check -c /etc/xmpp-edge/xmpp-edge.json >"$WORK/sdrun" 2>&1 &&
		grep -q "is valid" "$WORK/sdrun"; then
		pass "check under the unit's sandbox (systemd-run)"
	else
		fail "check under the unit's sandbox (systemd-run)" "$(cat "$WORK/sdrun")"
	fi
else
	echo "SKIP: systemd is not PID 1 here ($(ps -o comm= -p 1 2>/dev/null || echo '?')): the unit's sandbox options are checked by systemd-analyze only"
fi

finish
