#!/usr/bin/env bash
# Configuration validation suite (see run.py).
exec /usr/bin/python3 "$(dirname "$0")/run.py"
