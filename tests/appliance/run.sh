#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/appliance/run.sh - builds the appliance disk image once and boots it
# in QEMU (UEFI firmware from Debian's ovmf, software emulation unless
# XE_QEMU_ACCEL=kvm), the way an operator would run it:
#
#   1. appliance/build-image.sh XE_STATIC_BIN -> GPT disk image under 64 MiB
#      with the partitions, boot files and data files where README.md ("Deployment") says;
#   2. the init's network.conf parser accepts the example, refuses bad files;
#   3. boot: QEMU's user-mode network (restrict=on: the guest reaches
#      nothing; only the forwarded loopback port reaches the guest) forwards
#      127.0.0.1:PORT to the appliance's 5269; an XMPP stream header sent
#      there must be answered with "<?xml" or "<stream:stream" within
#      BOOT_TIMEOUT_S; the boot-to-serving time is printed;
#   4. `system_powerdown` on the QEMU monitor (ACPI power button) must make
#      the appliance stop the daemon, unmount /data and power off: QEMU exits
#      by itself within HALT_TIMEOUT_S;
#   5. update: appliance/update-image.sh writes esp.img over the EFI
#      partition; the data partition must be byte-for-byte unchanged and the
#      updated disk must boot and serve again;
#   5b. remote management (issue 17), in the boots above, no extra one: the
#      image is built with XE_ADMIN_PINS (an operator key made here); on the
#      first boot `status --remote` answers through a forwarded port, an
#      unpinned admin key is refused, `cert rotate --remote` installs a new
#      certificate (read back by the CLI through the forwarded Direct TLS
#      port; time printed) and a mismatched upload is refused; after the
#      update's reboot the new certificate is still served;
#   6. supervision: an image whose daemon is tests/appliance/flaky_daemon.c
#      (fails twice, then serves and ignores SIGTERM) must be restarted with
#      1 s then 2 s backoff, serve, and on power-off be SIGKILLed after the
#      stop timeout before a clean power-off.
#
# Everything stays on loopback.  Prints "N passed, N failed" last.
set -u

ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$ROOT/out}
BIN=${XE_STATIC_BIN:-$OUT/xmpp-edge}
ACCEL=${XE_QEMU_ACCEL:-tcg}
BOOT_TIMEOUT_S=${XE_BOOT_TIMEOUT_S:-90}
HALT_TIMEOUT_S=30
IMG_LIMIT_BYTES=$((64 * 1024 * 1024))
SERVE_GOAL_S=10
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
HEADER="<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"

# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
# shellcheck source=../lib/notices.sh
. "$(dirname "$0")/../lib/notices.sh"

# qemu-system-x86_64 must at least start; otherwise the suite is skipped.
if ! command -v qemu-system-x86_64 >/dev/null 2>&1 || [ ! -f "$OVMF_CODE" ]; then
	echo "SKIP: qemu-system-x86_64 or OVMF missing (apt-get install qemu-system-x86 ovmf); appliance boot not tested"
	finish
fi
if ! qemu-system-x86_64 -version >/dev/null 2>&1; then
	echo "SKIP: qemu-system-x86_64 cannot run here; appliance boot not tested"
	finish
fi
if [ "$ACCEL" = kvm ] && ! [ -w /dev/kvm ]; then
	echo "     /dev/kvm not usable: software emulation (tcg)"
	ACCEL=tcg
fi
[ -x "$BIN" ] || { fail "static binary $BIN exists (run ./build.sh)"; finish; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/xe-appliance-test.XXXXXX")
QEMU_PID=
BUILD_PIDS=
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
	# shellcheck disable=SC2086 # a PID a word.
	[ -n "$BUILD_PIDS" ] && kill $BUILD_PIDS 2>/dev/null && wait $BUILD_PIDS 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. build -----------------------------------------------------------------

IMGDIR=$OUT/test-appliance
# The operator's admin key (remote management, 5b) and certificates to rotate to.
mkop() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 \
	-subj "/CN=$3" -addext "subjectAltName=DNS:$3" -keyout "$2" -out "$1" 2>/dev/null && chmod 0600 "$2"; }
mkop "$WORK/op.crt" "$WORK/op.key" operator
mkop "$WORK/stranger.crt" "$WORK/stranger.key" stranger
mkop "$WORK/new.crt" "$WORK/new.key" example.com
OP_PIN=$(openssl x509 -in "$WORK/op.crt" -pubkey -noout | openssl pkey -pubin -outform der |
	openssl dgst -sha256 -binary | base64)
start=$(date +%s)
if XE_ADMIN_PINS=$OP_PIN XE_ADMIN_LISTEN=10.0.2.15:5280 \
	"$ROOT/appliance/build-image.sh" "$BIN" "$IMGDIR" >"$WORK/build.log" 2>&1; then
	pass "build-image.sh builds the image ($(($(date +%s) - start)) s)"
else
	tail -n 30 "$WORK/build.log"
	fail "build-image.sh builds the image"
	finish
fi
IMG=$IMGDIR/xmpp-edge-appliance.img
size=$(stat -c %s "$IMG")
echo "     disk image: $size bytes ($((size / 1048576)) MiB); $(grep ^kernel_package "$IMGDIR/manifest.txt")"
check "disk image under 64 MiB" [ "$size" -lt $IMG_LIMIT_BYTES ]
dump=$(/usr/sbin/sfdisk --dump "$IMG" 2>/dev/null || sfdisk --dump "$IMG")
check "GPT with xe-esp (EFI system) and xe-data (Linux) partitions" \
	bash -c 'grep -q "^label: gpt" <<<"$1" &&
		grep -q "type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B.*name=\"xe-esp\"" <<<"$1" &&
		grep -q "type=0FC63DAF-8483-4772-8E79-3D69D8477DE4.*name=\"xe-data\"" <<<"$1"' _ "$dump"
