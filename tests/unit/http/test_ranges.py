"""Tests for featherd.http.ranges (RFC 7233, httpd 2.4 byterange_filter.c)."""

from __future__ import annotations

import re

import pytest

from featherd.http.dates import http_date
from featherd.http.ranges import (
    DEFAULT_MAX_RANGES,
    MAXRANGES_UNLIMITED,
    content_range,
    if_range_ok,
    multipart_boundary,
    multipart_content_type,
    multipart_length,
    multipart_parts,
    multipart_trailer,
    parse_max_ranges,
    parse_range,
)

SIZE = 10000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # RFC 7233 2.1 examples (for a 10000-byte representation)
        ("bytes=0-499", [(0, 499)]),
        ("bytes=500-999", [(500, 999)]),
        ("bytes=-500", [(9500, 9999)]),
        ("bytes=9500-", [(9500, 9999)]),
        ("bytes=0-0,-1", [(0, 0), (9999, 9999)]),
        ("bytes=500-600,700-999", [(500, 600), (700, 999)]),
        ("bytes=0-0", [(0, 0)]),
        ("bytes=9999-9999", [(9999, 9999)]),
    ],
)
def test_rfc7233_examples(header: str, expected: list[tuple[int, int]]) -> None:
    """RFC 7233 2.1: byte-range-spec, suffix-byte-range-spec, open ranges."""
    assert parse_range(header, SIZE) == expected


def test_bytes_unit_case_insensitive() -> None:
    """httpd: strncasecmp(range, "bytes=", 6)."""
    assert parse_range("BYTES=0-1", SIZE) == [(0, 1)]
    assert parse_range("Bytes=0-1", SIZE) == [(0, 1)]


@pytest.mark.parametrize(
    "header",
    [
        "bits=0-1",  # other unit: RFC 7233 3.1 says ignore
        "bytes 0-1",
        "bytes=",
        "bytes=,0-1",  # empty first word ends ap_getword's list
        "bytes=5-1",  # last-byte-pos < first-byte-pos (RFC 7233 2.1)
        "bytes=-0",  # suffix-length 0 (httpd: number < 1)
        "bytes=-",
        "bytes=abc-def",
        "bytes=1",  # no dash
        "bytes=1-2-3",
        "bytes=0-1 ,5-6",  # trailing whitespace: apr_strtoff leaves errp on ' '
        "bytes=0-1,x-5",  # one bad spec ignores the whole header (2616 14.35.1)
        "bytes=0-1,5",
        "bytes=garbage,0-",
        "bytes= -5",
        "bytes=99999999999999999999-",  # strtol ERANGE
        "bytes=0x10-20",
        "bytes=5--3",
    ],
)
def test_invalid_header_gives_full_200(header: str) -> None:
    """RFC 7233 3.1: an invalid Range is ignored -> None (send 200 full)."""
    assert parse_range(header, SIZE) is None


def test_whitespace_before_numbers_allowed() -> None:
    """apr_strtoff (strtol) skips leading whitespace, so OWS after ',' works."""
    assert parse_range("bytes=0-1, 5-6", SIZE) == [(0, 1), (5, 6)]
    assert parse_range("bytes= 0-1", SIZE) == [(0, 1)]
    assert parse_range("bytes=+5-10", SIZE) == [(5, 10)]  # strtol accepts a sign


def test_comma_runs_and_trailing_comma() -> None:
    """ap_getword skips runs of ','; a trailing ',' just ends the list."""
    assert parse_range("bytes=0-1,,,5-6", SIZE) == [(0, 1), (5, 6)]
    assert parse_range("bytes=0-1,", SIZE) == [(0, 1)]


def test_clamping() -> None:
    """RFC 7233 2.1: last-byte-pos beyond the end / long suffix are clamped."""
    assert parse_range("bytes=0-99999", SIZE) == [(0, 9999)]
    assert parse_range("bytes=-20000", SIZE) == [(0, 9999)]
    assert parse_range("bytes=9000-20000", SIZE) == [(9000, 9999)]


