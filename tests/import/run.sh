#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# xmpp-edge import sfb: Skype for Business / Lync exports to policy (see run.py).
exec /usr/bin/python3 "$(dirname "$0")/run.py"
