"""Tests for mod_log_config, mod_logio and the LogFormat compiler.

Manual pages checked: mod_log_config (Apache 2.2: "Custom Log Formats", LogFormat,
CustomLog, TransferLog, BufferedLogs, CookieLog; 2.4 additions to %a %k %L %p %P %R %t %T)
and mod_logio (%I %O, 2.4 %S). Escaping follows server/util.c ap_escape_logitem.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import os
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

import featherd.core.sections  # noqa: F401  (registers the section directives on core)
from featherd.core.config import load_config
from featherd.core.core_module import core
from featherd.core.hooks import OK, run_all_sync, run_void_sync
from featherd.errors import ConfigError, DirectiveError
from featherd.http.headers import Headers
from featherd.modules.loggers import mod_log_config
from featherd.modules.loggers.logformat import CompiledFormat, parse, request_pair
from featherd.modules.loggers.logitems import LOG_HANDLERS, escape_logitem
from featherd.modules.loggers.mod_log_config import LogState, LogWriter, log_config
from featherd.modules.loggers.mod_logio import LOGIO_HANDLERS, logio

ALL = {**LOG_HANDLERS, **LOGIO_HANDLERS}
# The manual's example time: [10/Oct/2000:13:55:36 -0700]
T0 = calendar.timegm((2000, 10, 10, 20, 55, 36)) + 0.25


@pytest.fixture(autouse=True)
def mst_timezone(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TZ", "MST7")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make_request(**kw: Any) -> SimpleNamespace:
    conn = SimpleNamespace(client_ip="127.0.0.1", client_port=54321, local_ip="10.0.0.1",
                           local_port=8080, remote_host=None, remote_logname=None,
                           keepalives=0, aborted=False, id=7, bytes_in=180, bytes_out=2600,
                           keepalive=True)
    server = SimpleNamespace(server_hostname="www.example.com", port=0, module_config=[],
                             is_virtual=False)
    r = SimpleNamespace(
        connection=conn, server=server, the_request="GET /apache_pb.gif HTTP/1.0",
        method="GET", protocol="HTTP/1.0", unparsed_uri="/apache_pb.gif", uri="/apache_pb.gif",
        args=None, filename="/var/www/apache_pb.gif", hostname="vhost.example.com",
        headers_in=Headers([("Host", "vhost.example.com"),
                            ("Referer", "http://www.example.com/start.html"),
                            ("User-Agent", "Mozilla/4.08 [en] (Win98; I ;Nav)")]),
        headers_out=Headers([("Content-Length", "2326")]), err_headers_out=Headers(),
        subprocess_env={}, notes={}, user="frank", ap_auth_type="Basic",
        content_type="image/gif", handler="default-handler", status=200, request_time=T0,
        bytes_sent=2326, main=None, prev=None, next=None, log_id=None, per_dir_config=[])
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def render(fmt: str, r: Any | None = None) -> str:
    r = r if r is not None else make_request()
    final, orig = request_pair(r)
    line = CompiledFormat(fmt, ALL).render(final, orig)
    assert line.endswith("\n")
    return line[:-1]


# --- the manual's formats ------------------------------------------------------------
def test_common_log_format() -> None:
    """mod_log_config "Common Log Format (CLF)" example line."""
    assert render('%h %l %u %t "%r" %>s %b') == (
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326')


def test_combined_log_format() -> None:
    """mod_log_config "Combined Log Format" example line."""
    fmt = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"'
    assert render(fmt) == (
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 '
        '2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"')


# --- every directive ---------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "want"), [
    ("%%", "%"),
    ("100%% %a", "100% 127.0.0.1"),
    ("%a", "127.0.0.1"),
    ("%{c}a", "127.0.0.1"),
    ("%A", "10.0.0.1"),
    ("%B", "2326"),
    ("%b", "2326"),
    ("%e", "-"),
    ("%f", "/var/www/apache_pb.gif"),
    ("%h", "127.0.0.1"),
    ("%H", "HTTP/1.0"),
    ("%{Host}i", "vhost.example.com"),
    ("%{host}i", "vhost.example.com"),
    ("%{X-None}i", "-"),
    ("%k", "0"),
    ("%l", "-"),
    ("%L", "-"),
    ("%m", "GET"),
    ("%{Content-Length}o", "2326"),
    ("%{Content-Type}o", "image/gif"),
    ("%p", "8080"),
    ("%{canonical}p", "8080"),
    ("%{local}p", "8080"),
    ("%{remote}p", "54321"),
    ("%P", str(os.getpid())),
    ("%{pid}P", str(os.getpid())),
    ("%{tid}P", str(threading.get_ident())),
    ("%{hextid}P", f"{threading.get_ident():x}"),
    ("%q", ""),
    ("%r", "GET /apache_pb.gif HTTP/1.0"),
    ("%R", "default-handler"),
    ("%s", "200"),
    ("%>s", "200"),
    ("%<s", "200"),
    ("%u", "frank"),
    ("%U", "/apache_pb.gif"),
    ("%v", "www.example.com"),
    ("%V", "vhost.example.com"),
    ("%X", "+"),
    ("%I", "180"),
    ("%O", "2600"),
    ("%S", "2780"),
])
def test_each_directive(fmt: str, want: str) -> None:
    assert render(fmt) == want


def test_literal_backslash_escapes() -> None:
    """parse_log_misc_string: \\n \\t \\r \\\\ in literal text; other escapes verbatim."""
    assert render("a\\tb\\nc\\\\d\\qe") == "a\tb\nc\\d\\qe"


def test_env_note_cookie() -> None:
    r = make_request(subprocess_env={"UNIQUE_ID": "abc"}, notes={"n1": "v1"})
    r.headers_in.add("Cookie", "a=1; Session Id = xyz ; c=3=4")
    assert render("%{UNIQUE_ID}e %{n1}n %{NOPE}n", r) == "abc v1 -"
    assert render("%{a}C|%{SessionId}C|%{c}C|%{zz}C", r) == "1|xyz|3=4|-"


def test_remote_host_logname_and_port() -> None:
    r = make_request()
    r.connection.remote_host = "client.example.org"
    r.connection.remote_logname = "ident"
    r.server.port = 80
    r.log_id = "Xyz"
    assert render("%h %a %l %p %{local}p %L", r) == "client.example.org 127.0.0.1 ident 80 8080 Xyz"


def test_missing_values_are_dash() -> None:
    r = make_request(bytes_sent=0, user=None, filename=None, status=0, handler=None)
    assert render("%b %B %u %f %s %R", r) == "- 0 - - - -"
    assert render("%u", make_request(user="")) == '""'


def test_query_string() -> None:
    """%q: "?" and the query string, or the empty string."""
    assert render("%U%q", make_request(args="a=1&b=2")) == "/apache_pb.gif?a=1&b=2"
    assert render("[%q]", make_request(args="")) == "[?]"


def test_connection_status() -> None:
    """%X: X aborted, + kept alive, - closed."""
    r = make_request()
    assert render("%X", r) == "+"
    r.connection.keepalive = False
    assert render("%X", r) == "-"
    r.connection.aborted = True
    assert render("%X", r) == "X"


def test_keepalives_count() -> None:
    r = make_request()
    r.connection.keepalives = 3
    assert render("%k", r) == "3"


def test_header_out_sources() -> None:
    """%{X}o reads headers_out, then err_headers_out; Set-Cookie joins all of them."""
    r = make_request(content_type="text/html; charset=utf-8")
    r.err_headers_out.add("X-Err", "e")
    r.headers_out.add("Set-Cookie", "a=1")
    r.err_headers_out.add("Set-Cookie", "b=2")
    assert render("%{Content-Type}o|%{X-Err}o|%{Set-Cookie}o", r) == "text/html|e|a=1, b=2"


def test_repeated_request_headers_are_merged() -> None:
    r = make_request()
    r.headers_in.add("Accept", "a/b")
    r.headers_in.add("Accept", "c/d")
    assert render("%{Accept}i", r) == "a/b, c/d"


def test_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: T0 + 2.5)
    assert render("%T %D %{s}T %{ms}T %{us}T %{bogus}T") == "2 2500000 2 2500 2500000 bogus"


# --- %t ----------------------------------------------------------------------------------
def test_time_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: T0 + 60)
    assert render("%t") == "[10/Oct/2000:13:55:36 -0700]"
    assert render("%{%Y-%m-%d %H:%M:%S}t") == "2000-10-10 13:55:36"
    assert render("%{begin:%H:%M:%S}t") == "13:55:36"
    assert render("%{end:%H:%M:%S}t") == "13:56:36"
    assert render("%{sec}t") == str(int(T0))
    assert render("%{msec}t") == str(int(T0) * 1000 + 250)
    assert render("%{usec}t") == str(int(T0) * 1_000_000 + 250_000)
    assert render("%{msec_frac}t") == "250"
    assert render("%{usec_frac}t") == "250000"
    assert render("%{end:sec}t") == str(int(T0) + 60)
    assert render("%{end:}t") == "[10/Oct/2000:13:56:36 -0700]"


def test_time_positive_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    assert render("%t") == "[11/Oct/2000:02:25:36 +0530]"


def test_time_cached_per_second() -> None:
    fmt = CompiledFormat("%t")
    a = make_request()
    b = make_request(request_time=T0 + 0.5)
    c = make_request(request_time=T0 + 1)
    assert fmt.render(a, a) == fmt.render(b, b) == "[10/Oct/2000:13:55:36 -0700]\n"
    assert fmt.render(c, c) == "[10/Oct/2000:13:55:37 -0700]\n"


# --- conditions and redirects ------------------------------------------------------------
def test_status_conditions() -> None:
    """%400,501{User-agent}i logs only on 400/501; %!200,304,302{Referer}i on any other."""
    fmt = "%400,501{User-agent}i|%!200,304,302{Referer}i"
    assert render(fmt, make_request(status=200)) == "-|-"
    assert render(fmt, make_request(status=400)) == (
        "Mozilla/4.08 [en] (Win98; I ;Nav)|http://www.example.com/start.html")
    assert render(fmt, make_request(status=404)) == "-|http://www.example.com/start.html"


def test_internal_redirect_original_and_final() -> None:
    """%s and %U are the original request's; %>s and %<U pick final/original explicitly."""
    orig = make_request(status=302, uri="/old")
    final = make_request(status=404, uri="/new", prev=orig)
    orig.next = final
    assert render("%s %>s %<s %U %>U %<U", orig) == "302 404 302 /old /new /old"
    # the condition is tested against the final request's status
    assert render("%404U", orig) == "/old"


