"""Request body framing for :class:`~featherd.http.parser.RequestParser`: the
Content-Length and Transfer-Encoding checks (request-smuggling defences), and reading a
body by length or chunked (chunk sizes, extensions, trailers), as Apache's HTTP_IN
filter. The parser's states live here; :class:`BodyFraming` is a part of the parser.
"""

from __future__ import annotations

import re
from typing import Final

from featherd.http.message import (
    _LOG_NAME_MAX_LEN,
    _MAX_CONTENT_LENGTH,
    NEED_DATA,
    Data,
    EndOfMessage,
    ParseError,
    _bad,
    _check_field,
    _field_too_long,
    _split_list,
    escape_logitem,
)
from featherd.util.escape import escape_html

_HEX_DIGITS: Final = b"0123456789abcdefABCDEF"
_DIGITS: Final = "0123456789"
_CTL_BYTES_RE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_S_HEAD: Final = 0
_S_LENGTH: Final = 1
_S_CHUNK_SIZE: Final = 2
_S_CHUNK_DATA: Final = 3
_S_CHUNK_CRLF: Final = 4
_S_TRAILERS: Final = 5
_S_EOM: Final = 6  # head returned, no body: EndOfMessage next
_S_DONE: Final = 7  # PAUSED until start_next()
_S_ERROR: Final = 8
_CHUNK_SIZE_MAX_DIGITS: Final = 64


