#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Remote admin suite (see run.py): listen.admin on free loopback ports.
exec /usr/bin/python3 "$(dirname "$0")/run.py"
