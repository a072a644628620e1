"""The PROTOCOL stage: BYTERANGE, CONTENT_LENGTH, HTTP_HEADER and CHUNK in one pass.

What each step does follows Apache's filters of the same names: ranges only on a 200
whose whole body is in hand (HEAD included: the 206 head without its body);
Content-Length when the body is complete at the first pass; the head written with
Date and Server first, Content-Type last and, for a 304, only the fields 2.2 keeps;
ap_set_keepalive deciding Keep-Alive / Connection: close and whether to chunk (HTTP/1.1
when the length is unknown). ``r.bytes_sent`` counts the body as sent, before chunking
(what %b logs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.core.core_module import core
from featherd.filters.buckets import EOS, FLUSH, FileBucket, bucket_len
from featherd.http import ranges as ranges_mod
from featherd.http.dates import http_date
from featherd.http.status import STATUS_LINES, status_line

if TYPE_CHECKING:
    from featherd.core.request import Request

# ap_status_drops_connection (httpd.h)
DROPS_CONNECTION = frozenset({400, 408, 411, 413, 414, 500, 503, 501})
# ap_http_header_filter: what a 304 carries besides Date and Server, in this order (2.2)
NOT_MODIFIED_KEEP = ("Connection", "Keep-Alive", "ETag", "Content-Location", "Expires",
                     "Cache-Control", "Vary", "Warning", "WWW-Authenticate",
                     "Proxy-Authenticate", "Set-Cookie", "Set-Cookie2")
_NOT_MODIFIED_ORDER = {h.lower(): i for i, h in enumerate(NOT_MODIFIED_KEEP)}
_SKIP = frozenset(("date", "server", "content-type", "transfer-encoding", "connection",
                   "keep-alive"))


_NO_TOKENS: frozenset[str] = frozenset()
_RANGE_FIELDS = frozenset({"range", "request-range"})


def _tokens(v: str | None) -> set[str]:
    if not v:
        return set()
    return {t.strip(" \t").lower() for t in v.split(",")}


def _range_header(r: Request) -> tuple[str | None, bool]:
    """The Range (or Netscape's Request-Range) to apply; legacy flag for the latter."""
    if r.header_only:
        rh = r.headers_in.get("Range")
    else:
        rh = r.range_header
    if rh is not None:
        return rh, False
    if r.range_header is None and (r.header_only or r.method == "GET"):
        rr = r.headers_in.get("Request-Range")
        if rr is not None and not r.ctx.get("is_error_doc"):
            return rr, True
    return None, False


def _apply_ranges(r: Request, bb: list[Any], length: int) -> tuple[list[Any], int]:
    if r.range_header is None and not r.headers_in.has_any(_RANGE_FIELDS):
        c = r.per_dir_config[core.index]
        if c.max_ranges == -1:   # MaxRanges none: Accept-Ranges says so even without one
            r.headers_out.set("Accept-Ranges", "none")
        return bb, length
    c = r.per_dir_config[core.index]
    maxr = c.max_ranges
    if maxr is UNSET:
        maxr = 200
    if maxr == -1:   # MaxRanges none: ranges are never served
        r.headers_out.set("Accept-Ranges", "none")
        return bb, length
    rh, legacy = _range_header(r)
    if rh is None:
        return bb, length
    if "Content-Range" in r.headers_out:
        return bb, length      # already a single range
    ct0 = (r.content_type or "").lower()
    if ct0.startswith("multipart/byteranges") or ct0.startswith("multipart/x-byteranges"):
        return bb, length      # already several
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
        for b in bb:
            if isinstance(b, FileBucket):
                b.close()
        r.ctx["range416"] = length
        return [], 0
    spans: list[tuple[int, int]] = res  # type: ignore[assignment]
    data = [b for b in bb if b is not EOS and b is not FLUSH]
    owners = [b for b in data if isinstance(b, FileBucket)]

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
        r.headers_out.set("Content-Range", ranges_mod.content_range(s, e, length))
        out = slice_(s, e)
    else:
        boundary = ranges_mod.multipart_boundary()
        ct = content_type_for(r) or ""
        parts = ranges_mod.multipart_parts(spans, length, ct, boundary)
        out = []
        for head, s, e in parts:
            out.append(head)
            out.extend(slice_(s, e))
        out.append(ranges_mod.multipart_trailer(boundary))
        r.ctx["multipart_ct"] = ranges_mod.multipart_content_type(boundary, legacy)
    # the pieces borrow the file descriptor: the last piece of each file closes it
    for f in owners:
        last = None
        for b in out:
            if isinstance(b, FileBucket) and b.fd == f.fd:
                last = b
        if last is not None:
            last.owns_fd = True
            f.owns_fd = False
        else:
            f.close()
    total = sum(bucket_len(b) for b in out)
    return [*out, EOS], total


def set_keepalive(r: Request, framed: bool) -> tuple[bool, bool, bool]:
    """ap_set_keepalive: (keep the connection, the client sent a keep-alive token,
    chunk the body)."""
    conn = r.connection
    if conn.must_close or conn.aborted or not r.keepalive_ok:
        return False, False, False     # AP_CONN_CLOSE
    chunked = False
    if not framed:
        if r.proto_num >= 1001:
            chunked = True
        else:
            return False, False, False
    s = r.server
    mx = s.keep_alive_max if s.keep_alive_max is not None else 100
    to = s.keep_alive_timeout if s.keep_alive_timeout is not None else 5
    if (s.keep_alive is False or to <= 0 or (mx and mx - conn.keepalives <= 0)
            or r.status in DROPS_CONNECTION
            or ("connection" in r.headers_out._names
                and "close" in _tokens(r.headers_out.get("Connection")))):
        return False, False, chunked
    client = _tokens(r.headers_in.get("Connection")) \
        if "connection" in r.headers_in._names else _NO_TOKENS
    if "close" in client:
        return False, False, chunked
    if "nokeepalive" in r.subprocess_env and "Via" not in r.headers_in:
        return False, False, chunked
    ka_sent = "keep-alive" in client
    if not (ka_sent or r.proto_num >= 1001):
        return False, False, chunked
    if not conn.server_state_ok() or not conn.body_keepalive_ok(r):
        return False, False, chunked
    return True, ka_sent, chunked


def content_type_for(r: Request) -> str | None:
    """ap_make_content_type: DefaultType for untyped bodies, AddDefaultCharset."""
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


def content_meta_headers(r: Request, out: Any) -> Any:
    """ap_http_header_filter: Content-Encoding from r.content_encoding (replacing any),
    Content-Language from r.content_languages plus any already set, joined by ","."""
    out = out.copy()
    if r.content_encoding:
        out.set("Content-Encoding", r.content_encoding)
    if r.content_languages:
        langs = list(r.content_languages)
        low = {x.lower() for x in langs}
        for field in out.get_all("Content-Language"):
            for tok in field.split(","):
                tok = tok.strip()
                if tok and tok.lower() not in low:
                    langs.append(tok)
                    low.add(tok.lower())
        out.set("Content-Language", ",".join(langs))
    return out


def _fixup_vary(out: Any) -> Any:
    """fixup_vary (2.2 http_protocol.c): every Vary field's tokens, each once
    (case-insensitively), in one field joined by ","."""
    seen: list[str] = []
    low: set[str] = set()
    for v in out.get_all("Vary"):
        for tok in v.replace(",", " ").split():
            if tok.lower() not in low:
                low.add(tok.lower())
                seen.append(tok)
    out = out.copy()
    if seen:
        out.set("Vary", ",".join(seen))
    return out


def build_head(r: Request, length: int | None) -> bytes:
    """Status line and headers (ap_basic_http_header + ap_http_header_filter)."""
    conn = r.connection
    status = r.status
    env = r.subprocess_env
    out = r.headers_out
    if r.err_headers_out._items:
        merged = r.err_headers_out.copy()
        merged.extend(out)
        out = merged
    if r.content_encoding or r.content_languages:
        out = content_meta_headers(r, out)
    force10 = "force-response-1.0" in env
    if "force-no-vary" in env:
        out.unset("Vary")
        r.proto_num = 1000
        force10 = True
    elif "vary" in out._names:
        out = _fixup_vary(out)
    if r.no_cache and "Expires" not in out:
        out = out.copy()
        out.add("Expires", http_date(r.request_time))
    if r.proto_num > 1000 and "downgrade-1.0" in env:
        r.proto_num = 1000    # basic_http_header_check, before the force-response test
    proto = "HTTP/1.1"
    if force10 and r.proto_num == 1000:
        proto = "HTTP/1.0"
        conn.must_close = True
    framed = status in (304, 204) or r.header_only or length is not None
    ka, ka_sent, chunked = set_keepalive(r, framed)
    r.chunked = chunked
    conn.keepalive = ka
    sl = r.status_line
    line = sl if sl and sl[:3] == str(status) else STATUS_LINES.get(status) \
        or status_line(status)
    parts = [f"{proto} {line}\r\nDate: {conn.date()}\r\n"]
    server_hdr = conn.server_header
    if server_hdr:
        parts.append(f"Server: {server_hdr}\r\n")
    conn_vals = out.get_all("Connection") if "connection" in out._names else []
    if ka:
        if ka_sent:
            s = r.server
            mx = s.keep_alive_max if s.keep_alive_max is not None else 100
            to = s.keep_alive_timeout if s.keep_alive_timeout is not None else 5
            if mx:
                ka_hdr = f"timeout={int(to)}, max={mx - conn.keepalives}"
            else:
                ka_hdr = f"timeout={int(to)}"
            conn_vals.append("Keep-Alive")
        else:
            ka_hdr = None
    else:
        ka_hdr = None
        if "close" not in _tokens(", ".join(conn_vals)):
            conn_vals.append("close")
    conn_hdr = ", ".join(conn_vals) if conn_vals else None
    if status == 304:
        keep: list[tuple[int, int, str, str]] = []
        for i, (k, v) in enumerate(out):
            o = _NOT_MODIFIED_ORDER.get(k.lower())
            if o is not None and o > 1:
                keep.append((o, i, k, v))
        if conn_hdr:
            parts.append(f"Connection: {conn_hdr}\r\n")
        if ka_hdr:
            parts.append(f"Keep-Alive: {ka_hdr}\r\n")
        for _, _, k, v in sorted(keep):
            parts.append(f"{k}: {v}\r\n")
        parts.append("\r\n")
        return "".join(parts).encode("latin-1", "replace")
    drop_cl = chunked or length is not None or status == 204
    for (k, v), lk in zip(out._items, out._names, strict=True):
        if lk in _SKIP or (drop_cl and lk == "content-length"):
            continue
        parts.append(f"{k}: {v}\r\n")
    if length is not None and status != 204 and not (r.header_only and length == 0):
        parts.append(f"Content-Length: {length}\r\n")
    if ka_hdr:
        parts.append(f"Keep-Alive: {ka_hdr}\r\n")
    if conn_hdr:
        parts.append(f"Connection: {conn_hdr}\r\n")
    if chunked:
        parts.append("Transfer-Encoding: chunked\r\n")
    if status != 204:
        mct = r.ctx.get("multipart_ct")
        ct = mct or content_type_for(r)
        if ct:
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
        for b in bb:
            if isinstance(b, FileBucket):
                b.close()
        return
    no_body = r.header_only or r.status in (304, 204)
    if not r.sent_headers:
        r.sent_headers = True
        complete = bool(bb) and bb[-1] is EOS
        length: int | None = None
        if complete:
            length = 0
            for b in bb:
                if b.__class__ is bytes:
                    length += len(b)
                elif b is not EOS:
                    length += bucket_len(b)
            if r.status == 200:
                bb, length = _apply_ranges(r, bb, length)
                if not bb:
                    # unsatisfiable: the canned 416 page, with Content-Range: bytes */N
                    # (RFC 7233 4.4; Apache's error bucket path leaves it out)
                    from featherd.core.http_request import send_error_response

                    r.sent_headers = False
                    r.err_headers_out.set("Content-Range", f"bytes */{r.ctx['range416']}")
                    send_error_response(r, 416)
                    return
            if r.header_only and length == 0:
                cl = r.headers_out.get("Content-Length")
                if cl is not None and cl.isdigit() and cl != "0":
                    length = int(cl)   # a HEAD answered without a body keeps its C-L
        else:
            cl = r.headers_out.get("Content-Length")
            if cl is not None and cl.isdigit():
                length = int(cl)
        if r.status in (304, 204) or r.status < 200:
            length = None
        head = b"" if r.assbackwards else build_head(r, length)
        if no_body:
            for b in bb:
                if isinstance(b, FileBucket):
                    b.close()
            if bb and bb[-1] is EOS:
                r.eos_sent = True
            conn.send(r, [head], r.eos_sent)
            return
        # complete: the body is ``length`` bytes (ranges applied); else count what came
        r.bytes_sent += length if complete and length is not None else \
            sum(bucket_len(b) for b in bb)
        if r.chunked:
            bb = _chunk(bb)
        if bb and bb[-1] is EOS:
            r.eos_sent = True
            bb = bb[:-1]
        if head:
            bb.insert(0, head)
        conn.send(r, bb, r.eos_sent)
        return
    if no_body:
        for b in bb:
            if isinstance(b, FileBucket):
                b.close()
        if bb and bb[-1] is EOS:
            r.eos_sent = True
            conn.send(r, [], True)
        return
    r.bytes_sent += sum(bucket_len(b) for b in bb)
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
                if isinstance(b, FileBucket):
                    b.close()
                continue
            out.append(b"%x\r\n" % n)
            out.append(b)
            out.append(b"\r\n")
    return out
