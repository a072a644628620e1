"""featherd-check-forensic: the requests of a forensic log that never completed
(Apache's check_forensic script).

    featherd-check-forensic forensic_log

Reads a ForensicLog (mod_log_forensic) and prints, for each ``+ID`` line whose ``-ID``
never came, the ``+`` line(s) of that id, ordered by id (byte order, as the script's
``sort | join`` in the C locale). Exit status 0; 1 with a message if the file can't be
read.
"""

from __future__ import annotations

import sys


def incomplete(lines: list[bytes]) -> list[bytes]:
    ins: list[bytes] = []
    outs: set[bytes] = set()
    for line in lines:
        first = line.split(b"|", 1)[0].rstrip(b"\n")
        if first.startswith(b"+"):
            ins.append(first[1:])
        elif first.startswith(b"-"):
            outs.add(first[1:])
    out: list[bytes] = []
    for fid in sorted(ins):
        if fid in outs:
            continue
        prefix = b"+" + fid
        out.extend(line for line in lines if line.startswith(prefix))
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write("Usage: featherd-check-forensic <forensic log file>\n")
        return 1
    try:
        with open(args[0], "rb") as f:
            lines = f.read().splitlines(keepends=True)
    except OSError as e:
        sys.stderr.write(f"featherd-check-forensic: {args[0]}: {e.strerror}\n")
        return 1
    out = sys.stdout.buffer
    for line in incomplete(lines):
        out.write(line if line.endswith(b"\n") else line + b"\n")
    out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