# --- escaping ----------------------------------------------------------------------------
def test_escape_logitem() -> None:
    assert escape_logitem("plain text ~!") == "plain text ~!"
    assert escape_logitem('a"b\\c') == 'a\\"b\\\\c'
    assert escape_logitem("\b\n\r\t\v") == "\\b\\n\\r\\t\\v"
    assert escape_logitem("\x00\x1b\x7f\xe9\xff") == "\\x00\\x1b\\x7f\\xe9\\xff"
    assert escape_logitem("\u20ac") == "\\xe2\\x82\\xac"


def test_escaping_in_items() -> None:
    r = make_request(the_request='GET /a"b\\c\x1b HTTP/1.0', uri="/x\ny", user="f\"r",
                     args="q=\t")
    r.headers_in.set("User-Agent", "evil\r\n\"agent\"")
    r.headers_out.add("X-Out", "o\x01")
    assert render('"%r" %U%q %u "%{User-Agent}i" %{X-Out}o', r) == (
        '"GET /a\\"b\\\\c\\x1b HTTP/1.0" /x\\ny?q=\\t f\\"r "evil\\r\\n\\"agent\\"" o\\x01')


# --- parse errors ------------------------------------------------------------------------
def test_unknown_directive_error() -> None:
    with pytest.raises(DirectiveError, match="^Unrecognized LogFormat directive %Z$"):
        CompiledFormat("%h %Z")
    with pytest.raises(DirectiveError, match="^Unrecognized LogFormat directive %I$"):
        CompiledFormat("%I")          # without mod_logio


