"""mod_log_forensic: forensic logging of requests (Apache 2.2's mod_log_forensic.c).

``ForensicLog filename|pipe`` (server config or virtual host) writes each request twice:
before anything is done with it, ``+ID|request line|Header:Value|...`` and, once it has
been logged, ``-ID``. A ``+`` line without its ``-`` is a request the server never
finished (a crash); ``featherd-check-forensic`` (Apache's check_forensic) lists them.

The ID is mod_unique_id's ``UNIQUE_ID`` when that module is loaded, else
``pid:time:counter`` in hex as 2.2 makes it; it is also the note ``forensic-id``
(``%{forensic-id}n`` in a LogFormat). Characters that are not printable ASCII, and ``|``,
``:`` and ``%``, are written as ``%xx``. Each line is written at once, in one write.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.merge import UNSET
from featherd.core.hooks import DECLINED, OK, REALLY_FIRST
from featherd.core.module import Module
from featherd.errors import ConfigError


@dataclass(slots=True)
class ForensicConfig:
    logname: Any = UNSET
    writer: Any = None


forensic = Module("log_forensic_module", "mod_log_forensic.c", server_config=ForensicConfig,
                  description="Forensic logging of the requests made to the server")
_ids = itertools.count(1)
_ESCAPE = re.compile(r"[^\x21-\x24\x26-\x39\x3b-\x7b\x7d\x7e ]")


def log_escape(s: str) -> str:
    """T_ESCAPE_FORENSIC: not printable, or one of ``|`` ``:`` ``%``: ``%xx``."""
    def esc(m: re.Match[str]) -> str:
        return "".join(f"%{b:02x}" for b in m.group(0).encode("latin-1", "replace"))
    return _ESCAPE.sub(esc, s)


@forensic.directive("ForensicLog", args=ArgSpec.TAKE1, context=Context.RSRC,
                    syntax="ForensicLog filename|pipe",
                    help="the filename of the forensic log")
def forensic_log(cmd: Any, conf: ForensicConfig, fn: str) -> None:
    conf.logname = fn


class ForensicWriter:
    """A file (O_APPEND, one write per line) or a reliable piped log."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.fd = -1
        self.piped: Any = None

    def open(self) -> None:
        if self.target.startswith("|"):
            from featherd.mpm import piped

            try:
                self.piped = piped.acquire(self.target)
            except OSError as e:
                raise ConfigError(str(e)) from None
            self.fd = self.piped.wfd
            return
        try:
            self.fd = os.open(self.target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                              0o644)
        except OSError as e:
            raise ConfigError(f"({e.errno}){e.strerror}: could not open forensic log file "
                              f"{self.target}.") from None

    def write(self, line: str) -> None:
        if self.fd < 0:
            return
        data = line.encode("latin-1", "replace")
        try:
            while data:
                n = os.write(self.fd, data)
                data = data[n:]
        except OSError:
            pass

    def close(self) -> None:
        if self.piped is not None:
            from featherd.mpm import piped

            piped.release(self.piped)
            self.piped = None
        elif self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
        self.fd = -1


@forensic.hook("open_logs")
def open_logs(tree: Any) -> int:
    writers: dict[str, ForensicWriter] = {}
    for s in tree.all_servers():
        conf = forensic.sconf(s)
        name = conf.logname if conf.logname is not UNSET else \
            forensic.sconf(tree.main).logname
        if name is UNSET or not name:
            conf.writer = None
            continue
        target = name if name.startswith("|") else tree.server_root_relative(name)
        w = writers.get(target)
        if w is None:
            w = writers[target] = ForensicWriter(target)
            w.open()
        conf.writer = w
    tree.extra["forensic_writers"] = writers
    return OK


@forensic.hook("child_exit")
def child_exit(tree: Any) -> None:
    for w in tree.extra.get("forensic_writers", {}).values():
        w.close()


def forensic_id(r: Any) -> str:
    uid = r.subprocess_env.get("UNIQUE_ID")
    if uid:
        return uid
    return f"{os.getpid()}:{int(time.time()):x}:{next(_ids):x}"


@forensic.hook("post_read_request", order=REALLY_FIRST + 1, needs=True)
def log_before(r: Any) -> int:
    if r.prev is not None or r.main is not None:
        return DECLINED
    w = forensic.sconf(r.server).writer
    if w is None:
        return DECLINED
    if "UNIQUE_ID" not in r.subprocess_env and "unique_id_module" in r.tree.loaded:
        from featherd.modules.metadata.mod_unique_id import gen_unique_id

        gen_unique_id(r)
    fid = forensic_id(r)
    r.notes["forensic-id"] = fid
    parts = [f"+{fid}", log_escape(r.the_request or "")]
    for k, v in r.headers_in:
        parts.append(f"{log_escape(k)}:{log_escape(v)}")
    w.write("|".join(parts) + "\n")
    return DECLINED


@forensic.hook("log_transaction", order=REALLY_FIRST, needs=True)
def log_after(r: Any) -> int:
    orig = r
    while orig.prev is not None:
        orig = orig.prev
    fid = orig.notes.get("forensic-id")
    if not fid:
        return DECLINED
    w = forensic.sconf(r.server).writer
    if w is not None:
        w.write(f"-{fid}\n")
    return DECLINED
