"""SSLPassPhraseDialog: builtin (a terminal dialog at start-up), exec: and |pipe
(FAQ "Is there a difference on startup between the original Apache and an SSL-aware
Apache?", "How can I get rid of the pass-phrase dialog at Apache startup time?")."""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from featherd_testlib import SRC, free_port
from tests_ssl_helpers import PKI, https, ssl_conf

from featherd.modules.ssl import certtool as ct


def _encrypted_key(pki: PKI, tmp_path: Path, phrase: bytes, name: str = "enc.key") -> Path:
    key = ct.load_key(pki["server"].key.read_bytes())
    p = tmp_path / name
    ct.write_private(p, ct.key_pem(key, phrase))
    return p


def _conf(tmp_path: Path, pki: PKI, key: Path, extra: str = "") -> tuple[Path, int]:
    port = free_port()
    conf = ssl_conf(free_port(), port, f"SSLCertificateFile {pki['server'].cert}\n"
                                       f"SSLCertificateKeyFile {key}\n", extra)
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "htdocs").mkdir(exist_ok=True)
    (tmp_path / "htdocs" / "index.html").write_text("hello\n")
    p = tmp_path / "httpd.conf"
    p.write_text(conf)
    return p, port


def _wait_port(port: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class PtyServer:
    """featherd started on a pseudo-terminal (its controlling terminal)."""

    def __init__(self, tmp_path: Path, conf: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(SRC))
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(tmp_path)
            os.execve(sys.executable, [sys.executable, "-m", "featherd", "-d", str(tmp_path),
                                       "-f", str(conf), "-DFOREGROUND"], env)
        self.pid, self.fd = pid, fd
        self.out = b""

    def read_until(self, text: bytes, timeout: float = 15) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.out and time.monotonic() < deadline:
            r, _, _ = select.select([self.fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.out += data
        return text in self.out

    def send(self, line: bytes) -> None:
        os.write(self.fd, line + b"\n")

    def stop(self) -> int | None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self.read_until(b"\x00", 0.1)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        return None


def test_builtin_dialog_on_the_terminal(tmp_path: Path, pki: PKI) -> None:
    """A wrong pass phrase, then the right one: the server starts; the phrase is asked
    once for two vhosts whose keys share it, and never echoed."""
    key = _encrypted_key(pki, tmp_path, b"s3cret")
    key2 = _encrypted_key(pki, tmp_path, b"s3cret", "enc2.key")
    conf, port = _conf(tmp_path, pki, key)
    port2 = free_port()
    text = conf.read_text() + (f"Listen 127.0.0.1:{port2}\n<VirtualHost 127.0.0.1:{port2}>\n"
                               f"    SSLEngine on\n    SSLCertificateFile "
                               f"{pki['server'].cert}\n    SSLCertificateKeyFile {key2}\n"
                               "</VirtualHost>\n")
    conf.write_text(text)
    srv = PtyServer(tmp_path, conf)
    try:
        assert srv.read_until(b"Enter pass phrase:"), srv.out
        assert b"Some of your private key files are encrypted for security reasons." in srv.out
        assert b"Server localhost:443 (RSA)" in srv.out
        srv.send(b"wrong")
        assert srv.read_until(b"Pass phrase incorrect (5 more retries permitted).")
        deadline = time.monotonic() + 5
        while srv.out.count(b"Enter pass phrase:") < 2 and time.monotonic() < deadline:
            srv.read_until(b"\x00", 0.1)
        assert srv.out.count(b"Enter pass phrase:") == 2
        srv.send(b"s3cret")
        assert srv.read_until(b"OK: Pass Phrase Dialog successful."), srv.out
        assert b"s3cret" not in srv.out and b"wrong" not in srv.out     # echo is off
        assert srv.out.count(b"Server localhost:443") == 1
        assert _wait_port(port) and _wait_port(port2)
        assert https(port)[0].status == 200
        assert https(port2)[0].status == 200
        # a restart keeps the pass phrase: no new dialog
        pid = int((tmp_path / "logs" / "httpd.pid").read_text())
        before = srv.out.count(b"Enter pass phrase:")
        os.kill(pid, signal.SIGHUP)
        time.sleep(1.0)
        assert _wait_port(port)
        assert https(port)[0].status == 200
        srv.read_until(b"\x00", 0.3)
        assert srv.out.count(b"Enter pass phrase:") == before
    finally:
        srv.stop()


def test_builtin_dialog_without_a_terminal_fails(tmp_path: Path, pki: PKI) -> None:
    import subprocess

    key = _encrypted_key(pki, tmp_path, b"s3cret")
    conf, _ = _conf(tmp_path, pki, key)
    p = subprocess.run([sys.executable, "-m", "featherd", "-d", str(tmp_path), "-f", str(conf),
                        "-DFOREGROUND"], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PYTHONPATH=str(SRC)), stdin=subprocess.DEVNULL,
                       start_new_session=True)
    assert p.returncode == 1
    assert "Init: Unable to read pass phrase" in p.stderr


def test_exec_dialog(tmp_path: Path, pki: PKI, make_server: Any) -> None:
    """SSLPassPhraseDialog exec:/path: the program gets "servername:port" and "RSA"."""
    key = _encrypted_key(pki, tmp_path, b"from-exec")
    prog = tmp_path / "pp-filter"
    prog.write_text(f'#!/bin/sh\necho "$1 $2" >> {tmp_path}/pp-args\necho from-exec\n')
    prog.chmod(0o755)
    port = free_port()
    body = ssl_conf(free_port(), port, f"SSLCertificateFile {pki['server'].cert}\n"
                                       f"SSLCertificateKeyFile {key}\n",
                    f"SSLPassPhraseDialog exec:{prog}\n")
    srv = make_server(raw_conf=body, start=False)
    srv.port = port
    srv.start()
    assert https(port)[0].status == 200
    assert (tmp_path / "pp-args").read_text() == "localhost:443 RSA\n"


def test_exec_dialog_with_a_wrong_phrase(tmp_path: Path, pki: PKI) -> None:
    import subprocess

    key = _encrypted_key(pki, tmp_path, b"right")
    prog = tmp_path / "pp"
    prog.write_text("#!/bin/sh\necho wrong\n")
    prog.chmod(0o755)
    conf, _ = _conf(tmp_path, pki, key, f"SSLPassPhraseDialog exec:{prog}\n")
    p = subprocess.run([sys.executable, "-m", "featherd", "-d", str(tmp_path), "-f", str(conf),
                        "-DFOREGROUND"], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PYTHONPATH=str(SRC)))
    assert p.returncode == 1
    assert f"Init: Pass phrase incorrect for key localhost:443:0 ({key})" in p.stderr


def test_pipe_dialog(tmp_path: Path, pki: PKI, make_server: Any) -> None:
    """SSLPassPhraseDialog |/path: the program reads the prompts, answers on stdout."""
    key = _encrypted_key(pki, tmp_path, b"piped")
    prog = tmp_path / "pipe"
    prog.write_text(f"#!/bin/sh\nwhile IFS= read -r line || [ -n \"$line\" ]; do\n"
                    f"  echo \"$line\" >> {tmp_path}/prompts\n"
                    "  case \"$line\" in *'Enter pass phrase:'*) echo piped;; esac\n"
                    "done\n")
    prog.chmod(0o755)
    port = free_port()
    body = ssl_conf(free_port(), port, f"SSLCertificateFile {pki['server'].cert}\n"
                                       f"SSLCertificateKeyFile {key}\n",
                    f"SSLPassPhraseDialog |{prog}\n")
    body = body.replace("Enter", "Enter")
    srv = make_server(raw_conf=body, start=False)
    srv.port = port
    srv.start()
    assert https(port)[0].status == 200
    prompts = (tmp_path / "prompts").read_text()
    assert "Server localhost:443 (RSA)" in prompts


def test_key_without_pass_phrase_needs_no_dialog(tmp_path: Path, pki: PKI,
                                                 make_server: Any) -> None:
    """FAQ: after removing the pass phrase (featherd-ssl passphrase -nopass) the
    server starts without asking."""
    key = _encrypted_key(pki, tmp_path, b"old")
    assert ct.main(["passphrase", "-in", str(key), "-passin", "pass:old", "-nopass"]) == 0
    port = free_port()
    body = ssl_conf(free_port(), port, f"SSLCertificateFile {pki['server'].cert}\n"
                                       f"SSLCertificateKeyFile {key}\n")
    srv = make_server(raw_conf=body, start=False)
    srv.port = port
    srv.start()
    assert https(port)[0].status == 200


def test_config_test_reads_no_keys(tmp_path: Path, pki: PKI) -> None:
    """``featherd -t`` (like ``httpd -t``) checks the syntax without asking for pass
    phrases, even without a terminal."""
    import subprocess

    key = _encrypted_key(pki, tmp_path, b"s3cret")
    conf, _ = _conf(tmp_path, pki, key)
    p = subprocess.run([sys.executable, "-m", "featherd", "-d", str(tmp_path), "-f", str(conf),
                        "-t"], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PYTHONPATH=str(SRC)), stdin=subprocess.DEVNULL,
                       start_new_session=True)
    assert (p.returncode, p.stderr.strip().splitlines()[-1]) == (0, "Syntax OK")
