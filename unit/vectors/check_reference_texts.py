#!/usr/bin/env python3
"""Checks the table of reference texts (ngx_http_agentcore_reference.h)
against an installed Strands: every AC_REF_* string must appear in the
file its comment names, in the release AC_REF_VERSION names.

Run from the repository root:
    python3 -m venv build/venv-strands
    build/venv-strands/bin/pip install strands-agents==1.62.0
    build/venv-strands/bin/python unit/vectors/check_reference_texts.py

Python's adjacent string literals and f-strings are flattened before the
comparison (an f-string's {expr} parts split a text in two: each side
must appear).  Exit status 0 when every entry is found.
"""

import importlib.metadata
import os
import re
import sys

HEADER = "ngx_http_agentcore_module/ngx_http_agentcore_reference.h"


def c_strings(body):
    return "".join(bytes(s, "ascii").decode("unicode_escape")
                   for s in re.findall(r'"((?:[^"\\]|\\.)*)"', body))


def entries(text):
    """(name, value, file) for each #define, file from its comment"""
    out = []
    comment = ""
    for m in re.finditer(r'/\*(.*?)\*/|#define[ \t]+(AC_REF_\w+)[ \t]+((?:[^\n]*\\\n)*[^\n]*)',
                         text, re.S):
        if m.group(1) is not None:
            comment = m.group(1)
            continue
        name, body = m.group(2), m.group(3).replace("\\\n", " ")
        f = re.search(r'([\w/]+\.py):\d+', comment)
        out.append((name, c_strings(body), f.group(1) if f else None))
    return out


def flatten(src):
    """Python source with adjacent string literals joined (roughly)"""
    src = re.sub(r'"\s*\n\s*f?"', "", src)
    return src


def main():
    text = open(HEADER).read()
    version = re.search(r'AC_REF_VERSION\s+"strands-agents ([\d.]+)"', text)
    installed = importlib.metadata.version("strands-agents")
    if version.group(1) != installed:
        print(f"installed strands-agents {installed}, table from "
              f"{version.group(1)}")
        return 1

    import strands
    root = os.path.dirname(strands.__file__)
    bad = 0

    for name, value, path in entries(text):
        if name == "AC_REF_VERSION" or path is None:
            continue
        src = flatten(open(os.path.join(root, path)).read())
        parts = [value]
        if name.endswith("_PRE") or name.endswith("_POST") \
                or name == "AC_REF_UNKNOWN_TOOL":
            parts = [value.strip() or value]
        ok = all(p in src for p in parts)
        print(f"{'ok ' if ok else 'BAD'} {name} ({path})")
        bad += not ok

    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
