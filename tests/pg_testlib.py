"""A private PostgreSQL cluster for tests: initdb into a temporary directory, postgres on
a free loopback port (its socket in that directory too), stopped by PID.

``get_cluster()`` starts one cluster per test process (reused by every test that asks,
stopped at exit); ``pg_or_skip()`` does the same but skips the calling test with the
reason when PostgreSQL or psycopg is not installed. Run as root, initdb and postgres run
as the ``postgres`` user (runuser), in a directory owned by it.

The cluster has a database ``authdb``, a role ``apache`` (password ``apache-pw``, host
logins need it: scram-sha-256) owning it; ``conninfo()`` is the DBDParams string for it.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any

PG_ROLE = "apache"
PG_PASSWORD = "apache-pw"
PG_DB = "authdb"


def pg_bindir() -> str | None:
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(
                os.path.join(d, "postgres")):
            return d
    for name in ("initdb", "postgres"):
        if shutil.which(name) is None:
            return None
    return os.path.dirname(shutil.which("initdb") or "")


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PgCluster:
    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.dir = tempfile.mkdtemp(prefix="featherd-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.as_user: str | None = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = "postgres"
        os.chmod(self.dir, 0o755)

    def _cmd(self, argv: list[str]) -> list[str]:
        if self.as_user:
            return ["runuser", "-u", self.as_user, "--", *argv]
        return argv

    def init(self) -> None:
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write("postgres-pw\n")
        if self.as_user:
            pw = pwd.getpwnam(self.as_user)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        subprocess.run(self._cmd([os.path.join(self.bindir, "initdb"), "-D", self.data,
                                  "-U", "postgres", "--auth-local=trust",
                                  "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                                  "-E", "UTF8", "--locale=C", "--no-sync"]),
                       check=True, capture_output=True, timeout=60)

    def start(self, timeout: float = 20.0) -> None:
        log = open(os.path.join(self.dir, "postgres.log"), "ab")
        if self.as_user:
            pw = pwd.getpwnam(self.as_user)
            os.chown(log.name, pw.pw_uid, pw.pw_gid)
        self.proc = subprocess.Popen(
            self._cmd([os.path.join(self.bindir, "postgres"), "-D", self.data,
                       "-k", self.dir, "-p", str(self.port), "-h", "127.0.0.1",
                       "-c", "fsync=off", "-c", "synchronous_commit=off",
                       "-c", "full_page_writes=off", "-c", "max_connections=60"]),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited: " + self.log_text())
            if os.path.exists(os.path.join(self.dir, f".s.PGSQL.{self.port}")):
                try:
                    self.admin("SELECT 1")
                    return
                except Exception:
                    pass
            time.sleep(0.05)
        raise RuntimeError("postgres did not start: " + self.log_text())

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster, by PID), waiting for it to go."""
        p = self.proc
        self.proc = None
        if p is None:
            return
        pid = self.postmaster_pid() or p.pid
        for target in (pid, p.pid):
            try:
                os.kill(target, signal.SIGINT)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.path.exists(
                os.path.join(self.data, "postmaster.pid")):
            time.sleep(0.05)

    def postmaster_pid(self) -> int | None:
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self) -> str:
        try:
            with open(os.path.join(self.dir, "postgres.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    # -- SQL ----------------------------------------------------------------------------
    def admin_conninfo(self, db: str = "postgres") -> str:
        return f"host={self.dir} port={self.port} dbname={db} user=postgres"

    def conninfo(self, **extra: str) -> str:
        """DBDParams for the test database over TCP, as the ``apache`` role."""
        s = (f"host=127.0.0.1 port={self.port} dbname={PG_DB} user={PG_ROLE} "
             f"password={PG_PASSWORD}")
        return s + "".join(f" {k}={v}" for k, v in extra.items())

    def admin(self, sql: str, params: tuple[Any, ...] = (), db: str = "postgres",
              fetch: bool = False) -> Any:
        import psycopg

        with psycopg.connect(self.admin_conninfo(db), autocommit=True) as c:
            cur = c.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall() if fetch else None

    def setup_db(self) -> None:
        self.admin(f"CREATE ROLE {PG_ROLE} LOGIN PASSWORD '{PG_PASSWORD}'")
        self.admin(f"CREATE DATABASE {PG_DB} OWNER {PG_ROLE}")

    def backends(self, application_name: str) -> int:
        """How many connections a client with this application_name holds."""
        rows = self.admin("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                          (application_name,), fetch=True)
        return int(rows[0][0])


_CLUSTER: PgCluster | None = None
_FAILED: str | None = None


def why_not() -> str | None:
    """None when a cluster can be made here, else why not."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    if pg_bindir() is None:
        return "PostgreSQL (initdb, postgres) is not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root without runuser"
    return None


def get_cluster() -> PgCluster:
    """The test process's cluster (started on first use, stopped at exit)."""
    global _CLUSTER, _FAILED
    if _CLUSTER is not None:
        if _CLUSTER.proc is None:
            _CLUSTER.start()
        return _CLUSTER
    if _FAILED is not None:
        raise RuntimeError(_FAILED)
    why = why_not()
    if why is not None:
        raise RuntimeError(why)
    c = PgCluster(pg_bindir() or "")
    try:
        c.init()
        c.start()
        c.setup_db()
    except Exception as e:
        c.destroy()
        _FAILED = f"could not start a PostgreSQL cluster: {e}"
        raise RuntimeError(_FAILED) from e
    _CLUSTER = c
    atexit.register(c.destroy)
    return c


def pg_or_skip() -> PgCluster:
    import pytest

    why = why_not()
    if why is not None:
        pytest.skip(f"PostgreSQL tests skipped: {why}")
    return get_cluster()
