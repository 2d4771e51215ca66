#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Certificate operations suite (see run.py): `xmpp-edge cert` against a
# running daemon on 127.0.0.1:25269/25270.
exec /usr/bin/python3 "$(dirname "$0")/run.py"
