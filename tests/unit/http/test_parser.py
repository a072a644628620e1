"""Tests for featherd.http.parser (sans-IO HTTP/1.x request parser)."""

from __future__ import annotations

import pytest

from featherd.http.parser import (
    BAD_REQUEST_MESSAGE,
    NEED_DATA,
    PAUSED,
    Data,
    EndOfMessage,
    ParseError,
    RequestHead,
    RequestParser,
)

CHUNK_SIZES = [None, 1, 2, 3, 7, 64]


def run(raw: bytes, chunk: int | None = None, **limits: int) -> list[object]:
    """Feed ``raw`` in pieces of ``chunk`` bytes (None: all at once), then EOF.

    Returns the events with consecutive Data pieces merged; a ParseError is
    appended as ("error", status, message) and ends the run.
    """
    p = RequestParser(**limits)
    events: list[object] = []

    def drain() -> bool:
        while True:
            try:
                ev = p.next_event()
            except ParseError as exc:
                events.append(("error", exc.status, exc.message))
                return False
            if ev is NEED_DATA:
                return True
            if ev is PAUSED:
                p.start_next()
                continue
            if isinstance(ev, Data) and events and isinstance(events[-1], Data):
                events[-1] = Data(events[-1].data + ev.data)
            else:
                events.append(ev)

    step = chunk or max(len(raw), 1)
    for i in range(0, len(raw), step):
        p.feed(raw[i : i + step])
        if not drain():
            return events
    p.feed(b"")
    drain()
    return events


def parse_all(raw: bytes, **limits: int) -> list[object]:
    """Parse with every chunk size and assert all give identical events."""
    reference = run(raw, None, **limits)
    for size in CHUNK_SIZES[1:]:
        assert run(raw, size, **limits) == reference, f"chunk size {size}"
    return reference


# ---------------------------------------------------------------- valid

BROWSER_GET = (
    b"GET /index.html?q=1 HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
    b"Accept: text/html,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
)


def test_simple_get() -> None:
    events = parse_all(BROWSER_GET)
    assert len(events) == 2
    head, eom = events
    assert isinstance(head, RequestHead)
    assert head.method == "GET"
    assert head.target == "/index.html?q=1"
    assert head.version == (1, 1)
    assert head.the_request == "GET /index.html?q=1 HTTP/1.1"
    assert head.headers[0] == ("Host", "www.example.com")
    assert head.headers[-1] == ("Connection", "keep-alive")
    assert len(head.headers) == 6
    assert head.content_length is None
    assert head.chunked is False
    assert head.keep_alive is True
    assert head.expect_continue is False
    assert head.header_bytes == len(BROWSER_GET)
    assert head.get("accept-encoding") == "gzip, deflate"
    assert eom == EndOfMessage([])


def test_post_with_content_length() -> None:
    raw = (
        b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n"
        b"Content-Type: text/plain\r\n\r\nhello world"
    )
    head, data, eom = parse_all(raw)
    assert head.content_length == 11
    assert head.header_bytes == len(raw) - 11
    assert data == Data(b"hello world")
    assert eom == EndOfMessage()


def test_chunked_with_extensions_and_trailers() -> None:
    raw = (
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value;flag\r\nhello\r\n"
        b'6 ; q="quoted"\r\n world\r\n'
        b"A\r\n0123456789\r\n"
        b"0;last\r\n"
        b"X-Checksum: abc\r\nX-Other:  two words \r\n\r\n"
    )
    head, data, eom = parse_all(raw)
    assert head.chunked is True
    assert head.content_length is None
    assert data == Data(b"hello world0123456789")
    assert eom == EndOfMessage([("X-Checksum", "abc"), ("X-Other", "two words")])


def test_chunked_uppercase_hex_and_leading_zeros() -> None:
    raw = b"PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n000F\r\n" + (
        b"x" * 15 + b"\r\n0\r\n\r\n"
    )
    head, data, eom = parse_all(raw)
    assert head.chunked
    assert data == Data(b"x" * 15)
    assert eom == EndOfMessage()


