"""SSLEngine optional: RFC 2817's Upgrade to TLS within HTTP/1.1, the TLS layer's part
(2.2's upgrade_connection after the 101 head; the request side is in :mod:`.kernel`).

:class:`Upgrade` is a part of :class:`~featherd.modules.ssl.tls.TLSConnection`, which
stays between the socket and the HTTP connection as a pass-through on addresses where a
server has ``SSLEngine optional``; ``await t.upgrade(...)`` switches it to TLS.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from featherd.modules.ssl.init import ServerSSL, SSLState


class Upgrade:
    """The upgrade half of TLSConnection (which provides the attributes)."""

    conn: Any
    raw: Any
    base: Any
    srv: Any
    server: Any
    incoming: Any
    waiter: Any
    upgradable: bool
    verify_level: str
    verify_depth: int
    crl: bool
    _start_tls: Any
    _handshake: Any
    _linger_close: Any

    async def upgrade(self, srv: ServerSSL, server: Any, head: bytes,
                      timeout: float) -> str | None:
        """Write the ``101 Switching Protocols`` head in the clear, then run the TLS
        handshake on this connection (the request being served is answered over TLS);
        None once TLS is up, else the reason it is not."""
        conn = self.conn
        assert conn is not None
        if self.raw.is_closing():
            return "connection closed"
        conn.flush()                            # an earlier response, still in the clear
        self.raw.write(head)
        rest = b""
        parser = conn.parser
        if parser.buffered:
            # the client began its handshake without waiting for the 101
            rest = parser.take_trailing()
        self.upgradable = False
        self.base = self.srv = srv
        self.server = server
        self.verify_level, self.verify_depth, self.crl = srv.verify, srv.depth, srv.crl
        conn.is_tls = True
        conn.sock_fd = -1                       # no sendfile under TLS
        self._start_tls()
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        try:
            if rest:
                self.incoming.write(rest)
                self._handshake()
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self._linger_close()
            return "timeout"
        finally:
            self.waiter = None


def offers_upgrade(state: SSLState, group: Any, srv: ServerSSL | None) -> bool:
    """Some server of this address has SSLEngine optional (the address's first one, or
    a name-based vhost the Host header may select)."""
    if srv is not None:
        return srv.optional
    if group is None:
        return False
    for s in group.servers:
        o = state.for_server(s)
        if o is not None and o.optional:
            return True
    return False


__all__ = ["Upgrade", "offers_upgrade"]