export MTOOLS_SKIP_CHECK=1
check "ESP holds systemd-boot, slot a's loader entry (no boot counter), kernel, initramfs and manifest" \
	bash -c 'for f in ::/EFI/BOOT/BOOTX64.EFI ::/loader/loader.conf ::/loader/entries/xmpp-edge-000001-a.conf ::/xmpp-edge/a/vmlinuz ::/xmpp-edge/a/initrd.img ::/xmpp-edge/a/manifest; do
		mdir -i "$1" "$f" >/dev/null 2>&1 || { echo "missing $f"; exit 1; }; done' _ "$IMGDIR/esp.img"
# Notices on the ESP, one for each component the image ships: the binary's
# (every dependency in deps/deps.lock, and musl; files and SHA-256 from
# deps/licenses.lock) and every component the manifest names a Debian
# source package for (kernel, systemd-boot, musl, CA bundle), so a new
# dependency or package without a notice fails; and xmpp-edge's LICENSE.
mcopy -s -n -i "$IMGDIR/esp.img" ::/licenses "$WORK/" 2>/dev/null
EL=$WORK/licenses
check "ESP carries xmpp-edge's LICENSE under /licenses" cmp -s "$EL/LICENSE" "$ROOT/LICENSE"
# shellcheck disable=SC2046 # one component a word.
notices_check_tree ESP "$EL" $(notices_components)
SOURCED=$(awk '$1 == "source" { print $2 }' "$IMGDIR/manifest.txt" | sort -u | tr '\n' ' ')
check "manifest.txt names the Debian source packages of the kernel, systemd-boot, musl and the CA bundle ($SOURCED)" \
	bash -c 'for c in linux systemd-boot musl ca-certificates; do [[ " $1" == *" $c "* ]] || exit 1; done' _ "$SOURCED"
check "manifest.txt names linux itself (the signed kernel's Built-Using), with its version" \
	grep -Eq '^source linux linux [0-9][^ ]*$' "$IMGDIR/manifest.txt"
for c in $SOURCED; do
	check "ESP carries $c's notice (/licenses/$c/)" bash -c '[ -n "$(find "$1" -type f -size +0 2>/dev/null)" ]' _ "$EL/$c"
done
KDEB=${XE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xmpp-edge}/appliance/$(awk '$1 == "kernel_package" { print $2 }' "$IMGDIR/manifest.txt")
check "ESP's linux/copyright is the kernel package's own copyright file" \
	bash -c 'dpkg-deb --fsys-tarfile "$1" | tar -xOf - --wildcards "./usr/share/doc/linux-image-*/copyright" | cmp -s - "$2"' \
	_ "$KDEB" "$EL/linux/copyright"
check "ESP's SOURCES.txt says how to get every source package in manifest.txt" \
	bash -c 'n=0; while read -r p; do grep -qF "apt-get source $p" "$2" || exit 1; n=$((n + 1)); done < <(
		awk "\$1 == \"source\" { print \$3 \"=\" \$4 }" "$1"); [ $n -gt 0 ]' _ "$IMGDIR/manifest.txt" "$EL/SOURCES.txt"
check "data partition holds etc/xmpp-edge.json, etc/network.conf, certs/, state/ (uid 5269)" \
	bash -c 'l=$(/usr/sbin/debugfs -R "ls -l /etc" "$1" 2>/dev/null) &&
		grep -q xmpp-edge.json <<<"$l" && grep -q network.conf <<<"$l" &&
		/usr/sbin/debugfs -R "stat /state" "$1" 2>/dev/null | grep -q "User:  5269" &&
		/usr/sbin/debugfs -R "stat /certs" "$1" 2>/dev/null | grep -q "Type: directory"' _ "$IMGDIR/data.img"
check "initramfs holds /init, /bin/xmpp-edge and the modules list" \
	bash -c 'zstd -dc "$1" | cpio -it --quiet 2>/dev/null | grep -qx init &&
		zstd -dc "$1" | cpio -it --quiet 2>/dev/null | grep -qx bin/xmpp-edge &&
		zstd -dc "$1" | cpio -it --quiet 2>/dev/null | grep -qx etc/modules.load' _ "$IMGDIR/initrd.img"

check "the build printed the admin listener's pin (admin-server-pin.txt)" \
	grep -Eq '^sha256/[A-Za-z0-9+/]{43}=$' "$IMGDIR/admin-server-pin.txt"

# --- 1b. the other two images, built while the first one boots ------------------
#
# The supervision image (6.) and the A/B image (7.) need nothing from the
# boots: they are built in the background now (the first build above has
# filled the package cache they share), one after the other and at the
# lowest CPU priority, so that they take only what the boots leave: a boot
# under software emulation needs a core, and its boot-to-serving time is
# one of the figures printed.  6. and 7. wait for them.  Each writes its
# exit status to a file; its output goes to its log.

AB=$WORK/ab
mkdir -p "$AB"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=operator \
	-keyout "$AB/operator.key" -out "$AB/operator.crt" 2>/dev/null
