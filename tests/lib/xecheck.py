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


def guarded(name, main, cleanup):
    """Runs main(), then cleanup() whatever happened, then finish(): an
    exception or a signal turned into SystemExit inside main() is a failed
    check NAME.completed (with its traceback), never a process or a
    namespace left behind."""
    try:
        main()
    except (Exception, SystemExit, KeyboardInterrupt) as e:
        import traceback
        traceback.print_exc()
        check(f"{name}.completed", False, repr(e))
    finally:
        cleanup()
    finish()
