"""The request body of the request being served: Apache's HTTP_IN filter.

``100 Continue`` at the first read, ``LimitRequestBody`` (up front for a Content-Length,
while reading for chunked bodies), a failed read closing the connection, and
:meth:`BodyReader.discard` (ap_discard_request_body) before the next request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featherd.config.merge import UNSET
from featherd.core.core_module import core
from featherd.errors import HTTPError
from featherd.http.parser import NEED_DATA, Data, ParseError, RequestHead

if TYPE_CHECKING:
    from featherd.core.connection import Connection
    from featherd.core.request import Request

ERROR, INFO = 3, 6
CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"


def _limit_req_body(r: Request) -> int:
    v = r.per_dir_config[core.index].limit_req_body
    return 0 if v is UNSET or v is None else int(v)


class BodyReader:
    """The request body of the request being served (Apache's HTTP_IN filter)."""

    __slots__ = ("chunked", "conn", "content_length", "done", "failed", "limit", "received",
                 "rest", "sent_100", "started")
    # failed: 0, or the status the body read failed with (repeated to later readers)

    def __init__(self, conn: Connection, head: RequestHead) -> None:
        self.conn = conn
        self.content_length = head.content_length
        self.chunked = head.chunked
        self.done = False
        self.failed = 0
        self.limit = 0
        self.received = 0
        self.rest = b""
        self.sent_100 = False
        self.started = False

    def _fail(self, status: int, log: str | None, r: Request | None = None,
              level: int = ERROR) -> HTTPError:
        """The body can't be read to its end: the connection must close."""
        self.done = True
        self.failed = status
        self.conn.must_close = True
        if log and r is not None:
            r.log_error(level, log)
        return HTTPError(status, None)

    def check_limit(self, r: Request) -> int:
        """LimitRequestBody against a known Content-Length before anything is read
        (ap_setup_client_block / ap_discard_request_body): 413 or 0."""
        if self.started or not self.too_large(r):
            return 0
        self.started = True
        self._fail(413, f"Requested content-length of {self.content_length} is larger than "
                        f"the configured limit of {_limit_req_body(r)}", r)
        return 413

    def too_large(self, r: Request) -> bool:
        """A Content-Length above LimitRequestBody (known before reading anything)."""
        limit = _limit_req_body(r)
        cl = self.content_length
        return bool(limit and cl is not None and cl > limit)

    async def read(self, r: Request, want: int = -1) -> bytes:
        """The next piece of the body (at most ``want`` bytes when > 0); b"" at its end.
        Raises HTTPError(413/400/408) when the body can't be had."""
        if self.rest:
            data = self.rest
            if 0 < want < len(data):
                self.rest = data[want:]
                return data[:want]
            self.rest = b""
            return data
        if self.done:
            if self.failed:
                raise HTTPError(self.failed, None)
            return b""
        conn = self.conn
        if not self.started:
            self.started = True
            self.limit = _limit_req_body(r)
            cl = self.content_length
            if self.limit and cl is not None and cl > self.limit:
                raise self._fail(413, f"Requested content-length of {cl} is larger than the "
                                      f"configured limit of {self.limit}", r)
            if (r.expecting_100 and r.proto_num >= 1001 and not r.sent_headers
                    and not conn.transport_closed):
                # ap_http_filter: the client waits for this before sending the body
                self.sent_100 = True
                conn.write_now(CONTINUE_100)
        parser = conn.parser
        while True:
            try:
                ev = parser.next_event()
            except ParseError as e:
                raise self._fail(e.status, e.detail or e.log, r, INFO) from None
            if isinstance(ev, Data):
                data = ev.data
                n = len(data)
                self.received += n
                conn.bytes_in += n
                if self.limit and self.received > self.limit:
                    raise self._fail(413, f"Read content-length of {self.received} is larger "
                                          f"than the configured limit of {self.limit}", r)
                if 0 < want < n:
                    self.rest = data[want:]
                    return data[:want]
                return data
            if ev is NEED_DATA:
                if conn.transport_closed:
                    conn.aborted = True
                    raise self._fail(400, "client closed the connection while sending the "
                                          "request body", r, INFO)
                if not await conn.wait_data():
                    raise self._fail(408, "(70007)The timeout specified has expired: error "
                                          "reading the request body", r, INFO)
                continue
            # EndOfMessage (or PAUSED): the body is complete
            self.done = True
            return b""

    async def discard(self, r: Request) -> bool:
        """ap_discard_request_body: read and drop the rest; False if that failed."""
        try:
            while await self.read(r, -1):
                pass
        except HTTPError:
            return False
        return True

    @property
    def pending(self) -> bool:
        """Some of the body may still be on its way."""
        return not self.done or bool(self.rest)