printf 'hostname edge-ab\naddress eth0 10.0.2.15/24\ngateway 10.0.2.2\naddress eth1 10.0.3.15/24\n' >"$AB/network.conf"
# build_flaky / build_ab: as 6. and 7. describe; the exit status says
# which step failed (1: the test program, 2: the image).
build_flaky() {
	musl-gcc -static -Os -o "$WORK/flaky_daemon" "$ROOT/tests/appliance/flaky_daemon.c" 2>"$WORK/cc2.log" || return 1
	"$ROOT/appliance/build-image.sh" "$WORK/flaky_daemon" "$WORK/flaky" >"$WORK/build2.log" 2>&1 || return 2
}
build_ab() {
	musl-gcc -static -Os -o "$AB/never_ready" "$ROOT/tests/appliance/never_ready.c" 2>"$WORK/cc3.log" || return 1
	XE_ADMIN_PINS=$(openssl x509 -in "$AB/operator.crt" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64) XE_NETWORK_CONF=$AB/network.conf XE_IMAGE_VERSION=ab-a \
		"$ROOT/appliance/build-image.sh" "$BIN" "$AB/img" >"$WORK/build3.log" 2>&1 || return 2
}
BG_BUILD_START=$(date +%s)
{
	renice -n 19 -p "$BASHPID" >/dev/null 2>&1
	build_flaky; echo $? >"$WORK/build2.rc"
	build_ab; echo $? >"$WORK/build3.rc"
} &
BUILD_PIDS=$!
# build_wait N: waits for the background builds; BUILD_RC is build N's
# exit status (2: supervision, 3: A/B; 3 also when it left none).
build_wait() {
	# shellcheck disable=SC2086 # a PID a word.
	[ -n "$BUILD_PIDS" ] && wait $BUILD_PIDS 2>/dev/null
	BUILD_PIDS=
	BUILD_RC=$(cat "$WORK/build$1.rc" 2>/dev/null || echo 3)
}

# --- 2. network.conf parser ------------------------------------------------------

mkdir -p "$WORK/kh"
ln -s /usr/include/linux "$WORK/kh/linux"
ln -s "/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/asm" "$WORK/kh/asm"
ln -s /usr/include/asm-generic "$WORK/kh/asm-generic"
if musl-gcc -static -Os -isystem "$WORK/kh" -o "$WORK/init" "$ROOT/appliance/init.c" 2>"$WORK/cc.log"; then
	check "network.conf.example is accepted" bash -c '"$1" --check-network "$2" >/dev/null' _ "$WORK/init" "$ROOT/appliance/network.conf.example"
	printf 'hostname h\naddress eth0 192.0.2.10/24\naddress eth1 2001:db8::2/64\ngateway 192.0.2.1\ngateway fe80::1 eth1\ndns 192.0.2.53\n' >"$WORK/ok.conf"
	check "IPv4 + IPv6 addresses, gateways, dns are accepted" bash -c '"$1" --check-network "$2" >/dev/null' _ "$WORK/init" "$WORK/ok.conf"
	n=0
	for bad in 'address eth0 192.0.2.10' 'address eth0 192.0.2.10/33' 'address eth0 2001:db8::1/129' \
		'gateway 192.0.2.1 eth0 x' 'gateway nope' 'dns 192.0.2.300' 'address eth0/x 192.0.2.1/24' \
		'frobnicate yes' $'gateway 192.0.2.1\ngateway 192.0.2.2' $'dns 192.0.2.1\ndns 192.0.2.2\ndns 192.0.2.3\ndns 192.0.2.4'; do
		printf '%s\n' "$bad" >"$WORK/bad.conf"
		if "$WORK/init" --check-network "$WORK/bad.conf" >/dev/null 2>&1; then
			echo "     accepted a bad network.conf: $bad"
		else
			n=$((n + 1))
		fi
	done
	check "10 malformed network.conf files are refused" [ "$n" -eq 10 ]
	check "init refuses to run as an ordinary process" bash -c '! "$1" >/dev/null 2>&1' _ "$WORK/init"
else
	cat "$WORK/cc.log"
	fail "appliance/init.c compiles with musl-gcc -static"
fi

# --- 3./4. boot, serve, power off ---------------------------------------------------

# free_port: a port the kernel just found free on 127.0.0.1 (bound to port
# 0, then closed).  A random one checked against the listeners only was
# sometimes in use by a connection (the kernel's ephemeral range starts at
# 32768): QEMU then could not set up its forwarding or its monitor.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# probe PORT: prints the first 14 bytes the appliance answers to a header.
probe() {
	timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "%s" "$2" >&3
		head -c 14 <&3' _ "$1" "$HEADER" 2>/dev/null
}

# qemu_start DISK NAME PORT MON FWD [QEMU ARGS...]: boots DISK in the
# background (QEMU_PID), the console in $WORK/console-NAME.log, the monitor
# on 127.0.0.1:MON, the guest's 5269 on 127.0.0.1:PORT (first NIC, eth0;
# FWD: more ",hostfwd=..." for it); QEMU ARGS come last (a second -nic is
# eth1).
QEMU_BOOTS=0
qemu_start() {
	local disk=$1 name=$2 port=$3 mon=$4 fwd=$5
	shift 5
	cp "$OVMF_VARS" "$WORK/vars-$name.fd"
	qemu-system-x86_64 -nodefaults -no-user-config -machine q35,accel="$ACCEL" \
		-m 256 -smp 1 -display none \
		-serial "file:$WORK/console-$name.log" -monitor "tcp:127.0.0.1:$mon,server,nowait" \
		-drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE" \
		-drive "if=pflash,format=raw,file=$WORK/vars-$name.fd" \
		-drive "file=$disk,format=raw,if=virtio" \
		-device virtio-rng-pci \
		-nic "user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:$port-:5269$fwd" "$@" \
		>"$WORK/qemu-$name.log" 2>&1 &
	QEMU_PID=$!
	QEMU_BOOTS=$((QEMU_BOOTS + 1))
}

