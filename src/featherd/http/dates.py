"""HTTP-date formatting and parsing (RFC 7231 section 7.1.1.1).

Formatting follows APR's ``apr_rfc822_date`` (always RFC 1123, C-locale day
and month names, ``GMT``).  Parsing follows APR-util's ``apr_date_parse_http``
exactly: the three HTTP-date forms are accepted, the weekday is ignored, as is
anything after the time field (RFC 1123 / RFC 850) or after the year
(asctime).
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from math import floor

__all__ = ["DateCache", "http_date", "parse_http_date"]

# C-locale names; time.struct_time.tm_wday is 0 for Monday.
_WDAY = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MON_INDEX = {name: i for i, name in enumerate(_MON)}


@lru_cache(maxsize=4096)
def _format_second(sec: int) -> str:
    t = time.gmtime(sec)
    return (
        f"{_WDAY[t.tm_wday]}, {t.tm_mday:02d} {_MON[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def http_date(ts: float) -> str:
    """Format *ts* (seconds since the epoch) as an RFC 1123 HTTP-date.

    Sub-second precision is dropped (floor), as ``apr_rfc822_date`` does.
    Results are cached per whole second.
    """
    return _format_second(floor(ts))


class DateCache:
    """Current ``Date`` header value, rebuilt at most once per second."""

    __slots__ = ("_state",)

    def __init__(self) -> None:
        # (second, formatted) kept in one tuple so a reader on another thread
        # never sees a second paired with another second's string.
        self._state: tuple[int, str] = (-1, "")

    def now(self) -> str:
        sec = int(time.time())
        state = self._state
        if state[0] == sec:
            return state[1]
        value = _format_second(sec)
        self._state = (sec, value)
        return value


# --- parsing -----------------------------------------------------------------
#
# Each pattern is one of apr_date_checkmask's masks, applied to the text after
# the first space (the weekday is skipped unchecked):
#   "## @$$ #### ##:##:## *"   RFC 1123, two-digit day
#   "##-@$$-## ##:##:## *"     RFC 850
#   "@$$ ~# ##:##:## ####*"    asctime
#   "# @$$ #### ##:##:## *"    RFC 1123, one-digit day
# '@' upper-case letter, '$' lower-case letter, '#' digit, '~' digit or space,
# '*' anything (including nothing).  Only ASCII classes, like the C locale.
_RFC1123 = re.compile(r"([0-9]{2}) ([A-Z][a-z][a-z]) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ")
_RFC850 = re.compile(r"([0-9]{2})-([A-Z][a-z][a-z])-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ")
_ASCTIME = re.compile(
    r"([A-Z][a-z][a-z]) ([ 0-9][0-9]) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4})"
)
_RFC1123_1 = re.compile(r"([0-9]) ([A-Z][a-z][a-z]) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ")

# C isspace() in the C locale.
_CSPACE = " \t\n\v\f\r"

# apr_implode_time: day offsets with the year starting on 1 March.
_DAYOFFSET = (306, 337, 0, 31, 61, 92, 122, 153, 184, 214, 245, 275)


def parse_http_date(s: str | None) -> float | None:
    """Parse an HTTP-date the way ``apr_date_parse_http`` does.

    Accepts RFC 1123 (also with a one-digit day), RFC 850 (two-digit years
    below 70 are 20xx) and asctime.  Returns seconds since the epoch as a
    float, or None when the value is invalid (bad mask, impossible day such as
    31 Apr or 29 Feb of a non-leap year, hour > 23, minute > 59, second > 61,
    unknown month, or a year before 1970).
    """
    if s is None:
        return None
    return _parse_cached(s)


@lru_cache(maxsize=1024)
def _parse_cached(s: str) -> float | None:
    s = s.lstrip(_CSPACE)
    if not s:
        return None
    sp = s.find(" ")  # skip the weekday, whatever it is
    if sp < 0:
        return None
    d = s[sp + 1 :]

    m = _RFC1123.match(d)
    if m is not None:
        mday_s, mon_s, year_s, hh, mm, ss = m.groups()
        if int(year_s[:2]) < 19:
            return None
        year = int(year_s)
    else:
        m = _RFC850.match(d)
        if m is not None:
            mday_s, mon_s, yy, hh, mm, ss = m.groups()
            year = int(yy)
            year += 2000 if year < 70 else 1900
        else:
            m = _ASCTIME.match(d)
            if m is not None:
                mon_s, mday_s, hh, mm, ss, year_s = m.groups()
                if int(year_s[:2]) < 19:
                    return None
                year = int(year_s)
            else:
                m = _RFC1123_1.match(d)
                if m is None:
                    return None
                mday_s, mon_s, year_s, hh, mm, ss = m.groups()
                if int(year_s[:2]) < 19:
                    return None
                year = int(year_s)

    mday = int(mday_s)  # int() copes with the asctime leading space
    if mday <= 0 or mday > 31:
        return None
    hour, minute, sec = int(hh), int(mm), int(ss)
    if hour > 23 or minute > 59 or sec > 61:
        return None
    mon = _MON_INDEX.get(mon_s)
    if mon is None:
        return None
    if mday == 31 and mon in (3, 5, 8, 10):
        return None
    if mon == 1 and (
        mday > 29 or (mday == 29 and (year % 4 != 0 or (year % 100 == 0 and year % 400 != 0)))
    ):
        return None

    # apr_implode_time (tm_year counts from 1900; years before 1970 are bad).
    y = year - 1900
    if y < 70:
        return None
    if mon < 2:
        y -= 1
    days = y * 365 + y // 4 - y // 100 + (y // 100 + 3) // 4
    days += _DAYOFFSET[mon] + mday - 1
    days -= 25508  # 1 Jan 1970 is 25508 days after 1 Mar 1900
    return float(((days * 24 + hour) * 60 + minute) * 60 + sec)
