#!/usr/bin/env bash
# Inbound suite (see run.py): attacks on inbound authentication.
exec /usr/bin/python3 "$(dirname "$0")/run.py"