# monitor MON COMMAND: one QEMU monitor command.
monitor() {
	bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "%s\n" "$2" >&3 && sleep 0.5' _ "$1" "$2" 2>/dev/null
}

# boot DISK NAME: boots, checks serving and power-off; sets BOOT_SERVE_S.
boot() {
	local disk=$1 name=$2 port mon t0 t1 answer="" served=0 i log=$WORK/console-$2.log
	port=$(free_port)
	mon=$(free_port)
	while [ "$mon" = "$port" ]; do mon=$(free_port); done
	ADMIN_PORT=$(free_port)
	DIRECT_PORT=$(free_port)
	t0=${EPOCHREALTIME/./}
	qemu_start "$disk" "$name" "$port" "$mon" \
		",hostfwd=tcp:127.0.0.1:$ADMIN_PORT-:5280,hostfwd=tcp:127.0.0.1:$DIRECT_PORT-:5270" -no-reboot
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		answer=$(probe "$port")
		case $answer in
		"<?xml"* | "<stream:stream"*) served=1; break ;;
		esac
		t1=${EPOCHREALTIME/./}
		[ $((t1 - t0)) -gt $((BOOT_TIMEOUT_S * 1000000)) ] && break
		sleep 0.25
	done
	t1=${EPOCHREALTIME/./}
	BOOT_SERVE_S=$(((t1 - t0) / 1000000)).$((((t1 - t0) / 100000) % 10))
	if [ $served -eq 1 ]; then
		pass "[$name] appliance answers a stream header on 5269 after ${BOOT_SERVE_S} s ($ACCEL): '$answer'"
	else
		fail "[$name] appliance answers a stream header on 5269 within $BOOT_TIMEOUT_S s"
		tail -n 40 "$log" | tr -d '\033'
	fi
	check "[$name] init mounted the data partition and configured eth0" \
		bash -c 'grep -q "data.mounted dev=/dev/vda2" "$1" && grep -q "net.addr if=eth0" "$1"' _ "$log"
	check "[$name] daemon runs as uid 5269 under init's supervision" \
		grep -q "svc.state from=stopped to=running" "$log"
	[ $served -eq 1 ] && [ "$(type -t "remote_$name")" = function ] && "remote_$name"

	# ACPI power button through the monitor; QEMU exits when the guest
	# powers off (-no-reboot also turns a panic/reboot into an exit, which
	# the console log then tells apart).
	if kill -0 "$QEMU_PID" 2>/dev/null; then
		monitor "$mon" system_powerdown
	fi
	for i in $(seq 1 $((HALT_TIMEOUT_S * 10))); do
		kill -0 "$QEMU_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$QEMU_PID" 2>/dev/null; then
		fail "[$name] powers off within $HALT_TIMEOUT_S s of system_powerdown"
		kill "$QEMU_PID" 2>/dev/null
		wait "$QEMU_PID" 2>/dev/null
	else
		wait "$QEMU_PID" 2>/dev/null
		pass "[$name] QEMU exited $((i / 10)).$((i % 10)) s after system_powerdown"
	fi
	QEMU_PID=
	check "[$name] clean power-off: power button seen, daemon stopped, /data unmounted, kernel powered down" \
		bash -c 'grep -q "init.halt action=poweroff reason=power-button" "$1" &&
			grep -q "svc.state from=stopping to=done" "$1" &&
			grep -q "data.unmounted" "$1" && grep -q "reboot: Power down" "$1" &&
			! grep -q "Kernel panic" "$1"' _ "$log"
	echo "     console: $(grep -c . "$log") lines in $log (kept only on failure)"
}

# --- 2b. A/B update over the control socket, on this host ----------------------------
#
# The daemon's side of `appliance update` without QEMU: the release binary
# runs here with XMPP_EDGE_ESP pointing at a directory laid out as the
# image's ESP (slot a booted), as the appliance's init would start it.

HU=$WORK/hostupdate
mkdir -p "$HU/esp/loader/entries" "$HU/esp/xmpp-edge/a" "$HU/st"
printf 'old kernel' >"$HU/esp/xmpp-edge/a/vmlinuz"
printf 'old initrd' >"$HU/esp/xmpp-edge/a/initrd.img"
printf 'title a\n' >"$HU/esp/loader/entries/xmpp-edge-000001-a.conf"
head -c 300000 /dev/urandom >"$HU/k"
head -c 70000 /dev/urandom >"$HU/i"
hu_header() { # VERSION KERNEL-SHA
	printf 'xmpp-edge-bundle 1\nversion %s\nkernel %s %s\ninitrd %s %s\noptions quiet\nend\n' "$1" \
		"$(stat -c %s "$HU/k")" "$2" "$(stat -c %s "$HU/i")" "$(sha256sum "$HU/i" | cut -d' ' -f1)"
}
{ hu_header host-b "$(sha256sum "$HU/k" | cut -d' ' -f1)"; cat "$HU/k" "$HU/i"; } >"$HU/good.bundle"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=example.com \
	-keyout "$HU/example.com.key" -out "$HU/example.com.crt" 2>/dev/null
