#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# appliance/build-image.sh - builds the flashable xmpp-edge appliance image.
#
#   appliance/build-image.sh BINARY OUTDIR
#
# BINARY is the static (musl) xmpp-edge; `./build.sh appliance` passes
# out/xmpp-edge and out/appliance.  Writes into OUTDIR:
#
#   xmpp-edge-appliance.img  raw disk image to flash (GPT: 1 = EFI system
#                            partition "xe-esp", 2 = ext4 data "xe-data")
#   esp.img                  the EFI partition alone: the offline recovery
#                            (update-image.sh) writes it over partition 1 and
#                            keeps the data partition
#   xmpp-edge-update.bundle  kernel + initramfs + manifest for the A/B update
#                            of a running appliance (`xmpp-edge appliance
#                            update`; format in proxy/appliance_bundle.h)
#   data.img                 the data partition as first flashed
#   vmlinuz, initrd.img      the kernel and initramfs inside esp.img
#   manifest.txt             kernel package, sizes and SHA-256 of the above,
#                            and a "source COMPONENT PACKAGE VERSION" line per
#                            Debian source package of what the image holds
#
# The ESP's /licenses/ holds the notices of everything in the image:
# xmpp-edge's LICENSE and its linked components' license files (those
# ./build.sh collects next to BINARY, out/licenses/; XE_LICENSES_DIR
# overrides), the Debian copyright files of the kernel (linux/), systemd-boot
# and the CA bundle, and SOURCES.txt: how to get the corresponding source.
#
# Environment (all optional):
#   XE_KERNEL_FLAVOUR  cloud-amd64 (default: virtual machines) or amd64
#                      (bare metal: adds common NIC and disk drivers)
#   XE_NETWORK_CONF    network.conf to put on the data partition
#                      (default appliance/network.conf.example)
#   XE_DAEMON_CONF     xmpp-edge JSON configuration for the data partition
#                      (default appliance/xmpp-edge.json); paths in it refer
#                      to the running appliance (/data/certs/..., /data/state)
#   XE_CERTS_DIR       directory copied to the data partition's certs/
#                      (certificates and keys named by XE_DAEMON_CONF).
#                      Unset: a self-signed placeholder for example.com is
#                      generated, to be replaced before deployment
#   XE_ADMIN_PINS      remote management (README, "Remote management"): the
#                      SHA-256 SPKI pins (base64, comma-separated; what
#                      `xmpp-edge cert pin` and openssl print) of the
#                      operators' admin client keys.  Adds listen.admin and
#                      admin.pins to the configuration and makes the admin
#                      listener's own key pair on the data partition; its
#                      pin is printed and written to OUTDIR/admin-server-pin.txt
#                      for the clients' --remote-pin
#   XE_ADMIN_LISTEN    where the admin listener binds, IP:PORT (default: the
#                      eth1 (internal) address of the network.conf, port 5280)
#   XE_CMDLINE_EXTRA   appended to the kernel command line
#   XE_ESP_MIB         EFI partition size (default 40; fixed at first flash:
#                      it holds two boot slots, A and B, each a kernel and
#                      initramfs, with room for bigger kernels in updates)
#   XE_IMAGE_VERSION   the version the update manifest and the boot entry
#                      name (default: the binary's version + the first 8
#                      hex digits of the initramfs' SHA-256)
#   XE_DATA_MIB        data partition size (default 16)
#   XE_CACHE_DIR       download cache (default ~/.cache/xmpp-edge); Debian
#                      packages land in $XE_CACHE_DIR/appliance
#
# Needs root only for apt-get (installing the host tools it lacks and
# `apt-get download`, which checks each .deb against Debian's signed
# package index) and to give files on the data partition their numeric
# owners.  No loop mounts: the file systems are made with mkfs.vfat + mtools
# and mkfs.ext4 -d, the partition table with sfdisk, and put together with dd.
set -eu

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build-image.sh: %s\n' "$*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: appliance/build-image.sh BINARY OUTDIR"
BIN=$(readlink -f "$1")
OUTDIR=$2
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$BIN" ] || die "$1: no such executable (run ./build.sh first)"

