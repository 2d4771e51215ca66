# SPDX-License-Identifier: Apache-2.0
# notices.sh - the license-notice checks the license, container and appliance
# suites share (source it after check.sh; ROOT is the checkout).
#   notices_components            the components inside the static binary:
#                                 deps/deps.lock's, then musl
#   notices_check_tree LABEL DIR COMPONENT...
#                                 one check per COMPONENT: DIR/COMPONENT/ holds
#                                 every file deps/licenses.lock ships for it,
#                                 with the SHA-256 the lock records
notices_components() {
	awk '$1 !~ /^#/ && NF { print $1 }' "$ROOT/deps/deps.lock"
	echo musl
}

notices_check_tree() {
	local label=$1 dir=$2 c rows
	shift 2
	for c in "$@"; do
		rows=$(awk -v n="$c" '$1 == n && $2 == "ship" { print $3 "=" $4 }' "$ROOT/deps/licenses.lock")
		# shellcheck disable=SC2086 # rows: one FILE=SHA256 a word.
		check "$label carries $c's license files ($(echo $rows | sed 's/=[0-9a-f]*//g'))" \
			bash -c '[ -n "$2" ] && for fs in $2; do
				[ "$(sha256sum "$1/${fs%%=*}" 2>/dev/null | cut -d" " -f1)" = "${fs#*=}" ] || exit 1
			done' _ "$dir/$c" "$rows"
	done
}
