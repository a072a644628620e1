"""mod_status over the shared scoreboard (several workers), mod_info, and the ?auto keys
against Debian's apache2 (skipped when absent)."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest
import requests
from featherd_testlib import free_port
from mpm_helpers import get, start_master, wait_for, workers_of

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
from compat_harness import apache_available, apache_server  # noqa: E402

STATUS = """\
<Location /server-status>
    SetHandler server-status
</Location>
<Location /server-info>
    SetHandler server-info
</Location>
"""


def auto(port: int) -> dict[str, str]:
    st, body = get(port, "/server-status?auto")
    assert st == 200
    out = {}
    for line in body.decode().splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out


def test_auto_counts_across_workers(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=2, body="ExtendedStatus On\n" + STATUS)
    try:
        for _ in range(30):
            assert get(srv.port)[0] == 200       # a new connection each: both workers
        time.sleep(0.3)    # a request is counted once logged, just after its response
        a = auto(srv.port)
        keys = list(a)
        order = ["Total Accesses", "Total kBytes", "CPULoad", "Uptime", "ReqPerSec",
                 "BytesPerSec", "BytesPerReq", "BusyWorkers", "IdleWorkers", "Scoreboard"]
        assert keys == [k for k in order if k in keys]
        # CPULoad needs CPU time, ReqPerSec and BytesPerSec an uptime over 0 (as Apache)
        assert set(order) - set(keys) <= {"CPULoad", "ReqPerSec", "BytesPerSec"}
        assert int(a["Total Accesses"]) == 30      # the ?auto request is not logged yet
        assert int(a["BusyWorkers"]) >= 1           # this request (W)
        sb = a["Scoreboard"]
        assert len(sb) == 16 * 25 and "W" in sb
        assert sb.count("_") + sb.count("W") + sb.count("K") + sb.count("R") \
            + sb.count("C") == 2 * 25
        assert int(a["IdleWorkers"]) == sb.count("_")
        # both processes served some of them: the counters are in shared memory
        st, body = get(srv.port, "/server-status")
        pids = set(re.findall(r"<td><b>\d+-\d+</b></td><td>(\d+)</td>", body.decode()))
        assert pids == {str(p) for p in workers_of(srv)}
        time.sleep(0.3)
        a2 = auto(srv.port)
        assert int(a2["Total Accesses"]) == 32
        assert float(a2["BytesPerReq"]) > 0
    finally:
        srv.stop()


def test_html_page_and_refresh(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1, body="ExtendedStatus On\n" + STATUS)
    try:
        r = requests.get(srv.url("/server-status"))
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "text/html; charset=ISO-8859-1"
        t = r.text
        assert t.startswith('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'
                            "<html><head>\n<title>Apache Status</title>")
        assert "<h1>Apache Server Status for 127.0.0.1</h1>" in t
        assert "<dt>Server Version: featherd/" in t
        assert "<dt>Parent Server Generation: 1</dt>" in t
        assert "requests currently being processed" in t
        assert "<th>Srv</th><th>PID</th><th>Acc</th><th>M</th><th>CPU\n</th>" in t
        # the request being served, in W, with its request line and vhost
        assert "<td><b>W</b>\n</td>" in t
        assert "<td nowrap>test.local</td><td nowrap>GET /server-status HTTP/1.1</td>" in t
        assert "Scoreboard Key:" in t and "PID Key" not in t
        assert requests.get(srv.url("/server-status?refresh=7")).headers["Refresh"] == "7"
        assert requests.get(srv.url("/server-status?refresh")).headers["Refresh"] == "1"
        assert "Refresh" not in requests.get(srv.url("/server-status")).headers
        nt = requests.get(srv.url("/server-status?notable")).text
        assert "<h2>Server Details</h2>" in nt and "<b>Server 0-1</b>" in nt
        assert requests.post(srv.url("/server-status")).status_code in (405, 404)
    finally:
        srv.stop()


def test_without_extended_status(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1, body=STATUS)
    try:
        get(srv.port)
        a = auto(srv.port)
        assert list(a) == ["BusyWorkers", "IdleWorkers", "Scoreboard"]
        t = requests.get(srv.url("/server-status")).text
        assert "PID Key: <br />" in t and " in state: W " in t
        assert "you need to use the <code>ExtendedStatus On</code> directive" in t
    finally:
        srv.stop()


def test_prometheus(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=2, body="ExtendedStatus On\n" + STATUS)
    try:
        for _ in range(10):
            get(srv.port)
        time.sleep(0.3)
        r = requests.get(srv.url("/server-status?prometheus"))
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        m = dict(re.findall(r"^(apache_\w+(?:\{[^}]*\})?) (\S+)$", r.text, re.M))
        assert m["apache_accesses_total"] == "10"
        assert int(m['apache_workers{state="busy"}']) >= 1
        assert int(m['apache_scoreboard{state="open_slot"}']) == 14 * 25
        assert m['apache_processes{state="all"}'] == "2"
        assert "# TYPE apache_accesses_total counter" in r.text
    finally:
        srv.stop()


def test_status_survives_graceful_restart_and_killed_worker(tmp_path: Path) -> None:
    """Counters persist across a graceful restart; a killed worker's row is freed."""
    import signal

    srv = start_master(tmp_path, workers=2, body="ExtendedStatus On\n" + STATUS)
    try:
        for _ in range(8):
            get(srv.port)
        time.sleep(0.3)
        before = int(auto(srv.port)["Total Accesses"])
        assert srv.proc is not None
        os.kill(srv.proc.pid, signal.SIGUSR1)
        assert wait_for(lambda: "Parent Server Generation: 2" in
                        requests.get(srv.url("/server-status")).text, 5)
        time.sleep(0.3)
        a = auto(srv.port)
        assert int(a["Total Accesses"]) >= before
        ws = workers_of(srv)
        os.kill(ws[0], signal.SIGKILL)
        assert wait_for(lambda: len(workers_of(srv)) == 2 and ws[0] not in workers_of(srv), 5)
        sb = auto(srv.port)["Scoreboard"]
        assert len(sb) - sb.count(".") == 2 * 25
    finally:
        srv.stop()


