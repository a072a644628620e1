"""Byte ranges (RFC 7233) with httpd 2.4's byterange_filter.c semantics.

``parse_range`` is ``ap_set_byterange`` plus the limit checks at the top of
``ap_byterange_filter`` (the CVE-2011-3192 hardening): ranges are clamped to
the content, consecutive overlapping or adjacent ranges are merged, and the
full 200 response is sent instead of 206 when

* the header is not ``bytes=...`` or any byte-range-spec is malformed,
* the merged ranges add up to more than the content length,
* more than MaxRanges ranges (after merging) remain,
* more than MaxRangeOverlaps merges or MaxRangeReversals reversals occurred.

The multipart helpers reproduce the filter's output byte for byte so that a
caller can interleave the boundary headers with file regions (sendfile).
"""

from __future__ import annotations

import os
import re
from math import floor
from typing import Literal

from featherd.http.dates import parse_http_date

__all__ = [
    "DEFAULT_MAX_OVERLAPS",
    "DEFAULT_MAX_RANGES",
    "DEFAULT_MAX_REVERSALS",
    "MAXRANGES_NONE",
    "MAXRANGES_UNLIMITED",
    "content_range",
    "if_range_ok",
    "multipart_boundary",
    "multipart_content_type",
    "multipart_length",
    "multipart_parts",
    "multipart_trailer",
    "parse_max_ranges",
    "parse_range",
]

DEFAULT_MAX_RANGES = 200  # AP_DEFAULT_MAX_RANGES
DEFAULT_MAX_OVERLAPS = 20  # AP_DEFAULT_MAX_OVERLAPS
DEFAULT_MAX_REVERSALS = 20  # AP_DEFAULT_MAX_REVERSALS
MAXRANGES_NONE = 0  # "none": any (satisfiable) Range yields the full 200
MAXRANGES_UNLIMITED = -1  # "unlimited"; any negative value means no limit

_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)

# apr_strtoff (strtol, base 10): optional C-locale whitespace, optional sign,
# digits, and nothing after them.
_STRTOFF = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")

# atoi(): leading whitespace, optional sign, digits; the rest is ignored.
_ATOI = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")


def _strtoff(s: str) -> int | None:
    """apr_strtoff() with ``*errp`` required to be NUL; None when invalid."""
    if not s:
        return 0  # strtol("") converts nothing and leaves errp at the NUL
    m = _STRTOFF.fullmatch(s)
    if m is None:
        return None
    v = int(m.group(1))
    if v > _INT64_MAX or v < _INT64_MIN:
        return None  # ERANGE
    return v


def parse_max_ranges(arg: str, default: int = DEFAULT_MAX_RANGES) -> int:
    """Value of a MaxRanges / MaxRangeOverlaps / MaxRangeReversals argument.

    "none" -> 0, "default" -> *default* (200 for MaxRanges, pass 20 for the
    other two), "unlimited" -> -1, else a positive integer read with atoi().
    Raises ValueError with httpd's message otherwise.
    """
    low = arg.lower()
    if low == "none":
        return MAXRANGES_NONE
    if low == "default":
        return default
    if low == "unlimited":
        return MAXRANGES_UNLIMITED
    m = _ATOI.match(arg)
    val = int(m.group(1)) if m else 0
    if val <= 0:
        raise ValueError("requires 'none', 'default', 'unlimited' or a positive integer")
    return val


def parse_range(
    header: str,
    size: int,
    max_ranges: int = DEFAULT_MAX_RANGES,
    max_overlaps: int = DEFAULT_MAX_OVERLAPS,
    max_reversals: int = DEFAULT_MAX_REVERSALS,
) -> list[tuple[int, int]] | None | Literal["unsatisfiable"]:
    """Evaluate a Range header against content of *size* bytes.

    Returns the list of inclusive ``(start, end)`` ranges to send with 206
    (one entry: Content-Range; several: multipart/byteranges), None to send
    the whole content with 200, or "unsatisfiable" for 416.  Limits: a
    negative value means unlimited, 0 ("none") means ranges are refused.
    """
    # ap_set_byterange: strncasecmp(range, "bytes=", 6); the filter also steps
    # aside for empty content.
    if size <= 0 or header[:6].lower() != "bytes=":
        return None

    indexes: list[tuple[int, int]] = []
    num_ranges = 0
    unsatisfiable = False
    ostart = oend = 0
    sum_lengths = 0
    in_merge = False
    overlaps = 0
    reversals = 0

    # ap_getword(..., ','): a run of commas separates two words, and an empty
    # word ends the list -- so a leading comma means "no ranges at all".
    body = header[6:]
    words = [] if body.startswith(",") else [w for w in body.split(",") if w]
    for cur in words:
        # RFC 2616 14.35.1: one syntactically invalid byte-range-spec makes
        # the whole header ignored.
        dash = cur.find("-")
        if dash < 0:
            return None
        if dash == 0:
            # suffix-byte-range-spec "-N"
            number = _strtoff(cur[1:])
            if number is None or number < 1:
                return None
            start = size - number
            end = size - 1
        else:
            number = _strtoff(cur[:dash])
            if number is None:
                return None
            start = number
            rest = cur[dash + 1 :]
            if rest:
                number = _strtoff(rest)
                if number is None:
                    return None
                end = number
                if start > end:
                    return None
            else:
                # open range "N-"
                end = size - 1
                if start == 0:
                    # httpd special case: "0-" discards every other range and
                    # sends the whole content as a single 206 range.
                    num_ranges = 0
                    sum_lengths = 0
                    in_merge = True
                    ostart, oend = 0, end
                    indexes.clear()
                    break

        if start < 0:
            start = 0
        if start >= size:
            unsatisfiable = True
            continue
        if end >= size:
            end = size - 1

        if not in_merge:
            ostart, oend = start, end
            in_merge = True
            continue
        # Merge only with the range being accumulated (consecutive ranges).
        in_merge = False
        if start >= ostart and end <= oend:
            in_merge = True
        if start < ostart and end >= ostart - 1:
            ostart = start
            reversals += 1
            in_merge = True
        if end >= oend and start <= oend + 1:
            oend = end
            in_merge = True
        if in_merge:
            overlaps += 1
            continue
        indexes.append((ostart, oend))
        sum_lengths += oend - ostart + 1
        in_merge = True
        ostart, oend = start, end
        num_ranges += 1

    if in_merge:
        indexes.append((ostart, oend))
        sum_lengths += oend - ostart + 1
        num_ranges += 1
    elif num_ranges == 0 and unsatisfiable:
        # Every range starts beyond the content: 416.  (httpd checks this
        # before MaxRanges, so it holds even with "MaxRanges none".)
        return "unsatisfiable"
    if sum_lengths > size:
        return None  # "Sum of ranges larger than file, ignoring."

    if (
        num_ranges == 0
        or (max_ranges >= 0 and num_ranges > max_ranges)
        or (max_overlaps >= 0 and overlaps > max_overlaps)
        or (max_reversals >= 0 and reversals > max_reversals)
    ):
        return None
    return indexes


