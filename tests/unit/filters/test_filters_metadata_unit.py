"""mod_headers and mod_expires without sockets: the format strings, every action of
do_headers_fixup, the directive checks with mod_headers.c's and mod_expires.c's
messages, and check_code's two syntaxes."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace
from typing import Any

import pytest

from featherd.core.config import load_config
from featherd.errors import ConfigError, DirectiveError
from featherd.http.headers import Headers
from featherd.modules import builtin_modules
from featherd.modules.metadata import mod_expires as mx
from featherd.modules.metadata import mod_headers as mh


def _req(**kw: Any) -> Any:
    r = SimpleNamespace(headers_in=Headers(), headers_out=Headers(), err_headers_out=Headers(),
                        subprocess_env={}, notes={}, content_type=None,
                        request_time=time.time() - 0.002, status=200)
    r.__dict__.update(kw)
    return r


def _load(tmp_path: Any, text: str) -> Any:
    return load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="ServerName t.local\n" + text)


def _entries(tmp_path: Any, text: str) -> Any:
    return _load(tmp_path, text).main.lookup_defaults[mh.headers.index]


def test_format_specifiers() -> None:
    r = _req(subprocess_env={"FOO": "a\r\nb"})
    parts = mh.parse_format(r"x %t y %D %{FOO}e %{NOPE}e %% \n\t\\ 100%")
    out = mh.render(parts, r)
    m = re.fullmatch(r"x t=(\d{16}) y D=(\d+) a  b \(null\) % \n\t\\ 100%", out)
    assert m, out
    assert int(m.group(1)) == int(r.request_time * 1_000_000)
    assert int(m.group(2)) >= 2000                  # microseconds since the request came
    with pytest.raises(DirectiveError, match="Unrecognized header format %Z"):
        mh.parse_format("%Z")
    r.connection = SimpleNamespace(notes={}, client_ip="127.0.0.1")
    assert mh.render(mh.parse_format("%{HTTPS}s"), r) in ("(null)", "off")


def test_pregsub() -> None:
    m = re.search(r"(b+)(c)?", "abbbd")
    assert m is not None
    assert mh.pregsub(r"[$1][$2][&][$0][\$1][\&]$", m) == "[bbb][][bbb][bbb][$1][&]$"


def test_actions(tmp_path: Any) -> None:
    conf = _entries(tmp_path, """
Header set X-Set one
Header set X-Set two
Header add X-Add a
Header add X-Add b
Header append X-App a
Header append X-App b
Header merge Cache-Control no-cache
Header merge Cache-Control no-cache
Header merge Cache-Control "no-store"
Header merge X-Q "\\"a,b\\""
Header merge X-Q a
Header unset X-Gone
Header echo ^TS
Header edit X-Edit ^(\\w+)-(\\w+)$ "$2-$1"
Header edit* X-Edits o 0
Header setifempty X-Present new
Header setifempty X-Absent new
Header note X-Present present-note
Header set Content-Type "text/x-set; charset=utf-8"
""")
    r = _req()
    r.headers_in.add("TS-One", "1")
    r.headers_in.add("Other", "2")
    r.headers_in.add("ts-lower", "3")
    r.headers_out.add("X-Gone", "1")
    r.headers_out.add("X-Gone", "2")
    r.headers_out.add("X-Edit", "left-right")
    r.headers_out.add("X-Edits", "foo boo")
    r.headers_out.add("X-Present", "old")
    mh.do_fixup(r, r.headers_out, conf.fixup_out, False)
    h = r.headers_out
    assert h.get_all("X-Set") == ["two"]
    assert h.get_all("X-Add") == ["a", "b"]
    assert h.get("X-App") == "a, b"
    assert h.get("Cache-Control") == "no-cache, no-store"
    assert h.get("X-Q") == '"a,b", a'
    assert "X-Gone" not in h
    assert h.get("TS-One") == "1" and "Other" not in h and "ts-lower" not in h
    assert h.get("X-Edit") == "right-left"
    assert h.get("X-Edits") == "f00 b00"
    assert h.get("X-Present") == "old" and h.get("X-Absent") == "new"
    assert r.notes["present-note"] == "old"
    assert r.content_type == "text/x-set; charset=utf-8"


def test_conditions_and_early(tmp_path: Any) -> None:
    conf = _entries(tmp_path, """
