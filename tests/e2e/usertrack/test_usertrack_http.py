"""mod_usertrack through a real server: the cookie for a new visitor (and none when it
comes back), CookieName, CookieDomain, CookieExpires in both forms, CookieStyle Netscape
/ Cookie / Cookie2, per-directory settings, the ``cookie`` note in the access log."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from featherd_testlib import site_server

BODY = r"""
CookieTracking on
CookieExpires "2 weeks 3 days"
LogFormat "%{cookie}n %U" cookies
CustomLog logs/cookie_log cookies
<Directory @ROOT@/htdocs/c2>
CookieTracking on
CookieStyle Cookie2
CookieName trk
CookieDomain .example.com
</Directory>
<Directory @ROOT@/htdocs/rfc>
CookieTracking on
CookieStyle RFC2109
CookieName my.id
</Directory>
<Directory @ROOT@/htdocs/off>
CookieName x
</Directory>
<Directory @ROOT@/htdocs/ht>
AllowOverride FileInfo
</Directory>
"""
FILES = {"a.txt": "a\n", "c2/a.txt": "a\n", "rfc/a.txt": "a\n", "off/a.txt": "a\n",
         "ht/.htaccess": "CookieTracking on\nCookieExpires 60\nCookieStyle Cookie\n",
         "ht/a.txt": "a\n"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    s = site_server(tmp_path_factory.mktemp("ut"), BODY, FILES)
    yield s
    s.stop()


def get(srv: Any, path: str, **h: str) -> requests.Response:
    return requests.get(srv.url(path), headers=h, timeout=10)


def test_new_visitor_gets_a_netscape_cookie(srv: Any) -> None:
    c = get(srv, "/a.txt").headers["Set-Cookie"]
    m = re.fullmatch(r"Apache=127\.0\.0\.1\.(\d+); path=/; expires=(\w{3}), (\d\d)-(\w{3})-"
                     r"(\d\d) (\d\d:\d\d:\d\d) GMT", c)
    assert m, c
    assert abs(int(m.group(1)) / 1e6 - time.time()) < 60
    when = parsedate_to_datetime(f"{m.group(2)}, {m.group(3)} {m.group(4)} 20{m.group(5)} "
                                 f"{m.group(6)} GMT").timestamp()
    assert abs(when - time.time() - 17 * 86400) < 60        # 2 weeks 3 days


def test_returning_visitor_keeps_the_cookie(srv: Any) -> None:
    r = get(srv, "/a.txt?again", Cookie="x=1; Apache=10.0.0.1.123")
    assert "Set-Cookie" not in r.headers
    deadline = time.monotonic() + 3
    while "10.0.0.1.123 /a.txt" not in srv.access_log("cookie_log") and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert "10.0.0.1.123 /a.txt" in srv.access_log("cookie_log")


def test_cookie2_style_with_domain(srv: Any) -> None:
    r = get(srv, "/c2/a.txt")
    assert "Set-Cookie" not in r.headers
    assert re.fullmatch(r"trk=127\.0\.0\.1\.\d+; path=/; max-age=1468800; "
                        r"domain=\.example\.com; version=1", r.headers["Set-Cookie2"])
    assert "Set-Cookie2" not in get(srv, "/c2/a.txt", Cookie2="trk=zz").headers


def test_rfc2109_and_escaped_name(srv: Any) -> None:
    r = get(srv, "/rfc/a.txt", Cookie="myXid=3")   # "." in the name is literal
    assert re.fullmatch(r"my\.id=127\.0\.0\.1\.\d+; path=/; max-age=1468800",
                        r.headers["Set-Cookie"])
    assert "Set-Cookie" not in get(srv, "/rfc/a.txt", Cookie="my.id=3").headers


def test_innermost_section_decides(srv: Any) -> None:
    assert "Set-Cookie" not in get(srv, "/off/a.txt").headers    # no CookieTracking there


def test_htaccess(srv: Any) -> None:
    assert re.fullmatch(r"Apache=127\.0\.0\.1\.\d+; path=/; max-age=60",
                        get(srv, "/ht/a.txt").headers["Set-Cookie"])


@pytest.mark.parametrize("line,msg", [
    ("CookieDomain example.com", "CookieDomain values must begin with a dot"),
    ("CookieDomain .com", "CookieDomain values must contain at least one embedded dot"),
    ("CookieStyle Chocolate", "Invalid CookieStyle keyword: 'Chocolate'"),
    ("CookieExpires 'in 2 days'", "bad expires code, numeric value expected."),
    ("CookieExpires 'plus 5'", "bad expires code, missing <type>"),
    ("CookieExpires '2 fortnights'", "bad expires code, unrecognized type"),
])
def test_directive_errors(tmp_path: Any, line: str, msg: str) -> None:
    from featherd.core.config import load_config
    from featherd.errors import ConfigError
    from featherd.modules import builtin_modules

    with pytest.raises(ConfigError, match=msg):
        load_config(None, builtin_modules(), server_root=str(tmp_path),
                    text=f"ServerName u\n{line}\n")


def test_expires_forms() -> None:
    from featherd.modules.metadata.mod_usertrack import parse_expires

    assert parse_expires("3600") == 3600
    assert parse_expires("plus 1 year 2 months") == 365 * 86400 + 60 * 86400
    assert parse_expires("1 h 1 mi 1 s") == 3661
    assert parse_expires("2 weeks 3") == 2          # all digits at both ends: atol
