"""What the HTTP/1.x request parser (:mod:`featherd.http.parser`) hands out and refuses
with: the NEED_DATA/PAUSED sentinels, :class:`RequestHead`, :class:`Data`,
:class:`EndOfMessage`, :class:`ParseError` with Apache's canned texts, and the checks of
one header or trailer field (protocol.c's order of checks and log lines).
"""

from __future__ import annotations

import re
from typing import Final

from featherd.util.escape import escape_html


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: next_event(): more bytes are needed (or the peer closed between requests).
NEED_DATA: Final = _Sentinel("NEED_DATA")
#: next_event(): the current request is complete; call start_next() to go on.
PAUSED: Final = _Sentinel("PAUSED")

#: Apache's canned HTTP_BAD_REQUEST sentence (get_canned_error_string).
BAD_REQUEST_MESSAGE: Final = "Your browser sent a request that this server could not understand."
#: Apache's canned HTTP_REQUEST_URI_TOO_LARGE text (get_canned_error_string).
URI_TOO_LARGE_MESSAGE: Final = (
    "The requested URL's length exceeds the capacity\nlimit for this server.<br />\n"
)
FIELD_TOO_LARGE_NOTE: Final = "Size of a request header field exceeds server limit."
TOO_MANY_FIELDS_NOTE: Final = "The number of request header fields exceeds this server's limit."
VERSION_MESSAGE: Final = (
    "The server does not support the HTTP protocol version used in the request."
)

_HEADERS_FAILED: Final = "AH00567: request failed: error reading the headers"
_MAX_CONTENT_LENGTH: Final = 2**63 - 1
_LOG_NAME_MAX_LEN: Final = 80  # protocol.c LOG_NAME_MAX_LEN
_DEFAULT_LIMIT_REQUEST_FIELDS: Final = 100


class ParseError(Exception):
    """A request that must be refused.

    ``status``: the HTTP status to send.  ``message``: the explanation for the
    error page -- Apache's ``error-notes`` when Apache records some (an HTML
    fragment, e.g. the LimitRequestFieldSize note with its ``<pre>`` block),
    otherwise Apache's canned sentence for the status.  ``notes``: exactly
    Apache's ``error-notes`` ("" when Apache sets none); an error page built as
    ``get_canned_error_string(status) + notes`` is byte-identical to httpd's.
    ``log``: a short error-log line like Apache's; ``detail``: the more
    specific line Apache logs at info/debug level (may equal ``log``).
    """

    def __init__(
        self, status: int, message: str, log: str = "", notes: str = "", detail: str = ""
    ) -> None:
        super().__init__(status, message, log)
        self.status = status
        self.message = message
        self.log = log
        self.notes = notes
        self.detail = detail or log

    def __str__(self) -> str:
        return f"{self.status}: {self.detail or self.message}"


class RequestHead:
    """Request line and header fields of one request."""

    __slots__ = (
        "method",
        "target",
        "version",
        "the_request",
        "headers",
        "content_length",
        "chunked",
        "keep_alive",
        "expect_continue",
        "header_bytes",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: tuple[int, int],
        the_request: str,
        headers: list[tuple[str, str]],
        content_length: int | None,
        chunked: bool,
        keep_alive: bool,
        expect_continue: bool,
        header_bytes: int,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.the_request = the_request
        self.headers = headers
        self.content_length = content_length
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.header_bytes = header_bytes

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (case-insensitive)."""
        lname = name.lower()
        for n, v in self.headers:
            if n.lower() == lname:
                return v
        return default

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestHead):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"RequestHead({self.the_request!r}, headers={self.headers!r}, "
            f"content_length={self.content_length!r}, chunked={self.chunked!r}, "
            f"keep_alive={self.keep_alive!r}, expect_continue={self.expect_continue!r}, "
            f"header_bytes={self.header_bytes!r})"
        )


class Data:
    """A piece of request body."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Data):
            return NotImplemented
        return self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Data({self.data!r})"


class EndOfMessage:
    """End of the request body; ``trailers`` holds chunked trailer fields."""

    __slots__ = ("trailers",)

    def __init__(self, trailers: list[tuple[str, str]] | None = None) -> None:
        self.trailers = trailers if trailers is not None else []

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EndOfMessage):
            return NotImplemented
        return self.trailers == other.trailers

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EndOfMessage({self.trailers!r})"


