#!/usr/bin/env python3
"""Writes compile_commands.json (clang's compilation database, for editors and
clang-tidy) from the compile lines `make -nB` prints, read on stdin.

    make -nB INSTALL_DEPS=0 all unit-build fuzz-build | python3 tools/compile_commands.py > compile_commands.json

The Makefile stays the one place that knows the flags; this only reshapes its
lines. A file compiled twice (the library again for the fuzz targets) keeps its
first command, the release build's. -MMD/-MP are dropped: a tool that reads the
database must not write dependency files into the build tree.
"""
import json
import os
import shlex
import sys

DROPPED = {"-MMD", "-MP"}


def main():
    directory = os.getcwd()
    entries, seen = [], set()
    for line in sys.stdin:
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if "-c" not in words:
            continue
        sources = [w for w in words if w.endswith(".c") and os.path.isfile(w)]
        if len(sources) != 1 or sources[0] in seen:
            continue
        seen.add(sources[0])
        entries.append({"directory": directory, "file": sources[0],
                        "arguments": [w for w in words if w not in DROPPED]})
    if not entries:
        sys.exit("compile_commands.py: no compile line on stdin (expected make -nB's output)")
    json.dump(entries, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
