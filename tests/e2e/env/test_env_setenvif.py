"""mod_env, mod_setenvif and the special-purpose variables end to end (manual: mod_env,
mod_setenvif, "Environment Variables")."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import requests

HEAD = """\
Listen 127.0.0.1:@PORT@
ServerName test.local
DocumentRoot htdocs
ErrorLog logs/error_log
LogLevel debug
PidFile logs/httpd.pid
"""


def vars_of(srv: Any, names: list[str], path: str, wait: float = 3.0) -> dict[str, str]:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for line in srv.access_log().splitlines():
            u, _, rest = line.partition(" ")
            if u == path:
                return dict(zip(names, rest.split("|"), strict=True))
        time.sleep(0.05)
    raise AssertionError(srv.access_log())


def logged(names: list[str]) -> str:
    fmt = "|".join(f"%{{{n}}}e" for n in names)
    return f'LogFormat "%U {fmt}" envs\nCustomLog logs/access_log envs\n'


def test_setenv_unsetenv_passenv(make_server: Any) -> None:
    os.environ["FEATHERD_E2E_PASSED"] = "from-shell"
    names = ["a", "b", "empty", "FEATHERD_E2E_PASSED", "gone"]
    try:
        srv = make_server(raw_conf=HEAD + logged(names) +
                          "SetEnv a 1\nSetEnv gone x\nSetEnv empty\n"
                          "PassEnv FEATHERD_E2E_PASSED FEATHERD_E2E_NOT_THERE\n"
                          "<Location /sub>\nSetEnv a 2\nSetEnv b two\nUnsetEnv gone\n"
                          "</Location>\n<Location /sub/undo>\nUnsetEnv b\nSetEnv b again\n"
                          "</Location>\n")
    finally:
        del os.environ["FEATHERD_E2E_PASSED"]
    requests.get(srv.url("/top"))
    requests.get(srv.url("/sub/x"))
    requests.get(srv.url("/sub/undo"))
    assert vars_of(srv, names, "/top") == {"a": "1", "b": "-", "empty": "", "gone": "x",
                                          "FEATHERD_E2E_PASSED": "from-shell"}
    assert vars_of(srv, names, "/sub/x") == {"a": "2", "b": "two", "empty": "", "gone": "-",
                                            "FEATHERD_E2E_PASSED": "from-shell"}
    # an UnsetEnv before a SetEnv in the same section: the SetEnv stands
    assert vars_of(srv, names, "/sub/undo")["b"] == "again"
    assert "PassEnv variable FEATHERD_E2E_NOT_THERE was undefined" in srv.stop()


def test_setenvif_attributes(make_server: Any) -> None:
    names = ["host", "addr", "saddr", "meth", "proto", "uri", "hdr", "nocase", "rx", "envv",
             "absent", "cap", "neg", "bm", "bmnc"]
    body = logged(names) + r"""