# --------------------------------------------------------------------------
# character classes (RFC 7230 token, field-content with obs-text)

_TOKEN: Final = r"[-!#$%&'*+.^_`|~0-9A-Za-z]"
_TOKEN_RE: Final = re.compile(_TOKEN + "+")
_FIELD_VALUE_RE: Final = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def _field_name(field: str) -> str:
    """protocol.c field_name_len(): up to the ':' but at most 80 characters."""
    end = field.find(":")
    if end < 0 or end > _LOG_NAME_MAX_LEN:
        return field[:_LOG_NAME_MAX_LEN]
    return field[:end]


_LOGITEM_SPECIAL: Final = {
    8: "\\b",
    9: "\\t",
    10: "\\n",
    11: "\\v",
    13: "\\r",
    34: '\\"',
    92: "\\\\",
}
_LOGITEM_TABLE: Final = {
    c: _LOGITEM_SPECIAL.get(c, f"\\x{c:02x}") for c in (*range(0x20), 34, 92, *range(0x7F, 0x100))
}


def escape_logitem(s: str) -> str:
    """ap_escape_logitem: make client-supplied text safe for a log line."""
    return s.translate(_LOGITEM_TABLE)


def _bad(detail: str, log: str = "", notes: str = "") -> ParseError:
    detail = escape_logitem(detail)
    return ParseError(400, notes or BAD_REQUEST_MESSAGE, log or detail, notes, detail)


def _header_error(detail: str, notes: str = "") -> ParseError:
    detail = escape_logitem(detail)
    return ParseError(400, notes or BAD_REQUEST_MESSAGE, _HEADERS_FAILED, notes, detail)


def _field_too_long(field: str, what: str = "Request header") -> ParseError:
    notes = (
        FIELD_TOO_LARGE_NOTE + "<br />\n<pre>\n" + _field_name(escape_html(field)) + "\n</pre>\n"
    )
    name = _field_name(field)
    detail = f"AH00561: {what} exceeds LimitRequestFieldSize" + (f": {name}" if name else "")
    return _header_error(detail, notes)


def _check_field(line: str, index: int, max_fields: int, max_size: int) -> tuple[str, str]:
    """Validate one header (or trailer) line, in Apache's order of checks.

    ``line`` has its line terminator removed.  Used for diagnosis and for
    lines checked one at a time; the fast path validates whole blocks.
    """
    if len(line) > max_size:
        raise _field_too_long(line[:max_size])
    if max_fields and index >= max_fields:
        raise _header_error(
            "AH00563: Number of request headers exceeds LimitRequestFields",
            TOO_MANY_FIELDS_NOTE,
        )
    if line[:1] in (" ", "\t"):
        if index == 0:
            raise _header_error("AH03442: Line folding encountered before first header line")
        raise _header_error(
            "Request header field folding (obs-fold) is not allowed: "
            + line.lstrip(" \t")[:_LOG_NAME_MAX_LEN]
        )
    colon = line.find(":")
    if colon < 0:
        notes = (
            "Request header field is missing ':' separator.<br />\n<pre>\n"
            + escape_html(line)[:_LOG_NAME_MAX_LEN]
            + "</pre>\n"
        )
        raise _header_error(
            "AH00564: Request header field is missing ':' separator: " + line[:_LOG_NAME_MAX_LEN],
            notes,
        )
    name = line[:colon]
    if not _TOKEN_RE.fullmatch(name):
        raise _header_error(
            "AH02426: Request header field name is malformed: " + line[:_LOG_NAME_MAX_LEN]
        )
    value = line[colon + 1 :]
    if not _FIELD_VALUE_RE.fullmatch(value):
        raise _header_error(
            "AH02430: Request header value is malformed: " + line[:_LOG_NAME_MAX_LEN]
        )
    return name, value.strip(" \t")


def _split_list(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        if "," in v:
            out.extend(p.strip(" \t") for p in v.split(","))
        else:
            out.append(v)
    return out
