"""featherd-split-logfile: split a multi-vhost access log into one file per virtual host
(Apache's split-logfile).

    featherd-split-logfile < /var/log/combined_log

Every line's first field is the virtual host (a LogFormat starting with ``%v``). The
line, without that field, is appended to ``<vhost>.log`` in the current directory, the
name lower-cased; a blank first field, or one containing ``/`` or ``\\``, goes to
``access.log``.
"""

from __future__ import annotations

import re
import sys
from typing import BinaryIO


def main(argv: list[str] | None = None) -> int:
    files: dict[bytes, BinaryIO] = {}
    try:
        for line in sys.stdin.buffer:
            first = re.split(rb"\s", line, maxsplit=1)[0]
            vhost = first.lower() or b"access"
            if b"/" in vhost or b"\\" in vhost:
                vhost = b"access"
            f = files.get(vhost)
            if f is None:
                name = vhost.decode("latin-1") + ".log"
                try:
                    f = files[vhost] = open(name, "ab")
                except OSError:
                    sys.stderr.write(f"Can't open {name}\n")
                    return 1
            f.write(re.sub(rb"^\S*\s+", b"", line, count=1))
    finally:
        for f in files.values():
            f.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
