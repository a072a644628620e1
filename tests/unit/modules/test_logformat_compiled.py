"""The generated LogFormat renderer (one function per format) against the reference path
(one getter per item through ``_item``, joined by ``%``): byte-identical lines for many
formats and requests, including escapes, missing values, status conditions, ``%<``/``%>``
and handlers replaced by other modules; and the writers chosen per log."""

from __future__ import annotations

import calendar
import os
import time
from types import SimpleNamespace
from typing import Any

import pytest

import featherd.core.sections  # noqa: F401  (registers the section directives on core)
from featherd.core.config import load_config
from featherd.core.core_module import core
from featherd.core.hooks import OK, run_all_sync, run_void_sync
from featherd.http.headers import Headers
from featherd.modules.loggers.logformat import CompiledFormat, Directive, _item, request_pair
from featherd.modules.loggers.logitems import LOG_HANDLERS, LogHandler, escape_logitem
from featherd.modules.loggers.mod_log_config import LogWriter, log_config, multi_log_transaction
from featherd.modules.loggers.mod_logio import LOGIO_HANDLERS, logio

ALL = {**LOG_HANDLERS, **LOGIO_HANDLERS}
T0 = calendar.timegm((2000, 10, 10, 20, 55, 36)) + 0.25


@pytest.fixture(autouse=True)
def mst_timezone(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TZ", "MST7")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def request(**kw: Any) -> SimpleNamespace:
    kw = dict(kw)
    conn = SimpleNamespace(**{
        "client_ip": "127.0.0.1", "client_port": 54321, "local_ip": "10.0.0.1",
        "local_port": 8080, "remote_host": None, "remote_logname": None, "keepalives": 3,
        "aborted": False, "id": 7, "bytes_in": 180, "bytes_out": 2600, "keepalive": True,
        **kw.pop("conn", {})})
    server = SimpleNamespace(server_hostname="www.example.com", port=0, module_config=[],
                             is_virtual=False)
    r = SimpleNamespace(
        connection=conn, server=server, the_request="GET /apache_pb.gif HTTP/1.0",
        method="GET", protocol="HTTP/1.0", unparsed_uri="/apache_pb.gif", uri="/apache_pb.gif",
        args=None, filename="/var/www/apache_pb.gif", hostname="vhost.example.com",
        headers_in=Headers([("Host", "vhost.example.com"), ("Referer", "http://x/s.html"),
                            ("User-Agent", "Mozilla/4.08 [en] (Win98; I ;Nav)")]),
        headers_out=Headers([("Content-Length", "2326")]), err_headers_out=Headers(),
        subprocess_env={"E": "env"}, notes={"N": "note"}, user="frank", ap_auth_type="Basic",
        content_type="image/gif", handler="default-handler", status=200, request_time=T0,
        bytes_sent=2326, main=None, prev=None, next=None, log_id=None, per_dir_config=[])
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def reference(fmt: CompiledFormat, table: Any, r: Any, o: Any) -> str:
    """The item-by-item rendering (process_item per directive, then one ``%`` join)."""
    tmpl: list[str] = []
    funcs = []
    for p in fmt.parts:
        if isinstance(p, str):
            tmpl.append(p.replace("%", "%%"))
        else:
            tmpl.append("%s")
            funcs.append(_item(p, table[p.letter], escape_logitem))
    return ("".join(tmpl) + "\n") % tuple(f(r, o) for f in funcs)


FORMATS = [
    '%h %l %u %t "%r" %>s %b',
    '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"',
    '%<s %>s %s %<b %>B %<h %>u %<r %>r %<t %>t',
    "%m %H %U %f %q %B %b %a %A %v %V %p %k %X %I %O %S %{E}e %{N}n %{Host}i %R",
    "%200,304s %!200,304s %404{Referer}i %!404{Referer}i %500,200u %!200t",
    "{braces} {{double}} }{ 100%% 'quote' \"dq\" \\\\back\\tslash\\n %{Content-Type}o",
    "%{%d/%b/%Y}t %{sec}t %{begin:}t %{begin:msec_frac}t",
    "no directives at all",
    "%%",
    "\u00e9t\u00e9 %h \u2603",
]

VARIANTS: list[dict[str, Any]] = [
    {},
    {"user": None, "the_request": None, "status": 0, "bytes_sent": 0, "method": None,
     "protocol": None, "uri": None, "filename": None, "handler": None},
    {"user": "", "status": -1},
    {"user": 'we"ird\\us\ner\x01', "the_request": 'GET /a"b\\c\x7f\xff\u0100 HTTP/1.1',
     "conn": {"remote_host": "ho\tst", "remote_logname": "id\x00ent"}},
    {"status": 404, "conn": {"remote_host": "", "remote_logname": "ident"}},
    {"status": 304, "bytes_sent": None, "args": "a=b&c"},
    {"headers_in": Headers([("Referer", "a"), ("referer", 'b"\x01'), ("User-Agent", "")])},
    {"status": 500, "request_time": T0 + 1.9, "method": "P\u00d6ST",
     "filename": "/tmp/\udcff"},
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("variant", range(len(VARIANTS)))
def test_generated_matches_reference(fmt: str, variant: int) -> None:
    r = request(**VARIANTS[variant])
    cf = CompiledFormat(fmt, ALL)
    final, orig = request_pair(r)
    assert cf.render(final, orig) == reference(cf, ALL, final, orig)


def test_generated_matches_reference_across_redirects() -> None:
    """%<x reads the original request, %>x the final one, each as the reference does."""
    first = request(the_request="GET /old HTTP/1.1", uri="/old", status=302, user="a",
                    bytes_sent=0)
    last = request(the_request="GET /new HTTP/1.1", uri="/new", status=200, user="b",
                   bytes_sent=99, prev=first, request_time=T0 + 5)
    first.next = last
    for fmt in FORMATS:
        cf = CompiledFormat(fmt, ALL)
        for start in (first, last):
            final, orig = request_pair(start)
            assert cf.render(final, orig) == reference(cf, ALL, final, orig)


def test_manual_lines_unchanged() -> None:
    r = request()
    assert CompiledFormat('%h %l %u %t "%r" %>s %b').render(r, r) == (
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 '
        '2326\n')


def test_replaced_handler_is_called_not_inlined() -> None:
    """A module that brings its own %h or %t (as mod_ssl re-registers rows) is used."""
    table = {**LOG_HANDLERS, "h": LogHandler(lambda arg, esc: lambda r: "who"),
             "t": LogHandler(lambda arg, esc: lambda r: None)}
    r = request()
    assert CompiledFormat("%h %t %u", table).render(r, r) == "who - frank\n"


def test_time_text_cached_per_second_and_follows_the_clock() -> None:
    cf = CompiledFormat("%t")
    a, b, c = request(), request(request_time=T0 + 0.7), request(request_time=T0 + 1)
    first = cf.render(a, a)
    assert cf.render(b, b) == first == "[10/Oct/2000:13:55:36 -0700]\n"
    assert cf.render(c, c) == "[10/Oct/2000:13:55:37 -0700]\n"
    assert cf.render(a, a) == first


def test_generated_source_is_kept_for_reading() -> None:
    render = CompiledFormat('%h "%r" %{Referer}i').render
    assert render.__doc__ is not None and "def render(r, o" in render.__doc__


def test_conditions_with_parsed_directive() -> None:
    d = Directive("%!200,304{Referer}i", "i", "Referer", False, (200, 304), True)
    cf = CompiledFormat("%!200,304{Referer}i")
    assert cf.parts == [d]
    assert cf.render(request(status=200), request()) == "-\n"
    assert cf.render(request(status=404), request()) == "http://x/s.html\n"


# --- the writers chosen per log ---------------------------------------------------------
MODULES = [core, log_config, logio]


def load(text: str, tmp_path: Any) -> Any:
    return load_config(None, MODULES, text=text, server_root=str(tmp_path))


def serve(tree: Any, r: Any) -> int:
    r.server = tree.main
    return int(multi_log_transaction(r))


def test_bufferedlogs_off_writes_each_line_at_once(tmp_path: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    tree = load('BufferedLogs Off\nCustomLog a.log "%U %>s"\n', tmp_path)
    assert run_all_sync(tree.hooks["open_logs"], tree) == OK
    writes: list[bytes] = []
    real = os.write

    def spy(fd: int, data: Any) -> int:
        writes.append(bytes(data))
        return real(fd, data)
    monkeypatch.setattr(os, "write", spy)
    for i in range(3):
        assert serve(tree, request(uri=f"/u{i}", status=200 + i)) == OK
        assert (tmp_path / "a.log").read_text().splitlines()[-1] == f"/u{i} {200 + i}"
    assert writes == [b"/u0 200\n", b"/u1 201\n", b"/u2 202\n"]     # one write per line
    run_void_sync(tree.hooks["child_exit"], tree)
    assert (tmp_path / "a.log").read_text() == "/u0 200\n/u1 201\n/u2 202\n"


def test_bufferedlogs_off_non_ascii_and_unopened(tmp_path: Any) -> None:
    w = LogWriter(str(tmp_path / "late.log"), buffered=False)
    w.write_now("first \u00e9\n")            # not opened yet: opens, then writes
    w.write_now("second \udcff\n")
    assert (tmp_path / "late.log").read_bytes() == "first \u00e9\n".encode() + \
        b"second \\udcff\n"
    w.close()


def test_bufferedlogs_off_long_pipe_line_goes_through_flush(tmp_path: Any,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    w = LogWriter(str(tmp_path / "c.log"), buffered=False)
    w.open()
    monkeypatch.setattr(w, "chunk", 8)
    w.write_now("a" * 20 + "\n")
    assert (tmp_path / "c.log").read_text() == "a" * 20 + "\n"
    w.close()


def test_buffered_by_default_and_plan(tmp_path: Any) -> None:
    tree = load('CustomLog b.log "%U"\nCustomLog c.log "%U" env=!skip\n', tmp_path)
    run_all_sync(tree.hooks["open_logs"], tree)
    plan = log_config.sconf(tree.main).plan
    assert [(var, neg) for var, neg, _, _ in plan] == [(None, False), ("skip", True)]
    serve(tree, request(uri="/one"))
    serve(tree, request(uri="/two", subprocess_env={"skip": "1"}))
    assert (tmp_path / "b.log").read_text() == ""      # buffered until the flush
    run_void_sync(tree.hooks["child_exit"], tree)
    assert (tmp_path / "b.log").read_text() == "/one\n/two\n"
    assert (tmp_path / "c.log").read_text() == "/one\n"