FLAVOUR=${XE_KERNEL_FLAVOUR:-cloud-amd64}
NETWORK_CONF=${XE_NETWORK_CONF:-$HERE/network.conf.example}
DAEMON_CONF=${XE_DAEMON_CONF:-$HERE/xmpp-edge.json}
CERTS_DIR=${XE_CERTS_DIR:-}
ESP_MIB=${XE_ESP_MIB:-40}
DATA_MIB=${XE_DATA_MIB:-16}
CACHE=${XE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xmpp-edge}/appliance
CMDLINE="console=tty0 console=ttyS0,115200 quiet panic=10${XE_CMDLINE_EXTRA:+ $XE_CMDLINE_EXTRA}"
# Same numeric account as appliance/init.c (SERVICE_UID) and the Dockerfile.
SERVICE_UID=5269
# Fixed identifiers and timestamps make the image reproducible.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
DISK_GUID=5e6d6f9a-4c1b-4b7e-9d4a-786d70702d65
ESP_UUID=5e6d6f9a-4c1b-4b7e-9d4a-000000000001
DATA_UUID=5e6d6f9a-4c1b-4b7e-9d4a-000000000002
export SOURCE_DATE_EPOCH

case $FLAVOUR in
cloud-amd64 | amd64) ;;
*) die "XE_KERNEL_FLAVOUR must be cloud-amd64 or amd64, not '$FLAVOUR'" ;;
esac

# Modules the initramfs loads, by name; dependencies are added and ordered
# below.  Drivers built into the kernel are skipped silently.
# vfat and its code pages: init mounts the ESP for A/B updates.
MODULES="virtio_pci virtio_blk virtio_scsi sd_mod virtio_net virtio-rng
	button evdev vfat nls_cp437 nls_ascii"
if [ "$FLAVOUR" = amd64 ]; then
	# ext4 asks the crypto API for crc32c; with no modprobe it must be loaded.
	MODULES="$MODULES ahci nvme crc32c_generic crc32c-intel ext4 e1000 e1000e igb igc ixgbe r8169 tg3
		bnxt_en vmxnet3"
fi

# --- host tools ---------------------------------------------------------------

# tool COMMAND PACKAGE: install PACKAGE when COMMAND is missing.
APT_UPDATED=
tool() {
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] && return 0
	[ "$(id -u)" -eq 0 ] || die "$1 missing; as root: apt-get install $2"
	if [ -z "$APT_UPDATED" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
		APT_UPDATED=1
	fi
	say "installing $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2 ||
		die "apt-get install $2 failed"
}
tool musl-gcc musl-tools
tool mkfs.vfat dosfstools
tool mcopy mtools
tool sfdisk fdisk
tool mkfs.ext4 e2fsprogs
tool cpio cpio
tool zstd zstd
tool modinfo kmod
tool file file
tool gcc gcc
tool openssl openssl
# needs_file FILE PACKAGE: install PACKAGE when FILE is missing.
needs_file() { [ -f "$1" ] || tool "/nonexistent/$2" "$2"; }
needs_file /usr/include/linux/input.h linux-libc-dev
needs_file /etc/ssl/certs/ca-certificates.crt ca-certificates
PATH=$PATH:/usr/sbin:/sbin
file -L "$BIN" | grep -Eq 'statically linked|static-pie linked' ||
	die "$BIN is not statically linked; the initramfs has no libraries"

# --- Debian packages: kernel and systemd-boot -------------------------------

