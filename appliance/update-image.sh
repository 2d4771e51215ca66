#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# appliance/update-image.sh - installs a new appliance build on a flashed
# disk and keeps its data partition (configuration, certificates, state).
#
#   appliance/update-image.sh TARGET ESP_IMG
#
# TARGET is the appliance's disk: a block device (/dev/sdX, /dev/nvme0n1)
# with the appliance powered off and the disk attached elsewhere, or a VM's
# raw disk image file.  ESP_IMG is esp.img from a newer
# `./build.sh appliance` (out/appliance/esp.img): the EFI system partition
# with the boot loader, kernel and initramfs -- the whole software of the
# appliance.  Only the partition named "xe-esp" is overwritten; "xe-data" is
# not touched, so the new software boots with the old data.
#
# The write is not atomic: if it is interrupted, write the same esp.img
# again (the data partition is still intact).
set -eu

die() { printf 'update-image.sh: %s\n' "$*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: appliance/update-image.sh TARGET ESP_IMG"
TARGET=$1
ESP_IMG=$2
PATH=$PATH:/usr/sbin:/sbin
command -v sfdisk >/dev/null || die "sfdisk missing: apt-get install fdisk"
[ -e "$TARGET" ] || die "$TARGET: no such disk or image"
[ -f "$ESP_IMG" ] || die "$ESP_IMG: no such file"

# part_field NAME FIELD: start or size (in 512-byte sectors) of the GPT
# partition called NAME.
dump=$(sfdisk --dump "$TARGET" 2>/dev/null) || die "$TARGET: no partition table"
part_field() {
	printf '%s\n' "$dump" | grep "name=\"$1\"" | head -n 1 |
		sed -n "s/.*$2= *\([0-9]*\).*/\1/p"
}
grep -q '^label: gpt' <<<"$dump" || die "$TARGET: not a GPT disk"
start=$(part_field xe-esp start)
size=$(part_field xe-esp size)
[ -n "$start" ] && [ -n "$size" ] || die "$TARGET has no partition named xe-esp: not an xmpp-edge appliance disk"
[ -n "$(part_field xe-data start)" ] || die "$TARGET has no partition named xe-data: not an xmpp-edge appliance disk"
img_bytes=$(stat -c %s "$ESP_IMG")
[ $((img_bytes % 512)) -eq 0 ] || die "$ESP_IMG: size is not a whole number of sectors"
[ $((img_bytes / 512)) -le "$size" ] ||
	die "$ESP_IMG ($((img_bytes / 1048576)) MiB) is larger than the disk's xe-esp partition ($((size / 2048)) MiB)"

if [ -b "$TARGET" ] && grep -q "^$(readlink -f "$TARGET")" /proc/mounts; then
	die "$TARGET has mounted partitions; unmount them first"
fi
printf 'writing %s to %s, sectors %s..%s (xe-esp); xe-data kept\n' \
	"$ESP_IMG" "$TARGET" "$start" $((start + img_bytes / 512 - 1)) >&2
dd if="$ESP_IMG" of="$TARGET" bs=512 seek="$start" conv=notrunc,fsync status=none
sync
echo "updated; boot the appliance" >&2
