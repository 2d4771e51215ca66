#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# appliance/container-rootfs.sh - lays out the root file system of the
# xmpp-edge container image.
#
#   appliance/container-rootfs.sh BINARY DESTDIR
#
# The Dockerfile's build stage runs this and its final `FROM scratch` stage
# copies DESTDIR whole; tests/container/ runs the same script so that what it
# checks is what the image holds.  The layout (documented in README.md, "Deployment"):
#
#   /usr/bin/xmpp-edge                    the static binary
#   /etc/xmpp-edge/xmpp-edge.json         default configuration  (volume)
#   /etc/xmpp-edge/certs/                 certificates and keys  (inside it)
#   /var/lib/xmpp-edge/                   state directory        (volume)
#   /run/xmpp-edge/                       control socket
#   /etc/ssl/certs/ca-certificates.crt    CA bundle for PKIX peer validation
#   /etc/passwd, /etc/group               the numeric user 5269 "xmpp-edge"
#   /tmp                                  sticky, world-writable
#   /usr/share/doc/xmpp-edge/             LICENSE, each linked component's license
#                                         files (COMPONENT/FILE) and the CA
#                                         bundle's (ca-certificates/copyright)
#
# The license files are those ./build.sh collects next to the binary
# (out/licenses/; XE_LICENSES_DIR overrides).
set -eu

die() { printf 'container-rootfs.sh: %s\n' "$*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: appliance/container-rootfs.sh BINARY DESTDIR"
BIN=$1
DEST=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CA=/etc/ssl/certs/ca-certificates.crt
# Same numeric account as the appliance (appliance/init.c SERVICE_UID).
ID=5269

[ -x "$BIN" ] || die "$BIN: no such executable"
[ -f "$CA" ] || die "$CA missing: apt-get install ca-certificates"
NOTICES=${XE_LICENSES_DIR:-$(dirname "$BIN")/licenses}
CA_COPYRIGHT=/usr/share/doc/ca-certificates/copyright
[ -f "$NOTICES/LICENSE" ] ||
	die "$NOTICES/LICENSE missing: ./build.sh collects the license files there (or set XE_LICENSES_DIR)"
[ -f "$CA_COPYRIGHT" ] || die "$CA_COPYRIGHT missing: apt-get install --reinstall ca-certificates"

mkdir -p "$DEST/usr/bin" "$DEST/etc/xmpp-edge/certs" "$DEST/etc/ssl/certs" \
	"$DEST/var/lib/xmpp-edge" "$DEST/run/xmpp-edge" "$DEST/tmp"
install -m 0755 "$BIN" "$DEST/usr/bin/xmpp-edge"
install -m 0644 "$HERE/xmpp-edge.container.json" "$DEST/etc/xmpp-edge/xmpp-edge.json"
install -m 0644 "$CA" "$DEST/etc/ssl/certs/ca-certificates.crt"
ln -sf certs/ca-certificates.crt "$DEST/etc/ssl/cert.pem"
# The notices travel with the code they cover (MIT, ISC, BSD, Apache-2.0
# all ask for it), the CA bundle's beside them.
mkdir -p "$DEST/usr/share/doc/xmpp-edge/ca-certificates"
cp -R "$NOTICES/." "$DEST/usr/share/doc/xmpp-edge/"
install -m 0644 "$CA_COPYRIGHT" "$DEST/usr/share/doc/xmpp-edge/ca-certificates/copyright"
chmod -R u=rwX,go=rX "$DEST/usr/share/doc/xmpp-edge"
printf 'root:x:0:0:root:/:/nonexistent\nxmpp-edge:x:%d:%d:xmpp-edge:/var/lib/xmpp-edge:/nonexistent\n' \
	$ID $ID >"$DEST/etc/passwd"
printf 'root:x:0:\nxmpp-edge:x:%d:\n' $ID >"$DEST/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$DEST/etc/hosts"
# The daemon writes only its state directory and control socket directory;
# configuration and certificates stay root's and read-only to it (the
# operator's mounted key files decide their own modes).  The Dockerfile
# sets the same owners again with COPY --chown.
chown $ID:$ID "$DEST/var/lib/xmpp-edge" "$DEST/run/xmpp-edge"
chmod 0700 "$DEST/var/lib/xmpp-edge"
chmod 0750 "$DEST/run/xmpp-edge"
chmod 0755 "$DEST/etc/xmpp-edge/certs"
chmod 1777 "$DEST/tmp"
