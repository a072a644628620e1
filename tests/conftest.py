"""Shared fixtures: a real featherd process on a free port, stopped by its PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from featherd_testlib import SRC, Server, base_conf, free_port  # noqa: F401


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[object]:
    """make_server(conf_body, files={path: content}) -> started Server."""
    servers: list[Server] = []

    def factory(body: str = "", files: dict[str, str | bytes] | None = None,
                raw_conf: str | None = None, args: list[str] | None = None,
                start: bool = True) -> Server:
        (tmp_path / "htdocs").mkdir(exist_ok=True)
        (tmp_path / "logs").mkdir(exist_ok=True)
        for rel, content in (files or {}).items():
            p = tmp_path / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content)
        port = free_port()
        conf = raw_conf.replace("@PORT@", str(port)).replace("@ROOT@", str(tmp_path)) \
            if raw_conf is not None else base_conf(port, body.replace("@ROOT@", str(tmp_path)))
        srv = Server(tmp_path, conf, port, args)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    for s in servers:
        s.stop()
