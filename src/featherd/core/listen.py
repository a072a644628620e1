"""Binding the Listen sockets (the master binds; workers inherit)."""

from __future__ import annotations

import os
import socket
from typing import Any

from featherd.errors import FeatherdError


class ListenError(FeatherdError):
    pass


def bind(specs: list[Any], backlog: int = 511) -> list[tuple[socket.socket, Any]]:
    """Bind every Listen; Apache's error text when an address is in use."""
    out: list[tuple[socket.socket, Any]] = []
    for spec in specs:
        host = spec.host
        fams: list[tuple[int, str]]
        if host is None:
            fams = [(socket.AF_INET6, "::")] if socket.has_ipv6 and _v6_ok() else []
            if not fams:
                fams = [(socket.AF_INET, "0.0.0.0")]
        elif ":" in host:
            fams = [(socket.AF_INET6, host.strip("[]"))]
        else:
            fams = [(socket.AF_INET, host)]
        for fam, addr in fams:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6 and host is None:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                s.bind((addr, spec.port))
            except OSError as e:
                s.close()
                for o, _ in out:
                    o.close()
                shown = f"[{addr}]" if ":" in addr else addr
                raise ListenError(
                    f"({e.errno}){os.strerror(e.errno or 0)}: make_sock: could not bind to "
                    f"address {shown}:{spec.port}\nno listening sockets available, shutting "
                    "down") from None
            s.listen(backlog)
            s.setblocking(False)
            if spec.port == 0:
                spec.port = s.getsockname()[1]
            out.append((s, spec))
    return out


def _v6_ok() -> bool:
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.close()
        return True
    except OSError:
        return False