@pytest.mark.parametrize(
    "header", ["bytes=10000-", "bytes=10000-20000", "bytes=10000-,20000-30000", "bytes=12345-"]
)
def test_unsatisfiable(header: str) -> None:
    """RFC 7233 4.4: no satisfiable range -> 416."""
    assert parse_range(header, SIZE) == "unsatisfiable"


def test_unsatisfiable_ranges_dropped_when_others_satisfiable() -> None:
    """RFC 7233 2.1: unsatisfiable specs are skipped if any range is satisfiable."""
    assert parse_range("bytes=0-1,10000-", SIZE) == [(0, 1)]
    assert parse_range("bytes=20000-,5-6", SIZE) == [(5, 6)]


def test_empty_content_not_ranged() -> None:
    """httpd skips byteranging when the content length is 0."""
    assert parse_range("bytes=0-1", 0) is None
    assert parse_range("bytes=-5", 0) is None


def test_zero_open_range_special_case() -> None:
    """httpd 2.4: "0-" discards the other ranges -> one 206 of everything."""
    assert parse_range("bytes=0-", SIZE) == [(0, SIZE - 1)]
    assert parse_range("bytes=100-200,0-", SIZE) == [(0, SIZE - 1)]
    assert parse_range("bytes=0-,garbage", SIZE) == [(0, SIZE - 1)]
    assert parse_range("bytes=0-", 1) == [(0, 0)]


# --- CVE-2011-3192 hardening --------------------------------------------------


def test_adjacent_and_overlapping_merged() -> None:
    """httpd merges consecutive overlapping or adjacent ranges."""
    assert parse_range("bytes=500-600,601-999", SIZE) == [(500, 999)]
    assert parse_range("bytes=500-700,601-999", SIZE) == [(500, 999)]
    assert parse_range("bytes=500-999,600-700", SIZE) == [(500, 999)]
    assert parse_range("bytes=0-1,1-2,2-3,3-4", SIZE) == [(0, 4)]
    assert parse_range("bytes=0-0,0-0", SIZE) == [(0, 0)]


def test_reversed_ranges() -> None:
    """A range just before the current one is merged (a 'reversal')."""
    assert parse_range("bytes=500-600,400-500", SIZE) == [(400, 600)]
    assert parse_range("bytes=500-600,400-499", SIZE) == [(400, 600)]
    assert parse_range("bytes=500-600,0-10", SIZE) == [(500, 600), (0, 10)]  # order kept
    assert parse_range("bytes=500-600,400-700", SIZE) == [(400, 700)]


def test_only_consecutive_ranges_are_merged() -> None:
    """httpd compares each range with the one being accumulated only."""
    assert parse_range("bytes=0-10,20-30,5-8", SIZE) == [(0, 10), (20, 30), (5, 8)]


def test_sum_larger_than_file_sends_200() -> None:
    """httpd: "Sum of ranges larger than file, ignoring." -> full 200."""
    assert parse_range("bytes=0-5000,6000-6100,4000-9999", SIZE) is None
    assert parse_range("bytes=0-10,20-30,5-25", 31) is None  # 11 + 11 + 21 > 31
    assert parse_range("bytes=0-10,20-30,5-8", 31) == [(0, 10), (20, 30), (5, 8)]  # 26 <= 31


def _many(n: int, step: int = 2) -> str:
    return "bytes=" + ",".join(f"{i * step}-{i * step}" for i in range(n))


def test_max_ranges_default_200() -> None:
    """MaxRanges default 200: more merged ranges -> full 200."""
    assert parse_range(_many(200), 1000) == [(i * 2, i * 2) for i in range(200)]
    assert parse_range(_many(201), 1000) is None


def test_max_ranges_counts_after_merging() -> None:
    """The MaxRanges check applies to the merged set."""
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(20))  # 19 overlaps
    assert parse_range(header, 100, max_ranges=1) == [(0, 19)]


