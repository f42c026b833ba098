#!/usr/bin/env python3
"""Fill a lab/llng template: every @NAME@ becomes the value of the environment variable
LLNG_T_NAME (values come from the environment, so passwords never show in `ps`).

    render.py TEMPLATE OUTPUT

A template ending in .json is parsed as JSON and the placeholders are replaced inside its
strings, so values may hold quotes or newlines (PEM keys). Any placeholder left unresolved is
an error. OUTPUT is written with mode 0640.
"""
import json
import os
import re
import sys

PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def fill(text, missing):
    def sub(m):
        value = os.environ.get("LLNG_T_" + m.group(1))
        if value is None:
            missing.add(m.group(1))
            return m.group(0)
        return value
    return PLACEHOLDER.sub(sub, text)


def walk(node, missing):
    if isinstance(node, str):
        return fill(node, missing)
    if isinstance(node, list):
        return [walk(v, missing) for v in node]
    if isinstance(node, dict):
        return {fill(k, missing): walk(v, missing) for k, v in node.items()}
    return node


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: render.py TEMPLATE OUTPUT")
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    missing = set()
    if src.endswith(".json") or src.endswith(".json.in"):
        out = json.dumps(walk(json.loads(text), missing), indent=2, sort_keys=True) + "\n"
    else:
        out = fill(text, missing)
    if missing:
        sys.exit(f"render.py: {src}: no value for {', '.join(sorted(missing))}")
    tmp = dst + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(out)
    os.chmod(tmp, 0o640)
    os.replace(tmp, dst)


if __name__ == "__main__":
    main()
