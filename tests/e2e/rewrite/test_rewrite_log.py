"""RewriteLog and RewriteLogLevel (2.2) and LogLevel rewrite:traceN (2.4).

2.2's RewriteLog line: ``remote-host remote-ident user [time] [host/sid#..][rid#../initial]
(level) [perdir dir] text``; the 2.4 form goes to the error log with the level
``rewrite:traceN``."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import requests
from featherd_testlib import Server, base_conf, free_port

RULES = """
RewriteEngine on
RewriteRule ^/a$ /b.html [L]
<Directory @ROOT@/htdocs/d>
RewriteEngine on
RewriteRule ^x$ b.html [L]
</Directory>
"""


def _start(tmp_path: Path, extra: str) -> Server:
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "htdocs" / "d").mkdir(parents=True, exist_ok=True)
    (tmp_path / "htdocs" / "b.html").write_text("b")
    (tmp_path / "htdocs" / "d" / "b.html").write_text("db")
    port = free_port()
    body = (extra + RULES).replace("@ROOT@", str(tmp_path))
    return Server(tmp_path, base_conf(port, body), port).start()


def _wait_for(path: Path, needle: str, timeout: float = 3.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if needle in text:
            break
        time.sleep(0.05)
    return text


LINE = re.compile(r"^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
                  r"\[127\.0\.0\.1/sid#[0-9a-f]+\]\[rid#[0-9a-f]+/initial(/redir#\d+)?\] "
                  r"\((\d)\) (.*)$")


def test_rewritelog_format_and_levels(tmp_path: Path) -> None:
    s = _start(tmp_path, "RewriteLog logs/rewrite_log\nRewriteLogLevel 3\n")
    try:
        assert requests.get(s.url("/a"), timeout=5).text == "b"
        assert requests.get(s.url("/d/x"), timeout=5).text == "db"
        text = _wait_for(tmp_path / "logs" / "rewrite_log", "[INTERNAL REDIRECT]")
    finally:
        s.stop()
    lines = text.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), [line for line, m in zip(lines, parsed, strict=True) if not m]
    levels = {int(m.group(2)) for m in parsed if m}
    assert levels <= {1, 2, 3} and {1, 2, 3} <= levels
    texts = [m.group(3) for m in parsed if m]
    assert "init rewrite engine with requested uri /a" in texts
    assert "applying pattern '^/a$' to uri '/a'" in texts
    assert "rewrite '/a' -> '/b.html'" in texts
    assert any(t.startswith("go-ahead with ") and t.endswith("/htdocs/b.html [OK]")
               for t in texts)
    perdir = f"[perdir {tmp_path}/htdocs/d/] "
    assert perdir + "rewrite 'x' -> 'b.html'" in texts
    assert perdir + "internal redirect with /d/b.html [INTERNAL REDIRECT]" in texts
    # the request after the internal redirect is marked as such
    assert any(m.group(1) == "/redir#1" for m in parsed if m)


def test_rewriteloglevel_zero_logs_nothing(tmp_path: Path) -> None:
    s = _start(tmp_path, "RewriteLog logs/rewrite_log\nRewriteLogLevel 0\n")
    try:
        requests.get(s.url("/a"), timeout=5)
    finally:
        s.stop()
    assert (tmp_path / "logs" / "rewrite_log").read_text() == ""


def test_rewritelog_to_pipe(tmp_path: Path) -> None:
    out = tmp_path / "piped.log"
    s = _start(tmp_path, f'RewriteLog "|{sys.executable} -c \'import sys,shutil; '
                         f'shutil.copyfileobj(sys.stdin, open(\\"{out}\\", \\"w\\"))\'"\n'
                         "RewriteLogLevel 2\n")
    try:
        requests.get(s.url("/a"), timeout=5)
    finally:
        s.stop()
    text = _wait_for(out, "rewrite '/a' -> '/b.html'")
    assert "(2) rewrite '/a' -> '/b.html'" in text


def test_loglevel_rewrite_trace(tmp_path: Path) -> None:
    s = _start(tmp_path, "LogLevel warn rewrite:trace3\n")
    try:
        requests.get(s.url("/a"), timeout=5)
        log = tmp_path / "logs" / "error_log"
        text = _wait_for(log, "go-ahead with")
    finally:
        s.stop()
    assert re.search(r"\] \[rewrite:trace2\] \[client 127\.0\.0\.1\] 127\.0\.0\.1 - - "
                     r"\[127\.0\.0\.1/sid#[0-9a-f]+\]\[rid#[0-9a-f]+/initial\] "
                     r"rewrite '/a' -> '/b\.html'", text)
    assert "[rewrite:trace3]" in text and "applying pattern" in text
    assert "[rewrite:trace4]" not in text


def test_no_trace_without_loglevel(tmp_path: Path) -> None:
    s = _start(tmp_path, "")
    try:
        requests.get(s.url("/a"), timeout=5)
    finally:
        s.stop()
    assert "rewrite:trace" not in (tmp_path / "logs" / "error_log").read_text()


def test_log_items_escaped(tmp_path: Path) -> None:
    # CVE-2013-1862: terminal escape sequences from the request never reach the log raw
    s = _start(tmp_path, "RewriteLog logs/rewrite_log\nRewriteLogLevel 3\n")
    try:
        requests.get(s.url("/esc%1b[31mape"), timeout=5)
        text = _wait_for(tmp_path / "logs" / "rewrite_log", "ape")
    finally:
        s.stop()
    assert "\x1b" not in text
    assert "init rewrite engine with requested uri /esc\\x1b[31mape" in text
