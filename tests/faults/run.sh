#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fault bed (issue 21): Prosody, xmpp-edge, faults, messages counted (see run.py).
exec /usr/bin/python3 "$(dirname "$0")/run.py"