cat >"$HU/conf.json" <<EOF
{ "user": "5269", "state_dir": "$HU/st",
  "domains": [{ "name": "example.com", "cert": "$HU/example.com.crt", "key": "$HU/example.com.key" }],
  "listen": { "starttls": ["127.0.0.1:$(free_port)"], "direct_tls": [], "control": "$HU/st/control.sock" } }
EOF
chown -R 5269:5269 "$HU/esp" "$HU/st" 2>/dev/null
chmod 700 "$HU/st"
# The daemon drops to uid 5269: it must reach its ESP and state directory.
chmod 711 "$WORK" "$HU"
XMPP_EDGE_ESP=$HU/esp XMPP_EDGE_SLOT=a "$BIN" run -c "$HU/conf.json" >"$HU/daemon.log" 2>&1 &
HU_PID=$!
for _ in $(seq 1 50); do [ -S "$HU/st/control.sock" ] && break; sleep 0.1; done
SOCK=(--socket "$HU/st/control.sock")
# raw LINE: one control request, the answer on stdout (as a client that
# does not follow the CLI's steps).
raw() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()+b"\n"); print(s.makefile().read())' "$HU/st/control.sock" "$1"; }
check "[host] appliance update --socket installs the bundle into slot b" \
	"$BIN" appliance update "$HU/good.bundle" "${SOCK[@]}" --quiet
check "[host] slot b holds the images, entry xmpp-edge-000002-b+3.conf, slot a untouched" \
	bash -c 'cmp -s "$1/k" "$1/esp/xmpp-edge/b/vmlinuz" && cmp -s "$1/i" "$1/esp/xmpp-edge/b/initrd.img" &&
		grep -qx "options quiet xe.slot=b" "$1/esp/loader/entries/xmpp-edge-000002-b+3.conf" &&
		[ "$(cat "$1/esp/xmpp-edge/a/vmlinuz")" = "old kernel" ] && [ -f "$1/esp/loader/entries/xmpp-edge-000001-a.conf" ]' _ "$HU"
check "[host] appliance status: booted a, next b, b on trial with 3 tries, version host-b" \
	bash -c '"$@" | grep -q "\"booted\":\"a\",\"next\":\"b\",\"fell_back\":false" &&
		"$@" | grep -q "\"state\":\"trial\",\"entry\":\"xmpp-edge-000002-b+3.conf\",\"generation\":2,\"version\":\"host-b\""' \
	_ "$BIN" appliance status --json "${SOCK[@]}"
# A header whose kernel SHA-256 is not the data's: the daemon refuses at
# commit and leaves slot b without an entry (the CLI would refuse it first).
tok=$(raw "appliance update-begin $(hu_header host-c "$(printf '%064d' 0)" | base64 -w0)" |
	sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
off=0
for f in k i; do
	size=$(stat -c %s "$HU/$f")
	for ((o = 0; o < size; o += 49152)); do
		raw "appliance update-chunk $tok $off $(tail -c +$((o + 1)) "$HU/$f" | head -c 49152 | base64 -w0)" >/dev/null
		off=$((off + (size - o < 49152 ? size - o : 49152)))
	done
done
check "[host] the daemon refuses an image whose SHA-256 is not the manifest's; slot b keeps no entry" \
	bash -c 'raw() { python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()+b\"\\n\"); print(s.makefile().read())" "$1/st/control.sock" "$2"; }
		raw "$1" "appliance update-commit $2" | grep -q "\"result\":\"failed\",\"error\":\"vmlinuz: SHA-256" &&
		! ls "$1/esp/loader/entries" | grep -q -- "-b" && ! [ -e "$1/esp/xmpp-edge/b/vmlinuz.new" ]' _ "$HU" "$tok"
check "[host] a chunk without a session, at a wrong offset or a begin with a bad header is refused" \
	bash -c '[[ $1 == *"no such update session"* && $2 == *"not an xmpp-edge update bundle"* && $3 == *"expected 0"* ]]' _ \
	"$(raw "appliance update-chunk 00000000000000000000000000000000 0 AAAA")" \
	"$(raw "appliance update-begin $(printf 'garbage\n' | base64 -w0)")" \
	"$(t=$(raw "appliance update-begin $(hu_header host-d "$(sha256sum "$HU/k" | cut -d' ' -f1)" | base64 -w0)" |
		sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
	   raw "appliance update-chunk $t 5 AAAA")"
kill "$HU_PID" 2>/dev/null
wait "$HU_PID" 2>/dev/null
check "[host] the daemon logged appliance.update_begin / update_installed / request_failed" \
	bash -c 'grep -q appliance.update_installed "$1" && grep -q appliance.request_failed "$1"' _ "$HU/daemon.log"

# --- 5b. remote management, run inside the boots ------------------------------------------

