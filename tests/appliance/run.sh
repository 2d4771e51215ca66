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
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
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
check "ESP holds systemd-boot, the loader entry, kernel and initramfs" \
	bash -c 'for f in ::/EFI/BOOT/BOOTX64.EFI ::/loader/loader.conf ::/loader/entries/xmpp-edge.conf ::/xmpp-edge/vmlinuz ::/xmpp-edge/initrd.img; do
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

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
	echo 0
}

# probe PORT: prints the first 14 bytes the appliance answers to a header.
probe() {
	timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "%s" "$2" >&3
		head -c 14 <&3' _ "$1" "$HEADER" 2>/dev/null
}

# boot DISK NAME: boots, checks serving and power-off; sets BOOT_SERVE_S.
boot() {
	local disk=$1 name=$2 port mon t0 t1 answer="" served=0 i log=$WORK/console-$2.log
	port=$(free_port)
	mon=$(free_port)
	while [ "$mon" = "$port" ]; do mon=$(free_port); done
	ADMIN_PORT=$(free_port)
	DIRECT_PORT=$(free_port)
	cp "$OVMF_VARS" "$WORK/vars-$name.fd"
	t0=${EPOCHREALTIME/./}
	qemu-system-x86_64 -nodefaults -no-user-config -machine q35,accel="$ACCEL" \
		-m 256 -smp 1 -display none -no-reboot \
		-serial "file:$log" -monitor "tcp:127.0.0.1:$mon,server,nowait" \
		-drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE" \
		-drive "if=pflash,format=raw,file=$WORK/vars-$name.fd" \
		-drive "file=$disk,format=raw,if=virtio" \
		-device virtio-rng-pci \
		-nic "user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:$port-:5269,hostfwd=tcp:127.0.0.1:$ADMIN_PORT-:5280,hostfwd=tcp:127.0.0.1:$DIRECT_PORT-:5270" \
		>"$WORK/qemu-$name.log" 2>&1 &
	QEMU_PID=$!
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
		bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "system_powerdown\n" >&3 && sleep 0.5' _ "$mon" 2>/dev/null
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

if musl-gcc -static -Os -o "$WORK/flaky_daemon" "$ROOT/tests/appliance/flaky_daemon.c" 2>"$WORK/cc2.log" &&
	"$ROOT/appliance/build-image.sh" "$WORK/flaky_daemon" "$WORK/flaky" >"$WORK/build2.log" 2>&1; then
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

echo "     boot-to-serving: ${FIRST_SERVE_S} s (first boot), ${UPDATED_SERVE_S} s (after update); goal ${SERVE_GOAL_S} s; accel=$ACCEL"
if [ "$FAILED" -ne 0 ]; then
	mkdir -p "$OUT/test-appliance/logs"
	cp "$WORK"/console-*.log "$WORK"/qemu-*.log "$WORK"/build*.log "$OUT/test-appliance/logs/" 2>/dev/null
	echo "     logs kept in $OUT/test-appliance/logs/"
fi
finish
