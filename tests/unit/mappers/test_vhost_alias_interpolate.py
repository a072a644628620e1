"""mod_vhost_alias's interpolation (manual: "Directory Name Interpolation" and its
examples) and directives, no sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.mappers.vhost_alias import (
    IP,
    NAME,
    NONE,
    MvaConfig,
    interpolate,
    map_uri,
    vhost_alias,
)

NAME_ = "www.domain.example.com"


@pytest.mark.parametrize("fmt,out", [
    ("/v/%0", "/v/www.domain.example.com"),
    ("/v/%1", "/v/www"), ("/v/%2", "/v/domain"), ("/v/%-1", "/v/com"),
    ("/v/%-2", "/v/example"), ("/v/%2+", "/v/domain.example.com"),
    ("/v/%-2+", "/v/www.domain.example"), ("/v/%1+", "/v/www.domain.example.com"),
    ("/v/%-1+", "/v/www.domain.example.com"),
    ("/v/%3+/%2.1/%2.2/%2.3/%2", "/v/example.com/d/o/m/domain"),
    ("/v/%3+/%2.-1/%2.-2/%2.-3/%2", "/v/example.com/n/i/a/domain"),
    ("/v/%3+/%2.1/%2.2/%2.3/%2.4+", "/v/example.com/d/o/m/ain"),
    ("/v/%-2.0.%-1.0", "/v/example.com"),
    ("/v/%2.0.%3.0", "/v/domain.example"),
    ("/v/%5", "/v/_"), ("/v/%2.9", "/v/_"), ("/v/%2.-2+", "/v/domai"),
    ("/v/%p/%%", "/v/8080/%"),
])
def test_manual_examples(fmt: str, out: str) -> None:
    assert interpolate(NAME_, fmt, 8080) == out


def test_lower_cased_and_ip() -> None:
    assert interpolate("WWW.Example.COM", "/v/%0", 80) == "/v/www.example.com"
    assert interpolate("10.20.30.40", "/v/%1/%2/%3/%4/docs", 80) == "/v/10/20/30/40/docs"


def test_map_uri_docroot_and_cgi() -> None:
    c = MvaConfig("/v/%0/", "/c/%0/cgi-bin", NAME, NAME)
    assert map_uri(c, "/a/b.html", "h.example", "1.2.3.4", 80) == ("/v/h.example/a/b.html",
                                                                   False)
    assert map_uri(c, "/cgi-bin/s.pl/x", "h.example", "", 80) == \
        ("/c/h.example/cgi-bin/s.pl/x", True)
    assert map_uri(c, "//cgi-bin/s.pl", "h", "", 80) == ("/c/h/cgi-bin/s.pl", True)
    assert map_uri(c, "/x/cgi-bin/s.pl", "h", "", 80) == ("/v/h/x/cgi-bin/s.pl", False)
    c = MvaConfig("/v/%1", None, IP, NONE)
    assert map_uri(c, "/i", "h", "10.0.0.1", 80) == ("/v/10/i", False)
    assert map_uri(c, "/cgi-bin/x", "h", "10.0.0.1", 80) is None


def test_directives_and_merge(tmp_path: Path) -> None:
    t = load_config(None, builtin_modules(), server_root=str(tmp_path), text=(
        "ServerName u\nVirtualDocumentRoot /v/%0\nVirtualScriptAliasIP /c/%1\n"
        "<VirtualHost *:80>\nServerName a\nVirtualDocumentRoot none\n</VirtualHost>\n"))
    from featherd.core.fixup import fixup_servers
    fixup_servers(t)
    m = t.main.module_config[vhost_alias.index]
    assert (m.doc_root, m.doc_root_mode, m.cgi_root, m.cgi_root_mode) == \
        ("/v/%0", NAME, "/c/%1", IP)
    v = t.vhosts[0].module_config[vhost_alias.index]
    assert (v.doc_root_mode, v.cgi_root, v.cgi_root_mode) == (NONE, "/c/%1", IP)


@pytest.mark.parametrize("line,msg", [
    ("VirtualDocumentRoot v/%0", "format string must start with '/' or be 'none'"),
    ("VirtualScriptAlias /v/%x", "syntax error in format string"),
    ("VirtualDocumentRootIP /v/%1.", "syntax error in format string"),
    ("VirtualScriptAliasIP /v/%-", "syntax error in format string"),
])
def test_directive_errors(tmp_path: Path, line: str, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        load_config(None, builtin_modules(), server_root=str(tmp_path),
                    text=f"ServerName u\n{line}\n")
