"""The PROTOCOL stage: BYTERANGE, CONTENT_LENGTH, HTTP_HEADER and CHUNK in one pass.

What each step does follows Apache's filters of the same names: ranges only on a 200
whose whole body is in hand; Content-Length when the body is complete at the first
pass; the head written with Date and Server first and Content-Type last; chunking for
HTTP/1.1 when the length is unknown and the connection may stay open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.filters.buckets import EOS, FLUSH, FileBucket, bucket_len
from featherd.http import ranges as ranges_mod
from featherd.http.status import status_line

if TYPE_CHECKING:
    from featherd.core.request import Request

# ap_status_drops_connection
DROPS_CONNECTION = frozenset({400, 408, 411, 413, 414, 417, 500, 503, 501})
NOT_MODIFIED_KEEP = ("Connection", "Keep-Alive", "ETag", "Content-Location", "Expires",
                     "Cache-Control", "Vary", "Warning", "WWW-Authenticate",
                     "Proxy-Authenticate", "Set-Cookie", "Set-Cookie2", "Date", "Server",
                     "Last-Modified")
_NOT_MODIFIED_KEEP_L = frozenset(h.lower() for h in NOT_MODIFIED_KEEP)


def _apply_ranges(r: Request, bb: list[Any], length: int) -> tuple[list[Any], int]:
    from featherd.core.core_module import core

    c = r.per_dir_config[core.index]
    maxr = c.max_ranges
    if maxr is UNSET:
        maxr = 200
    if maxr == -1:   # MaxRanges none
        r.headers_out.set("Accept-Ranges", "none")
        return bb, length
    rh = r.range_header
    if rh is None:
        return bb, length
    ir = r.headers_in.get("If-Range")
    if ir is not None:
        from featherd.http.dates import parse_http_date

        lm = r.headers_out.get("Last-Modified")
        lmt = parse_http_date(lm) if lm else None
        if not ranges_mod.if_range_ok(ir, r.headers_out.get("ETag"), lmt, r.request_time):
            return bb, length
    res = ranges_mod.parse_range(rh, length, maxr if maxr > 0 else -1)
    if res is None:
        return bb, length
    if res == "unsatisfiable":
        r.status = 416
        r.headers_out.set("Content-Range", f"bytes */{length}")
        r.ctx["range416"] = True
        return [EOS], 0
    spans: list[tuple[int, int]] = res  # type: ignore[assignment]
    data = [b for b in bb if b is not EOS and b is not FLUSH]

    def slice_(start: int, end: int) -> list[Any]:
        out: list[Any] = []
        pos = 0
        for b in data:
            n = bucket_len(b)
            s, e = max(start, pos), min(end + 1, pos + n)
            if s < e:
                if isinstance(b, FileBucket):
                    out.append(b.split(s - pos, e - s))
                else:
                    out.append(bytes(b[s - pos:e - pos]))
            pos += n
        return out

    r.status = 206
    if len(spans) == 1:
        s, e = spans[0]
        r.headers_out.set("Content-Range", f"bytes {s}-{e}/{length}")
        out = slice_(s, e)
        r.ctx["range_keep"] = bb
        return [*out, EOS], e - s + 1
    boundary = ranges_mod.multipart_boundary()
    ct = r.content_type or ""
    parts = ranges_mod.multipart_parts(spans, length, ct, boundary)
    out = []
    total = 0
    for head, s, e in parts:
        out.append(head)
        out.extend(slice_(s, e))
        total += len(head) + (e - s + 1)
    trailer = ranges_mod.multipart_trailer(boundary)
    out.append(trailer)
    total += len(trailer)
    r.ctx["range_keep"] = bb
    r.ctx["multipart_ct"] = ranges_mod.multipart_content_type(boundary)
    return [*out, EOS], total


def _wants_keepalive(r: Request) -> bool:
    conn = r.connection
    if not conn.client_keepalive or conn.aborted:
        return False
    s = r.server
    if s.keep_alive is False:
        return False
    if r.status in DROPS_CONNECTION or "nokeepalive" in r.subprocess_env:
        return False
    if not r.keepalive_ok:
        return False
    mx = s.keep_alive_max if s.keep_alive_max is not None else 100
    left = mx - conn.keepalives
    if mx != 0 and left <= 0:
        return False
    return conn.server_state_ok()


def content_type_for(r: Request) -> str | None:
    """ap_make_content_type: DefaultType for untyped bodies, AddDefaultCharset."""
    from featherd.core.core_module import core

    ct = r.content_type
    c = r.per_dir_config[core.index]
    if not ct:
        if r.ctx.get("no_content_type"):
            return None
        dt = c.default_type
        ct = "text/plain" if dt is UNSET else dt
        if not ct:
            return None
    cs = c.add_default_charset
    if cs is not UNSET and cs and ";" not in ct:
        low = ct.lower()
        if low == "text/plain" or low == "text/html":
            ct = f"{ct}; charset={cs}"
    return ct


def build_head(r: Request, length: int | None) -> bytes:
    """Status line and headers (ap_basic_http_header + ap_http_header_filter)."""
    conn = r.connection
    status = r.status
    env = r.subprocess_env
    out = r.headers_out
    if r.err_headers_out:
        merged = r.err_headers_out.copy()
        merged.extend(out)
        out = merged
    ka = _wants_keepalive(r)
    framing = (status in (304, 204) or r.header_only or length is not None)
    chunked = False
    if ka and not framing:
        if r.proto_num >= 1001 and "downgrade-1.0" not in env:
            chunked = True
        else:
            ka = False
    r.chunked = chunked
    conn.keepalive = ka
    if "force-no-vary" in env:
        out.unset("Vary")
    proto = "HTTP/1.0" if ("force-response-1.0" in env or "force-no-vary" in env) \
        and r.proto_num <= 1000 else "HTTP/1.1"
    line = r.status_line if r.status_line and r.status_line[:3] == str(status) \
        else status_line(status)
    parts = [f"{proto} {line}\r\nDate: {conn.date()}\r\n"]
    server_hdr = conn.server_header
    if server_hdr:
        parts.append(f"Server: {server_hdr}\r\n")
    ct = content_type_for(r)
    skip = ("date", "server", "content-type")
    if status == 304:
        for k, v in out:
            lk = k.lower()
            if lk in _NOT_MODIFIED_KEEP_L and lk not in skip:
                parts.append(f"{k}: {v}\r\n")
    else:
        for k, v in out:
            lk = k.lower()
            if lk in skip or (lk == "content-length" and (chunked or length is not None)):
                continue
            if lk == "transfer-encoding":
                continue
            parts.append(f"{k}: {v}\r\n")
        if length is not None and status not in (204,) and not (
                r.header_only and length == 0 and "content-length" not in
                [k.lower() for k, _ in out]):
            parts.append(f"Content-Length: {length}\r\n")
        if chunked:
            parts.append("Transfer-Encoding: chunked\r\n")
    if ka:
        s = r.server
        mx = s.keep_alive_max if s.keep_alive_max is not None else 100
        to = s.keep_alive_timeout if s.keep_alive_timeout is not None else 5
        if mx:
            parts.append(f"Keep-Alive: timeout={int(to)}, max={mx - conn.keepalives}\r\n")
        else:
            parts.append(f"Keep-Alive: timeout={int(to)}\r\n")
        parts.append("Connection: Keep-Alive\r\n")
    elif r.proto_num >= 1001 or conn.client_keepalive:
        parts.append("Connection: close\r\n")
    if status != 304 and status != 204:
        mct = r.ctx.get("multipart_ct")
        if mct:
            parts.append(f"Content-Type: {mct}\r\n")
        elif ct:
            parts.append(f"Content-Type: {ct}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("latin-1", "replace")


def protocol_stage(r: Request, bb: list[Any]) -> None:
    conn = r.connection
    sink = r.ctx.get("sub_sink")
    if sink is not None:
        sink([b for b in bb if b is not EOS])
        if bb and bb[-1] is EOS:
            r.eos_sent = True
        return
    if r.eos_sent:
        return
    if not r.sent_headers:
        r.sent_headers = True
        complete = bool(bb) and bb[-1] is EOS
        length: int | None = None
        if complete:
            length = 0
            for b in bb:
                length += bucket_len(b)
            if r.status == 200 and r.range_header is not None and not r.header_only:
                bb, length = _apply_ranges(r, bb, length)
            elif r.status == 200 and r.range_header is not None and r.header_only:
                pass
            if r.status == 200 and "Accept-Ranges" not in r.headers_out:
                r.headers_out.set("Accept-Ranges", "bytes")
        else:
            cl = r.headers_out.get("Content-Length")
            if cl is not None and cl.isdigit():
                length = int(cl)
        if r.status in (304, 204) or (r.status < 200):
            length = None
        if r.assbackwards:
            head = b""
        else:
            head = build_head(r, length)
        if r.header_only or r.status in (304, 204):
            for b in bb:
                if isinstance(b, FileBucket):
                    b.close()
            conn.send(r, [head], True)
            r.eos_sent = True
            return
        r.ctx["body_written"] = 0
        if r.chunked:
            bb = _chunk(bb)
        if bb and bb[-1] is EOS:
            r.eos_sent = True
            bb = bb[:-1]
        conn.send(r, [head, *bb], r.eos_sent)
        return
    if r.header_only or r.status in (304, 204):
        if bb and bb[-1] is EOS:
            r.eos_sent = True
            conn.send(r, [], True)
        return
    if r.chunked:
        bb = _chunk(bb)
    done = bool(bb) and bb[-1] is EOS
    if done:
        r.eos_sent = True
        bb = bb[:-1]
    conn.send(r, bb, done)


def _chunk(bb: list[Any]) -> list[Any]:
    out: list[Any] = []
    for b in bb:
        if b is EOS:
            out.append(b"0\r\n\r\n")
            out.append(EOS)
        elif b is FLUSH:
            continue
        else:
            n = bucket_len(b)
            if n == 0:
                continue
            out.append(b"%x\r\n" % n)
            out.append(b)
            out.append(b"\r\n")
    return out
