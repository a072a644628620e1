"""featherd-log-server-status: append the server's status to a daily log (Apache's
log_server_status script), meant to be run from cron every few minutes.

    featherd-log-server-status [-d logdir] [-s server] [-p port] [-r request]

Fetches ``request`` (default ``/server-status?auto``) from ``server:port`` (default
localhost:80) and appends ``HHMMSS:busy:idle:accesses:cpuload`` to ``logdir/YYYYMMDD``
(default logdir: ./), the line format of the Perl script: BusyWorkers, IdleWorkers,
Total Accesses and CPULoad, each empty when the server does not report it (accesses and
CPU load need ExtendedStatus On). When the server can't be reached the line is
``HHMMSS:-1:-1:-1:-1:__-1__`` and the exit status 1.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import time


def fetch(server: str, port: int, request: str, timeout: float = 10.0) -> bytes:
    with socket.create_connection((server, port), timeout=timeout) as s:
        s.sendall(f"GET {request} HTTP/1.0\r\nHost: {server}\r\n\r\n".encode("latin-1"))
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def status_line(text: str, now: time.struct_time) -> str:
    """The script's line from a ?auto answer."""
    def grab(pattern: str) -> str:
        m = re.search(pattern, text, re.M)
        return m.group(1) if m else ""
    requests = grab(r"^BusyWorkers:\ (\S+)")
    idle = grab(r"^IdleWorkers:\ (\S+)")
    number = grab(r"sses:\ (\S+)")
    cpu = grab(r"^CPULoad:\ (\S+)")
    return f"{time.strftime('%H%M%S', now)}:{requests}:{idle}:{number}:{cpu}\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="featherd-log-server-status",
                                description="Log the server status (?auto) to a daily file")
    p.add_argument("-d", dest="logdir", default="./", help="directory of the daily logs")
    p.add_argument("-s", dest="server", default="localhost", help="server name")
    p.add_argument("-p", dest="port", type=int, default=80, help="server port")
    p.add_argument("-r", dest="request", default="/server-status?auto", help="request")
    a = p.parse_args(argv)
    now = time.localtime()
    path = os.path.join(a.logdir, time.strftime("%Y%m%d", now))
    try:
        data = fetch(a.server, a.port, a.request)
    except OSError:
        with open(path, "a") as f:
            f.write(f"{time.strftime('%H%M%S', now)}:-1:-1:-1:-1:__-1__\n")
        return 1
    text = data.decode("latin-1").replace("\r\n", "\n")
    with open(path, "a") as f:
        f.write(status_line(text, now))
    return 0


if __name__ == "__main__":
    sys.exit(main())
