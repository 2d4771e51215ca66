#!/usr/bin/env bash
# Interop suite with Prosody, dnsmasq and slixmpp (see run.py).
exec /usr/bin/python3 "$(dirname "$0")/run.py"