def test_pipelined_three_requests_in_one_feed() -> None:
    raw = (
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
        b"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )
    events = parse_all(raw)
    heads = [e for e in events if isinstance(e, RequestHead)]
    assert [h.target for h in heads] == ["/1", "/2", "/3"]
    assert events[2] == heads[1] and events[3] == Data(b"body")
    assert events[-2:] == [Data(b"abc"), EndOfMessage()]
    assert sum(isinstance(e, EndOfMessage) for e in events) == 3


def test_paused_until_start_next() -> None:
    p = RequestParser()
    p.feed(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(p.next_event(), RequestHead)
    assert isinstance(p.next_event(), EndOfMessage)
    assert p.next_event() is PAUSED
    assert p.next_event() is PAUSED
    p.start_next()
    head = p.next_event()
    assert isinstance(head, RequestHead) and head.target == "/b"


def test_start_next_before_end_is_an_error() -> None:
    p = RequestParser()
    p.feed(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
    p.next_event()
    with pytest.raises(RuntimeError):
        p.start_next()


def test_http10_keep_alive() -> None:
    head, _ = parse_all(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
    assert head.version == (1, 0)
    assert head.keep_alive is True
    head, _ = parse_all(b"GET / HTTP/1.0\r\n\r\n")
    assert head.keep_alive is False
    head, _ = parse_all(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
    assert head.keep_alive is False


def test_http11_connection_close() -> None:
    head, _ = parse_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: TE, Close\r\n\r\n")
    assert head.keep_alive is False
    head, _ = parse_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n")
    assert head.keep_alive is True


def test_absolute_form_target() -> None:
    head, _ = parse_all(b"GET http://www.example.com:8080/p?q HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.target == "http://www.example.com:8080/p?q"


def test_options_asterisk() -> None:
    head, _ = parse_all(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head.method == "OPTIONS"
    assert head.target == "*"


def test_connect_authority_form() -> None:
    head, _ = parse_all(b"CONNECT www.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.target == "www.example.com:443"


def test_leading_crlfs_are_skipped() -> None:
    raw = b"\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
    head, eom = parse_all(raw)
    assert head.the_request == "GET / HTTP/1.1"
    assert head.header_bytes == len(raw)
    assert eom == EndOfMessage()


def test_crlf_after_post_body_before_next_request() -> None:
    raw = b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab\r\nGET /n HTTP/1.1\r\n\r\n"
    events = parse_all(raw)
    assert events[-2].target == "/n"
    assert events[-2].header_bytes == len(b"\r\nGET /n HTTP/1.1\r\n\r\n")


def test_bare_lf_line_endings() -> None:
    head, data, _ = parse_all(b"POST /lf HTTP/1.1\nHost: a\nContent-Length: 2\n\nok")
    assert head.headers == [("Host", "a"), ("Content-Length", "2")]
    assert data == Data(b"ok")
    head, _ = parse_all(b"GET / HTTP/1.1\r\nA: 1\nB: 2\r\n\n")
    assert head.headers == [("A", "1"), ("B", "2")]


def test_http09_simple_request() -> None:
    head, eom = parse_all(b"GET /old\r\n")
    assert head.version == (0, 9)
    assert head.headers == []
    assert head.keep_alive is False
    assert head.the_request == "GET /old"
    assert eom == EndOfMessage()


def test_header_values_are_stripped_and_names_kept() -> None:
    raw = b"GET / HTTP/1.1\r\nhOsT:a\r\nX-Empty:\r\nX-Sp: \t v a l \t\r\nX-Obs: caf\xe9\r\n\r\n"
    head, _ = parse_all(raw)
    assert head.headers == [("hOsT", "a"), ("X-Empty", ""), ("X-Sp", "v a l"), ("X-Obs", "café")]


def test_expect_continue() -> None:
    raw = b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nz"
    head, _, _ = parse_all(raw)
    assert head.expect_continue is True
    head, _, _ = parse_all(raw.replace(b"HTTP/1.1", b"HTTP/1.0"))
    assert head.expect_continue is False


def test_get_with_body_and_unknown_method() -> None:
    head, data, _ = parse_all(b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
    assert data == Data(b"abc")
    head, _ = parse_all(b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head.method == "BREW"


def test_http10_chunked_accepted() -> None:
    head, data, _ = parse_all(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
    )
    assert head.chunked and head.version == (1, 0)
    assert data == Data(b"x")


def test_repeated_equal_content_length() -> None:
    head, data, _ = parse_all(
        b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\nContent-Length: 003\r\n\r\nabc"
    )
    assert head.content_length == 3
    assert data == Data(b"abc")


def test_zero_content_length() -> None:
    head, eom = parse_all(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert head.content_length == 0
    assert eom == EndOfMessage()


def test_minor_version_above_one() -> None:
    head, _ = parse_all(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n")
    assert head.version == (1, 2)
    assert head.keep_alive is True


def test_body_streams_in_pieces_linear() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    p = RequestParser()
    p.feed(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body))
    assert isinstance(p.next_event(), RequestHead)
    got = bytearray()
    for i in range(0, len(body), 4096):
        p.feed(body[i : i + 4096])
        ev = p.next_event()
        assert isinstance(ev, Data)
        got += ev.data
        ev = p.next_event()
        assert ev is NEED_DATA or (isinstance(ev, EndOfMessage) and i + 4096 == len(body))
    assert got == body
    assert len(p._buf) == 0  # consumed pieces are released, not re-copied


def test_data_arrives_before_whole_body() -> None:
    p = RequestParser()
    p.feed(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
    assert isinstance(p.next_event(), RequestHead)
    assert p.next_event() == Data(b"abc")
    assert p.next_event() is NEED_DATA
    p.feed(b"defghijXYZ")
    assert p.next_event() == Data(b"defghij")
    assert p.next_event() == EndOfMessage()
    assert p.next_event() is PAUSED
    assert p.trailing_data == b"XYZ"


def test_limit_request_fields_zero_is_unlimited() -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(300))
    head, _ = parse_all(b"GET / HTTP/1.1\r\n" + fields + b"\r\n", limit_request_fields=0)
    assert len(head.headers) == 300


def test_exact_limits_are_allowed() -> None:
    line = b"GET /" + b"a" * 10 + b" HTTP/1.1"
    head, _ = parse_all(
        line + b"\r\nX: " + b"b" * 7 + b"\r\n\r\n",
        limit_request_line=len(line),
        limit_request_fieldsize=10,
        limit_request_fields=1,
    )
    assert head.headers == [("X", "b" * 7)]


# ---------------------------------------------------------------- EOF


def test_eof_between_requests() -> None:
    p = RequestParser()
    p.feed(b"GET / HTTP/1.1\r\n\r\n")
    p.next_event()
    p.next_event()
    p.start_next()
    p.feed(b"")
    assert p.eof
    assert p.next_event() is NEED_DATA


def test_eof_in_request_line_is_silent() -> None:
    p = RequestParser()
    p.feed(b"GET /partial")
    p.feed(b"")
    assert p.next_event() is NEED_DATA and p.eof


def test_eof_in_headers_is_400() -> None:
    assert run(b"GET / HTTP/1.1\r\nHost: a\r\n")[-1][:2] == ("error", 400)


def test_eof_in_body_is_400() -> None:
    events = run(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
    assert events[-2] == Data(b"ab") and events[-1][:2] == ("error", 400)
    events = run(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
    assert events[-1][:2] == ("error", 400)


# ---------------------------------------------------------------- malformed

H = b"GET / HTTP/1.1\r\nHost: a\r\n"
P = b"POST / HTTP/1.1\r\nHost: a\r\n"
TE = P + b"Transfer-Encoding: chunked\r\n\r\n"

MALFORMED = [
    # smuggling: framing headers
    ("cl-and-te", P + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("cl-dup-differ", P + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("cl-list-differ", P + b"Content-Length: 3, 4\r\n\r\nabcd", 400),
    ("cl-non-digit", P + b"Content-Length: 3a\r\n\r\nabc", 400),
    ("cl-plus", P + b"Content-Length: +3\r\n\r\nabc", 400),
    ("cl-minus", P + b"Content-Length: -1\r\n\r\n", 400),
    ("cl-empty", P + b"Content-Length:\r\n\r\n", 400),
    ("cl-list-empty-elem", P + b"Content-Length: 3,\r\n\r\nabc", 400),
    ("cl-2**63", P + b"Content-Length: 9223372036854775808\r\n\r\n", 400),
    ("cl-huge", P + b"Content-Length: " + b"9" * 40 + b"\r\n\r\n", 400),
    ("cl-hex", P + b"Content-Length: 0x10\r\n\r\n", 400),
    ("te-gzip", P + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    ("te-gzip-chunked", P + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("te-chunked-not-last", P + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    (
        "te-chunked-twice",
        P + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    ("te-empty", P + b"Transfer-Encoding: \r\n\r\n", 400),
    # chunk framing
    ("chunk-non-hex", TE + b"zz\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-0x", TE + b"0x3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-empty-size", TE + b"\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-negative", TE + b"-3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-overflow", TE + b"8000000000000000\r\nabc\r\n", 400),
    ("chunk-too-many-digits", TE + b"0" * 70 + b"1\r\nx\r\n0\r\n\r\n", 400),
    ("chunk-missing-crlf", TE + b"3\r\nabcd\r\n0\r\n\r\n", 400),
    ("chunk-cr-no-lf", TE + b"3\r\nabc\rX0\r\n\r\n", 400),
    ("chunk-ext-too-long", TE + b"1;" + b"e" * 5000 + b"\r\nx\r\n0\r\n\r\n", 400),
    ("chunk-ext-ctl", TE + b"1;a=\x01\r\nx\r\n0\r\n\r\n", 400),
    ("chunk-leading-space", TE + b" 1\r\nx\r\n0\r\n\r\n", 400),
    ("trailer-no-colon", TE + b"0\r\nbogus\r\n\r\n", 400),
    ("trailer-fold", TE + b"0\r\nA: b\r\n c\r\n\r\n", 400),
    # header block
    ("obs-fold", H + b"X-Long: a\r\n  continued\r\n\r\n", 400),
    ("obs-fold-tab", H + b"X-Long: a\r\n\tcontinued\r\n\r\n", 400),
    ("fold-first-line", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("space-before-colon", H + b"X-Bad : v\r\n\r\n", 400),
    ("tab-before-colon", H + b"X-Bad\t: v\r\n\r\n", 400),
    ("name-bad-char", H + b"X(Bad): v\r\n\r\n", 400),
    ("name-8bit", H + b"X-\xe9: v\r\n\r\n", 400),
    ("name-empty", H + b": v\r\n\r\n", 400),
    ("no-colon", H + b"JustSomeText\r\n\r\n", 400),
    ("nul-in-value", H + b"X: a\x00b\r\n\r\n", 400),
    ("bare-cr-in-value", H + b"X: a\rb\r\n\r\n", 400),
    ("bare-cr-line", H + b"\r\r\n\r\n", 400),
    ("ctl-in-value", H + b"X: a\x1bb\r\n\r\n", 400),
    ("del-in-value", H + b"X: a\x7fb\r\n\r\n", 400),
    # request line
    ("nul-in-request-line", b"GET /a\x00b HTTP/1.1\r\n\r\n", 400),
    ("cr-in-request-line", b"GET /a\rb HTTP/1.1\r\n\r\n", 400),
    ("tab-separator", b"GET\t/ HTTP/1.1\r\n\r\n", 400),
    ("double-space", b"GET  / HTTP/1.1\r\n\r\n", 400),
    ("trailing-space", b"GET / HTTP/1.1 \r\n\r\n", 400),
    ("leading-space", b" GET / HTTP/1.1\r\n\r\n", 400),
    ("extra-part", b"GET / HTTP/1.1 extra\r\n\r\n", 400),
    ("method-only", b"GET\r\n\r\n", 400),
    ("method-not-token", b"G@T / HTTP/1.1\r\n\r\n", 400),
    ("method-8bit", b"G\xc9T / HTTP/1.1\r\n\r\n", 400),
    ("lowercase-http", b"GET / http/1.1\r\n\r\n", 400),
    ("version-garbage", b"GET / HTTP/1.1x\r\n\r\n", 400),
    ("version-multi-digit", b"GET / HTTP/1.10\r\n\r\n", 400),
    ("version-0.9-explicit", b"GET / HTTP/0.9\r\n\r\n", 400),
    ("version-2", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("version-3", b"GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505),
    ("not-http", b"GET / FTP/1.1\r\n\r\n", 400),
    ("relative-target", b"GET foo HTTP/1.1\r\n\r\n", 400),
    ("asterisk-not-options", b"GET * HTTP/1.1\r\n\r\n", 400),
    ("head-http09", b"HEAD /x\r\n", 400),
    ("too-many-blank-lines", b"\r\n" * 100 + b"GET / HTTP/1.1\r\n\r\n", 400),
    # limits
    ("request-line-too-long", b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\n\r\n", 414),
    ("header-too-long", H + b"Cookie: " + b"c" * 8190 + b"\r\n\r\n", 400),
    ("too-many-headers", H + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n", 400),
]


@pytest.mark.parametrize(
    ("raw", "status"), [(r, s) for _, r, s in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
def test_malformed(raw: bytes, status: int) -> None:
    reference = run(raw)
    assert reference[-1][:2] == ("error", status)
    for size in CHUNK_SIZES[1:]:
        assert run(raw, size) == reference, f"chunk size {size}"


def test_malformed_table_is_large_enough() -> None:
    assert len(MALFORMED) >= 25


def error_of(raw: bytes, **limits: int) -> ParseError:
    p = RequestParser(**limits)
    p.feed(raw)
    with pytest.raises(ParseError) as info:
        for _ in range(10):
            p.next_event()
    return info.value


def test_generic_400_message() -> None:
    exc = error_of(b"G@T / HTTP/1.1\r\n\r\n")
    assert exc.status == 400
    assert (
        exc.message
        == BAD_REQUEST_MESSAGE
        == ("Your browser sent a request that this server could not understand.")
    )
    assert exc.notes == ""
    assert exc.log.startswith("AH03445: ")


def test_414_message_and_log() -> None:
    exc = error_of(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n", limit_request_line=100)
    assert exc.status == 414
    assert exc.message == (
        "The requested URL's length exceeds the capacity\nlimit for this server.<br />\n"
    )
    assert exc.log == (
        "AH00565: request failed: client's request-line exceeds LimitRequestLine (longer than 100)"
    )


def test_field_too_long_message_names_the_field() -> None:
    exc = error_of(H + b"Cookie: " + b"c" * 100 + b"\r\n\r\n", limit_request_fieldsize=50)
    assert exc.status == 400
    expected = "Size of a request header field exceeds server limit.<br />\n<pre>\nCookie\n</pre>\n"
    assert exc.message == exc.notes == expected
    assert exc.log == "AH00567: request failed: error reading the headers"
    assert exc.detail == "AH00561: Request header exceeds LimitRequestFieldSize: Cookie"


def test_field_too_long_name_is_escaped_and_truncated() -> None:
    exc = error_of(H + b"<" + b"n" * 200 + b": v\r\n\r\n", limit_request_fieldsize=150)
    assert "<pre>\n&lt;" + "n" * 76 + "\n</pre>" in exc.notes


def test_too_many_fields_message() -> None:
    exc = error_of(H + b"A: 1\r\nB: 2\r\n\r\n", limit_request_fields=2)
    assert exc.status == 400
    assert exc.message == "The number of request header fields exceeds this server's limit."


def test_missing_colon_notes() -> None:
    exc = error_of(H + b"<b>oops\r\n\r\n")
    assert exc.notes == (
        "Request header field is missing ':' separator.<br />\n<pre>\n&lt;b&gt;oops</pre>\n"
    )


def test_501_message() -> None:
    exc = error_of(P + b"Transfer-Encoding: gzip\r\n\r\n")
    assert exc.status == 501
    assert exc.message == "POST to / not supported."
    assert exc.log == "AH01585: Unknown Transfer-Encoding: gzip"


def test_error_is_sticky() -> None:
    p = RequestParser()
    p.feed(b"GET / HTTP/9.9\r\n\r\n")
    with pytest.raises(ParseError) as first:
        p.next_event()
    with pytest.raises(ParseError) as second:
        p.next_event()
    assert first.value is second.value
    assert first.value.status == 505


# ---------------------------------------------------------------- bounded buffering


def test_unterminated_request_line_is_refused_early() -> None:
    p = RequestParser(limit_request_line=100)
    p.feed(b"GET /" + b"a" * 90)
    assert p.next_event() is NEED_DATA
    p.feed(b"a" * 20)
    with pytest.raises(ParseError) as info:
        p.next_event()
    assert info.value.status == 414


def test_unterminated_header_line_is_refused_early() -> None:
    p = RequestParser(limit_request_fieldsize=100)
    p.feed(H + b"Cookie: " + b"c" * 80)
    assert p.next_event() is NEED_DATA
    p.feed(b"c" * 30)
    with pytest.raises(ParseError) as info:
        p.next_event()
    assert info.value.status == 400
    assert "<pre>\nCookie\n</pre>" in info.value.message


def test_too_many_headers_refused_before_blank_line() -> None:
    p = RequestParser(limit_request_fields=3)
    p.feed(H + b"A: 1\r\nB: 2\r\nC: 3\r\n")
    with pytest.raises(ParseError) as info:
        p.next_event()
    assert info.value.message == "The number of request header fields exceeds this server's limit."


def test_unterminated_chunk_size_line_is_refused_early() -> None:
    p = RequestParser(max_chunk_ext=100)
    p.feed(TE + b"1;" + b"x" * 500)
    p.next_event()
    with pytest.raises(ParseError):
        p.next_event()


def test_discard_body_and_body_framing() -> None:
    p = RequestParser()
    p.feed(TE + b"3\r\nabc\r\n")
    assert isinstance(p.next_event(), RequestHead)
    assert p.body_framing == "chunked"
    assert p.discard_body() is False
    p.feed(b"0\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
    assert p.discard_body() is True
    assert p.next_event() is PAUSED
    p.start_next()
    head = p.next_event()
    assert isinstance(head, RequestHead) and head.target == "/next"
    assert p.body_framing == "none"


# --- the one-match path for common requests gives what the line-by-line path gives ------
_SAME_EITHER_WAY = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x?y=1&z=%20 HTTP/1.0\r\n\r\n",
    b"HEAD /a/b HTTP/1.1\r\nHost: a\r\nConnection: close\r\nAccept:*/*\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\nX-Obs: \xe9t\xe9\t \r\nX-Empty:\r\n\r\n",
    b"PROPFIND /dav/ HTTP/1.1\r\nHost: a\r\nDepth: 1\r\nExpect: 100-continue\r\n\r\n",
]


def _head_fields(h: RequestHead) -> tuple[object, ...]:
    return (h.method, h.target, h.version, h.the_request, h.headers, h.content_length,
            h.chunked, h.keep_alive, h.expect_continue, h.header_bytes)


@pytest.mark.parametrize("raw", _SAME_EITHER_WAY)
def test_fast_and_line_by_line_heads_are_equal(raw: bytes) -> None:
    whole = RequestParser()
    whole.feed(raw)                       # one piece: the one-match path
    split = RequestParser()
    split.feed(raw[:5])                   # a partial line first: the line-by-line path
    assert split.next_event() is NEED_DATA
    split.feed(raw[5:])
    a, b = whole.next_event(), split.next_event()
    assert isinstance(a, RequestHead) and isinstance(b, RequestHead)
    assert _head_fields(a) == _head_fields(b)
    assert whole.next_event() == split.next_event()


@pytest.mark.parametrize("limits,raw,status", [
    ({"limit_request_line": 20}, b"GET /aaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    ({"limit_request_fieldsize": 10}, b"GET / HTTP/1.1\r\nHost: aaaaaaaaaaaa\r\n\r\n", 400),
    ({"limit_request_fields": 1}, b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n", 400),
])
def test_limits_hold_for_requests_that_arrive_whole(limits: dict[str, int], raw: bytes,
                                                    status: int) -> None:
    p = RequestParser(**limits)
    p.feed(raw)
    with pytest.raises(ParseError) as e:
        p.next_event()
    assert e.value.status == status