def test_ran_off_end_error() -> None:
    for fmt in ("%", "%{foo", "%>", "%400"):
        with pytest.raises(DirectiveError,
                           match="^Ran off end of LogFormat parsing args to some directive$"):
            CompiledFormat(fmt)


def test_parse_items() -> None:
    items = parse("x %!200,304{Referer}i", LOG_HANDLERS)
    assert items[0] == "x "
    d = items[1]
    assert not isinstance(d, str)
    assert (d.text, d.letter, d.arg, d.conditions, d.negate) == (
        "%!200,304{Referer}i", "i", "Referer", (200, 304), True)


# --- JSON --------------------------------------------------------------------------------
def test_json_format() -> None:
    r = make_request()
    r.headers_in.set("User-Agent", 'a "quoted"\n\x01 agent')
    line = render('json:%h %t "%r" %>s %b %{User-Agent}i %{X-None}i', r)
    obj = json.loads(line)
    assert obj == {"%h": "127.0.0.1", "%t": "[10/Oct/2000:13:55:36 -0700]",
                   "%r": "GET /apache_pb.gif HTTP/1.0", "%>s": "200", "%b": "2326",
                   "%{User-Agent}i": 'a "quoted"\n\x01 agent', "%{X-None}i": "-"}
    assert "\n" not in line