def if_range_ok(
    if_range: str | None,
    etag: str | None,
    last_modified: float | None,
    request_time: float | None = None,
) -> bool:
    """RFC 7233 3.2 / httpd ``ap_condition_if_range``: may the Range apply?

    True when there is no If-Range.  A value starting with a double quote is
    an entity-tag and must equal the current (strong) ETag exactly -- a weak
    current ETag never matches.  Anything else is an HTTP-date that must equal
    Last-Modified to the second.  When *request_time* is given, httpd's rule
    that a Last-Modified less than 60 seconds before the request is only a
    weak validator (so never matches) is applied as well.  False means: send
    the whole content with 200.
    """
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith('"'):
        return bool(etag) and value == etag
    if last_modified is None:
        return False
    date = parse_http_date(value)
    if date is None:
        return False
    lm = floor(last_modified)
    if request_time is not None:
        now = floor(request_time)
        if lm > now:
            lm = now
        if now < lm + 60:
            return False
    return date == lm


def content_range(start: int, end: int, size: int) -> str:
    """Value of the Content-Range header for a single-range 206."""
    return f"bytes {start}-{end}/{size}"


_BOUNDARY = format(int.from_bytes(os.urandom(8), "big"), "x")


def multipart_boundary() -> str:
    """The multipart/byteranges boundary.

    Like httpd (``http_post_config``: ``"%0" APR_UINT64_T_HEX_FMT`` of 64
    random bits) it is generated once per server process, not per request.
    """
    return _BOUNDARY


def multipart_content_type(boundary: str, legacy: bool = False) -> str:
    """Content-Type of a multi-range response.

    *legacy* gives ``multipart/x-byteranges``, which httpd sends when the
    request carried ``Request-Range`` or the User-Agent contains "MSIE 3".
    """
    kind = "x-byteranges" if legacy else "byteranges"
    return f"multipart/{kind}; boundary={boundary}"


def _part_head(boundary: str, content_type: str | None) -> str:
    # bound_head in ap_byterange_filter; BYTERANGE_FMT CRLF CRLF follows.
    if content_type:
        return f"\r\n--{boundary}\r\nContent-type: {content_type}\r\nContent-range: bytes "
    return f"\r\n--{boundary}\r\nContent-range: bytes "


def multipart_parts(
    ranges: list[tuple[int, int]],
    size: int,
    content_type: str | None,
    boundary: str,
) -> list[tuple[bytes, int, int]]:
    """Per range: ``(header_bytes, start, end)`` with *end* inclusive.

    Send each header_bytes followed by bytes start..end of the content, then
    ``multipart_trailer(boundary)``.  The Content-type line is omitted when
    the content has no type, as httpd does.
    """
    head = _part_head(boundary, content_type)
    tail = f"/{size}\r\n\r\n"
    return [(f"{head}{start}-{end}{tail}".encode("latin-1"), start, end) for start, end in ranges]


def multipart_trailer(boundary: str) -> bytes:
    """The closing delimiter ``CRLF "--" boundary "--" CRLF``."""
    return f"\r\n--{boundary}--\r\n".encode("latin-1")


def multipart_length(
    ranges: list[tuple[int, int]],
    size: int,
    content_type: str | None,
    boundary: str,
) -> int:
    """Content-Length of the multipart/byteranges body for *ranges*.

    Note: httpd itself flushes every 32 ranges and then drops Content-Length
    (the response goes out chunked); sending the exact length is also valid.
    """
    head_len = len(_part_head(boundary, content_type).encode("latin-1"))
    tail_len = len(f"/{size}\r\n\r\n")
    total = len(boundary.encode("latin-1")) + 8  # CRLF "--" boundary "--" CRLF
    for start, end in ranges:
        total += head_len + len(f"{start}-{end}") + tail_len + (end - start + 1)
    return total
