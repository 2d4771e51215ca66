#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Drain suite: SIGTERM and `upgrade` without loss (see run.py).
exec /usr/bin/python3 "$(dirname "$0")/run.py"