# --- configuration -----------------------------------------------------------------------
MODULES = [core, log_config, logio]


def load(text: str, tmp_path: Any) -> Any:
    return load_config(None, MODULES, text=text, server_root=str(tmp_path))


def active(tree: Any, server: Any) -> list[Any]:
    return list(log_config.sconf(server).active)


def test_config_nicknames_and_default(tmp_path: Any) -> None:
    tree = load(
        'CustomLog logs/access.log combined\n'
        'LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-agent}i\\"" '
        'combined\n'
        'LogFormat "%h %>s"\n'
        'TransferLog logs/transfer.log\n'
        'CustomLog logs/literal.log "%a %I %O"\n', tmp_path)
    logs = active(tree, tree.main)
    assert [a.writer.target for a in logs] == [
        str(tmp_path / "logs/access.log"), str(tmp_path / "logs/transfer.log"),
        str(tmp_path / "logs/literal.log")]
    assert logs[0].fmt.source.endswith('"%{User-agent}i"')
    assert logs[1].fmt.source == "%h %>s"
    assert logs[2].fmt.source == "%a %I %O"


def test_config_default_is_clf(tmp_path: Any) -> None:
    tree = load("TransferLog /dev/stdout\n", tmp_path)
    assert active(tree, tree.main)[0].fmt.source == '%h %l %u %t "%r" %>s %b'


def test_config_one_argument_nickname(tmp_path: Any) -> None:
    tree = load('LogFormat "%h %U" short\nLogFormat short\nTransferLog t.log\n', tmp_path)
    assert active(tree, tree.main)[0].fmt.source == "%h %U"


def test_config_vhost_logs(tmp_path: Any) -> None:
    """A vhost with logs of its own does not log to the main server's; one without does."""
    tree = load(
        'LogFormat "%v %h" vfmt\n'
        'CustomLog main.log vfmt\n'
        '<VirtualHost *:80>\n  ServerName a.example\n  CustomLog a.log "%h"\n'
        '  CustomLog main.log vfmt\n</VirtualHost>\n'
        '<VirtualHost *:80>\n  ServerName b.example\n</VirtualHost>\n', tmp_path)
    a, b = tree.vhosts
    main_logs = active(tree, tree.main)
    a_logs = active(tree, a)
    b_logs = active(tree, b)
    assert [x.writer.target for x in a_logs] == [str(tmp_path / "a.log"),
                                                  str(tmp_path / "main.log")]
    assert [x.writer.target for x in b_logs] == [str(tmp_path / "main.log")]
    # one writer per file, shared between servers
    assert a_logs[1].writer is main_logs[0].writer is b_logs[0].writer
    assert a_logs[1].fmt.source == "%v %h"