CLI=$BIN
remote() {
	"$CLI" "$@" --remote "127.0.0.1:$ADMIN_PORT" --admin-cert "$WORK/op.crt" --admin-key "$WORK/op.key" \
		--remote-pin "$(cat "$IMGDIR/admin-server-pin.txt")"
}
# served_sha: SHA-256 of the certificate the appliance's Direct TLS port serves.
served_sha() {
	timeout 20 openssl s_client -connect "127.0.0.1:$DIRECT_PORT" -servername example.com \
		-alpn xmpp-server </dev/null 2>/dev/null | openssl x509 -outform der 2>/dev/null | sha256sum | cut -d' ' -f1
}
NEW_SHA=$(openssl x509 -in "$WORK/new.crt" -outform der | sha256sum | cut -d' ' -f1)
status_running() { remote status --json 2>/dev/null | grep -q '"status":"running"'; }
stranger_refused() {
	! "$CLI" status --remote "127.0.0.1:$ADMIN_PORT" --admin-cert "$WORK/stranger.crt" \
		--admin-key "$WORK/stranger.key" --remote-pin "$(cat "$IMGDIR/admin-server-pin.txt")" >/dev/null 2>&1
}
mismatch_refused() { ! remote cert rotate example.com --cert "$WORK/new.crt" --key "$WORK/op.key" >/dev/null 2>&1; }
serves_new() { [ "$(served_sha)" = "$NEW_SHA" ]; }
remote_first() {
	local out t0 t1
	check "[first] status --remote answers through the admin listener" status_running
	check "[first] an unpinned admin key is refused" stranger_refused
	check "[first] a mismatched upload is refused" mismatch_refused
	t0=${EPOCHREALTIME/./}
	out=$(remote cert rotate example.com --cert "$WORK/new.crt" --key "$WORK/new.key" \
		--read-back "127.0.0.1:$DIRECT_PORT" 2>&1)
	t1=${EPOCHREALTIME/./}
	if grep -q "new certificate served over direct_tls" <<<"$out"; then
		pass "[first] cert rotate --remote: installed, reloaded and read back in $(((t1 - t0) / 1000)) ms ($ACCEL)"
	else
		fail "[first] cert rotate --remote installs the new certificate: $out"
	fi
	check "[first] new handshakes get the new certificate" serves_new
}
remote_updated() {
	check "[updated] after the reboot the rotated certificate is still served" serves_new
	check "[updated] status --remote answers" status_running
}

DISK=$WORK/disk.img
cp "$IMG" "$DISK"
boot "$DISK" first
FIRST_SERVE_S=$BOOT_SERVE_S

# --- 5. update -------------------------------------------------------------------------

dump=$(sfdisk --dump "$DISK")
dstart=$(grep 'name="xe-data"' <<<"$dump" | sed -n 's/.*start= *\([0-9]*\).*/\1/p')
dsize=$(grep 'name="xe-data"' <<<"$dump" | sed -n 's/.*size= *\([0-9]*\).*/\1/p')
dd if="$DISK" of="$WORK/data-before" bs=512 skip="$dstart" count="$dsize" status=none
check "update-image.sh writes esp.img over xe-esp" \
	"$ROOT/appliance/update-image.sh" "$DISK" "$IMGDIR/esp.img" 2>"$WORK/update.log"
dd if="$DISK" of="$WORK/data-after" bs=512 skip="$dstart" count="$dsize" status=none
check "update leaves the data partition byte-for-byte unchanged" cmp -s "$WORK/data-before" "$WORK/data-after"
check "update-image.sh refuses a file that is not an appliance disk" \
	bash -c '! "$1" "$2" "$2" 2>/dev/null' _ "$ROOT/appliance/update-image.sh" "$IMGDIR/esp.img"
boot "$DISK" updated

UPDATED_SERVE_S=$BOOT_SERVE_S

# --- 6. supervision -------------------------------------------------------------------

build_wait 2
if [ "$BUILD_RC" = 0 ]; then
	echo "     the supervision and A/B images were built beside the boots above ($(($(date +%s) - BG_BUILD_START)) s until both were ready)"
	boot "$WORK/flaky/xmpp-edge-appliance.img" supervision
	log=$WORK/console-supervision.log
	check "[supervision] failed runs restarted after 1 s, then 2 s" \
		bash -c 'grep -q "svc.restart_scheduled in_ms=1000 restarts=1" "$1" &&
			grep -q "svc.restart_scheduled in_ms=2000 restarts=2" "$1" &&
			[ "$(grep -c "svc.state from=backoff to=running" "$1")" -eq 2 ]' _ "$log"
	check "[supervision] a daemon ignoring SIGTERM is killed after the stop timeout" \
		bash -c 'grep -q "svc.stop_timeout .* action=kill" "$1" &&
			grep -q "svc.exit pid=[0-9]* signal=9" "$1"' _ "$log"
else
	cat "$WORK/cc2.log"; tail -n 20 "$WORK/build2.log"
	fail "[supervision] image with tests/appliance/flaky_daemon.c builds"
fi

# --- 7. A/B update of the running appliance, over the admin listener ---------------
#
# An image built with XE_ADMIN_PINS (our operator key's pin), so its admin
# listener binds the second NIC's address (eth1 = internal, as
# network.conf.example's convention).  QEMU forwards 127.0.0.1:APORT to the guest's
# 10.0.3.15:5280 on that NIC.  Boots, in one QEMU process each (no
# -no-reboot: the guest's own reboots stay inside it):
#   ab1: slot a serves; `appliance update` of a new build goes to slot b;
#   ab2: slot b boots on trial, is blessed when ready; `appliance status`
#        says so; an update to a build whose daemon never gets ready goes
#        to slot a;
#   ab3: slot a boots 3 times on trial and each time init reboots after
#        xe.ready_timeout_s; systemd-boot then boots slot b again, and
#        `appliance status` says the update fell back.

AB_START=$(date +%s)
AB_BOOTS0=$QEMU_BOOTS

