#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/container/run.sh - builds the container image described by the top
# Dockerfile without a Docker engine, and runs it as a container would.
#
#   1. appliance/container-rootfs.sh lays out the root file system from
#      XE_STATIC_BIN -- the same script the Dockerfile's build stage runs;
#   2. buildah (daemonless; chroot isolation, vfs storage in a private
#      directory) builds the Dockerfile's final stage -- the lines from
#      `FROM scratch` on, with `COPY --from=build` reading that root file
#      system from the build context instead of the Debian build stage (the
#      build stage itself is ./build.sh, which the other suites test);
#   3. the image's metadata is checked: numeric non-root user, exposed
#      ports, volumes, the HEALTHCHECK running `xmpp-edge status --quiet`,
#      and its files are exactly the expected ones; its size is printed
#      (goal: under 5 MiB);
#   4. the image's ENTRYPOINT + CMD run as its USER, as PID 1 of fresh PID,
#      mount, UTS and IPC namespaces, chrooted into the image's root, inside
#      a network namespace made here (loopback only); a stream header sent
#      to 127.0.0.1:5269 in that namespace must be answered; the health
#      check must pass while it serves; SIGTERM must stop it with status 0
#      within STOP_TIMEOUT_S (what `docker stop` does).
#
# If buildah is missing the image build is reported as skipped and steps 3-4
# run on the assembled root file system.  Prints "N passed, N failed" last.
set -u

ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$ROOT/out}
BIN=${XE_STATIC_BIN:-$OUT/xmpp-edge}
SERVE_TIMEOUT_S=20
STOP_TIMEOUT_S=15
IMAGE=localhost/xmpp-edge:test
SIZE_GOAL=$((5 * 1024 * 1024))
HEADER="<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"

# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
# shellcheck source=../lib/notices.sh
. "$(dirname "$0")/../lib/notices.sh"

