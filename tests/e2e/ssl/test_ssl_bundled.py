"""The bundled configuration's HTTPS vhost (featherd without -f): a self-signed
certificate made on the first start, kept afterwards; testssl.sh's protocol and
cipher-order checks pass (the full scan's results are in the mod_ssl report)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from featherd_testlib import SRC, free_port
from tests_ssl_helpers import https, peer_cn


def _wait(port: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Bundled:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = free_port()
        self.ssl_port = free_port()
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(SRC), XDG_STATE_HOME=str(self.state),
                   FEATHERD_LISTEN=f"127.0.0.1:{self.port}",
                   FEATHERD_SSL_LISTEN=f"127.0.0.1:{self.ssl_port}")
        env.pop("FEATHERD_DATA", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "featherd"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=str(self.state))
        assert _wait(self.ssl_port), "the bundled HTTPS vhost did not listen"

    def stop(self) -> str:
        if self.proc is None:
            return ""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=15)
        self.proc = None
        return err


@pytest.fixture
def bundled(tmp_path: Path) -> Iterator[Bundled]:
    b = Bundled(tmp_path)
    yield b
    b.stop()


def test_bundled_https_vhost(bundled: Bundled) -> None:
    bundled.start()
    r, _ = https(bundled.ssl_port)
    assert r.status == 200 and b"It works!" in r.body
    assert peer_cn(r) == "localhost"
    cert = bundled.state / "featherd" / "ssl" / "localhost.crt"
    key = bundled.state / "featherd" / "ssl" / "localhost.key"
    assert cert.exists() and key.exists()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    c = x509.load_pem_x509_certificate(cert.read_bytes())
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    err = bundled.stop()
    assert f"https://127.0.0.1:{bundled.ssl_port}/" in err
    logs = bundled.state / "featherd" / "logs"
    assert "Generated a self-signed certificate for localhost" in (logs / "error_log").read_text()
    assert " TLSv1." in (logs / "ssl_request_log").read_text()
    # the second start keeps the certificate
    before = cert.read_bytes()
    bundled.start()
    r2, _ = https(bundled.ssl_port)
    assert r2.peer_der == r.peer_der and cert.read_bytes() == before


@pytest.mark.skipif(shutil.which("testssl") is None, reason="testssl.sh not installed")
def test_testssl_protocols_and_cipher_order(bundled: Bundled, tmp_path: Path) -> None:
    """testssl.sh: no SSLv2/SSLv3/TLS 1.0/1.1, and a server cipher order (the finding
    Debian's default Apache configuration gets)."""
    bundled.start()
    out = tmp_path / "testssl.json"
    subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off", "-p", "-P",
                    "--jsonfile-pretty", str(out), f"127.0.0.1:{bundled.ssl_port}"],
                   capture_output=True, timeout=240, check=False)
    results = json.loads(out.read_text())["scanResult"][0]
    findings = [f for v in results.values() if isinstance(v, list) for f in v
                if isinstance(f, dict) and "severity" in f]
    bad = [f for f in findings if f["severity"] in ("HIGH", "CRITICAL", "MEDIUM")]
    assert not bad, bad
    by_id = {f["id"]: f for f in findings}
    assert by_id["SSLv3"]["finding"] == "not offered"
    assert by_id["TLS1_3"]["finding"].startswith("offered")
    assert by_id["cipher_order"]["severity"] == "OK"