SetEnvIf Remote_Host ^127\.0\.0\.1$ host
SetEnvIf Remote_Addr ^127\. addr=yes
SetEnvIf Server_Addr ^127\.0\.0\.1$ saddr=$0
SetEnvIf Request_Method ^(P|G)ET$ meth=$1
SetEnvIf Request_Protocol ^HTTP/1\.1$ proto
SetEnvIf Request_URI ^/attrs/(\w+) uri=$1
SetEnvIf X-Custom ^abc hdr
SetEnvIfNoCase X-Custom ^ABC nocase
SetEnvIf ^X-Rx-.*$ ^v rx=from-regex-header
SetEnvIf hdr ^1$ envv=chained
SetEnvIf X-Not-Sent ^$ absent
SetEnvIf User-Agent "Tool/(\d+)\.(\d+)" cap=major$1-minor$2
SetEnvIf Request_URI . neg=1
SetEnvIf Request_URI ^/attrs/ !neg
BrowserMatch ^Tool bm
BrowserMatchNoCase ^tool bmnc=ok
"""
    srv = make_server(raw_conf=HEAD + body)
    requests.get(srv.url("/attrs/page"), headers={"X-Custom": "abcdef", "X-Rx-Foo": "value",
                                                  "User-Agent": "Tool/3.14"})
    assert vars_of(srv, names, "/attrs/page") == {
        "host": "1", "addr": "yes", "saddr": "127.0.0.1", "meth": "G", "proto": "1",
        "uri": "page", "hdr": "1", "nocase": "1", "rx": "from-regex-header",
        "envv": "chained", "absent": "1", "cap": "major3-minor14", "neg": "-", "bm": "1",
        "bmnc": "ok"}


def test_setenvif_per_directory_and_htaccess(make_server: Any) -> None:
    names = ["d", "h", "s"]
    srv = make_server(raw_conf=HEAD + logged(names) + "SetEnvIf Request_URI . s=server\n"
                      "<Location /loc>\nSetEnvIf Request_URI . d=location\n</Location>\n",
                      files={"htdocs/ht/.htaccess": "SetEnvIf Request_URI . h=htaccess\n",
                             "htdocs/ht/f": "x"})
    requests.get(srv.url("/loc/x"))
    requests.get(srv.url("/ht/f"))
    assert vars_of(srv, names, "/loc/x") == {"d": "location", "h": "-", "s": "server"}
    assert vars_of(srv, names, "/ht/f") == {"d": "-", "h": "htaccess", "s": "server"}


def test_setenvif_config_errors(make_server: Any) -> None:
    srv = make_server(raw_conf=HEAD + "SetEnvIf User-Agent\n", start=False)
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "featherd", "-t", "-d", str(srv.root), "-f",
                        str(srv.conf_path)], capture_output=True, text=True, timeout=30)
    assert "Missing regular expression for SetEnvIf" in p.stderr
    srv.conf_path.write_text(HEAD.replace("@PORT@", "0") + "BrowserMatch ^x\n")
    p = subprocess.run([sys.executable, "-m", "featherd", "-t", "-d", str(srv.root), "-f",
                        str(srv.conf_path)], capture_output=True, text=True, timeout=30)
    assert "Missing envariable expression for BrowserMatch" in p.stderr


def raw(srv: Any, data: bytes) -> bytes:
    return srv.raw(data, timeout=3.0)  # type: ignore[no-any-return]


def test_special_variables(make_server: Any) -> None:
    body = ("SetEnvIf User-Agent ^nka nokeepalive\n"
            "SetEnvIf User-Agent ^dg downgrade-1.0\n"
            "SetEnvIf User-Agent ^fr force-response-1.0\n"
            "SetEnvIf User-Agent ^nv force-no-vary\n"
            "SetEnvIf User-Agent ^pl prefer-language=de\n"
            'LogFormat "%U %{User-Agent}i %{prefer-language}e" pl\nCustomLog logs/access_log pl\n')
    srv = make_server(raw_conf=HEAD + body, files={"htdocs/f.zzz": "hello"})

    def get(ua: str, proto: str = "HTTP/1.1", extra: str = "") -> bytes:
        req = (f"GET /f.zzz {proto}\r\nHost: test.local\r\nUser-Agent: {ua}\r\n{extra}"
               "\r\n").encode()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=3) as s:
            s.sendall(req)
            data = b""
            s.settimeout(1.0)
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        return data + b"<closed>"
                    data += b
                    if data.endswith(b"hello"):
                        # wait a little to see whether the server closes
                        s.settimeout(0.3)
            except TimeoutError:
                return data
    plain = get("other")
    assert plain.startswith(b"HTTP/1.1 200") and not plain.endswith(b"<closed>")
    nka = get("nka")
    assert nka.endswith(b"<closed>")
    dg = get("dg")       # treated as HTTP/1.0: no keep-alive without asking for it
    assert dg.startswith(b"HTTP/1.1 200") and dg.endswith(b"<closed>")
    dgka = get("dg", extra="Connection: keep-alive\r\n")
    assert dgka.startswith(b"HTTP/1.1 200") and not dgka.endswith(b"<closed>")
    fr10 = get("fr", proto="HTTP/1.0", extra="Connection: keep-alive\r\n")
    assert fr10.startswith(b"HTTP/1.0 200") and fr10.endswith(b"<closed>")
    fr11 = get("fr")     # only a 1.0 request gets the 1.0 response line
    assert fr11.startswith(b"HTTP/1.1 200")
    nv = get("nv")       # implies force-response-1.0 on a request made HTTP/1.0
    assert nv.startswith(b"HTTP/1.0 200") and b"Vary" not in nv
    get("pl")            # prefer-language is only stored, for mod_negotiation
    deadline = time.monotonic() + 3
    while "/f.zzz pl de" not in srv.access_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "/f.zzz pl de" in srv.access_log()