def test_see_request_tail(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1, body="ExtendedStatus On\nSeeRequestTail On\n"
                       + STATUS)
    try:
        long = "/server-status?" + "x" * 100 + "END"
        t = requests.get(srv.url(long)).text
        assert "xxEND HTTP/1.1</td>" in t
    finally:
        srv.stop()


def test_extended_status_only_global(tmp_path: Path) -> None:
    from mpm_helpers import Server, base_conf

    (tmp_path / "logs").mkdir()
    port = free_port()
    conf = base_conf(port, f"<VirtualHost 127.0.0.1:{port}>\nExtendedStatus On\n"
                           "</VirtualHost>\n")
    with pytest.raises(RuntimeError, match="ExtendedStatus cannot occur within "
                                           "<VirtualHost> section"):
        Server(tmp_path, conf, port).start()


def test_server_info(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1, body=STATUS + "AddModuleInfo mod_dir.c "
                       "\"<b>see the manual</b>\"\nDirectoryIndex index.html\n"
                       "<Directory @ROOT@/htdocs>\n  DirectoryIndex start.html\n"
                       "</Directory>\n")
    try:
        t = requests.get(srv.url("/server-info")).text
        assert "<h1 style=\"text-align: center\">Apache Server Information</h1>" in t
        assert '<a name="mod_dir.c"><strong>Module Name:</strong></a>' in t
        assert "<dd><tt>DirectoryIndex - <i>" in t
        conf = str(srv.conf_path)
        lines = srv.conf_path.read_text().splitlines()
        n = lines.index("DirectoryIndex index.html") + 1
        assert f"<dd><tt><strong>In file: {conf}</strong></tt></dd>" in t
        assert f"<dd><tt>{'&nbsp;' * (4 - len(str(n)))}{n}:&nbsp;DirectoryIndex " \
               "<i>index.html</i></tt></dd>" in t
        # the enclosing section is shown, with its closing line
        assert f"&lt;Directory {tmp_path}/htdocs&gt;</tt></dd>" in t
        assert ":&nbsp;&nbsp;&nbsp;DirectoryIndex <i>start.html</i>" in t
        assert "&lt;/Directory&gt;</tt></dd>" in t
        assert "<dt><strong>Additional Information:</strong>\n</dt><dd><b>see the manual" in t
        one = requests.get(srv.url("/server-info?mod_dir.c")).text
        assert "mod_dir.c" in one and "mod_alias.c</a>" not in one
        by_name = requests.get(srv.url("/server-info?dir_module")).text
        assert '<a href="?mod_dir.c">mod_dir.c</a>' in by_name and "mod_alias.c</a>" not in by_name
        lst = requests.get(srv.url("/server-info?list")).text
        assert "<dl><dt>Server Module List</dt><dd>core.c</dd>" in lst
        assert "<dd>mod_status.c</dd>" in lst
        server = requests.get(srv.url("/server-info?server")).text
        assert '<h2><a name="server">Server Settings</a></h2>' in server
        assert f"<dt><strong>Config File:</strong> <tt>{conf}</tt></dt>" in server
        assert "Module Name" not in server
        cfg = requests.get(srv.url("/server-info?config")).text
        assert "<dl><dt><strong>Configuration:</strong>" in cfg
        assert "SetHandler <i>server-info</i>" in cfg
        hooks = requests.get(srv.url("/server-info?hooks")).text
        assert "<dt><strong>Content Handlers:</strong>" in hooks
        assert "No such module" in requests.get(srv.url("/server-info?nope")).text
    finally:
        srv.stop()


APACHE_MODULES = ("mpm_event", "status", "authz_core")


@pytest.mark.skipif(apache_available(APACHE_MODULES) is not None,
                    reason=f"Debian's apache2: {apache_available(APACHE_MODULES)}")
def test_auto_keys_are_apaches(tmp_path: Path) -> None:
    """Every ?auto key featherd prints is one apache2 prints, in the same order."""
    ap = tmp_path / "apache"
    (ap / "htdocs").mkdir(parents=True)
    (ap / "htdocs" / "index.html").write_text("hello\n")
    apache = apache_server(ap, APACHE_MODULES,
                           f"ServerName test.local\nDocumentRoot {ap}/htdocs\n"
                           "ExtendedStatus On\n<Location /server-status>\n"
                           "SetHandler server-status\nRequire all granted\n</Location>\n")
    try:
        apache.start(timeout=10)
        port = apache.port
        for _ in range(3):
            get(port, "/index.html")
        theirs = [k for k in auto(port)]
    finally:
        apache.stop()
    srv = start_master(tmp_path / "f", workers=1, body="ExtendedStatus On\n" + STATUS)
    try:
        for _ in range(3):
            get(srv.port)
        ours = list(auto(srv.port))
    finally:
        srv.stop()
    # CPULoad is printed only when some CPU time was counted (apache2 had none yet)
    assert set(ours) - set(theirs) <= {"CPULoad"}, (ours, theirs)
    it = iter(theirs)
    assert all(k in it for k in ours if k in theirs), (ours, theirs)
