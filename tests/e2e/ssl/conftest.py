"""Fixtures of the mod_ssl end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from featherd_testlib import free_port
from tests_ssl_helpers import PKI, cert_lines, make_pki, ssl_conf


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


class SSLServer:
    """A started featherd with a plain port (``http_port``) and an SSL one (``port``)."""

    def __init__(self, srv: Any, http_port: int, port: int) -> None:
        self.srv = srv
        self.http_port = http_port
        self.port = port
        self.root: Path = srv.root

    def error_log(self) -> str:
        return str(self.srv.error_log())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.srv, name)


@pytest.fixture
def tls_server(make_server: Any, pki: PKI) -> Iterator[Callable[..., SSLServer]]:
    """tls_server(vhost_directives, extra=global_directives, files=...) -> SSLServer."""

    def factory(vhost: str | None = None, extra: str = "", files: dict[str, Any] | None = None,
                log_format: str | None = None, args: list[str] | None = None,
                start: bool = True) -> SSLServer:
        http_port = free_port()
        port = free_port()
        body = cert_lines(pki) if vhost is None else vhost
        conf = ssl_conf(http_port, port, body, extra, log_format)
        files = {"htdocs/index.html": "hello\n", **(files or {})}
        srv = make_server(raw_conf=conf, files=files, args=args, start=False)
        srv.port = http_port
        s = SSLServer(srv, http_port, port)
        if start:
            srv.start()
        return s

    yield factory
