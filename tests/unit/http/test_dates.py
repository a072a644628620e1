"""Tests for featherd.http.dates (RFC 7231 7.1.1.1, apr_date_parse_http)."""

from __future__ import annotations

import calendar
import time

import pytest

from featherd.http import dates
from featherd.http.dates import DateCache, http_date, parse_http_date

RFC_EXAMPLE = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT


def test_http_date_rfc_example() -> None:
    """RFC 7231 7.1.1.1: preferred IMF-fixdate format."""
    assert http_date(RFC_EXAMPLE) == "Sun, 06 Nov 1994 08:49:37 GMT"


def test_http_date_drops_fraction() -> None:
    """apr_rfc822_date works on whole seconds: the fraction is floored."""
    assert http_date(RFC_EXAMPLE + 0.999) == "Sun, 06 Nov 1994 08:49:37 GMT"


def test_http_date_epoch_and_padding() -> None:
    """Two-digit day/time fields are zero padded; four-digit year."""
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert http_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT"


@pytest.mark.parametrize("ts", [0, 86399, 951782400, 1234567890, 1700000000, 4102444800])
def test_http_date_roundtrip(ts: int) -> None:
    """http_date output parses back to the same second (RFC 1123 form)."""
    assert parse_http_date(http_date(ts)) == float(ts)


def test_http_date_c_locale_names() -> None:
    """Day and month names are the C-locale English abbreviations."""
    seen_days = {http_date(RFC_EXAMPLE + d * 86400)[:3] for d in range(7)}
    assert seen_days == {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
    months = {http_date(calendar.timegm((2021, m, 1, 0, 0, 0)))[8:11] for m in range(1, 13)}
    assert months == set(dates._MON)


def test_http_date_matches_strftime_in_c_locale() -> None:
    """Same as time.strftime with the C locale format."""
    for ts in range(0, 2_000_000_000, 123_456_789):
        assert http_date(ts) == time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(ts))


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # RFC 1123
        "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime
        "Sun, 6 Nov 1994 08:49:37 GMT",  # RFC 1123 with one-digit day (APR extra)
        "Sun Nov 06 08:49:37 1994",  # asctime with zero-padded day
    ],
)
def test_parse_three_formats(value: str) -> None:
    """RFC 7231 7.1.1.1: recipients MUST accept all three HTTP-date formats."""
    assert parse_http_date(value) == RFC_EXAMPLE


@pytest.mark.parametrize(
    "value",
    [
        "Xyz, 06 Nov 1994 08:49:37 GMT",  # weekday is not checked
        "Mon, 06 Nov 1994 08:49:37 GMT",  # wrong weekday is not checked
        "Sun, 06 Nov 1994 08:49:37 +0000",  # zone ignored
        "Sun, 06 Nov 1994 08:49:37 GMT; length=123",  # Netscape-style trailer
        "   Sun, 06 Nov 1994 08:49:37 GMT",  # leading whitespace skipped
        "Sun Nov  6 08:49:37 1994 extra",  # asctime: anything after the year
    ],
)
def test_parse_apr_leniency(value: str) -> None:
    """apr_date_parse_http ignores the weekday and anything after the time."""
    assert parse_http_date(value) == RFC_EXAMPLE


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "garbage",
        "06 Nov 1994 08:49:37 GMT",  # no weekday: mask is applied after 1st space
        "Sun, 06 Nov 1994 08:49:37",  # RFC 1123 needs a space after the time
        "Sun, 06 nov 1994 08:49:37 GMT",  # month must be Xxx
        "Sun, 06 NOV 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",  # day 0
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",  # 30-day month
        "Sun, 31 Apr 1994 08:49:37 GMT",
        "Sun, 29 Feb 1994 08:49:37 GMT",  # not a leap year
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 29 Feb 2100 08:49:37 GMT",  # century, not leap
        "Sun, 30 Feb 2000 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:62 GMT",
        "Sun, 06 Nov 1969 08:49:37 GMT",  # before the epoch (apr_implode_time)
        "Sun, 06 Nov 1800 08:49:37 GMT",  # century < 19
        "Sun, 06-Nov-1994 08:49:37 GMT",  # RFC 850 needs a 2-digit year
        "Sun Nov  6 08:49:37 94",  # asctime needs a 4-digit year
        "Sun, 06 Nov 1994 8:49:37 GMT",  # one-digit hour
        "Sun, ०६ Nov 1994 08:49:37 GMT",  # non-ASCII digits (C isdigit)
    ],
)
def test_parse_invalid(value: str) -> None:
    """Invalid HTTP-dates yield None (APR_DATE_BAD)."""
    assert parse_http_date(value) is None


def test_parse_none() -> None:
    """A missing header value is simply invalid."""
    assert parse_http_date(None) is None


def test_parse_leap_days_and_seconds() -> None:
    """APR accepts 29 Feb in leap years (2000 included) and seconds 60/61."""
    assert parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT") == 951782400.0
    assert parse_http_date("Sun, 29 Feb 2004 12:00:00 GMT") == calendar.timegm(
        (2004, 2, 29, 12, 0, 0)
    )
    base = calendar.timegm((1998, 12, 31, 23, 59, 59))
    assert parse_http_date("Thu, 31 Dec 1998 23:59:60 GMT") == base + 1
    assert parse_http_date("Thu, 31 Dec 1998 23:59:61 GMT") == base + 2


@pytest.mark.parametrize(("yy", "year"), [("94", 1994), ("70", 1970), ("69", 2069), ("00", 2000)])
def test_parse_rfc850_two_digit_year(yy: str, year: int) -> None:
    """RFC 850 years below 70 are taken as 20xx (apr_date_parse_http)."""
    got = parse_http_date(f"Sunday, 06-Nov-{yy} 08:49:37 GMT")
    assert got == calendar.timegm((year, 11, 6, 8, 49, 37))


def test_parse_matches_timegm_for_many_dates() -> None:
    """apr_implode_time arithmetic agrees with calendar.timegm."""
    for ts in range(0, 4_000_000_000, 7_654_321):
        t = time.gmtime(ts)
        asc = time.strftime("%a %b %e %H:%M:%S %Y", t)
        assert parse_http_date(http_date(ts)) == ts
        assert parse_http_date(asc) == ts


def test_date_cache_now_current_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Date header (RFC 7231 7.1.1.2) rebuilt only when the second changes."""
    clock = [1000.2]
    monkeypatch.setattr(dates.time, "time", lambda: clock[0])
    cache = DateCache()
    first = cache.now()
    assert first == http_date(1000)
    clock[0] = 1000.9
    assert cache.now() is first  # same object: not rebuilt
    clock[0] = 1001.0
    assert cache.now() == http_date(1001)


def test_date_cache_real_clock() -> None:
    """DateCache.now() follows time.time()."""
    before = int(time.time())
    value = parse_http_date(DateCache().now())
    assert value is not None
    assert before <= value <= time.time()