def test_max_ranges_custom_and_unlimited() -> None:
    """MaxRanges N / unlimited."""
    assert parse_range("bytes=0-0,2-2", SIZE, max_ranges=1) is None
    assert parse_range("bytes=0-0", SIZE, max_ranges=1) == [(0, 0)]
    assert len(parse_range(_many(500), 1000, max_ranges=MAXRANGES_UNLIMITED) or []) == 500


def test_max_ranges_none() -> None:
    """MaxRanges none (0): every satisfiable Range gets the full 200 ...

    ... but httpd still answers 416 for an unsatisfiable one, since its
    filter checks num_ranges > max_ranges only for positive counts.
    """
    assert parse_range("bytes=0-1", SIZE, max_ranges=0) is None
    assert parse_range("bytes=20000-", SIZE, max_ranges=0) == "unsatisfiable"


def test_max_overlaps_default_20() -> None:
    """MaxRangeOverlaps default 20: more merges -> full 200."""
    h21 = "bytes=" + ",".join(f"{i}-{i}" for i in range(21))  # 20 overlaps
    h22 = "bytes=" + ",".join(f"{i}-{i}" for i in range(22))  # 21 overlaps
    assert parse_range(h21, SIZE) == [(0, 20)]
    assert parse_range(h22, SIZE) is None
    assert parse_range(h22, SIZE, max_overlaps=-1) == [(0, 21)]


def test_max_reversals_default_20() -> None:
    """MaxRangeReversals default 20: more descending merges -> full 200."""
    h21 = "bytes=" + ",".join(f"{100 - i}-{100 - i}" for i in range(21))
    h22 = "bytes=" + ",".join(f"{100 - i}-{100 - i}" for i in range(22))
    assert parse_range(h21, SIZE) == [(80, 100)]
    assert parse_range(h22, SIZE, max_overlaps=-1) is None
    assert parse_range(h22, SIZE, max_overlaps=-1, max_reversals=-1) == [(79, 100)]


@pytest.mark.parametrize(
    ("arg", "value"),
    [
        ("none", 0),
        ("NONE", 0),
        ("default", DEFAULT_MAX_RANGES),
        ("unlimited", MAXRANGES_UNLIMITED),
        ("Unlimited", -1),
        ("5", 5),
        ("12abc", 12),  # atoi()
    ],
)
def test_parse_max_ranges(arg: str, value: int) -> None:
    """MaxRanges directive values (httpd core.c set_max_ranges)."""
    assert parse_max_ranges(arg) == value


def test_parse_max_ranges_default_for_overlaps() -> None:
    """MaxRangeOverlaps/MaxRangeReversals 'default' is 20."""
    assert parse_max_ranges("default", default=20) == 20


@pytest.mark.parametrize("arg", ["0", "-3", "abc", ""])
def test_parse_max_ranges_invalid(arg: str) -> None:
    """ "requires 'none', 'default', 'unlimited' or a positive integer"."""
    with pytest.raises(ValueError):
        parse_max_ranges(arg)


# --- If-Range (RFC 7233 3.2) ---------------------------------------------------

LM = 1_600_000_000.0
ETAG = '"2a-5f3c1b2d4e880"'


def test_if_range_absent() -> None:
    """No If-Range: the Range applies."""
    assert if_range_ok(None, ETAG, LM)


def test_if_range_etag_strong_match() -> None:
    """3.2: entity-tag must match the current strong ETag exactly."""
    assert if_range_ok(ETAG, ETAG, LM)
    assert not if_range_ok('"other"', ETAG, LM)
    assert not if_range_ok(ETAG, None, LM)
    assert not if_range_ok(ETAG, "", LM)