# new_bundle OUT VERSION EXTRA_OPTIONS DIR: a bundle of the ab image's kernel
# and its initramfs followed by a second archive with DIR's files (the
# kernel unpacks concatenated archives in order, later files replace
# earlier ones): a new build without a second 25 s image build.
new_bundle() {
	local out=$1 version=$2 extra=$3 dir=$4 opts
	(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | zstd -q -19 >"$AB/extra.zst"
	cat "$AB/img/initrd.img" "$AB/extra.zst" >"$AB/initrd.new"
	opts=$(sed -n 's/^options //p' "$AB/img/manifest.header")
	{
		printf 'xmpp-edge-bundle 1\nversion %s\nkernel %s %s\ninitrd %s %s\noptions %s%s\nend\n' "$version" \
			"$(stat -c %s "$AB/img/vmlinuz")" "$(sha256sum "$AB/img/vmlinuz" | cut -d' ' -f1)" \
			"$(stat -c %s "$AB/initrd.new")" "$(sha256sum "$AB/initrd.new" | cut -d' ' -f1)" "$opts" "$extra"
		cat "$AB/img/vmlinuz" "$AB/initrd.new"
	} >"$out"
}

# ab_boot NAME: starts the A/B disk (two NICs); sets AB_PORT, AB_APORT, AB_MON.
ab_boot() {
	AB_PORT=$(free_port)
	AB_APORT=$(free_port)
	AB_MON=$(free_port)
	qemu_start "$AB/disk.img" "$1" "$AB_PORT" "$AB_MON" "" \
		-nic "user,model=virtio-net-pci,restrict=on,net=10.0.3.0/24,hostfwd=tcp:127.0.0.1:$AB_APORT-10.0.3.15:5280"
}

# ab_wait_serving NAME TIMEOUT_S: 0 once 5269 answers a stream header.
ab_wait_serving() {
	local deadline=$(($(date +%s) + $2))
	while kill -0 "$QEMU_PID" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
		case $(probe "$AB_PORT") in "<?xml"* | "<stream:stream"*) return 0 ;; esac
		sleep 0.5
	done
	tail -n 30 "$WORK/console-$1.log" | tr -d '\033'
	return 1
}

# ab_poweroff NAME: ACPI power button, QEMU must exit.
ab_poweroff() {
	local i
	monitor "$AB_MON" system_powerdown
	for i in $(seq 1 $((HALT_TIMEOUT_S * 10))); do
		kill -0 "$QEMU_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill "$QEMU_PID" 2>/dev/null && fail "[$1] powers off"
	wait "$QEMU_PID" 2>/dev/null
	QEMU_PID=
}

# ab_status: `appliance status --remote --json` (stdout), as the operator would.
ab_status() {
	"$BIN_HOST" appliance status --json --remote "127.0.0.1:$AB_APORT" "${REMOTE[@]}" 2>"$AB/status.err"
}

# jq-less JSON checks: python3 reads the status document from stdin.
ab_json() { python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($1) else 1)" 2>/dev/null; }

BIN_HOST=${XE_HOST_BIN:-$BIN}
build_wait 3
if [ "$BUILD_RC" = 1 ]; then
	cat "$WORK/cc3.log"
	fail "[ab] tests/appliance/never_ready.c builds"
elif [ "$BUILD_RC" != 0 ]; then
	tail -n 20 "$WORK/build3.log"
	fail "[ab] image with listen.admin builds"
