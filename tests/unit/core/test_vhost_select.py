"""Virtual host selection (core/vhost.py) as the manual's "Virtual Host Matching",
"Name-based Virtual Host Support" and "IP-based Virtual Host Support" describe it, plus
the -S dump and the <Directory>/<Location> wildcard matcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from featherd.core.config import load_config
from featherd.core.vhost import VhostMap, clean_host
from featherd.core.vhost_dump import dump_vhosts
from featherd.core.walk import fn_match
from featherd.modules import builtin_modules

CONF = """\
ServerName main.example
Listen 80
Listen 8080
NameVirtualHost *:80
<VirtualHost *:80>
ServerName one.example
ServerAlias www.one.example one
</VirtualHost>
<VirtualHost *:80>
ServerName two.example
ServerAlias *.two.example ?.two
ServerPath /two
</VirtualHost>
<VirtualHost 127.0.0.2:80>
ServerName ip.example
</VirtualHost>
<VirtualHost 127.0.0.3:80>
ServerName n1.example
</VirtualHost>
<VirtualHost 127.0.0.3:80>
ServerName n2.example
</VirtualHost>
<VirtualHost _default_:8080>
ServerName default8080.example
</VirtualHost>
<VirtualHost 127.0.0.1:9090 127.0.0.1:9191>
ServerName twoaddrs.example
</VirtualHost>
"""


@pytest.fixture
def tree(tmp_path: Path) -> Any:
    f = tmp_path / "httpd.conf"
    f.write_text(CONF)
    return load_config(str(f), builtin_modules(), server_root=str(tmp_path))


def pick(tree: Any, ip: str, port: int, host: str | None, uri: str = "/") -> str:
    vm = VhostMap(tree)
    s = vm.select(vm.by_addr(ip, port), clean_host(host) if host else None, uri)
    return s.server_hostname  # type: ignore[no-any-return]


@pytest.mark.parametrize("ip,port,host,uri,want", [
    # name-based on *:80: ServerName, then ServerAlias (exact, then wildcards)
    ("127.0.0.1", 80, "one.example", "/", "one.example"),
    ("127.0.0.1", 80, "ONE.example.", "/", "one.example"),     # case, trailing dot
    ("127.0.0.1", 80, "www.one.example:80", "/", "one.example"),
    ("127.0.0.1", 80, "one", "/", "one.example"),
    ("127.0.0.1", 80, "two.example", "/", "two.example"),
    ("127.0.0.1", 80, "a.b.two.example", "/", "two.example"),  # '*' crosses dots
    ("127.0.0.1", 80, "x.two", "/", "two.example"),
    ("127.0.0.1", 80, "xy.two", "/", "one.example"),           # '?' is one character
    # no match: the first vhost of the address is the default
    ("127.0.0.1", 80, "unknown.example", "/", "one.example"),
    ("127.0.0.1", 80, "main.example", "/", "one.example"),     # never the main server
    # no Host (HTTP/1.0): ServerPath picks, else the default
    ("127.0.0.1", 80, None, "/two/page.html", "two.example"),
    ("127.0.0.1", 80, None, "/two", "two.example"),
    ("127.0.0.1", 80, None, "/twofold", "one.example"),
    ("127.0.0.1", 80, None, "/", "one.example"),
    # IP-based: the address decides, whatever the Host
    ("127.0.0.2", 80, "one.example", "/", "ip.example"),
    # several vhosts on one IP (2.4 style): name-based among them
    ("127.0.0.3", 80, "n2.example", "/", "n2.example"),
    ("127.0.0.3", 80, "other", "/", "n1.example"),
    # _default_ catches the port nobody else took
    ("127.0.0.1", 8080, "one.example", "/", "default8080.example"),
    # a vhost with two addresses answers on both
    ("127.0.0.1", 9090, None, "/", "twoaddrs.example"),
    ("127.0.0.1", 9191, None, "/", "twoaddrs.example"),
    # no vhost for the address: the main server
    ("127.0.0.1", 7070, "one.example", "/", "main.example"),
    ("::ffff:127.0.0.2", 80, None, "/", "ip.example"),
])
def test_selection_table(tree: Any, ip: str, port: int, host: str | None, uri: str,
                         want: str) -> None:
    assert pick(tree, ip, port, host, uri) == want


def test_clean_host() -> None:
    assert clean_host("Example.COM:8080") == "example.com"
    assert clean_host("example.com.") == "example.com"
    assert clean_host("[::1]:80") == "[::1]"
    assert clean_host("bad/host") is None
    assert clean_host("host:port") is None


def test_dump_shape(tree: Any, tmp_path: Path) -> None:
    out = dump_vhosts(tree).splitlines()
    f = str(tmp_path / "httpd.conf")
    assert out[0] == "VirtualHost configuration:"
    assert f"127.0.0.2:80           ip.example ({f}:14)" in out
    i = out.index("*:80                   is a NameVirtualHost")
    assert out[i + 1:i + 8] == [
        f"         default server one.example ({f}:5)",
        f"         port 80 namevhost one.example ({f}:5)",
        "                 alias www.one.example",
        "                 alias one",
        f"         port 80 namevhost two.example ({f}:9)",
        "                 wild alias *.two.example",
        "                 wild alias ?.two",
    ]
    j = out.index("127.0.0.3:80           is a NameVirtualHost")
    assert out[j + 1] == f"         default server n1.example ({f}:17)"
    # specific addresses come before the wildcard ones, _default_ last
    assert j < i < out.index(f"_default_:8080         default8080.example ({f}:23)")
    assert f"_default_:8080         default8080.example ({f}:23)" in out
    assert f"127.0.0.1:9090         twoaddrs.example ({f}:26)" in out
    assert f"127.0.0.1:9191         twoaddrs.example ({f}:26)" in out
    assert f'ServerRoot: "{tmp_path}"' in out


@pytest.mark.parametrize("pattern,path,want", [
    ("/home/*/public_html/", "/home/joe/public_html/", True),
    ("/home/*/public_html/", "/home/a/b/public_html/", False),   # '*' stops at '/'
    ("/www/?/", "/www/a/", True),
    ("/www/?/", "/www/ab/", False),
    ("/www/[a-c]*/", "/www/bob/", True),
    ("/www/[!a-c]*/", "/www/bob/", False),
    ("/www/[!a-c]*/", "/www/dan/", True),
    ("/www/x.y/", "/www/xzy/", False),                            # '.' is literal
])
def test_directory_fnmatch(pattern: str, path: str, want: bool) -> None:
    assert fn_match(pattern, path) is want


def test_files_fnmatch_is_not_pathname() -> None:
    assert fn_match("*.html", "index.html", pathname=False)
    assert not fn_match("*.html", "index.htm", pathname=False)
