"""mod_log_config: the access log (LogFormat, CustomLog, TransferLog, BufferedLogs,
CookieLog), as in Apache 2.2.

Formats are compiled at configuration time (:mod:`.logformat`); nicknames and the
default format are resolved once, after the whole configuration is read (``post_config``,
as Apache's ``open_multi_logs`` does), so a LogFormat may follow the CustomLog naming it.
A virtual host with a CustomLog or TransferLog of its own logs only there; one without
any logs to the main server's logs. Each file or pipe is opened once (``open_logs``),
whatever the number of servers naming it.

Writing: lines go to an in-memory buffer per file, flushed when it holds about 64 KiB,
every second (a timer set in ``child_init``) and at ``child_exit``; every write holds
whole lines, and a pipe gets them in pieces of at most PIPE_BUF so that workers sharing
it never interleave inside a line. ``BufferedLogs Off`` (explicit) writes each line at
once; ``BufferedLogs On`` or no directive buffers.

Beyond Apache: a format beginning with ``json:`` gives one JSON object per line
(``CustomLog logs/access.json "json:%h %t %r %>s"``); see :mod:`.logformat`.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import os
import select
import sys
from dataclasses import dataclass
from typing import Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.merge import UNSET
from featherd.config.parser import CmdParms
from featherd.core.hooks import OK
from featherd.core.module import Module
from featherd.errors import ConfigError, DirectiveError
from featherd.modules.loggers.logformat import DEFAULT_LOG_FORMAT, CompiledFormat, request_pair
from featherd.modules.loggers.logitems import LOG_HANDLERS, LogHandler

BUFFER_LIMIT = 64 * 1024
FLUSH_INTERVAL = 1.0
PIPE_CHUNK = getattr(select, "PIPE_BUF", 512)
COOKIE_LOG_FORMAT = '%{Cookie}n "%r" %t'


@dataclass(slots=True, eq=False)
class LogSpec:
    """One CustomLog / TransferLog / CookieLog line (config_log_state)."""

    fname: str                          # as written
    format_string: str | None           # None: the server's default format (TransferLog)
    compiled: CompiledFormat | None     # the format string compiled, when not a nickname
    condition_var: str | None = None    # env=[!]var, without the "!"
    negate: bool = False


@dataclass(slots=True)
class LogConfig:
    """Per-server record (multi_log_state)."""

    config_logs: Any = UNSET            # list[LogSpec]: this server's own logs
    server_config_logs: Any = UNSET     # the main server's, set by the merge
    default_format_string: Any = UNSET  # one-argument LogFormat
    default_format: Any = UNSET         # its compiled form
    formats: Any = UNSET                # nickname -> CompiledFormat
    buffered: Any = UNSET               # BufferedLogs (main server: it is global)
    active: Any = UNSET                 # list[ActiveLog], decided in post_config
    plan: Any = UNSET                   # what log_transaction runs, from ``active``


class LogConfigModule(Module):
    def merge_server_config(self, base: Any, new: Any) -> Any:
        """merge_config_log_state: a vhost keeps its own logs, inherits the format table."""
        if base is None or new is None:
            return new if base is None else base
        out = dataclasses.replace(new)
        out.server_config_logs = base.config_logs or []
        if new.default_format is UNSET:
            out.default_format_string = base.default_format_string
            out.default_format = base.default_format
        out.formats = {**(base.formats or {}), **(new.formats or {})}
        return out


log_config = LogConfigModule("log_config_module", "mod_log_config.c", server_config=LogConfig,
                             description="Logging of the requests made to the server")


# --- writers ---------------------------------------------------------------------------
class LogWriter:
    """One log destination: a file, a piped command or the process's stdout/stderr."""

    __slots__ = ("target", "kind", "fd", "piped", "owner", "buf", "size", "limit", "chunk",
                 "failed")

    def __init__(self, target: str, buffered: bool = True) -> None:
        self.target = target
        if target.startswith("|"):
            self.kind = "pipe"
        elif target in ("/dev/stdout", "/dev/stderr"):
            self.kind = "stream"
        else:
            self.kind = "file"
        self.fd: int | None = None
        self.piped: Any = None
        self.owner = 0
        self.buf: list[str] = []
        self.size = 0
        self.limit = BUFFER_LIMIT if buffered else 0
        self.chunk = BUFFER_LIMIT if self.kind == "file" else PIPE_CHUNK
        self.failed = False

    def open(self) -> None:
        if self.fd is not None:
            return
        self.owner = os.getpid()
        if self.kind == "stream":
            self.fd = 1 if self.target == "/dev/stdout" else 2
        elif self.kind == "pipe":
            self._spawn()
        else:
            try:
                self.fd = os.open(self.target, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                                  | os.O_CLOEXEC, 0o644)
            except OSError as e:
                raise ConfigError(f"({e.errno}){e.strerror}: could not open transfer log "
                                  f"file {self.target}.") from None

    def _spawn(self) -> None:
        """Start (or join) the piped logger: ``||prog`` directly, ``|$cmd`` and ``|cmd``
        by the shell. The master keeps the pipe and restarts the logger if it dies
        (:mod:`featherd.mpm.piped`)."""
        from featherd.mpm import piped

        try:
            self.piped = piped.acquire(self.target)
        except OSError as e:
            raise ConfigError(str(e)) from None
        self.fd = self.piped.wfd

    def write(self, line: str) -> None:
        self.buf.append(line)
        self.size += len(line)
        if self.size > self.limit:
            self.flush()

    def write_now(self, line: str) -> None:
        """``BufferedLogs Off``: the line goes out at once, in one write()."""
        data = line.encode("utf-8", "backslashreplace")
        if self.fd is None or self.buf or len(data) > self.chunk:
            self.write(line)
            self.flush()
            return
        self._write_all(data)

    def flush(self) -> None:
        if not self.buf:
            return
        data = "".join(self.buf).encode("utf-8", "backslashreplace")
        self.buf = []
        self.size = 0
        if self.fd is None:
            try:
                self.open()
            except ConfigError as e:
                self._report(str(e))
                return
        if len(data) <= self.chunk:
            self._write_all(data)
            return
        start, n = 0, len(data)
        while start < n:
            if n - start <= self.chunk:
                cut = n - 1
            else:
                cut = data.rfind(b"\n", start, start + self.chunk)
                if cut < 0:                    # one line longer than a chunk: whole
                    cut = data.find(b"\n", start + self.chunk)
                    cut = n - 1 if cut < 0 else cut
            self._write_all(data[start:cut + 1])
            start = cut + 1

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                assert self.fd is not None
                done = os.write(self.fd, view)
                view = view[done:]
        except BrokenPipeError:
            # the master holds the pipe's read end while the logger runs or restarts:
            # EPIPE means the logger was retired (or the master is gone)
            self._report(f"piped log program '{self.target[1:]}' is gone")
        except OSError as e:
            self._report(f"({e.errno}){e.strerror}: error writing to log file {self.target}")

    def _report(self, msg: str) -> None:
        if not self.failed:
            self.failed = True
            try:
                sys.stderr.write(f"featherd: mod_log_config: {msg}\n")
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        self.flush()
        if self.kind == "file" and self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
        elif self.kind == "pipe" and self.piped is not None:
            from featherd.mpm import piped

            if os.getpid() == self.owner:
                piped.release(self.piped)   # the master retires it after a restart
            self.piped = None
        self.fd = None


