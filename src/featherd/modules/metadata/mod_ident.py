"""mod_ident: RFC 1413 ident lookups (Apache 2.2's IdentityCheck, which 2.4 moved into
mod_ident).

``IdentityCheck On`` (server, virtual host or directory; Off by default) asks the
client's identd who owns the connection and makes the answer the connection's remote
logname: ``%l`` in the access log, ``REMOTE_IDENT`` for CGI and mod_rewrite. The query
goes from the server's address to port 113 of the client (``remote-port , local-port``),
with ``IdentityCheckTimeout`` seconds (default 30) for the whole exchange; a failed
lookup gives ``unknown``, as Apache. The answer is kept for the connection, so a
keep-alive connection asks once.

The lookup runs asynchronously in the fixups phase, and again when the request is logged
if it had not run (an error before fixups). ``FEATHERD_IDENT_PORT`` replaces port 113
(for tests).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from featherd.config.directives import ArgSpec, Context, Override, int_arg
from featherd.config.merge import UNSET
from featherd.core.hooks import DECLINED, REALLY_FIRST
from featherd.core.module import Module

FROM_UNKNOWN = "unknown"
RFC1413_PORT = 113
RFC1413_USERLEN = 512
RFC1413_MAXDATA = 1000
DEFAULT_TIMEOUT = 30


@dataclass(slots=True)
class IdentDirConfig:
    do_rfc1413: Any = UNSET
    timeout: Any = UNSET


ident = Module("ident_module", "mod_ident.c", dir_config=IdentDirConfig,
               description="RFC 1413 ident lookups")


@ident.directive("IdentityCheck", args=ArgSpec.FLAG, context=Context.ACCESS,
                 override=Override.NONE, syntax="IdentityCheck On|Off",
                 help="Enable identd (RFC 1413) user lookups - SLOW")
def identity_check(cmd: Any, conf: IdentDirConfig, on: bool) -> None:
    conf.do_rfc1413 = on


@ident.directive("IdentityCheckTimeout", args=ArgSpec.TAKE1, context=Context.ACCESS,
                 override=Override.NONE, syntax="IdentityCheckTimeout seconds",
                 help="Identity check (RFC 1413) timeout duration (sec)")
def identity_check_timeout(cmd: Any, conf: IdentDirConfig, v: str) -> None:
    conf.timeout = max(0, int_arg("IdentityCheckTimeout", v))


def ident_port() -> int:
    return int(os.environ.get("FEATHERD_IDENT_PORT", RFC1413_PORT))


def parse_reply(line: str, rmt_port: int, our_port: int) -> str | None:
    """``rport , lport : USERID : ostype : user``: the user, or None."""
    parts = line.split(":", 3)
    if len(parts) < 4:
        return None
    ports = parts[0].split(",")
    try:
        if int(ports[0]) != rmt_port or int(ports[1]) != our_port:
            return None
    except (ValueError, IndexError):
        return None
    if parts[1].strip().upper() != "USERID":
        return None
    user = parts[3].strip()[:RFC1413_USERLEN]
    return user or None


async def rfc1413(conn: Any, timeout: float) -> str:
    """ap_rfc1413: ask the client's identd; FROM_UNKNOWN when that fails."""
    rmt_port, our_port = conn.client_port, conn.local_port
    writer = None
    try:
        async def ask() -> str | None:
            nonlocal writer
            reader, writer = await asyncio.open_connection(
                conn.client_ip, ident_port(), local_addr=(conn.local_ip, 0))
            writer.write(f"{rmt_port},{our_port}\r\n".encode())
            await writer.drain()
            data = await reader.readline()
            return parse_reply(data[:RFC1413_MAXDATA].decode("latin-1").rstrip("\r\n"),
                               rmt_port, our_port)
        user = await asyncio.wait_for(ask(), timeout)
    except (TimeoutError, OSError, ValueError):
        user = None
    finally:
        if writer is not None:
            writer.close()
    return user or FROM_UNKNOWN


async def lookup(r: Any) -> None:
    conn = r.connection
    if conn.remote_logname is not None:
        return
    c = ident.dconf(r)
    if c is None or c.do_rfc1413 is not True:
        return
    timeout = c.timeout if c.timeout is not UNSET else DEFAULT_TIMEOUT
    conn.remote_logname = await rfc1413(conn, float(timeout))


@ident.hook("fixups", order=REALLY_FIRST, needs=True)
async def ident_fixups(r: Any) -> int:
    await lookup(r)
    return DECLINED


@ident.hook("log_transaction", order=REALLY_FIRST, needs=True)
async def ident_log(r: Any) -> int:
    await lookup(r)
    return DECLINED