class BodyFraming:
    """The body half of the parser (its attributes are the parser's)."""

    _buf: bytearray
    _pos: int
    _eof: bool
    _state: int
    _remaining: int

    @staticmethod
    def _check_content_length(values: list[str]) -> int:
        first: str | None = None
        for v in _split_list(values):
            if not v or v.strip(_DIGITS):
                raise _bad(f"AH01587: Invalid Content-Length '{v[:_LOG_NAME_MAX_LEN]}'")
            v = v.lstrip("0") or "0"
            if first is None:
                first = v
            elif v != first:
                raise _bad("request failed: conflicting Content-Length values")
        assert first is not None
        if len(first) > 19 or int(first) > _MAX_CONTENT_LENGTH:
            raise _bad(f"AH01587: Invalid Content-Length '{first[:_LOG_NAME_MAX_LEN]}'")
        return int(first)

    @staticmethod
    def _check_transfer_encoding(values: list[str], method: str, target: str) -> bool:
        codings = [c.lower() for c in _split_list(values) if c]
        if codings == ["chunked"]:
            return True
        te = ", ".join(values)
        if "chunked" in codings and (codings[-1] != "chunked" or codings.count("chunked") > 1):
            # chunked applied twice, or not the final coding (RFC 7230 3.3.3)
            raise _bad(
                f"AH02539: client sent unknown Transfer-Encoding ({te[:_LOG_NAME_MAX_LEN]}): "
                f"{target[:_LOG_NAME_MAX_LEN]}"
            )
        if not codings:
            raise _bad("request failed: empty Transfer-Encoding")
        message = f"{escape_html(method)} to {escape_html(target.split('?', 1)[0])} not supported."
        raise ParseError(
            501,
            message,
            f"AH01585: Unknown Transfer-Encoding: {escape_logitem(te[:_LOG_NAME_MAX_LEN])}",
        )

    # ----------------------------------------------------------- bodies

    def _consume(self, pos: int) -> None:
        buf = self._buf
        if pos == len(buf):
            buf.clear()
            pos = 0
        elif pos >= 65536 and pos * 2 >= len(buf):
            del buf[:pos]
            pos = 0
        self._pos = pos

    def _next_length(self) -> Data | EndOfMessage | object:
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail <= 0:
            if self._eof:
                raise _bad("request failed: client closed connection before the body was complete")
            return NEED_DATA
        take = self._remaining
        if take > avail:
            take = avail
        if pos == 0 and take == avail:
            data = bytes(buf)
        else:
            data = bytes(buf[pos : pos + take])
        self._consume(pos + take)
        self._remaining -= take
        if not self._remaining:
            self._state = _S_EOM
        return Data(data)

    def _next_chunked(self) -> Data | EndOfMessage | object:
        buf = self._buf
        st = self._state
        while True:
            pos = self._pos
            if st == _S_CHUNK_DATA:
                avail = len(buf) - pos
                if avail <= 0:
                    break
                take = self._remaining
                if take > avail:
                    take = avail
                data = bytes(buf[pos : pos + take])
                self._remaining -= take
                if not self._remaining:
                    self._state = _S_CHUNK_CRLF
                self._consume(pos + take)
                return Data(data)
            if st == _S_CHUNK_CRLF:
                n = len(buf)
                if pos >= n:
                    break
                c = buf[pos]
                if c == 10:
                    pos += 1
                elif c == 13:
                    if pos + 1 >= n:
                        break
                    if buf[pos + 1] != 10:
                        raise _bad("AH01590: Error reading chunk: missing CRLF after chunk data")
                    pos += 2
                else:
                    raise _bad("AH01590: Error reading chunk: missing CRLF after chunk data")
                self._consume(pos)
                self._scan = self._pos
                st = self._state = _S_CHUNK_SIZE
                continue
            if st == _S_CHUNK_SIZE:
                scan = self._scan
                lf = buf.find(b"\n", scan if scan > pos else pos)
                max_line = _CHUNK_SIZE_MAX_DIGITS + 2 + self.max_chunk_ext
                if lf < 0:
                    if len(buf) - pos > max_line:
                        raise _bad("AH01590: Error reading chunk: chunk-size line too long")
                    self._scan = len(buf)
                    break
                end = lf - 1 if lf > pos and buf[lf - 1] == 13 else lf
                self._remaining = self._parse_chunk_size(bytes(buf[pos:end]))
                self._consume(lf + 1)
                if self._remaining:
                    st = self._state = _S_CHUNK_DATA
                else:
                    st = self._state = _S_TRAILERS
                    self._scan = self._pos
                continue
            # _S_TRAILERS
            scan = self._scan
            lf = buf.find(b"\n", scan if scan > pos else pos)
            max_size = self.limit_request_fieldsize
            if lf < 0:
                self._scan = len(buf)
                pending = len(buf) - pos
                if pending > max_size + 1 or (pending == max_size + 1 and buf[-1] != 13):
                    raise _field_too_long(buf[pos : pos + max_size].decode("latin-1"))
                break
            end = lf - 1 if lf > pos and buf[lf - 1] == 13 else lf
            line = buf[pos:end].decode("latin-1")
            self._consume(lf + 1)
            self._scan = self._pos
            if not line:
                self._state = _S_DONE
                trailers = self._trailers
                self._trailers = []
                return EndOfMessage(trailers)
            self._trailers.append(
                _check_field(
                    line,
                    len(self._trailers),
                    self.limit_request_fields,
                    max_size,
                )
            )
        if self._eof:
            raise _bad("request failed: client closed connection before the body was complete")
        return NEED_DATA

    def _parse_chunk_size(self, line: bytes) -> int:
        semi = line.find(b";")
        if semi >= 0:
            ext = line[semi:]
            if len(ext) > self.max_chunk_ext:
                raise _bad("AH01590: Error reading chunk: chunk extension too long")
            if _CTL_BYTES_RE.search(ext):
                raise _bad("AH01590: Error reading chunk: invalid chunk extension")
            line = line[:semi]
        size = line.rstrip(b" \t")  # BWS before the extension
        if not size or size.translate(None, _HEX_DIGITS):
            raise _bad(
                "AH01590: Error reading chunk: invalid chunk size "
                f"'{size[:_LOG_NAME_MAX_LEN].decode('latin-1')}'"
            )
        if len(size) > _CHUNK_SIZE_MAX_DIGITS:
            raise _bad("AH01590: Error reading chunk: chunk size too long")
        value = int(size, 16)
        if value > _MAX_CONTENT_LENGTH:
            raise _bad("AH01590: Error reading chunk: chunk size overflow")
        return value