[ -x "$BIN" ] || { fail "static binary $BIN exists (run ./build.sh)"; finish; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (namespaces, chroot)"; finish; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/xe-container-test.XXXXXX")
NS=xe-ctr-$$
CPID=
CTR=
BUILDAH=(buildah --root "$WORK/storage" --runroot "$WORK/runroot" --storage-driver vfs)
cleanup() {
	[ -n "$CPID" ] && kill -KILL "$CPID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	if [ -n "$CTR" ]; then
		"${BUILDAH[@]}" umount "$CTR" >/dev/null 2>&1
		"${BUILDAH[@]}" rm "$CTR" >/dev/null 2>&1
	fi
	# vfs layers are plain directories; buildah's own mounts are gone.
	umount -R "$WORK/storage" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. root file system --------------------------------------------------------

mkdir -p "$WORK/ctx"
check "container-rootfs.sh lays out the image's root file system" \
	"$ROOT/appliance/container-rootfs.sh" "$BIN" "$WORK/ctx/rootfs"
# The operator's configuration volume, as README.md ("Deployment") describes it: the
# image's default xmpp-edge.json and a certificate + key for example.com.
mkdir -p "$WORK/etc/certs" "$WORK/state"
cp "$ROOT/appliance/xmpp-edge.container.json" "$WORK/etc/xmpp-edge.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj /CN=example.com -addext subjectAltName=DNS:example.com \
	-keyout "$WORK/etc/certs/example.com.key" -out "$WORK/etc/certs/example.com.crt" 2>/dev/null
chmod 0600 "$WORK/etc/certs/example.com.key"
chown -R 5269:5269 "$WORK/etc/certs" "$WORK/state"
chmod 0700 "$WORK/state"
chmod 0755 "$WORK" "$WORK/etc"
sed "s|\"/etc/xmpp-edge/|\"$WORK/etc/|g; s|\"/var/lib/xmpp-edge\"|\"$WORK/state\"|" \
	"$WORK/etc/xmpp-edge.json" >"$WORK/check.json"
check "the default container configuration passes 'xmpp-edge check' with the documented volume layout" \
	bash -c '"$1" check -c "$2" >"$3" 2>&1 || { cat "$3"; exit 1; }' _ "$BIN" "$WORK/check.json" "$WORK/check.log"

# --- 2. image build -----------------------------------------------------------------

awk '/^FROM scratch/ { s = 1 } s' "$ROOT/Dockerfile" |
	sed 's/ --from=build / /' >"$WORK/ctx/Containerfile"
check "Dockerfile has a multi-stage build whose final stage is FROM scratch" \
	bash -c 'grep -q "^FROM .* AS build" "$1" && grep -q "^FROM scratch" "$1" &&
		grep -q "RUN ./build.sh" "$1"' _ "$ROOT/Dockerfile"

IMG_ROOT=
if command -v buildah >/dev/null 2>&1; then
	if "${BUILDAH[@]}" bud --isolation chroot --format docker --pull=never \
		-f "$WORK/ctx/Containerfile" -t "$IMAGE" "$WORK/ctx" >"$WORK/bud.log" 2>&1; then
		pass "buildah (chroot isolation, vfs) builds the final stage"
		CTR=$("${BUILDAH[@]}" from "$IMAGE" 2>/dev/null)
		IMG_ROOT=$("${BUILDAH[@]}" mount "$CTR" 2>/dev/null)
	else
		tail -n 20 "$WORK/bud.log"
		fail "buildah (chroot isolation, vfs) builds the final stage"
	fi
else
	echo "SKIP: buildah missing (apt-get install buildah): checking the assembled root file system instead"
fi

if [ -n "$IMG_ROOT" ]; then
	cfg() { "${BUILDAH[@]}" inspect --type image --format "$1" "$IMAGE"; }
	user=$(cfg '{{.Docker.Config.User}}')
	check "runs as a numeric non-root user ($user)" \
		bash -c '[[ $1 =~ ^[1-9][0-9]*(:[0-9]+)?$ ]]' _ "$user"
	ports=$(cfg '{{range $p, $v := .Docker.Config.ExposedPorts}}{{$p}} {{end}}')
	check "exposes 5269, 5270 and the internal port ($ports)" \
		bash -c '[[ $1 == *5269/tcp* && $1 == *5270/tcp* && $1 == *5271/tcp* ]]' _ "$ports"
	vols=$(cfg '{{range $p, $v := .Docker.Config.Volumes}}{{$p}} {{end}}')
	check "volumes for configuration and state ($vols)" \
		bash -c '[[ $1 == */etc/xmpp-edge* && $1 == */var/lib/xmpp-edge* ]]' _ "$vols"
	hc=$(cfg '{{.Docker.Config.Healthcheck.Test}}')
	check "HEALTHCHECK runs xmpp-edge status --quiet ($hc)" \
		bash -c '[[ $1 == *xmpp-edge\ status\ --quiet* ]]' _ "$hc"
	ENTRY=$(cfg '{{range .Docker.Config.Entrypoint}}{{.}} {{end}}{{range .Docker.Config.Cmd}}{{.}} {{end}}')
	HEALTH=$(cfg '{{range .Docker.Config.Healthcheck.Test}}{{.}} {{end}}')
	HEALTH=${HEALTH#CMD }
	stopsig=$(cfg '{{.Docker.Config.StopSignal}}')
	check "stop signal is SIGTERM" bash -c '[ -z "$1" ] || [ "$1" = SIGTERM ]' _ "$stopsig"
	"${BUILDAH[@]}" push "$IMAGE" "oci:$WORK/oci:xmpp-edge" >/dev/null 2>&1
	layers=$(find "$WORK/oci/blobs" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
	usize=$(du -sb --apparent-size "$IMG_ROOT" | cut -f1)
	echo "     image: $usize bytes unpacked, about $layers bytes as pushed (gzip layers + manifest + config)"
	check "image under 5 MiB unpacked ($((usize / 1024)) KiB)" [ "$usize" -lt $SIZE_GOAL ]
else
	IMG_ROOT=$WORK/ctx/rootfs
	ENTRY="/usr/bin/xmpp-edge run -c /etc/xmpp-edge/xmpp-edge.json"
	HEALTH="/usr/bin/xmpp-edge status --quiet"
	user=5269:5269
fi

files=$(cd "$IMG_ROOT" && find . -mindepth 1 \( -type f -o -type l \) ! -path './usr/share/doc/xmpp-edge/*' |
	LC_ALL=C sort | tr '\n' ' ')
expect="./etc/group ./etc/hosts ./etc/passwd ./etc/ssl/cert.pem ./etc/ssl/certs/ca-certificates.crt ./etc/xmpp-edge/xmpp-edge.json ./usr/bin/xmpp-edge "
check "image holds only the binary, CA bundle, config, account files and notices" [ "$files" = "$expect" ] ||
	echo "     files: $files"

# Notices: one for each component the image ships -- every dependency in
# deps/deps.lock and musl (inside the binary; their files and SHA-256 from
# deps/licenses.lock, so a new dependency without a notice fails), the CA
# bundle's, and xmpp-edge's own LICENSE.
DOC=$IMG_ROOT/usr/share/doc/xmpp-edge
check "image carries xmpp-edge's LICENSE (Apache-2.0) under /usr/share/doc/xmpp-edge" \
	cmp -s "$DOC/LICENSE" "$ROOT/LICENSE"
# shellcheck disable=SC2046 # one component a word.
notices_check_tree image "$DOC" $(notices_components)
check "image carries the CA bundle's notice (ca-certificates/copyright)" \
	cmp -s "$DOC/ca-certificates/copyright" /usr/share/doc/ca-certificates/copyright
check "image's notices are readable by everyone (the container runs as uid 5269)" \
	bash -c '[ -d "$1" ] && [ -z "$(find "$1" ! -perm -0444)" ]' _ "$DOC"
check "state and control-socket directories belong to uid 5269" \
	bash -c '[ "$(stat -c %u "$1/var/lib/xmpp-edge")" = 5269 ] && [ "$(stat -c %u "$1/run/xmpp-edge")" = 5269 ]' _ "$IMG_ROOT"

# --- 4. run it like a container ------------------------------------------------------


# In a private mount namespace: what a runtime provides -- /proc, a small
# /dev, a /tmp -- then chroot as the image's USER and exec ENTRYPOINT+CMD,
# which becomes PID 1 of the new PID namespace.
cat >"$WORK/start.sh" <<'EOF'
set -e
R=$1; U=$2; shift 2
mkdir -p "$R/proc" "$R/dev" "$R/sys"
mount -t proc proc "$R/proc"
mount -t tmpfs -o mode=0755,nosuid dev "$R/dev"
for d in null zero random urandom; do
	touch "$R/dev/$d"
	mount --bind "/dev/$d" "$R/dev/$d"
done
mount -t tmpfs -o mode=1777 tmp "$R/tmp"
# The volumes: configuration read-only, state read-write.
mount --bind "$VOL_ETC" "$R/etc/xmpp-edge"
mount -o remount,bind,ro "$R/etc/xmpp-edge"
mount --bind "$VOL_STATE" "$R/var/lib/xmpp-edge"
exec chroot --userspec="$U" "$R" "$@"
EOF
ip netns add "$NS" || { fail "network namespace $NS"; finish; }
ip -n "$NS" link set lo up
# shellcheck disable=SC2086 # ENTRY is the image's argv, space-separated.
VOL_ETC=$WORK/etc VOL_STATE=$WORK/state ip netns exec "$NS" unshare --pid --mount --uts --ipc --fork --propagation private \
	sh "$WORK/start.sh" "$IMG_ROOT" "$user" $ENTRY >"$WORK/ctr.log" 2>&1 &
CPID=$!

# The container's PID 1 is the only child of unshare.
sleep 0.3
inner=$(pgrep -P "$(pgrep -P "$CPID" | head -n 1)" 2>/dev/null | head -n 1)
[ -z "$inner" ] && inner=$(pgrep -P "$CPID" | head -n 1)

answer=
t0=${EPOCHREALTIME/./}
while kill -0 "$CPID" 2>/dev/null; do
	answer=$(ip netns exec "$NS" timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5269 || exit 1
		printf "%s" "$1" >&3; head -c 14 <&3' _ "$HEADER" 2>/dev/null)
	case $answer in "<?xml"* | "<stream:stream"*) break ;; esac
	[ $((${EPOCHREALTIME/./} - t0)) -gt $((SERVE_TIMEOUT_S * 1000000)) ] && break
	sleep 0.2
done
case $answer in
"<?xml"* | "<stream:stream"*) pass "container answers a stream header on 5269 ('$answer')" ;;
*) fail "container answers a stream header on 5269 within $SERVE_TIMEOUT_S s"; tail -n 20 "$WORK/ctr.log" ;;
esac
pid1=$(for p in $(pgrep -f '/usr/bin/xmpp-edge|xmpp-edge run' 2>/dev/null); do
	[ "$(readlink "/proc/$p/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] && echo "$p"; done | head -n 1)
[ -z "$pid1" ] && pid1=$inner
check "the daemon runs as uid 5269 and is PID 1 of its namespace" \
	bash -c 'grep -q "^Uid:[[:space:]]*5269" "/proc/$1/status" &&
		grep -q "^NSpid:.*[[:space:]]1$" "/proc/$1/status"' _ "$pid1"

# Entering its mount namespace resets the root to that namespace's; -r/-w
# take the container's own root and directory (the image's), so the path
# $IMG_ROOT is never looked up there (this suite may itself run chrooted).
# shellcheck disable=SC2086
check "HEALTHCHECK command succeeds inside the running container" \
	nsenter -t "$pid1" -n -m -p -u -i -r -w -S "${user%%:*}" -G "${user##*:}" $HEALTH

t0=${EPOCHREALTIME/./}
kill -TERM "$pid1"
for _ in $(seq 1 $((STOP_TIMEOUT_S * 10))); do
	kill -0 "$CPID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$CPID" 2>/dev/null; then
	fail "SIGTERM stops the container within $STOP_TIMEOUT_S s"
else
	wait "$CPID"
	rc=$?
	t=$(((${EPOCHREALTIME/./} - t0) / 1000))
	check "SIGTERM stops the container with status 0 ($rc, ${t} ms)" [ "$rc" -eq 0 ]
	CPID=
fi
# shellcheck disable=SC2086
check "HEALTHCHECK command fails once the daemon is gone" \
	bash -c '! chroot --userspec="$1" "$2" ${3} >/dev/null 2>&1' _ "$user" "$IMG_ROOT" "$HEALTH"
finish
