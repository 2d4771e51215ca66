#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Inbound suite (see run.py): attacks on inbound authentication.
exec /usr/bin/python3 "$(dirname "$0")/run.py"
