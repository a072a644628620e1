"""Conditional request evaluation (RFC 7232 section 6, steps 1-4).

Step 5 (If-Range) belongs to range handling: see ``ranges.if_range_ok``.
The caller evaluates only for an existing resource whose response would
otherwise be 2xx (RFC 7232 section 5 / 6 first paragraph), as httpd's
``ap_meets_conditions`` does (``if (!ap_is_HTTP_SUCCESS(r->status))``).

Dates are compared in whole seconds, the resolution of HTTP-date.  The
Last-Modified value is first "rationalized" like httpd's
``ap_rationalize_mtime``: a modification time in the future is clamped to the
request time.
"""

from __future__ import annotations

from collections.abc import Callable
from math import floor

from featherd.http.dates import parse_http_date
from featherd.http.etag import etag_list_matches

__all__ = ["NOT_MODIFIED", "PRECONDITION_FAILED", "PROCEED", "evaluate"]

PROCEED = 0
#: the request fields evaluate() reads: a request with none of them proceeds (0)
CONDITIONAL_FIELDS = frozenset({"if-match", "if-none-match", "if-modified-since",
                                "if-unmodified-since"})

NOT_MODIFIED = 304
PRECONDITION_FAILED = 412


def evaluate(
    method: str,
    headers_get: Callable[[str], str | None],
    etag: str | None,
    last_modified: float | None,
    request_time: float,
) -> int:
    """Return 0 (proceed), 304 (Not Modified) or 412 (Precondition Failed).

    *headers_get* looks up a request header by name (None when absent);
    *etag* is the current representation's ETag as it would be sent (None or
    "" when there is none); *last_modified* is its modification time in
    seconds (None when unknown); *request_time* is when the request arrived.
    """
    if not etag:
        etag = None
    now = floor(request_time)
    lm: int | None = None
    if last_modified is not None:
        lm = floor(last_modified)
        if lm > now:  # ap_rationalize_mtime: never later than the request
            lm = now

    # Step 1 -- RFC 7232 6 para 2 item 1 / section 3.1: when If-Match is
    # present, evaluate it with the *strong* comparison; "*" is true because
    # the resource exists.  If false, respond 412.
    if_match = headers_get("If-Match")
    if if_match is not None:
        if not etag_list_matches(if_match, etag, weak=False):
            return PRECONDITION_FAILED
    else:
        # Step 2 -- RFC 7232 6 item 2 / section 3.4: when If-Match is absent
        # and If-Unmodified-Since is present, it is false (412) if the
        # representation was modified after the given date.  An invalid date,
        # or a resource without a modification date, means the field is
        # ignored (3.4 para 4).
        ius = headers_get("If-Unmodified-Since")
        if ius is not None and lm is not None:
            date = parse_http_date(ius)
            if date is not None and lm > date:
                return PRECONDITION_FAILED

    is_get_head = method == "GET" or method == "HEAD"

    # Step 3 -- RFC 7232 6 item 3 / section 3.2: when If-None-Match is
    # present, compare with the *weak* comparison function; "*" matches the
    # existing resource.  A match makes the condition false: 304 for GET and
    # HEAD, 412 for every other method.
    if_none_match = headers_get("If-None-Match")
    if if_none_match is not None:
        if etag_list_matches(if_none_match, etag, weak=True):
            return NOT_MODIFIED if is_get_head else PRECONDITION_FAILED
    elif is_get_head:
        # Step 4 -- RFC 7232 6 item 4 / section 3.3: only for GET/HEAD and
        # only when If-None-Match is absent.  Not modified since the given
        # date -> 304.  Ignored when the date is invalid (3.3 para 4), when
        # it is later than the request time (httpd: "A date later than the
        # server's current request time is invalid"), or when the resource
        # has no modification date.
        ims = headers_get("If-Modified-Since")
        if ims is not None and lm is not None:
            date = parse_http_date(ims)
            if date is not None and date <= now and lm <= date:
                return NOT_MODIFIED

    return PROCEED
