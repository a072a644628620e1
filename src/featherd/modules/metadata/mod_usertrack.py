"""mod_usertrack: a tracking cookie for each new visitor, as in Apache 2.2.

With ``CookieTracking on``, a request (not a sub-request) that does not carry the
cookie gets one: ``Set-Cookie: Apache=<client>.<microseconds>; path=/`` (the client's
name with HostnameLookups, else its address). The value is left in the note
``cookie`` (log it with ``%{cookie}n``), also when the client sent it.

``CookieName`` (default ``Apache``), ``CookieDomain`` (must start with a dot and contain
another), ``CookieExpires`` (seconds, or "[plus] 2 weeks 3 days ..." with years, months,
weeks, days, hours, minutes, seconds), ``CookieStyle`` ``Netscape`` (default: an
``expires=Wdy, DD-Mon-YY HH:MM:SS GMT`` date), ``Cookie``/``RFC2109`` (``max-age=``) or
``Cookie2``/``RFC2965`` (``Set-Cookie2``, read from ``Cookie2``, ``version=1`` with a
domain). As in Apache the per-directory record is not merged: the innermost section
that uses these directives decides them all. CookieExpires is per server (in .htaccess
it applies to that directory, where Apache would change the server's setting).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.config.parser import CmdParms
from featherd.config.tree import split_args
from featherd.core.hooks import DECLINED, OK, REALLY_FIRST
from featherd.core.module import Module
from featherd.errors import DirectiveError

if TYPE_CHECKING:
    from featherd.core.request import Request

COOKIE_NAME = "Apache"
CT_UNSET, CT_NETSCAPE, CT_COOKIE, CT_COOKIE2 = range(4)
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


def cookie_regexp(name: str) -> re.Pattern[str]:
    """^name=([^;,]+)|[;,][ \\t]*name=([^;,]+), the name escaped."""
    esc = "".join(c if c.isalnum() else "\\" + c for c in name)
    return re.compile(f"^{esc}=([^;,]+)|[;,][ \t]*{esc}=([^;,]+)")


@dataclass(slots=True)
class CookieDirConfig:
    """cookie_dir_rec."""

    enabled: bool = False
    style: int = CT_UNSET
    cookie_name: str = COOKIE_NAME
    cookie_domain: str | None = None
    regexp: re.Pattern[str] = cookie_regexp(COOKIE_NAME)
    expires: Any = UNSET           # CookieExpires in .htaccess (see the module docs)
    given: bool = False            # a directive of this module appears in the section


@dataclass(slots=True)
class CookieServerConfig:
    expires: int = 0


class UsertrackModule(Module):
    def merge_dir_config(self, base: Any, new: Any) -> Any:
        # no merge function in Apache: the closest record that was configured wins
        if base is None or new is None:
            return new if base is None else base
        return new if new.given else base

    def merge_server_config(self, base: Any, new: Any) -> Any:
        return new if new is not None else base


usertrack = UsertrackModule("usertrack_module", "mod_usertrack.c",
                            dir_config=CookieDirConfig, server_config=CookieServerConfig,
                            description="Clickstream logging of user activity on a site")
usertrack_module = usertrack

_FACTORS = (("years", 1, 60 * 60 * 24 * 365), ("months", 2, 60 * 60 * 24 * 30),
            ("weeks", 1, 60 * 60 * 24 * 7), ("days", 1, 60 * 60 * 24),
            ("hours", 1, 60 * 60), ("minutes", 2, 60), ("seconds", 1, 1))


def parse_expires(arg: str) -> int:
    """CookieExpires: a number of seconds, or "[plus] {<num> <type>}*"."""
    if arg[:1].isdigit() and arg[-1:].isdigit():
        digits = ""
        for c in arg:
            if not c.isdigit():
                break
            digits += c
        return int(digits)
    words = split_args(arg)
    if words and words[0][:1].lower() == "p":          # strncasecmp(word, "plus", 1)
        words = words[1:]
    total = 0
    i = 0
    while i < len(words):
        w = words[i]
        if not w[:1].isdigit():
            raise DirectiveError("bad expires code, numeric value expected.")
        num = int(re.match(r"\d+", w).group(0))  # type: ignore[union-attr]
        if i + 1 >= len(words):
            raise DirectiveError("bad expires code, missing <type>")
        t = words[i + 1].lower()
        # strncasecmp(word, name, n): "y", "mo", "w", "d", "h", "mi", "s" decide
        factor = next((f for name, n, f in _FACTORS if t[:n] == name[:n]), None)
        if factor is None:
            raise DirectiveError("bad expires code, unrecognized type")
        total += factor * num
        i += 2
    return total


@usertrack.directive("CookieExpires", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                     override=Override.FILEINFO, syntax="CookieExpires expiry-period",
                     help="an expiry date code")
def set_cookie_exp(cmd: CmdParms, conf: CookieDirConfig, arg: str) -> None:
    secs = parse_expires(arg)
    if cmd.where is Context.HTACCESS:
        conf.expires = secs
        conf.given = True
    else:
        cmd.server.module_config[usertrack.index].expires = secs


@usertrack.directive("CookieDomain", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                     override=Override.FILEINFO, syntax="CookieDomain domain",
                     help="domain to which this cookie applies")
def set_cookie_domain(cmd: CmdParms, conf: CookieDirConfig, name: str) -> None:
    if not name:
        raise DirectiveError("CookieDomain values may not be null")
    if not name.startswith("."):
        raise DirectiveError("CookieDomain values must begin with a dot")
    if "." not in name[1:]:
        raise DirectiveError("CookieDomain values must contain at least one embedded dot")
    conf.cookie_domain = name
    conf.given = True


@usertrack.directive("CookieStyle", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                     override=Override.FILEINFO,
                     syntax="CookieStyle Netscape|Cookie|Cookie2|RFC2109|RFC2965",
                     help="'Netscape', 'Cookie' (RFC2109), or 'Cookie2' (RFC2965)")
def set_cookie_style(cmd: CmdParms, conf: CookieDirConfig, name: str) -> None:
    n = name.lower()
    if n == "netscape":
        conf.style = CT_NETSCAPE
    elif n in ("cookie", "rfc2109"):
        conf.style = CT_COOKIE
    elif n in ("cookie2", "rfc2965"):
        conf.style = CT_COOKIE2
    else:
        raise DirectiveError(f"Invalid CookieStyle keyword: '{name}'")
    conf.given = True


@usertrack.directive("CookieTracking", args=ArgSpec.FLAG, context=Context.ALL_DIR,
                     override=Override.FILEINFO, syntax="CookieTracking on|off",
                     help="whether or not to enable cookies")
def set_cookie_enable(cmd: CmdParms, conf: CookieDirConfig, on: bool) -> None:
    conf.enabled = on
    conf.given = True


@usertrack.directive("CookieName", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                     override=Override.FILEINFO, syntax="CookieName token",
                     help="name of the tracking cookie")
def set_cookie_name(cmd: CmdParms, conf: CookieDirConfig, name: str) -> None:
    conf.cookie_name = name
    conf.regexp = cookie_regexp(name)
    conf.given = True


def make_cookie(r: Request, d: CookieDirConfig) -> None:
    from featherd.modules.generators.cgi_env import remote_host

    rname = remote_host(r) or r.connection.client_ip
    value = f"{rname}.{int(time.time() * 1_000_000)}"
    expires = d.expires if d.expires is not UNSET else \
        r.server.module_config[usertrack.index].expires
    cookie = f"{d.cookie_name}={value}; path=/"
    if expires:
        if d.style in (CT_UNSET, CT_NETSCAPE):
            t = time.gmtime(int(r.request_time) + expires)
            cookie += (f"; expires={_DAYS[(t.tm_wday + 1) % 7]}, {t.tm_mday:02d}-"
                       f"{_MONTHS[t.tm_mon - 1]}-{t.tm_year % 100:02d} {t.tm_hour:02d}:"
                       f"{t.tm_min:02d}:{t.tm_sec:02d} GMT")
        else:
            cookie += f"; max-age={expires}"
    if d.cookie_domain is not None:
        cookie += f"; domain={d.cookie_domain}" + ("; version=1" if d.style == CT_COOKIE2
                                                  else "")
    r.headers_out.add("Set-Cookie2" if d.style == CT_COOKIE2 else "Set-Cookie", cookie)
    r.notes["cookie"] = value


@usertrack.hook("fixups", order=REALLY_FIRST, needs=True)
def spot_cookie(r: Request) -> int:
    d: CookieDirConfig = r.per_dir_config[usertrack.index]
    if not d.enabled or r.main is not None:
        return DECLINED
    header = r.headers_in.get("Cookie2" if d.style == CT_COOKIE2 else "Cookie")
    if header is not None:
        m = d.regexp.search(header)
        if m:
            r.notes["cookie"] = m.group(2) if m.group(2) is not None else m.group(1)
            return DECLINED
    make_cookie(r, d)
    return OK


__all__ = ["parse_expires", "usertrack", "usertrack_module"]
