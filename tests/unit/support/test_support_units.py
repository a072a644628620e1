"""Unit tests of the support programs' logic: rotatelogs' argument rules and file names,
logresolve's line rewriting and statistics, ab's report arithmetic, check_forensic,
split-logfile, the status line of log_server_status, featherctl's text dump."""

from __future__ import annotations

import time

import pytest

from featherd.support import check_forensic, featherctl, log_server_status, logresolve
from featherd.support import rotatelogs as rl
from featherd.support.ab.client import Metrics
from featherd.support.ab.options import Fatal, Options, parse_args, parse_url
from featherd.support.ab.report import times_table


def _cfg(*args: str) -> rl.Config:
    return rl.parse(list(args))


def test_rotatelogs_time_size_offset() -> None:
    c = _cfg("/x/log", "86400")
    assert (c.t_rotation, c.s_rotation, c.utc_offset) == (86400, 0, 0)
    c = _cfg("/x/log", "5M")
    assert c.s_rotation == 5 * 1024 * 1024 and c.t_rotation == 0
    c = _cfg("/x/log", "3600", "-300")
    assert c.t_rotation == 3600 and c.utc_offset == -300 * 60
    c = _cfg("/x/log", "3600", "1K")
    assert c.t_rotation == 3600 and c.s_rotation == 1024
    c = _cfg("-l", "-f", "-t", "-v", "/x/%Y", "60")
    assert c.use_localtime and c.force_open and c.truncate and c.verbose and c.use_strftime


@pytest.mark.parametrize("args,msg", [
    (["/x"], "Incorrect number of arguments"),
    (["/x", "0"], "Invalid rotation time parameter"),
    (["/x", "0M"], "Invalid rotation size parameter"),
    (["-l", "/x", "60", "10"], "UTC offset parameter is not valid with -l"),
    (["/x", "1M", "2M"], "Rotation size parameter allowed only once"),
])
def test_rotatelogs_errors(args: list[str], msg: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        rl.parse(args)
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(msg + "\nUsage: ")


def test_rotatelogs_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_700_000_123.5)
    r = rl.Rotator(_cfg("/x/log", "3600"))
    assert r.new_name() == "/x/log.1699999200"        # the interval's start
    assert r.t_log_end == 1_700_002_800
    r = rl.Rotator(_cfg("/x/log.%Y-%m-%d-%H", "3600", "60"))
    assert r.new_name() == "/x/log.2023-11-14-23"      # UTC+1h
    r = rl.Rotator(_cfg("/x/log", "1M"))
    assert r.new_name() == "/x/log.1700000123"          # size: now
    r = rl.Rotator(_cfg("-t", "/x/log", "60"))
    assert r.new_name() == "/x/log"


def test_logresolve_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {"192.0.2.1": "one.example", "2001:db8::1": "six.example"}

    def fake(ip: str) -> tuple[str, list[str], list[str]]:
        if ip in names:
            return names[ip], [], [ip]
        raise OSError("no")
    monkeypatch.setattr(logresolve.socket, "gethostbyaddr", fake)
    r = logresolve.Resolver(False)
    lines = ["192.0.2.1 - - x\n", "192.0.2.9 y\n", "host.example z\n", "192.0.2.1 again\n",
             "\n", "2001:db8::1 v6\n", "192.0.2.1\n"]
    out = [r.line(x) for x in lines]
    assert out == ["one.example - - x\n", "192.0.2.9 y\n", "host.example z\n",
                   "one.example again\n", "\n", "six.example v6\n", "192.0.2.1\n"]
    assert r.statistics() == ("logresolve Statistics:\nEntries: 7\n    With name   : 3\n"
                              "    Resolves    : 3\n    - No reverse : 1\nCache hits      : 1\n"
                              "Cache size      : 3\n")


def test_logresolve_double_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logresolve.socket, "gethostbyaddr", lambda ip: ("liar.example", [], []))
    monkeypatch.setattr(logresolve.socket, "getaddrinfo",
                        lambda h, p, f: [(f, 1, 6, "", ("198.51.100.7", 0))])
    r = logresolve.Resolver(True)
    assert r.line("192.0.2.1 x\n") == "192.0.2.1 x\n"
    assert "    - Double lookup failed : 1\n" in r.statistics()


def test_ab_table_and_percentiles() -> None:
    o = Options(requests=4, concurrency=1)
    m = Metrics(done=4, stats=[(0.0, 1000, 3000, 1500), (0.0, 0, 2000, 1000),
                               (0.0, 2000, 10000, 4000), (0.0, 1000, 5000, 2000)])
    t = times_table(o, m)
    lines = t.splitlines()
    assert lines[1] == "Connection Times (ms)"
    assert lines[2] == "              min  mean[+/-sd] median   max"
    assert lines[3] == "Connect:        0    1   0.8      1       2"
    assert lines[6] == "Total:          2    5   3.6      5      10"  # ab: s[n//2]
    assert "Percentage of the requests served within a certain time (ms)" in t
    assert "  50%      5" in t and " 100%     10 (longest request)" in t
    o.confidence = False
    assert "              min   avg   max\nConnect:        0     1    2\n" in times_table(o, m)


def test_ab_args_and_request() -> None:
    o = parse_args(["-n", "10", "-c", "2", "-k", "-C", "a=b", "-H", "X-A: 1",
                    "-A", "u:p", "http://h.example:8080/p?q"], "ab")
    t = parse_url(o)
    assert t.request == (b"GET /p?q HTTP/1.0\r\nConnection: Keep-Alive\r\nCookie: a=b\r\n"
                         b"Authorization: Basic dTpw\r\nX-A: 1\r\nHost: h.example:8080\r\n"
                         b"User-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n")
    o = parse_args(["-i", "-X", "proxy:3128", "http://h/"], "ab")
    t = parse_url(o)
    assert t.request.startswith(b"HEAD http://h/ HTTP/1.0\r\n")
    assert (t.connect_host, t.connect_port) == ("proxy", 3128)
    with pytest.raises(Fatal):
        parse_url(parse_args(["http://h"], "ab"))


def test_check_forensic_logic() -> None:
    lines = [b"+B|GET / HTTP/1.1|Host:x\n", b"+A|GET /a HTTP/1.1\n", b"-B\n"]
    assert check_forensic.incomplete(lines) == [b"+A|GET /a HTTP/1.1\n"]


def test_log_server_status_line() -> None:
    text = ("Total Accesses: 12\nTotal kBytes: 3\nCPULoad: .5\nUptime: 9\nBusyWorkers: 2\n"
            "IdleWorkers: 48\nScoreboard: __W\n")
    now = time.struct_time((2024, 1, 2, 3, 4, 5, 0, 2, 0))
    assert log_server_status.status_line(text, now) == "030405:2:48:12:.5\n"
    assert log_server_status.status_line("BusyWorkers: 1\nIdleWorkers: 3\n", now) == \
        "030405:1:3::\n"


def test_featherctl_text_dump() -> None:
    d = featherctl.TextDump()
    d.feed("<html><head><title>T</title></head><body><h1>Apache Server Status for x</h1>"
           "<dl><dt>Server Version: f</dt><dt>1 requests currently being processed, 2 idle "
           "workers</dt></dl><pre>W_\n__</pre></body></html>")
    text = d.text()
    assert "Apache Server Status for x\n" in text
    assert "1 requests currently being processed, 2 idle workers" in text
    assert "W_\n__" in text and "T" not in text.split("\n")[0]
