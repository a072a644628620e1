"""mod_echo: an echo server, to show what a protocol module is (Apache 2.2's mod_echo.c).

``ProtocolEcho On`` in the server config or a virtual host makes the connections of
that server (the default server of the address they came to, as Apache's base_server:
give the echo its own ``Listen`` port and ``<VirtualHost>``) echo every byte they
receive back to the client, until the client closes or stays silent for ``TimeOut``
seconds. No HTTP is spoken and nothing is logged as a request.

It takes the connection in the ``process_connection`` hook (RUN_FIRST, as in Apache):
the asyncio transport is handed to an :class:`EchoProtocol`; the connection's own
bookkeeping still ends through its ``connection_lost``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.merge import UNSET
from featherd.core.hooks import DECLINED, MIDDLE, OK
from featherd.core.module import Module

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms

INFO = 6


@dataclass(slots=True)
class EchoConfig:
    enabled: Any = UNSET


echo = Module("echo_module", "mod_echo.c", server_config=EchoConfig,
              description="A simple echo server to illustrate protocol modules")


@echo.directive("ProtocolEcho", args=ArgSpec.FLAG, context=Context.RSRC,
                syntax="ProtocolEcho On|Off", help="ProtocolEcho On/Off")
def protocol_echo(cmd: CmdParms, conf: EchoConfig, on: bool) -> None:
    conf.enabled = on


class EchoProtocol(asyncio.Protocol):
    """What the connection becomes: bytes in, the same bytes out."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.transport = conn.transport
        self.timeout = conn.timeout
        self.timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.conn.loop.call_later(self.timeout, self._expired)

    def _expired(self) -> None:
        self.timer = None
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.conn.bytes_in += len(data)
        self.conn.bytes_out += len(data)
        self.transport.write(data)
        self._arm()

    def eof_received(self) -> bool:
        return False                       # the client is done: close our side too

    def pause_writing(self) -> None:
        self.transport.pause_reading()     # the client doesn't read: stop reading it

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if isinstance(exc, OSError) and exc.errno:
            self.conn._log(INFO, f"({exc.errno}){exc.strerror}: ProtocolEcho: Failure "
                                 f"reading from {self.conn.client_ip}")
        self.conn.connection_lost(exc)


@echo.hook("process_connection", order=MIDDLE)
def process_echo_connection(conn: Any) -> int:
    base = conn.base if conn.base is not None else conn.tree.main
    c: EchoConfig | None = base.module_config[echo.index]
    if c is None or c.enabled is not True:
        return DECLINED
    conn.busy = True                       # not idle: a graceful stop lets it finish
    conn.transport.set_protocol(EchoProtocol(conn))
    return OK


__all__ = ["EchoProtocol", "echo"]
