#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""check_includes.py ROOT - every `#include "..."` of the source folders
against the layer order build.sh declares (`./build.sh layers`).

A folder may include its own headers and those of the folders it builds on
(LAYERS in build.sh), nothing from a folder above it or beside it; a
header named *_int.h or *_internal.h is private to its folder.  Each
header name must be found in exactly one folder, since every folder is
compiled with -I paths and a name held twice would depend on their order.

Prints one line per offending include, "FILE:LINE: why", and exits 1 when
there is any; exits 0 silently otherwise.  The build enforces the same
rule through the include paths; this says it in words, file and line, and
also catches a header reached through another header."""
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layers(root):
    out = subprocess.run([os.path.join(root, "build.sh"), "layers"], check=True,
                         capture_output=True, text=True).stdout.split()
    order, below = [], {}
    for row in out:
        name, _, lower = row.partition(":")
        order.append(name)
        below[name] = [x for x in lower.split(",") if x]
    return order, below


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    order, below = layers(root)
    owner = {}          # header name -> folders holding it
    sources = []
    for folder in order:
        d = os.path.join(root, folder)
        if not os.path.isdir(d):
            print(f"{folder}: a layer in build.sh's LAYERS with no folder")
            return 1
        for name in sorted(os.listdir(d)):
            if name.endswith(".h"):
                owner.setdefault(name, []).append(folder)
            if name.endswith((".c", ".h")):
                sources.append((folder, name))
    bad = 0
    for name, folders in sorted(owner.items()):
        if len(folders) > 1:
            print(f"{name}: a header in {' and '.join(folders)}: the include paths' order would pick one")
            bad += 1
    for folder, name in sources:
        path = os.path.join(folder, name)
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                inc = m.group(1)
                held = owner.get(os.path.basename(inc))
                if "/" in inc:
                    why = "a path, not a header name (the include paths say where)"
                elif not held:
                    why = "no layer folder has this header"
                elif held[0] == folder:
                    continue
                elif re.search(r"_int(ernal)?\.h$", inc):
                    why = f"{held[0]}'s private header"
                elif held[0] in below[folder]:
                    continue
                elif order.index(held[0]) > order.index(folder):
                    why = f"points up: {held[0]} is above {folder}"
                else:
                    why = f"points across: {folder} does not build on {held[0]}"
                print(f"{path}:{n}: #include \"{inc}\": {why}")
                bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