Header set X-If yes env=GO
Header set X-IfNot yes env=!GO
Header set X-Early yes early
RequestHeader set X-Req-Early e early
RequestHeader append X-Req late
RequestHeader unset Cookie
""")
    r = _req(subprocess_env={"GO": ""})
    mh.do_fixup(r, r.headers_out, conf.fixup_out, False)
    assert r.headers_out.get("X-If") == "yes" and "X-IfNot" not in r.headers_out
    assert "X-Early" not in r.headers_out              # early entries: only early
    mh.do_fixup(r, r.headers_out, conf.fixup_out, True)
    assert r.headers_out.get("X-Early") == "yes"
    r.headers_in.add("X-Req", "first")
    r.headers_in.add("Cookie", "a=b")
    mh.do_fixup(r, r.headers_in, conf.fixup_in, False)
    assert r.headers_in.get("X-Req") == "first, late" and "Cookie" not in r.headers_in
    assert "X-Req-Early" not in r.headers_in
    mh.do_fixup(r, r.headers_in, conf.fixup_in, True)
    assert r.headers_in.get("X-Req-Early") == "e"


def test_always_goes_to_the_error_table_and_merge_order(tmp_path: Any) -> None:
    tree = _load(tmp_path, "Header always set X-A 1\nHeader onsuccess set X-B 2\n"
                           "<Location /x>\nHeader set X-C 3\n</Location>\n")
    conf = tree.main.lookup_defaults[mh.headers.index]
    assert [e.header for e in conf.fixup_err] == ["X-A"]
    assert [e.header for e in conf.fixup_out] == ["X-B"]
    merged = mh.headers.merge_dir_config(conf, mh.HeadersConfig(fixup_out=[
        mh.HeaderEntry("set", "X-Child", ["c"])]))
    assert [e.header for e in merged.fixup_out] == ["X-B", "X-Child"]   # parent first


@pytest.mark.parametrize("line,msg", [
    ("Header frob X v", "first argument must be 'add', 'set', 'setifempty', 'append', "
                        "'merge', 'unset', 'echo', 'note', 'edit', or 'edit*'."),
    ("RequestHeader echo X", "first argument must be"),
    ("Header set X", "Header requires three arguments"),
    ("Header unset X a b", "header unset takes two arguments"),
    ("Header echo ( ", "Header echo regex could not be compiled"),
    ("Header edit X a", "Header edit requires a match and a substitution"),
    ("Header edit X ( b", "Header edit regex could not be compiled"),
    ("Header set X v env=", "error: missing environment variable name"),
    ("Header set X v env=!", "error: missing environment variable name"),
    ("Header set X v bogus", "Unknown parameter: bogus"),
    ("Header set X v early extra", "Too many arguments to directive"),
    ("Header set X v a b c", "Header has too many arguments"),
    ("Header set X %q", "Unrecognized header format %q"),
    ("Header set X \"a\\r\\nInjected: 1\"", "may not contain CR, LF or NUL"),
    ("Header set X v \"expr=%{REQUEST_URI} =~ m#(#\"", "Can't parse envclause/expression"),
])
def test_header_directive_errors(tmp_path: Any, line: str, msg: str) -> None:
    with pytest.raises(ConfigError) as ei:
        _load(tmp_path, line + "\n")
    assert msg in ei.value.message


def test_expr_condition(tmp_path: Any) -> None:
    conf = _entries(tmp_path, 'Header set X-Html 1 "expr=%{CONTENT_TYPE} =~ m#^text/html#"\n'
                              'Header set X-Ok 1 "expr=%{REQUEST_STATUS} == 200"\n')
    r = _req(content_type="text/html", method="GET", uri="/", headers_in=Headers())
    mh.do_fixup(r, r.headers_out, conf.fixup_out, False)
    assert r.headers_out.get("X-Html") == "1" and r.headers_out.get("X-Ok") == "1"
    r = _req(content_type="image/png", status=404, uri="/")
    mh.do_fixup(r, r.headers_out, conf.fixup_out, False)
    assert "X-Html" not in r.headers_out and "X-Ok" not in r.headers_out


# --- mod_expires ------------------------------------------------------------------------
@pytest.mark.parametrize("code,want", [
    ("A3600", "A3600"),
    ("M86400", "M86400"),
    ("access plus 1 month", "A2592000"),
    ("now plus 1 year 2 weeks", f"A{365 * 86400 + 14 * 86400}"),
    ("modification plus 3 hours 30 minutes 15 seconds", f"M{3 * 3600 + 1800 + 15}"),
    ("access 1 day", "A86400"),                   # "plus" is optional
    ("a p 2 d 1 mo 1 mi 1 s", f"A{2 * 86400 + 30 * 86400 + 60 + 1}"),   # prefixes
    ("access", "A0"),
])
def test_check_code(code: str, want: str) -> None:
    assert mx.check_code(code) == want


@pytest.mark.parametrize("code,msg", [
    ("later plus 1 day", "bad expires code, unrecognised <base> 'later'"),
    ("access plus one day", "bad expires code, numeric value expected <num> 'one'"),
    ("access plus 1", "bad expires code, missing <type>"),
    ("access plus 1 fortnight", "bad expires code, unrecognised <type>'fortnight'"),
    ("access plus 1 m", "bad expires code, unrecognised <type>'m'"),
])
def test_check_code_errors(code: str, msg: str) -> None:
    with pytest.raises(ValueError) as ei:
        mx.check_code(code)
    assert str(ei.value) == msg


def test_expires_directive_errors(tmp_path: Any) -> None:
    with pytest.raises(ConfigError) as ei:
        _load(tmp_path, 'ExpiresByType text/html "later plus 1 day"\n')
    assert "'ExpiresByType text/html later plus 1 day': bad expires code, unrecognised " \
        "<base> 'later'" in ei.value.message
    with pytest.raises(ConfigError) as ei:
        _load(tmp_path, 'ExpiresDefault "access plus x"\n')
    assert "'ExpiresDefault access plus x': bad expires code" in ei.value.message
    with pytest.raises(ConfigError) as ei:
        _load(tmp_path, "ExpiresActive maybe\n")
    assert "ExpiresActive must be On or Off" in ei.value.message


def test_set_expiration_fields() -> None:
    now = 1_700_000_000.25
    r = _req(request_time=now, finfo=None, filename=None)
    t = Headers([("Cache-Control", "public")])
    assert mx.set_expiration_fields(r, "A3600", t)
    assert t.get("Cache-Control") == "public, max-age=3600"
    assert t.get("Expires") == "Tue, 14 Nov 2023 23:13:20 GMT"
    assert not mx.set_expiration_fields(r, "M60", Headers())      # M: files only
    st = SimpleNamespace(st_mtime_ns=int((now - 7200) * 1e9))
    r = _req(request_time=now, finfo=st)
    t = Headers()
    assert mx.set_expiration_fields(r, "M3600", t)                # in the past: now
    assert t.get("Cache-Control") == "max-age=0"
    t = Headers()
    assert mx.set_expiration_fields(r, "M10800", t)
    assert t.get("Cache-Control") == "max-age=3599"               # apr_time_sec truncation


def test_by_type_lookup(tmp_path: Any) -> None:
    tree = _load(tmp_path, "ExpiresActive On\nExpiresByType text/html A1\n"
                           "ExpiresByType image/* A2\nExpiresDefault A3\n")
    conf = tree.main.lookup_defaults[mx.expires.index]
    assert conf.active is True
    assert mx._code_for(conf, "text/html; charset=utf-8") == "A1"
    assert mx._code_for(conf, "TEXT/HTML") == "A1"
    assert mx._code_for(conf, "image/png") == "A2"
    assert mx._code_for(conf, "text/plain") == "A3"
    assert mx._code_for(conf, None) == "A3"