else
	pass "[ab] image with listen.admin on eth1 builds (version ab-a)"
	REMOTE=(--admin-cert "$AB/operator.crt" --admin-key "$AB/operator.key" --remote-pin "$(cat "$AB/img/admin-server-pin.txt")")
	cp "$AB/img/xmpp-edge-appliance.img" "$AB/disk.img"
	head -c 2048 "$AB/img/xmpp-edge-update.bundle" | sed '/^end$/q' >"$AB/img/manifest.header"
	mkdir -p "$AB/b/etc" "$AB/broken/bin"
	echo ab-b >"$AB/b/etc/image-version"
	install -m 0755 "$AB/never_ready" "$AB/broken/bin/xmpp-edge"
	new_bundle "$AB/b.bundle" ab-b "" "$AB/b"
	# The shortest trial init accepts (READY_TIMEOUT_MIN_S): never_ready
	# never gets ready, so a longer one only adds waiting to each try.
	new_bundle "$AB/broken.bundle" ab-broken " xe.ready_timeout_s=5" "$AB/broken"

	# -- ab1: slot a, update to b
	ab_boot ab1
	if ab_wait_serving ab1 "$BOOT_TIMEOUT_S"; then
		pass "[ab1] slot a serves"
		ab_status >"$AB/s1.json"
		check "[ab1] appliance status --remote: slot a booted, good, version ab-a; slot b empty" \
			ab_json 'd["booted"]=="a" and d["slots"][0]["state"]=="good" and d["slots"][0]["version"]=="ab-a" and d["slots"][1]["state"]=="empty" and not d["fell_back"]' <"$AB/s1.json"
		printf 'xmpp-edge-bundle 1\nversion x\nkernel 5 %064d\n' 0 >"$AB/bad.bundle"
		check "[ab1] a truncated bundle is refused before anything is sent" \
			bash -c '! "$1" appliance update "$2" --remote "127.0.0.1:$3" "${@:5}" 2>"$4" && grep -q "truncated header" "$4"' \
			_ "$BIN_HOST" "$AB/bad.bundle" "$AB_APORT" "$AB/bad.err" "${REMOTE[@]}"
		t0=$(date +%s)
		if "$BIN_HOST" appliance update "$AB/b.bundle" --remote "127.0.0.1:$AB_APORT" "${REMOTE[@]}" >"$AB/up1.out" 2>&1; then
			pass "[ab1] appliance update --remote streams $(stat -c %s "$AB/b.bundle") bytes into slot b in $(($(date +%s) - t0)) s"
		else
			cat "$AB/up1.out"
			fail "[ab1] appliance update --remote installs the new build"
		fi
		ab_status >"$AB/s2.json"
		check "[ab1] status: slot b on trial with 3 tries, version ab-b, next boot b; slot a still booted and good" \
			ab_json 'd["booted"]=="a" and d["next"]=="b" and d["slots"][1]["state"]=="trial" and d["slots"][1]["tries_left"]==3 and d["slots"][1]["version"]=="ab-b" and d["slots"][0]["state"]=="good"' <"$AB/s2.json"
		check "[ab1] the daemon logged the update (appliance.update_installed)" \
			grep -q "appliance.update_installed" "$WORK/console-ab1.log"
	else
		fail "[ab1] slot a serves within $BOOT_TIMEOUT_S s"
	fi
	ab_poweroff ab1

	# -- ab2: slot b on trial, blessed; update to the broken build
	ab_boot ab2
	if ab_wait_serving ab2 "$BOOT_TIMEOUT_S"; then
		pass "[ab2] the new build serves after the restart"
		# Blessing follows READY=1, which follows the listeners.
		for _ in $(seq 1 20); do
			grep -q "boot.blessed" "$WORK/console-ab2.log" && break
			sleep 0.5
		done
		ab_status >"$AB/s3.json"
		check "[ab2] status: slot b booted, blessed (good, no counter), version ab-b; slot a good" \
			ab_json 'd["booted"]=="b" and d["slots"][1]["state"]=="good" and d["slots"][1]["version"]=="ab-b" and d["slots"][1]["entry"].endswith("-b.conf") and d["slots"][0]["state"]=="good" and not d["fell_back"]' <"$AB/s3.json"
		check "[ab2] init saw slot b on trial and blessed it after READY=1" \
			bash -c 'grep -q "boot.slot slot=b entry=xmpp-edge-000002-b+2-1.conf state=trial" "$1" && grep -q "svc.ready" "$1" && grep -q "boot.blessed slot=b entry=xmpp-edge-000002-b.conf" "$1"' _ "$WORK/console-ab2.log"
		if "$BIN_HOST" appliance update "$AB/broken.bundle" --remote "127.0.0.1:$AB_APORT" "${REMOTE[@]}" >"$AB/up2.out" 2>&1; then
			pass "[ab2] the broken build is installed into slot a (the inactive one)"
		else
			cat "$AB/up2.out"
			fail "[ab2] appliance update --remote installs the broken build"
		fi
		ab_status >"$AB/s4.json"
		check "[ab2] status: slot a on trial (version ab-broken), next boot a; b booted" \
			ab_json 'd["booted"]=="b" and d["next"]=="a" and d["slots"][0]["state"]=="trial" and d["slots"][0]["version"]=="ab-broken"' <"$AB/s4.json"
	else
		fail "[ab2] the new build serves within $BOOT_TIMEOUT_S s"
	fi
	ab_poweroff ab2

	# -- ab3: three failed tries of slot a, then slot b again
	ab_boot ab3
	# 3 boots of the broken slot, each ready_timeout (5 s) + a boot.
	if ab_wait_serving ab3 $((4 * BOOT_TIMEOUT_S)); then
		pass "[ab3] after the broken build the appliance serves again"
		ab_status >"$AB/s5.json"
		check "[ab3] status: slot b booted, slot a bad (0 tries left, 3 done), fell_back true" \
			ab_json 'd["booted"]=="b" and d["fell_back"] and d["slots"][0]["state"]=="bad" and d["slots"][0]["tries_left"]==0 and d["slots"][0]["tries_done"]==3 and d["slots"][1]["state"]=="good"' <"$AB/s5.json"
		check "[ab3] init rebooted each of the 3 trial boots of slot a (boot.trial_failed x3), then booted b" \
			bash -c '[ "$(grep -c "boot.trial_failed slot=a" "$1")" -eq 3 ] && grep -q "boot.slot slot=b entry=xmpp-edge-000002-b.conf state=good" "$1"' _ "$WORK/console-ab3.log"
		"$BIN_HOST" appliance status --remote "127.0.0.1:$AB_APORT" "${REMOTE[@]}" >"$AB/s5.txt" 2>&1
		check "[ab3] appliance status (text) says the last update fell back" grep -q "last update fell back: yes" "$AB/s5.txt"
	else
		fail "[ab3] the appliance falls back to slot b and serves"
	fi
	ab_poweroff ab3
	echo "     A/B update: $((QEMU_BOOTS - AB_BOOTS0)) QEMU starts, $(grep -c "xe-init: init.start" "$WORK"/console-ab*.log | awk -F: '{n += $2} END {print n}') guest boots, $(($(date +%s) - AB_START)) s"
fi

echo "     boot-to-serving: ${FIRST_SERVE_S} s (first boot), ${UPDATED_SERVE_S} s (after update); goal ${SERVE_GOAL_S} s; accel=$ACCEL"
if [ "$FAILED" -ne 0 ]; then
	mkdir -p "$OUT/test-appliance/logs"
	cp "$WORK"/console-*.log "$WORK"/qemu-*.log "$WORK"/build*.log "$WORK"/ab/*.json "$WORK"/ab/*.out "$OUT/test-appliance/logs/" 2>/dev/null
	echo "     logs kept in $OUT/test-appliance/logs/"
fi
finish
