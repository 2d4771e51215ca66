#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fault bed (issue 21): Prosody, xmpp-edge, faults, messages counted (see run.py).
# run.py ends what it started itself, also on an exception or SIGTERM; this
# wrapper is the last line of defence when run.py could not (killed, or
# stuck past its own deadline): it forwards SIGTERM/SIGINT/SIGHUP, and on
# exit removes whatever is left of run.py's namespaces (xf-*-PID), ending
# the processes inside them first.  Nothing outside them is touched.
set -u
py=
sweep() {
	local ns pid
	[ -n "$py" ] || return 0
	for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1 | grep -E "^xf-(inet|edge|lan)-$py\$"); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
		echo "faults: removed namespace $ns left behind" >&2
	done
}
forward() {
	[ -n "$py" ] && kill -TERM "$py" 2>/dev/null
	wait "$py"
	rc=$?
	sweep
	exit "$rc"
}
trap forward TERM INT HUP
/usr/bin/python3 "$(dirname "$0")/run.py" &
py=$!
wait "$py"
rc=$?
sweep
exit "$rc"