def test_config_vhost_inherited_transferlog_uses_vhost_default(tmp_path: Any) -> None:
    tree = load('TransferLog t.log\n<VirtualHost *:80>\n  LogFormat "%v"\n</VirtualHost>\n',
                tmp_path)
    assert active(tree, tree.main)[0].fmt.source == '%h %l %u %t "%r" %>s %b'
    assert active(tree, tree.vhosts[0])[0].fmt.source == "%v"


def test_merge_server_config() -> None:
    base = mod_log_config.LogConfig(config_logs=["m"], formats={"a": 1, "b": 2},
                                    default_format_string="x", default_format="X")
    new = mod_log_config.LogConfig(formats={"b": 3})
    out = log_config.merge_server_config(base, new)
    assert out.server_config_logs == ["m"]
    assert out.formats == {"a": 1, "b": 3}
    assert (out.default_format_string, out.default_format) == ("x", "X")
    assert not out.config_logs


@pytest.mark.parametrize(("text", "message"), [
    ('LogFormat "%h %Z" bad\n', "Unrecognized LogFormat directive %Z"),
    ('CustomLog a.log "%{foo"\n', "Ran off end of LogFormat parsing args to some directive"),
    ("CustomLog a.log common foo=bar\n", "error in condition clause"),
    ("CustomLog a.log common env=\n", "missing environment variable name"),
    ("CustomLog a.log common env=!\n", "missing environment variable name"),
    ("CustomLog a.log common expr=%{REMOTE_ADDR}\n", "expr= conditions"),
    ("CustomLog a.log\n", "CustomLog takes two or three arguments, a file name, a custom log "
                          "format string or format name, and an optional \"env=\" clause "
                          "(see docs)"),
    ("LogFormat\n", "LogFormat takes 1-2 arguments, a log format string (see docs) and an "
                    "optional format name"),
    ("TransferLog\n", "TransferLog takes one argument, the filename of the access log"),
    ("BufferedLogs maybe\n", "BufferedLogs must be On or Off"),
    ("<Directory />\nCustomLog a.log common\n</Directory>\n", "CustomLog not allowed here"),
])
def test_config_errors(tmp_path: Any, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load(text, tmp_path)
    s = str(ei.value)
    assert s.startswith("Syntax error on line ")
    assert message in s


def test_config_logio_needed_for_I(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="Unrecognized LogFormat directive %I"):
        load_config(None, [core, log_config], text='LogFormat "%I" x\n',
                    server_root=str(tmp_path))


def test_config_cookielog_and_bufferedlogs(tmp_path: Any) -> None:
    tree = load("CookieLog c.log\nBufferedLogs Off\n", tmp_path)
    log = active(tree, tree.main)[0]
    assert log.fmt.source == '%{Cookie}n "%r" %t'
    assert log.writer.limit == 0


# --- writing -----------------------------------------------------------------------------
def serve(tree: Any, r: Any) -> int:
    r.server = tree.main
    return run_all_sync(tree.hooks["log_transaction"], r)


def test_log_transaction_and_child_exit(tmp_path: Any) -> None:
    tree = load('CustomLog logs/access.log "%h %>s %U"\n'
                'CustomLog logs/err.log "%U" env=!nolog\n', tmp_path)
    os.mkdir(tmp_path / "logs")
    assert run_all_sync(tree.hooks["open_logs"], tree) == OK
    for i in range(100):
        env = {"nolog": "1"} if i % 2 else {}
        assert serve(tree, make_request(uri=f"/p{i}", subprocess_env=env)) == OK
    access = tmp_path / "logs/access.log"
    assert access.read_text() == ""            # still buffered
    run_void_sync(tree.hooks["child_exit"], tree)
    lines = access.read_text().splitlines()
    assert lines == [f"127.0.0.1 200 /p{i}" for i in range(100)]
    assert (tmp_path / "logs/err.log").read_text().splitlines() == [
        f"/p{i}" for i in range(0, 100, 2)]


def test_env_condition(tmp_path: Any) -> None:
    tree = load('CustomLog only.log "%U" env=dolog\n', tmp_path)
    serve(tree, make_request(uri="/no"))
    serve(tree, make_request(uri="/yes", subprocess_env={"dolog": ""}))
    run_void_sync(tree.hooks["child_exit"], tree)
    assert (tmp_path / "only.log").read_text() == "/yes\n"


def test_buffer_flushes_when_full(tmp_path: Any) -> None:
    w = LogWriter(str(tmp_path / "big.log"))
    w.open()
    line = "x" * 999 + "\n"
    for _ in range(70):
        w.write(line)
    text = (tmp_path / "big.log").read_text()
    assert text and len(text) % 1000 == 0      # whole lines only
    w.close()
    assert (tmp_path / "big.log").read_text() == line * 70


def test_unbuffered_writes_each_line(tmp_path: Any) -> None:
    w = LogWriter(str(tmp_path / "u.log"), buffered=False)
    w.open()
    w.write("one\n")
    assert (tmp_path / "u.log").read_text() == "one\n"
    w.close()


def test_timer_flush(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mod_log_config, "FLUSH_INTERVAL", 0.01)
    tree = load('CustomLog t.log "%U"\n', tmp_path)
    run_all_sync(tree.hooks["open_logs"], tree)
    loop = asyncio.new_event_loop()
    try:
        run_void_sync(tree.hooks["child_init"], tree, loop)
        serve(tree, make_request(uri="/timer"))
        loop.run_until_complete(asyncio.sleep(0.1))
        assert (tmp_path / "t.log").read_text() == "/timer\n"
        run_void_sync(tree.hooks["child_exit"], tree)
    finally:
        loop.close()


def test_open_failure_message(tmp_path: Any) -> None:
    tree = load("TransferLog nodir/x.log\n", tmp_path)
    with pytest.raises(ConfigError, match=r"^\(2\)No such file or directory: could not open "
                                          r"transfer log file .*nodir/x\.log\.$"):
        run_all_sync(tree.hooks["open_logs"], tree)


def test_piped_log(tmp_path: Any) -> None:
    out = tmp_path / "piped.log"
    state = LogState()
    w = state.writer(f"|cat > {out}")
    state.open_all()
    for i in range(2000):
        w.write(f"line {i}\n")
    state.close_all()
    assert out.read_text().splitlines() == [f"line {i}" for i in range(2000)]


def test_pipe_writes_are_chunked_on_lines(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    w = LogWriter("|cat")
    writes: list[bytes] = []
    w.fd = 99
    monkeypatch.setattr(os, "write", lambda fd, data: writes.append(bytes(data)) or len(data))
    for i in range(1000):
        w.write(f"{i:05d} " + "y" * 30 + "\n")
    w.flush()
    assert len(writes) > 1
    assert all(len(c) <= mod_log_config.PIPE_CHUNK and c.endswith(b"\n") for c in writes)
    assert b"".join(writes).count(b"\n") == 1000


def test_server_name_use_canonical_name() -> None:
    """%V is the client's Host unless UseCanonicalName On (ap_get_server_name)."""
    r = make_request(per_dir_config=[SimpleNamespace(use_canonical_name="on")])
    saved = core.index
    core.index = 0
    try:
        assert render("%V %v", r) == "www.example.com www.example.com"
    finally:
        core.index = saved
