"""The comparison itself (no servers): each 2.2 allowance accepts exactly the 2.2 form,
and real differences are still reported."""

from __future__ import annotations

from compat_harness import DOCTYPE_22, DOCTYPE_24, Resp, compare, parse_responses

PAGE = ("{doctype}\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n"
        "<h1>Not Found</h1>\n<p>{text}</p>\n</body></html>\n")


def page(status: int, reason: str, body: str, **extra: str) -> Resp:
    headers = [("Content-Length", str(len(body))),
               ("Content-Type", "text/html; charset=iso-8859-1"), *extra.items()]
    return Resp(status, reason, headers, body.encode("latin-1"))


def test_404_22_wording_accepted() -> None:
    a = page(404, "Not Found", PAGE.format(doctype=DOCTYPE_24,
                                           text="The requested URL was not found on this "
                                                "server."))
    f = page(404, "Not Found", PAGE.format(doctype=DOCTYPE_22,
                                           text="The requested URL /x was not found on this "
                                                "server."))
    assert compare(f, a, uri="/x") == []


def test_404_wrong_uri_rejected() -> None:
    a = page(404, "Not Found", PAGE.format(doctype=DOCTYPE_24,
                                           text="The requested URL was not found on this "
                                                "server."))
    f = page(404, "Not Found", PAGE.format(doctype=DOCTYPE_22,
                                           text="The requested URL /y was not found on this "
                                                "server."))
    diffs = compare(f, a, uri="/x")
    assert any(d.startswith("body:") for d in diffs)
    assert any(d.startswith("Content-Length:") for d in diffs)


def test_allow_order_accepted_but_not_other_methods() -> None:
    a = Resp(200, "OK", [("Allow", "GET,POST,OPTIONS,HEAD"), ("Content-Length", "0")], b"")
    f = Resp(200, "OK", [("Allow", "GET,HEAD,POST,OPTIONS"), ("Content-Length", "0")], b"")
    assert compare(f, a, method="OPTIONS") == []
    f2 = Resp(200, "OK", [("Allow", "GET,HEAD,POST,OPTIONS,TRACE"),
                          ("Content-Length", "0")], b"")
    assert compare(f2, a, method="OPTIONS") == [
        "Allow: featherd 'GET,HEAD,POST,OPTIONS,TRACE', apache2 'GET,POST,OPTIONS,HEAD'"]


def test_connection_compared_only_on_request() -> None:
    a = Resp(200, "OK", [("Content-Length", "2")], b"hi")
    f = Resp(200, "OK", [("Content-Length", "2"), ("Connection", "Keep-Alive")], b"hi")
    assert compare(f, a) == []
    assert compare(f, a, connection=True) == ["Connection: featherd 'Keep-Alive', apache2 None"]


def test_default_type_and_etag_format() -> None:
    a = Resp(200, "OK", [("ETag", '"d-1"'), ("Content-Length", "2")], b"hi")
    f = Resp(200, "OK", [("ETag", '"7-d-1"'), ("Content-Length", "2"),
                         ("Content-Type", "text/plain")], b"hi")
    assert compare(f, a) == []
    f2 = Resp(200, "OK", [("Content-Length", "2"), ("Content-Type", "text/html")], b"hi")
    assert compare(f2, a) == ["Content-Type: featherd 'text/html', apache2 None",
                              "ETag presence: featherd None, apache2 '\"d-1\"'"]


def test_304_may_drop_headers_2_2_does_not_send() -> None:
    a = Resp(304, "Not Modified", [("ETag", '"d-1"'), ("Accept-Ranges", "bytes"),
                                   ("Last-Modified", "x")], b"")
    f = Resp(304, "Not Modified", [("ETag", '"7-d-1"')], b"")
    assert compare(f, a) == []
    f2 = Resp(304, "Not Modified", [("ETag", '"7-d-1"'), ("Last-Modified", "y")], b"")
    assert compare(f2, a) == ["Last-Modified: featherd 'y', apache2 'x'"]


def test_multipart_boundaries_ignored_parts_compared() -> None:
    def mp(boundary: str, parts: list[bytes]) -> Resp:
        body = b"".join(b"\r\n--" + boundary.encode() + b"\r\nContent-range: bytes 0-1/9"
                        b"\r\n\r\n" + p for p in parts) + b"\r\n--" + boundary.encode() + b"--\r\n"
        return Resp(206, "Partial Content",
                    [("Content-Type", f"multipart/byteranges; boundary={boundary}"),
                     ("Content-Length", str(len(body)))], body)

    assert compare(mp("abc", [b"01", b"01"]), mp("0123456789", [b"01", b"01"])) == []
    assert compare(mp("abc", [b"01", b"02"]), mp("0123456789", [b"01", b"01"])) != []


def test_parse_pipelined_responses() -> None:
    data = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    rs = parse_responses(data, ["GET", "GET"])
    assert [(r.status, r.body) for r in rs] == [(200, b"hi"), (404, b"abc")]
