# SPDX-License-Identifier: Apache-2.0
"""The Python suites' shared result keeping: one line per check ("ok   NAME"
or "FAIL NAME detail"), and the closing "N passed, N failed" line that
build.sh sums up."""
import sys

passed = 0
failed = 0


def check(name, cond, detail=""):
    """Records one check; returns cond so callers can branch on it."""
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name} {str(detail)[-1500:]}", flush=True)
    return bool(cond)


def finish():
    """Prints the summary line and exits non-zero on any failure."""
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