mkdir -p "$CACHE"
# deb_fetch PACKAGE: prints the path of the unpacked package (cached).
deb_fetch() {
	local pkg=$1 deb dir
	deb=$(ls "$CACHE/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -z "$deb" ]; then
		say "downloading $pkg"
		(cd "$CACHE" && apt-get download "$pkg" >&2 2>/dev/null) || {
			[ -n "$APT_UPDATED" ] || { apt-get update -qq >&2 && APT_UPDATED=1; }
			(cd "$CACHE" && apt-get download "$pkg" >&2)
		} || die "apt-get download $pkg failed"
		deb=$(ls "$CACHE/${pkg}_"*.deb | sort -V | tail -n 1)
	fi
	dir=$CACHE/x-$(basename "$deb" .deb)
	if [ ! -d "$dir" ]; then
		dpkg-deb -x "$deb" "$dir.part" && mv "$dir.part" "$dir"
	fi
	echo "$dir"
}

# linux-image-cloud-amd64 is a metapackage; the kernel is its dependency.
KPKG=$(apt-cache depends "linux-image-$FLAVOUR" 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
if [ -z "$KPKG" ]; then
	# No package index yet (fresh machine), or offline: use the cache.
	[ -n "$APT_UPDATED" ] || { apt-get update -qq >&2 && APT_UPDATED=1; } || true
	KPKG=$(apt-cache depends "linux-image-$FLAVOUR" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
fi
[ -n "$KPKG" ] || die "cannot resolve linux-image-$FLAVOUR (apt-get update?)"
KDIR=$(deb_fetch "$KPKG")
KVER=${KPKG#linux-image-}
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
MODDIR=$KDIR/lib/modules/$KVER
[ -f "$VMLINUZ" ] || die "$KPKG has no $VMLINUZ"
SDDIR=$(deb_fetch systemd-boot-efi)
SDBOOT=$SDDIR/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[ -f "$SDBOOT" ] || die "systemd-boot-efi has no systemd-bootx64.efi"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/xe-appliance.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

# --- notices and corresponding source --------------------------------------------

# Every component the image holds has its notice on the ESP; the Debian
# source packages are named so that whoever passes the image on can meet
# the GPL-2.0's (kernel, modules) and LGPL-2.1's (systemd-boot) source offer.
NOTICES=${XE_LICENSES_DIR:-$(dirname "$BIN")/licenses}
[ -f "$NOTICES/LICENSE" ] ||
	die "$NOTICES/LICENSE missing: ./build.sh collects the license files next to the binary (or set XE_LICENSES_DIR)"
deb_path() { ls "$CACHE/${1}_"*.deb | sort -V | tail -n 1; }
# deb_sources COMPONENT DEB: the source package DEB was built from and each
# one it was built using (the signed kernel's source holds only signatures;
# its Built-Using names linux itself).
deb_sources() {
	dpkg-deb --show --showformat='${source:Package} ${source:Version}\n' "$2" | sed "s/^/source $1 /"
	dpkg-deb -f "$2" Built-Using | tr ',' '\n' |
		sed -n "s/^ *\([^ (]*\) *(= *\([^)]*\)).*/source $1 \1 \2/p"
}
# host_sources COMPONENT PACKAGE: the source of an installed package
# (musl, linked into /init and the binary; the CA bundle).
host_sources() {
	dpkg-query -W -f='${source:Package} ${source:Version}\n' "$2" 2>/dev/null | sed "s/^/source $1 /" | grep . ||
		die "$2 is not installed: apt-get install $2"
}
{
	deb_sources linux "$(deb_path "$KPKG")"
	deb_sources systemd-boot "$(deb_path systemd-boot-efi)"
	host_sources musl musl-dev
	host_sources ca-certificates ca-certificates
} >"$WORK/sources"
L=$WORK/licenses
mkdir -p "$L/linux" "$L/systemd-boot" "$L/ca-certificates"
cp -R "$NOTICES/." "$L/"
for f in "$KDIR/usr/share/doc/$KPKG/copyright:linux" "$SDDIR/usr/share/doc/systemd-boot-efi/copyright:systemd-boot" \
	"/usr/share/doc/ca-certificates/copyright:ca-certificates"; do
	[ -f "${f%:*}" ] || die "${f%:*} missing: no notice for ${f##*:}"
	cp "${f%:*}" "$L/${f##*:}/copyright"
done
{
	echo "xmpp-edge appliance: the Debian source packages of what this image holds."
	echo "The Linux kernel and its modules (GPL-2.0) and systemd-boot (LGPL-2.1-or-later)"
	echo "oblige whoever passes this image on to offer their corresponding source:"
	echo
	sed 's|^source \([^ ]*\) \([^ ]*\) \(.*\)$|  \1: apt-get source \2=\3\n      https://snapshot.debian.org/package/\2/\3/|' "$WORK/sources"
} >"$L/SOURCES.txt"

# --- init --------------------------------------------------------------------

say "building init (musl-gcc -static)"
# musl-gcc sees only musl's headers; init.c needs the kernel's UAPI headers.
mkdir -p "$WORK/kh"
ln -s /usr/include/linux "$WORK/kh/linux"
ln -s "/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/asm" "$WORK/kh/asm"
ln -s /usr/include/asm-generic "$WORK/kh/asm-generic"
musl-gcc -static -Os -std=c11 -Wall -Wextra -Werror -isystem "$WORK/kh" \
	-o "$WORK/init" "$HERE/init.c"
strip "$WORK/init"
"$WORK/init" --check-network "$NETWORK_CONF" >/dev/null ||
	die "$NETWORK_CONF is not a valid network.conf (see above)"

# --- initramfs -------------------------------------------------------------------

say "collecting modules from $KPKG"
# Index module name -> path (names compare with '-' and '_' alike).
declare -A MODPATH
while IFS= read -r f; do
	n=$(basename "$f" .ko)
	MODPATH[${n//-/_}]=$f
done < <(find "$MODDIR/kernel" -name '*.ko')
ORDER=()
declare -A SEEN
# Depth-first, dependencies first: the order finit_module needs.
visit() {
	local n=${1//-/_} f d
	[ -n "${SEEN[$n]:-}" ] && return 0
	SEEN[$n]=1
	f=${MODPATH[$n]:-}
	if [ -z "$f" ]; then
		grep -q "/${n}.ko\$\|/${1}.ko\$" "$MODDIR/modules.builtin" 2>/dev/null ||
			say "note: module $1 is neither built in nor shipped by $KPKG"
		return 0
	fi
	for d in $(modinfo -F depends "$f" | tr ',' ' '); do visit "$d"; done
	ORDER+=("$f")
}
for m in $MODULES; do visit "$m"; done

R=$WORK/root
mkdir -p "$R"/{bin,dev,proc,sys,run,tmp,data,etc/ssl/certs,lib/modules}
install -m 0755 "$WORK/init" "$R/init"
install -m 0755 "$BIN" "$R/bin/xmpp-edge"
: >"$R/etc/modules.load"
for f in "${ORDER[@]}"; do
	cp "$f" "$R/lib/modules/"
	echo "/lib/modules/$(basename "$f")" >>"$R/etc/modules.load"
done
install -m 0644 "$NETWORK_CONF" "$R/etc/network.conf"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/nonexistent\nxmpp-edge:x:%d:%d:xmpp-edge:/data/state:/nonexistent\n' \
	$SERVICE_UID $SERVICE_UID >"$R/etc/passwd"
printf 'root:x:0:\nxmpp-edge:x:%d:\n' $SERVICE_UID >"$R/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$R/etc/hosts"
ln -s /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/cert.pem"
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
# zstd: small, and fast to unpack even under software emulation.
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible) | zstd -q -19 -T0 >"$WORK/initrd.img"
say "initramfs: ${#ORDER[@]} modules, $(du -k "$WORK/initrd.img" | cut -f1) KiB"

# --- EFI system partition ------------------------------------------------------

say "building the update bundle and the EFI system partition (${ESP_MIB} MiB, systemd-boot, slot a of a/b)"
# The manifest is the bundle's header (proxy/appliance_bundle.h) and slot
# a's manifest on the ESP, where `appliance status` reads the version.
sha() { sha256sum "$1" | cut -d' ' -f1; }
VERSION=${XE_IMAGE_VERSION:-$("$BIN" version 2>/dev/null | sed -n '1s/^xmpp-edge //p')+$(sha "$WORK/initrd.img" | cut -c1-8)}
VERSION=${VERSION#+}
[[ $VERSION =~ ^[A-Za-z0-9._+~-]{1,64}$ ]] ||
	die "image version '$VERSION' must be 1..64 of A-Z a-z 0-9 . _ + ~ - (XE_IMAGE_VERSION)"
[[ $CMDLINE != *xe.slot=* ]] || die "XE_CMDLINE_EXTRA must not set xe.slot= (each boot entry sets its slot)"
printf 'xmpp-edge-bundle 1\nversion %s\nkernel %s %s\ninitrd %s %s\noptions %s\nend\n' "$VERSION" \
	"$(stat -c %s "$VMLINUZ")" "$(sha "$VMLINUZ")" "$(stat -c %s "$WORK/initrd.img")" \
	"$(sha "$WORK/initrd.img")" "$CMDLINE" >"$WORK/manifest"
[ "$(stat -c %s "$WORK/manifest")" -le 2048 ] ||
	die "update manifest over 2048 bytes (XE_CMDLINE_EXTRA too long?)"
cat "$WORK/manifest" "$VMLINUZ" "$WORK/initrd.img" >"$WORK/xmpp-edge-update.bundle"

ESP=$WORK/esp.img
rm -f "$ESP"
mkfs.vfat -C -n XE-ESP -i 5e6d0001 "$ESP" $((ESP_MIB * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$ESP" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/xmpp-edge ::/xmpp-edge/a ::/xmpp-edge/b
# Entries are xmpp-edge-GENERATION-SLOT[+TRIES].conf (appliance_update.h):
# systemd-boot sorts those with no tries left last and the others newest
# name first, so this pattern boots the newest entry that may still boot.
printf 'default xmpp-edge-*\ntimeout 0\neditor no\n' >"$WORK/loader.conf"
# The flashed slot is known good: no boot counter.
cat >"$WORK/entry.conf" <<EOF
title   xmpp-edge $VERSION (slot a)
linux   /xmpp-edge/a/vmlinuz
initrd  /xmpp-edge/a/initrd.img
options $CMDLINE xe.slot=a
EOF
mcopy -i "$ESP" -m "$SDBOOT" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$ESP" -m "$WORK/loader.conf" ::/loader/loader.conf
mcopy -i "$ESP" -m "$WORK/entry.conf" ::/loader/entries/xmpp-edge-000001-a.conf
mcopy -i "$ESP" -m "$VMLINUZ" ::/xmpp-edge/a/vmlinuz ||
	die "kernel does not fit a ${ESP_MIB} MiB EFI partition (XE_ESP_MIB)"
mcopy -i "$ESP" -m "$WORK/initrd.img" ::/xmpp-edge/a/initrd.img ||
	die "initramfs does not fit a ${ESP_MIB} MiB EFI partition (XE_ESP_MIB)"
mcopy -i "$ESP" -m "$WORK/manifest" ::/xmpp-edge/a/manifest
# One by one in sorted order (mcopy -s follows readdir order): the same
# inputs give the same ESP.
find "$L" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mmd -i "$ESP" ::/licenses
while IFS= read -r f; do
	if [ -d "$L/$f" ]; then
		mmd -i "$ESP" "::/licenses/$f"
	else
		mcopy -i "$ESP" -m "$L/$f" "::/licenses/$f" ||
			die "the license notices do not fit a ${ESP_MIB} MiB EFI partition (XE_ESP_MIB)"
	fi
done < <(cd "$L" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort)

# Slot b must fit beside slot a, with the update's slack (appliance_update.c).
esp_free=$(mdir -i "$ESP" :: | sed -n 's/^ *\([0-9 ]*\) bytes free.*/\1/p' | tr -d ' ')
esp_need=$(($(stat -c %s "$VMLINUZ") + $(stat -c %s "$WORK/initrd.img") + 262144))
[ "${esp_free:-0}" -ge "$esp_need" ] ||
	die "a ${ESP_MIB} MiB EFI partition leaves ${esp_free:-?} bytes free, slot b needs $esp_need (XE_ESP_MIB)"

# --- data partition ----------------------------------------------------------------

say "building the data partition (${DATA_MIB} MiB ext4)"
D=$WORK/data
mkdir -p "$D/etc" "$D/certs" "$D/state"
install -m 0644 "$NETWORK_CONF" "$D/etc/network.conf"
install -m 0644 "$DAEMON_CONF" "$D/etc/xmpp-edge.json"
if [ -n "$CERTS_DIR" ]; then
	cp -R "$CERTS_DIR"/. "$D/certs/"
else
	say "no XE_CERTS_DIR: generating a self-signed placeholder certificate for example.com"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
		-subj /CN=example.com -addext subjectAltName=DNS:example.com \
		-keyout "$D/certs/example.com.key" -out "$D/certs/example.com.crt" 2>/dev/null ||
		die "openssl could not generate the placeholder certificate"
fi
# Remote management from the first boot: the admin pins, the listener on
# the internal interface, and the listener's own key pair made here so its
# pin is known before the appliance ever starts.
ADMIN_SERVER_PIN=
if [ -n "${XE_ADMIN_PINS:-}" ]; then
	admin_listen=${XE_ADMIN_LISTEN:-}
	if [ -z "$admin_listen" ]; then
		admin_ip=$(awk '$1 == "address" && $2 == "eth1" { split($3, a, "/"); print a[1]; exit }' "$NETWORK_CONF")
		[ -n "$admin_ip" ] ||
			die "XE_ADMIN_PINS: $NETWORK_CONF has no internal (eth1) address to bind the admin listener to: set XE_ADMIN_LISTEN=IP:PORT"
		case $admin_ip in *:*) admin_listen="[$admin_ip]:5280" ;; *) admin_listen="$admin_ip:5280" ;; esac
	fi
	tool python3 python3
	python3 - "$D/etc/xmpp-edge.json" "$admin_listen" "$XE_ADMIN_PINS" <<'PY' ||
import json, sys
path, listen, pins = sys.argv[1:]
cfg = json.load(open(path))
cfg.setdefault("listen", {})["admin"] = [listen]
admin = cfg.setdefault("admin", {})
admin["pins"] = [p.strip()[7:] if p.strip().startswith("sha256/") else p.strip()
                 for p in pins.replace(" ", ",").split(",") if p.strip()]
with open(path, "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
PY
		die "XE_ADMIN_PINS: cannot add the admin section to $DAEMON_CONF"
	"$BIN" cert selfsign admin.xmpp-edge.invalid --cert "$D/state/admin.crt" --key "$D/state/admin.key" \
		--days 3650 >/dev/null || die "cannot make the admin listener's key pair"
	ADMIN_SERVER_PIN=$(openssl x509 -in "$D/state/admin.crt" -pubkey -noout |
		openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
	say "remote management on $admin_listen; the admin listener's pin: sha256/$ADMIN_SERVER_PIN"
fi
# Keys readable by the daemon's user only (it refuses group/other-readable
# keys); certificates world-readable.
for f in "$D"/certs/*; do
	[ -f "$f" ] || continue
	case $f in *.key | *key.pem) chmod 0600 "$f" ;; *) chmod 0644 "$f" ;; esac
done
if [ "$(id -u)" -eq 0 ]; then
	chown -R $SERVICE_UID:$SERVICE_UID "$D/certs" "$D/state"
	# `config push` replaces the configuration (beside it: a temporary
	# file and .bak): the daemon's; network.conf stays root's, read by init.
	chown $SERVICE_UID:$SERVICE_UID "$D/etc" "$D/etc/xmpp-edge.json"
fi
chmod 0750 "$D/certs"
chmod 0700 "$D/state"
# Check the configuration against the files it names, with /data/ mapped
# to the staging directory.
sed "s|\"/data/|\"$D/|g" "$D/etc/xmpp-edge.json" >"$WORK/check.json"
if ! "$BIN" check -c "$WORK/check.json" >"$WORK/check.log" 2>&1; then
	cat "$WORK/check.log" >&2
	die "$DAEMON_CONF: rejected by '$BIN check' (paths under /data/ read from the staging directory)"
fi
find "$D" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f "$WORK/data.img"
# ext4 with its journal: the state directory survives a power cut.
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mkfs.ext4 -q -L xe-data -U "$DATA_UUID" \
	-E root_owner=0:0,hash_seed=$DATA_UUID -d "$D" "$WORK/data.img" "${DATA_MIB}M" >/dev/null

# --- disk ------------------------------------------------------------------------

say "assembling the disk image"
IMG=$OUTDIR/xmpp-edge-appliance.img
ESP_START=2048                      # 1 MiB alignment
ESP_SECT=$((ESP_MIB * 2048))
DATA_START=$((ESP_START + ESP_SECT))
DATA_SECT=$((DATA_MIB * 2048))
# Room for the backup GPT (33 sectors) rounded up to 1 MiB.
TOTAL_SECT=$((DATA_START + DATA_SECT + 2048))
rm -f "$IMG"
truncate -s $((TOTAL_SECT * 512)) "$IMG"
sfdisk -q --no-reread --no-tell-kernel "$IMG" <<EOF
label: gpt
label-id: $DISK_GUID
unit: sectors
first-lba: 2048
start=$ESP_START, size=$ESP_SECT, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$ESP_UUID, name="xe-esp"
start=$DATA_START, size=$DATA_SECT, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=$DATA_UUID, name="xe-data"
EOF
dd if="$WORK/esp.img" of="$IMG" bs=512 seek=$ESP_START conv=notrunc status=none
dd if="$WORK/data.img" of="$IMG" bs=512 seek=$DATA_START conv=notrunc status=none

cp "$WORK/esp.img" "$WORK/data.img" "$WORK/initrd.img" "$WORK/xmpp-edge-update.bundle" "$OUTDIR/"
cp "$VMLINUZ" "$OUTDIR/vmlinuz"
rm -f "$OUTDIR/admin-server-pin.txt"
[ -z "$ADMIN_SERVER_PIN" ] || echo "sha256/$ADMIN_SERVER_PIN" >"$OUTDIR/admin-server-pin.txt"
KDEB=$(ls "$CACHE/${KPKG}_"*.deb | sort -V | tail -n 1)
{
	echo "kernel_package $(basename "$KDEB")"
	echo "systemd_boot $(ls "$CACHE"/systemd-boot-efi_*.deb | sort -V | tail -n 1 | xargs basename)"
	echo "cmdline $CMDLINE"
	echo "version $VERSION"
	echo "modules $(for f in "${ORDER[@]}"; do basename "$f" .ko; done | tr '\n' ' ')"
	for f in xmpp-edge-appliance.img esp.img data.img vmlinuz initrd.img xmpp-edge-update.bundle; do
		echo "file $f $(stat -c %s "$OUTDIR/$f") $(sha256sum "$OUTDIR/$f" | cut -d' ' -f1)"
	done
	echo "binary $(sha256sum "$BIN" | cut -d' ' -f1)"
	cat "$WORK/sources"
} >"$OUTDIR/manifest.txt"
say "wrote $IMG ($(($(stat -c %s "$IMG") / 1048576)) MiB; kernel $KVER)"
