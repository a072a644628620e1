"""Virtual hosts end to end (manual: "Virtual Host Matching", "Name-based Virtual Host
Support", "IP-based Virtual Host Support", core: UseCanonicalName, ServerPath). Each
vhost gets its own DocumentRoot whose index.txt names it. 127.0.0.2 is on loopback too
(Linux routes all of 127/8 to lo)."""

from __future__ import annotations

import socket
from typing import Any

import pytest


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ask(ip: str, port: int, path: str = "/index.txt", host: str | None = "x",
        proto: str = "HTTP/1.1") -> tuple[int, str]:
    head = f"GET {path} {proto}\r\n"
    if host is not None:
        head += f"Host: {host}\r\n"
    head += "Connection: close\r\n\r\n"
    with socket.create_connection((ip, port), timeout=5) as s:
        s.sendall(head.encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1].decode("latin-1")


@pytest.fixture
def vhosts(make_server: Any) -> Any:
    p2 = free_port()
    names = ["main", "one", "two", "ip2", "port2", "dflt", "sp"]
    files = {f"{n}/index.txt": n for n in names}
    conf = f"""\
Listen 127.0.0.1:@PORT@
Listen 127.0.0.2:@PORT@
Listen 127.0.0.1:{p2}
ServerName main.example
DocumentRoot main
ErrorLog logs/error_log
PidFile logs/httpd.pid
ServerSignature On
NameVirtualHost 127.0.0.1:@PORT@
<VirtualHost 127.0.0.1:@PORT@>
  ServerName one.example
  ServerAlias www.one.example *.wild.example
  DocumentRoot one
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
  ServerName two.example
  DocumentRoot two
  UseCanonicalName On
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
  ServerName sp.example
  ServerPath /sp
  DocumentRoot .
  UseCanonicalName DNS
</VirtualHost>
<VirtualHost 127.0.0.2:@PORT@>
  ServerName ip2.example
  DocumentRoot ip2
</VirtualHost>
<VirtualHost _default_:{p2}>
  ServerName port2.example
  DocumentRoot port2
</VirtualHost>
"""
    srv = make_server(raw_conf=conf, files=files)
    srv.p2 = p2
    return srv


def test_name_based(vhosts: Any) -> None:
    p = vhosts.port
    assert ask("127.0.0.1", p, host="one.example") == (200, "one")
    assert ask("127.0.0.1", p, host="TWO.example:" + str(p)) == (200, "two")
    assert ask("127.0.0.1", p, host="www.one.example") == (200, "one")
    assert ask("127.0.0.1", p, host="deep.sub.wild.example") == (200, "one")
    # an unknown name gets the first vhost of the address, never the main server
    assert ask("127.0.0.1", p, host="main.example") == (200, "one")
    assert ask("127.0.0.1", p, host="nobody.example") == (200, "one")


def test_no_host_uses_serverpath_then_default(vhosts: Any) -> None:
    p = vhosts.port
    assert ask("127.0.0.1", p, "/sp/index.txt", host=None, proto="HTTP/1.0") == (200, "sp")
    assert ask("127.0.0.1", p, "/index.txt", host=None, proto="HTTP/1.0") == (200, "one")
    # with a Host, ServerPath plays no part
    assert ask("127.0.0.1", p, "/sp/index.txt", host="one.example")[0] == 404


def test_ip_based_and_port_based_and_main_fallback(vhosts: Any) -> None:
    p = vhosts.port
    assert ask("127.0.0.2", p, host="one.example") == (200, "ip2")
    assert ask("127.0.0.1", vhosts.p2, host="one.example") == (200, "port2")


def test_main_server_when_no_vhost_matches(make_server: Any) -> None:
    conf = """\
Listen 127.0.0.1:@PORT@
Listen 127.0.0.2:@PORT@
ServerName main.example
DocumentRoot main
ErrorLog logs/error_log
PidFile logs/httpd.pid
<VirtualHost 127.0.0.2:@PORT@>
  ServerName ip2.example
  DocumentRoot ip2
</VirtualHost>
"""
    srv = make_server(raw_conf=conf, files={"main/index.txt": "main",
                                            "ip2/index.txt": "ip2"})
    assert ask("127.0.0.1", srv.port, host="ip2.example") == (200, "main")
    assert ask("127.0.0.2", srv.port, host="main.example") == (200, "ip2")


def signature_of(body: str) -> str:
    return body.split("<address>", 1)[1].split("</address>", 1)[0].split(" Server at ")[1]


def test_use_canonical_name_in_signature(vhosts: Any) -> None:
    p = vhosts.port
    # Off (default): the name and port the client sent
    st, body = ask("127.0.0.1", p, "/nope", host="www.one.example:8888")
    assert st == 404 and signature_of(body) == "www.one.example Port 8888"
    st, body = ask("127.0.0.1", p, "/nope", host="www.one.example")
    assert signature_of(body) == "www.one.example Port 80"
    # On: the ServerName, and its port (none given: the scheme's default)
    st, body = ask("127.0.0.1", p, "/nope", host="two.example:8888")
    assert signature_of(body) == "two.example Port 80"
    # DNS: the reverse name of the local address, the client's port
    st, body = ask("127.0.0.1", p, "/nope", host="sp.example:7777")
    assert signature_of(body) == f"{socket.gethostbyaddr('127.0.0.1')[0].lower()} Port 7777"


def test_dump_of_the_running_configuration(vhosts: Any) -> None:
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "featherd", "-S", "-d", str(vhosts.root),
                          "-f", str(vhosts.conf_path)], capture_output=True, text=True,
                         timeout=30).stdout
    p = vhosts.port
    assert f"127.0.0.2:{p}" in out and "ip2.example" in out
    assert f"127.0.0.1:{p}".ljust(22) + " is a NameVirtualHost" in out
    assert f"         port {p} namevhost sp.example" in out
    assert "                 wild alias *.wild.example" in out
    assert f"_default_:{vhosts.p2}".ljust(22) + " port2.example" in out