def test_if_range_weak_etags_never_match() -> None:
    """3.2: a weak entity-tag (either side) must not be used."""
    assert not if_range_ok('W/"2a-5f3c1b2d4e880"', ETAG, LM)
    assert not if_range_ok(ETAG, 'W/"2a-5f3c1b2d4e880"', LM)
    assert not if_range_ok('W/"x"', 'W/"x"', LM)


def test_if_range_date_exact_match() -> None:
    """3.2: HTTP-date must be an exact match of Last-Modified (seconds)."""
    assert if_range_ok(http_date(LM), ETAG, LM)
    assert if_range_ok(http_date(LM), ETAG, LM + 0.5)
    assert not if_range_ok(http_date(LM - 1), ETAG, LM)
    assert not if_range_ok(http_date(LM + 1), ETAG, LM)
    assert not if_range_ok(http_date(LM), ETAG, None)
    assert not if_range_ok("not a date", ETAG, LM)


def test_if_range_date_weak_within_60s() -> None:
    """httpd: Last-Modified within 60s of the request is a weak validator."""
    assert not if_range_ok(http_date(LM), ETAG, LM, request_time=LM + 59)
    assert if_range_ok(http_date(LM), ETAG, LM, request_time=LM + 60)


# --- multipart/byteranges (RFC 7233 4.1, httpd formatting) ------------------


def test_boundary_stable_hex() -> None:
    """httpd: one random 64-bit hex boundary per server (http_post_config)."""
    b = multipart_boundary()
    assert re.fullmatch(r"[0-9a-f]{1,16}", b)
    assert multipart_boundary() == b


def test_content_type_header() -> None:
    """Content-Type: multipart/byteranges; boundary=... (x- for old clients)."""
    assert multipart_content_type("abc") == "multipart/byteranges; boundary=abc"
    assert multipart_content_type("abc", legacy=True) == "multipart/x-byteranges; boundary=abc"


def test_content_range_single() -> None:
    """RFC 7233 4.2: Content-Range for a single part."""
    assert content_range(0, 499, 1234) == "bytes 0-499/1234"


def test_multipart_exact_bytes() -> None:
    """httpd bound_head: CRLF--B CRLF Content-type: T CRLF Content-range: bytes S-E/N CRLF CRLF."""
    parts = multipart_parts([(0, 0), (9999, 9999)], SIZE, "text/html", "B1")
    assert parts == [
        (b"\r\n--B1\r\nContent-type: text/html\r\nContent-range: bytes 0-0/10000\r\n\r\n", 0, 0),
        (
            b"\r\n--B1\r\nContent-type: text/html\r\nContent-range: bytes 9999-9999/10000\r\n\r\n",
            9999,
            9999,
        ),
    ]
    assert multipart_trailer("B1") == b"\r\n--B1--\r\n"


def test_multipart_without_content_type() -> None:
    """httpd omits the Content-type line when the content has no type."""
    ((head, _s, _e),) = multipart_parts([(1, 2)], 5, None, "B")
    assert head == b"\r\n--B\r\nContent-range: bytes 1-2/5\r\n\r\n"
    ((head2, _s, _e),) = multipart_parts([(1, 2)], 5, "", "B")
    assert head2 == head


@pytest.mark.parametrize("ctype", ["text/plain; charset=ISO-8859-1", None])
def test_multipart_length_matches_body(ctype: str | None) -> None:
    """Content-Length computed in advance equals the assembled body length."""
    data = bytes(range(256)) * 40
    ranges = parse_range("bytes=0-9,100-199,-50,5000-", len(data))
    assert isinstance(ranges, list)
    boundary = multipart_boundary()
    body = b"".join(
        h + data[s : e + 1] for h, s, e in multipart_parts(ranges, len(data), ctype, boundary)
    )
    body += multipart_trailer(boundary)
    assert multipart_length(ranges, len(data), ctype, boundary) == len(body)
    assert body.startswith(b"\r\n--" + boundary.encode())
    assert body.endswith(b"--" + boundary.encode() + b"--\r\n")