@dataclass(slots=True, eq=False)
class ActiveLog:
    """A log as one server writes it: the spec, its resolved format, its writer."""

    spec: LogSpec
    fmt: CompiledFormat
    writer: LogWriter


class LogState:
    """The writers of one configuration, shared by all its servers (one per target)."""

    def __init__(self, buffered: bool = True) -> None:
        self.buffered = buffered
        self.writers: dict[str, LogWriter] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.at_exit = False

    def writer(self, target: str) -> LogWriter:
        w = self.writers.get(target)
        if w is None:
            w = self.writers[target] = LogWriter(target, self.buffered)
        return w

    def open_all(self) -> None:
        for w in self.writers.values():
            w.open()
        if self.writers and not self.at_exit:
            atexit.register(self.flush_all)
            self.at_exit = True

    def flush_all(self) -> None:
        for w in self.writers.values():
            w.flush()

    def start_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.timer is not None or not self.writers:
            return

        from featherd.mpm import piped

        def tick() -> None:
            self.flush_all()
            piped.check_all()    # -X: restart a dead piped logger (the master reaps its own)
            self.timer = loop.call_later(FLUSH_INTERVAL, tick)
        self.timer = loop.call_later(FLUSH_INTERVAL, tick)

    def close_all(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for w in self.writers.values():
            w.close()
        if self.at_exit:
            atexit.unregister(self.flush_all)
            self.at_exit = False


def handler_table(tree: Any) -> dict[str, LogHandler]:
    """mod_log_config's % directives plus those of loaded modules (mod_logio, mod_ssl)."""
    table = dict(LOG_HANDLERS)
    for m in tree.modules:
        extra = getattr(m, "log_handlers", None)
        if extra and m.name in tree.loaded:
            table.update(extra)
    return table


def _compile(cmd: CmdParms, fmt: str) -> CompiledFormat:
    return CompiledFormat(fmt, handler_table(cmd.tree))


# --- directives ------------------------------------------------------------------------
RSRC = Context.RSRC


@log_config.directive("LogFormat", args=ArgSpec.TAKE12, context=RSRC,
                      syntax="LogFormat format|nickname [nickname]  "
                             "(a format starting with json: logs JSON objects)",
                      help="a log format string (see docs) and an optional format name")
def log_format(cmd: CmdParms, conf: LogConfig, fmt: str, name: str | None) -> None:
    compiled = _compile(cmd, fmt)
    if name is not None:
        conf.formats = {**(conf.formats or {}), name: compiled}
    else:
        conf.default_format_string = fmt
        conf.default_format = compiled


def _add_log(cmd: CmdParms, conf: LogConfig, fn: str, fmt: str | None,
             envclause: str | None) -> None:
    """add_custom_log."""
    var: str | None = None
    negate = False
    if envclause is not None:
        if envclause[:5].lower() == "expr=":
            raise DirectiveError("CustomLog expr= conditions (Apache 2.4) are not supported; "
                                 "use env=[!]environment-variable")
        if envclause[:4].lower() != "env=":
            raise DirectiveError("error in condition clause")
        var = envclause[4:]
        if var.startswith("!"):
            negate, var = True, var[1:]
        if not var:
            raise DirectiveError("missing environment variable name")
    spec = LogSpec(fn, fmt, _compile(cmd, fmt) if fmt is not None else None, var, negate)
    conf.config_logs = [*(conf.config_logs or []), spec]


@log_config.directive("CustomLog", args=ArgSpec.TAKE23, context=RSRC,
                      syntax="CustomLog file|pipe format|nickname [env=[!]environment-variable]"
                             "  (a format starting with json: logs one JSON object per line)",
                      help="a file name, a custom log format string or format name, and an "
                           "optional \"env=\" clause (see docs)")
def custom_log(cmd: CmdParms, conf: LogConfig, fn: str, fmt: str, envclause: str | None) -> None:
    _add_log(cmd, conf, fn, fmt, envclause)


@log_config.directive("TransferLog", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="TransferLog file|pipe",
                      help="the filename of the access log")
def transfer_log(cmd: CmdParms, conf: LogConfig, fn: str) -> None:
    _add_log(cmd, conf, fn, None, None)


@log_config.directive("CookieLog", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="CookieLog filename  (deprecated: use CustomLog)",
                      help="the filename of the cookie log")
def cookie_log(cmd: CmdParms, conf: LogConfig, fn: str) -> None:
    _add_log(cmd, conf, fn, COOKIE_LOG_FORMAT, None)


@log_config.directive("BufferedLogs", args=ArgSpec.FLAG, context=RSRC,
                      syntax="BufferedLogs On|Off",
                      help="Enable Buffered Logging (experimental)")
def buffered_logs(cmd: CmdParms, conf: LogConfig, on: bool) -> None:
    log_config.sconf(cmd.tree.main).buffered = on      # global, as in Apache


# --- hooks -----------------------------------------------------------------------------
def _target(tree: Any, fname: str) -> str:
    if fname.startswith("|") or fname in ("/dev/stdout", "/dev/stderr"):
        return fname
    return os.path.normpath(tree.server_root_relative(fname))


@log_config.hook("post_config")
def resolve_logs(tree: Any) -> int:
    """open_multi_logs' resolution: nicknames, default formats, inherited logs."""
    main = log_config.sconf(tree.main)
    state = LogState(buffered=main.buffered is not False)
    tree.extra["log_config"] = state
    fallback = CompiledFormat(DEFAULT_LOG_FORMAT)
    for s in tree.all_servers():
        conf = log_config.sconf(s)
        if conf is None:
            continue
        if s is tree.main:
            specs = conf.config_logs or []
            formats = dict(conf.formats or {})
            dstring, dfmt = conf.default_format_string, conf.default_format
        else:
            specs = conf.config_logs or main.config_logs or []
            formats = {**(main.formats or {}), **(conf.formats or {})}
            if conf.default_format is not UNSET:
                dstring, dfmt = conf.default_format_string, conf.default_format
            else:
                dstring, dfmt = main.default_format_string, main.default_format
        default = formats.get(dstring) if dstring else None
        default = default or dfmt or fallback
        active: list[ActiveLog] = []
        for spec in specs:
            if spec.format_string is None:
                fmt = default
            else:
                fmt = formats.get(spec.format_string) or spec.compiled
            assert fmt is not None
            active.append(ActiveLog(spec, fmt, state.writer(_target(tree, spec.fname))))
        conf.active = active
        conf.plan = _plan(active)
    return OK


def _plan(active: list[ActiveLog]) -> tuple[tuple[Any, ...], ...]:
    """Per log, what a request needs: (condition variable, negate, render, write)."""
    return tuple((log.spec.condition_var, log.spec.negate, log.fmt.render,
                  log.writer.write if log.writer.limit else log.writer.write_now)
                 for log in active)


def _state(tree: Any) -> LogState | None:
    st = tree.extra.get("log_config")
    return st if isinstance(st, LogState) else None


@log_config.hook("open_logs")
def open_logs(tree: Any) -> int:
    state = _state(tree)
    if state is not None:
        state.open_all()
    return OK


@log_config.hook("child_init")
def child_init(tree: Any, loop: Any = None) -> None:
    state = _state(tree)
    if state is None:
        return
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
    state.start_timer(loop)


@log_config.hook("child_exit")
def child_exit(tree: Any) -> None:
    state = _state(tree)
    if state is not None:
        state.close_all()


@log_config.hook("log_transaction")
def multi_log_transaction(r: Any) -> int:
    """config_log_transaction for each log of the request's server."""
    plan = r.server.module_config[log_config.index].plan
    if not plan:
        return OK
    if r.prev is None and r.next is None:
        final = orig = r
    else:
        final, orig = request_pair(r)
    for var, negate, render, write in plan:
        if var is not None and (var in r.subprocess_env) == negate:
            continue
        write(render(final, orig))
    return OK

