"""SSLSessionCache across the worker processes, SSLSessionCacheTimeout, SSLMutex,
SSLRandomSeed, SSLCryptoDevice (FAQ "Why do I get lots of random SSL protocol errors
under heavy server load?"; MSIE "...require that an SSL session can be reused")."""

from __future__ import annotations

import ssl
import time
from typing import Any

import pytest
from tests_ssl_helpers import PKI, cert_lines, client_context, https, wait_log

WORKERS = "StartServers 3\nServerLimit 3\n"


def _resumptions(port: int, n: int = 12) -> tuple[list[bool], Any]:
    """Reconnect ``n`` times with the first session (TLS 1.2, no tickets: only the
    server's session cache can resume)."""
    ctx = client_context(version=ssl.TLSVersion.TLSv1_2, tickets=False)
    _, sess = https(port, "/?first", ctx=ctx)
    out = []
    for i in range(n):
        r, _ = https(port, f"/?n={i}", ctx=ctx, session=sess)
        assert r.status == 200
        out.append(r.reused)
    return out, sess


@pytest.mark.parametrize("cache", ["shmcb:logs/ssl_scache(512000)", "shm:logs/x",
                                   "dbm:logs/ssl_scache"])
def test_session_cache_is_shared_by_the_workers(tls_server: Any, pki: PKI, cache: str) -> None:
    srv = tls_server(cert_lines(pki), extra=WORKERS + f"SSLSessionCache {cache}\n",
                     log_format="%P %{SSL_SESSION_RESUMED}x %r")
    reused, _ = _resumptions(srv.port)
    assert all(reused), reused
    deadline = time.monotonic() + 5
    log = ""
    while time.monotonic() < deadline and log.count(" Resumed ") < 12:
        log = wait_log(srv, "GET /?n=11")
        time.sleep(0.1)
    pids = {line.split()[0] for line in log.splitlines() if "Resumed" in line}
    assert len(pids) >= 2, log          # resumed on other workers than the first one


def test_without_a_cache_no_session_id_resumes(tls_server: Any, pki: PKI) -> None:
    """SSLSessionCache none: 2.2 switches OpenSSL's own cache off too."""
    srv = tls_server(cert_lines(pki), extra=WORKERS + "SSLSessionCache none\n")
    reused, _ = _resumptions(srv.port, 4)
    assert not any(reused)


def test_tickets_resume_on_any_worker(tls_server: Any, pki: PKI) -> None:
    """TLS session tickets are sealed with keys made before the fork."""
    srv = tls_server(cert_lines(pki), extra=WORKERS + "SSLSessionCache none\n")
    ctx = client_context(version=ssl.TLSVersion.TLSv1_2)
    _, sess = https(srv.port, ctx=ctx)
    assert all(https(srv.port, ctx=ctx, session=sess)[0].reused for _ in range(6))
    srv.srv.stop()
    srv2 = tls_server(cert_lines(pki) + "SSLSessionTickets off\n",
                      extra=WORKERS + "SSLSessionCache none\n")
    _, sess = https(srv2.port, ctx=ctx)
    assert not https(srv2.port, ctx=ctx, session=sess)[0].reused


def test_session_cache_timeout(tls_server: Any, pki: PKI) -> None:
    # OpenSSL keeps session times in whole seconds and the cache drops a session at
    # that time + the timeout (as mod_ssl's shmcb): 2 s leave at least 1 s to resume
    srv = tls_server(cert_lines(pki) + "SSLSessionCacheTimeout 2\n",
                     extra=WORKERS + "SSLSessionCache shmcb:logs/c(65536)\n")
    ctx = client_context(version=ssl.TLSVersion.TLSv1_2, tickets=False)
    _, sess = https(srv.port, ctx=ctx)
    assert https(srv.port, ctx=ctx, session=sess)[0].reused
    time.sleep(3.05)
    assert not https(srv.port, ctx=ctx, session=sess)[0].reused


def test_sessions_do_not_cross_vhosts(tls_server: Any, pki: PKI) -> None:
    """Each vhost has its own session id context: a session of one is not resumed on
    another (their client-auth settings may differ)."""
    srv = tls_server(start=False, extra="SSLSessionCache shmcb:logs/c(65536)\n")
    conf = srv.srv.conf_path.read_text()
    conf = conf.replace("    SSLEngine on\n", "    SSLEngine on\n    " + cert_lines(pki)
                        .replace("\n", "\n    "), 1)
    conf += (f"<VirtualHost 127.0.0.1:{srv.port}>\n    ServerName b.example\n"
             f"    SSLEngine on\n    {cert_lines(pki, 'server_b')}</VirtualHost>\n")
    srv.srv.conf_path.write_text(conf)
    srv.srv.start()
    ctx = client_context(version=ssl.TLSVersion.TLSv1_2, tickets=False)
    _, sess = https(srv.port, ctx=ctx)
    assert https(srv.port, ctx=ctx, session=sess)[0].reused
    assert not https(srv.port, host="b.example", ctx=ctx, session=sess)[0].reused


@pytest.mark.parametrize("mutex", ["default", "none", "sem", "file:logs/ssl_mutex",
                                   "fcntl:logs/ssl_mutex", "flock:logs"])
def test_ssl_mutex(tls_server: Any, pki: PKI, mutex: str) -> None:
    srv = tls_server(cert_lines(pki), extra=WORKERS + "SSLSessionCache shmcb:logs/c(65536)\n"
                     f"SSLMutex {mutex}\n")
    reused, _ = _resumptions(srv.port, 4)
    assert all(reused)


def test_random_seed_and_crypto_device(tls_server: Any, pki: PKI) -> None:
    """The FAQ's "Failed to generate temporary 512 bit RSA private key": seeding
    sources are read at start-up and per connection."""
    srv = tls_server(cert_lines(pki), extra="SSLRandomSeed startup builtin\n"
                     "SSLRandomSeed startup file:/dev/urandom 512\n"
                     "SSLRandomSeed startup exec:/bin/date 16\n"
                     "SSLRandomSeed connect builtin\n"
                     "SSLRandomSeed connect file:/dev/urandom 64\n"
                     "SSLCryptoDevice builtin\n")
    assert https(srv.port)[0].status == 200
    assert https(srv.port)[0].status == 200
    assert "Init: Seeding PRNG with " in srv.error_log()


def test_no_session_cache_warning(tls_server: Any, pki: PKI) -> None:
    srv = tls_server()
    assert "Init: Session Cache is not configured [hint: SSLSessionCache]" in srv.error_log()
