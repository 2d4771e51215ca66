#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Operations suite (see run.py): status, streams, drain, metrics, probe.
exec /usr/bin/python3 "$(dirname "$0")/run.py"
