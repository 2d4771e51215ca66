#!/usr/bin/env bash
# Daemon suite (see run.py).
exec /usr/bin/python3 "$(dirname "$0")/run.py"
