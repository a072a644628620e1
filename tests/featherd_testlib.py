"""Test helpers shared by every test directory: a real featherd process on a free port,
stopped by its PID. Import as ``from featherd_testlib import ...`` (unique module name so
that it never collides with a directory's conftest)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A featherd started on a config; ``url(path)``, ``raw(bytes)``, logs."""

    def __init__(self, root: Path, conf: str, port: int, extra_args: list[str] | None = None):
        self.root = root
        self.port = port
        self.conf_path = root / "httpd.conf"
        self.conf_path.write_text(conf)
        self.args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Server:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
        (self.root / "logs").mkdir(exist_ok=True)
        self.out_path = self.root / "logs" / "featherd.out"
        out = open(self.out_path, "ab")
        # its own session: stop() can always remove every process it started, and the
        # output goes to a file, so no read ever waits on a leftover worker
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "featherd", "-d", str(self.root), "-f", str(self.conf_path),
             "-DFOREGROUND", *self.args],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(self.root),
            start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"featherd exited {self.proc.returncode}: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("featherd did not start listening")

    def output(self) -> str:
        p = getattr(self, "out_path", None)
        return p.read_text(errors="replace") if p is not None and p.exists() else ""

    def stop(self) -> str:
        proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            try:  # workers left behind by a master that died: the whole session goes
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            # and is gone before stop() returns: a dying worker still holds the listening
            # socket, and a restart on the same port would talk to it
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    os.killpg(proc.pid, 0)
                except (ProcessLookupError, PermissionError):
                    break
                time.sleep(0.01)
        self.proc = None
        return self.output()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def raw(self, data: bytes, timeout: float = 5.0, read_until_close: bool = True) -> bytes:
        """Send raw bytes, return everything until the server closes (or timeout)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            if not read_until_close:
                return s.recv(65536)
            chunks = []
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    chunks.append(b)
            except TimeoutError:
                pass
            return b"".join(chunks)

    def error_log(self) -> str:
        p = self.root / "logs" / "error_log"
        return p.read_text() if p.exists() else ""

    def access_log(self, name: str = "access_log", wait: float = 1.5) -> str:
        p = self.root / "logs" / name
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if p.exists() and p.read_text():
                break
            time.sleep(0.05)
        return p.read_text() if p.exists() else ""


def base_conf(port: int, body: str = "") -> str:
    return textwrap.dedent(f"""\
        Listen 127.0.0.1:{port}
        ServerName test.local
        ServerAdmin admin@test.local
        DocumentRoot htdocs
        ErrorLog logs/error_log
        LogLevel debug
        PidFile logs/httpd.pid
        TypesConfig {SRC}/featherd/data/mime.types
        LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
        CustomLog logs/access_log common
        """) + textwrap.dedent(body)


def site_server(root: Path, body: str, files: dict[str, str], under: str = "htdocs"
                ) -> Server:
    """A started server on a free port for a module's e2e tests: ``files`` written below
    ``root/under`` (``under=""``: below root itself), ``root/htdocs`` and ``root/logs``
    made, ``@ROOT@`` and ``@DOCROOT@`` in ``body`` replaced, base_conf around it."""
    base = root / under if under else root
    for rel, text in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(text)
    (root / "htdocs").mkdir(exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    port = free_port()
    body = body.replace("@DOCROOT@", str(root / "htdocs")).replace("@ROOT@", str(root))
    return Server(root, base_conf(port, body), port).start()




class FakeTransport:
    """What a Connection needs of an asyncio transport, for tests without sockets: every
    write is kept (``out``), in order, one item per transport.write call."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False
        self.eof_written = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 1)}.get(
            name, default)

    def write(self, data: bytes) -> None:
        self.out.append(bytes(data))

    def writelines(self, chunks: list[bytes]) -> None:
        for c in chunks:
            self.write(c)

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


class InProcessSite:
    """A configured server in this process: a Worker on its own event loop, and
    connections fed through a FakeTransport (no sockets). ``conf`` is added to a base
    configuration whose DocumentRoot is ``root/htdocs``; ``files`` are written under
    ``root`` first."""

    def __init__(self, root: Path, conf: str = "", files: dict[str, str] | None = None
                 ) -> None:
        import asyncio

        from featherd.core.config import load_config
        from featherd.core.hooks import run_void_sync
        from featherd.core.worker import Worker, new_event_loop
        from featherd.modules import builtin_modules

        self._asyncio = asyncio
        docroot = root / "htdocs"
        docroot.mkdir(exist_ok=True)
        (root / "logs").mkdir(exist_ok=True)
        for rel, text in (files or {}).items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        base = (f"Listen 127.0.0.1:1\nServerName test.local\nDocumentRoot {docroot}\n"
                "<Directory />\nAllowOverride None\n</Directory>\n")
        self.tree = load_config(None, builtin_modules(), server_root=str(root),
                                text=base + conf.replace("@ROOT@", str(root)))
        self.loop = new_event_loop()
        self.worker = Worker(self.tree, self.loop)
        run_void_sync(self.tree.hooks["child_init"], self.tree, self.loop)

    def connect(self) -> tuple[Any, FakeTransport]:
        from featherd.core.connection import Connection

        conn = Connection(self.worker, self.tree.listens[0])
        tr = FakeTransport()
        conn.connection_made(tr)
        return conn, tr

    def feed(self, conn: Any, data: bytes, passes: int = 5) -> None:
        """data_received from inside the event loop (as a real socket's), then passes."""
        self.loop.call_soon(conn.data_received, data)
        self.passes(passes)

    def passes(self, n: int = 5, wait: float = 0.0) -> None:
        """Let the event loop make ``n`` passes (``wait`` seconds each)."""
        async def spin() -> None:
            for _ in range(n):
                await self._asyncio.sleep(wait)

        self.loop.run_until_complete(spin())

    def close(self) -> None:
        self.loop.close()
