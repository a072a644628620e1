"""What mod_wsgi and mod_asgi share: mount points, loading (and reloading) the script
files, the worker thread pool, the response-header rules and error-log tracebacks.

A mount (``WSGIScriptAlias /app /srv/app.py``, ``ASGIScriptAlias /api /srv/api.py``) maps
a URL-path onto one script file, or onto a directory of scripts when the target is a
directory (``WSGIScriptAlias /wsgi/ /srv/scripts/``: ``/wsgi/a.py/x`` runs ``a.py``). In
``translate_name`` the longest mount that matches the URI wins, WSGI and ASGI ones
alike; ``SCRIPT_NAME`` is the mount point and ``PATH_INFO`` the rest of the URI. The
request then goes through the usual phases (the directory walk of the script's
directory, access control, authentication, fixups) before the handler runs.

A script is compiled from its source (no .pyc: an edit within the same second still
counts) into a module named ``_mod_wsgi_<md5>``, as mod_wsgi names it, and entered in
``sys.modules``. With reloading on, the file's mtime (from the directory walk's stat,
so no extra system call) is compared on every request and a changed file is loaded
again; requests in flight finish with the old module.
"""

from __future__ import annotations

import hashlib
import math
import os
import queue
import re
import site
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from stat import S_ISDIR
from types import ModuleType
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.core.core_module import core, options
from featherd.core.hooks import DECLINED, OK
from featherd.errors import DirectiveError

if TYPE_CHECKING:
    import asyncio

    from featherd.config.parser import CmdParms
    from featherd.core.module import Module
    from featherd.core.request import Request

ERROR, WARN, NOTICE, INFO, DEBUG = 3, 4, 5, 6, 7
#: the ctx key under which translate_name leaves the matched mount for the handler
MOUNT_KEY = "pyapp_mount"
BEST_KEY = "pyapp_best"
_NOT_YET = object()
#: RFC 7230 6.1 hop-by-hop fields: an application may not set them (PEP 3333)
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-authenticate",
                        "proxy-authorization", "te", "trailers", "transfer-encoding",
                        "upgrade"))
#: modules whose server configs hold mounts, in the order their hooks run
MOUNT_MODULES: list[Module] = []


def _child_first(base: list[Any], new: list[Any]) -> list[Any]:
    # a <VirtualHost>'s own mounts come before the main server's (ties go to them)
    return new + base


@dataclass(slots=True)
class Mount:
    """One WSGIScriptAlias / ASGIScriptAlias line."""

    kind: str                        # "wsgi-script" or "asgi-script"
    url: str                         # the mount point, without a trailing "/" ("" for /)
    target: str                      # the script file, or a directory of scripts
    is_dir: bool = False
    callable: str = "application"
    application_group: str | None = None
    process_group: str | None = None
    pass_authorization: bool | None = None
    lifespan: str | None = None      # ASGI: on | off | auto (None: ASGILifespan)
    where: str = ""                  # file:line, for messages

    def describe(self) -> str:
        return f"{self.url or '/'} -> {self.target} ({self.where})"


_OPTION_NAMES = {
    "application": "callable", "callable-object": "callable",
    "application-group": "application_group", "process-group": "process_group",
    "pass-authorization": "pass_authorization", "lifespan": "lifespan",
}


def parse_alias(cmd: CmdParms, words: list[str], kind: str, default_callable: str,
                allowed: frozenset[str]) -> Mount:
    """``URL-path file-path [name=value ...]`` into a Mount; Apache-style errors."""
    name = cmd.info.name if cmd.info else kind
    if len(words) < 2 or not words[0] or not words[1]:
        raise DirectiveError(f"{name} requires at least two arguments")
    url, target = words[0], words[1]
    if not url.startswith("/"):
        raise DirectiveError(f"{name}: the URL-path must begin with a /")
    target = cmd.tree.server_root_relative(target)
    is_dir = target.endswith("/") or os.path.isdir(target)
    m = Mount(kind=kind, url=url.rstrip("/"), target=target.rstrip("/") or "/",
              is_dir=is_dir, callable=default_callable,
              where=f"{cmd.filename}:{cmd.line}")
    for opt in words[2:]:
        key, eq, val = opt.partition("=")
        attr = _OPTION_NAMES.get(key.lower())
        if not eq or attr is None or key.lower() not in allowed:
            raise DirectiveError(f"Invalid option to {name} definition: '{opt}'.")
        if attr == "pass_authorization":
            if val.lower() not in ("on", "off"):
                raise DirectiveError(f"{name}: pass-authorization must be On or Off")
            m.pass_authorization = val.lower() == "on"
        elif attr == "lifespan":
            if val.lower() not in ("on", "off", "auto"):
                raise DirectiveError(f"{name}: lifespan must be on, off or auto")
            m.lifespan = val.lower()
        elif attr == "callable":
            if not val.isidentifier():
                raise DirectiveError(f"{name}: '{val}' is not a Python identifier")
            m.callable = val
        else:
            setattr(m, attr, val)
    return m


# --- request time: mapping ----------------------------------------------------------------
def best_mount(r: Request) -> tuple[Mount, int] | None:
    """The longest mount of any kind matching r.uri on a segment boundary."""
    uri = r.uri
    best: Mount | None = None
    blen = -1
    mc = r.server.module_config
    for mod in MOUNT_MODULES:
        mounts = mc[mod.index].mounts
        if not mounts:
            continue
        for m in mounts:
            u = m.url
            n = len(u)
            if n > blen and uri.startswith(u) and (len(uri) == n or uri[n] == "/"):
                best, blen = m, n
    return None if best is None else (best, blen)


def translate(r: Request, kind: str) -> int:
    """translate_name for one kind: map the URI when the best mount is of that kind."""
    uri = r.uri
    if not uri.startswith("/"):
        return DECLINED
    ctx = r.ctx
    hit = ctx.get(BEST_KEY, _NOT_YET)
    if hit is _NOT_YET:
        hit = ctx[BEST_KEY] = best_mount(r)   # once for both modules' hooks
    if hit is None or hit[0].kind != kind:
        return DECLINED
    m, n = hit
    rest = uri[n:]
    script_name = m.url
    script = m.target
    if m.is_dir:
        seg, slash, more = rest.lstrip("/").partition("/")
        if seg:
            script = f"{m.target.rstrip('/')}/{seg}"
            script_name = uri[:len(uri) - len(more) - len(slash)]
            rest = slash + more
    r.filename = script
    r.path_info = rest
    r.handler = kind
    r.notes["alias-forced-type"] = kind
    r.ctx[MOUNT_KEY] = (m, script_name)
    return OK


def fixup_handler(r: Request, kind: str) -> int:
    """A mounted script keeps its handler over AddHandler (SetHandler still wins: the
    core applies it after every module's fixups)."""
    hit = r.ctx.get(MOUNT_KEY)
    if hit is not None and hit[0].kind == kind:
        r.handler = kind
    return DECLINED


def script_name_and_path_info(r: Request) -> tuple[str, str]:
    hit = r.ctx.get(MOUNT_KEY)
    if hit is not None:
        return hit[1], r.path_info or ""
    # AddHandler/SetHandler wsgi-script: SCRIPT_NAME is the URI up to the file
    from featherd.modules.generators.cgi_env import find_path_info

    pi = r.path_info or ""
    return (r.uri[:find_path_info(r.uri, pi)] if pi else r.uri), pi


# --- loading scripts ------------------------------------------------------------------------
class ScriptError(Exception):
    """The script could not be loaded or has no such callable; ``lines`` for the log."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[0] if lines else "script error")
        self.lines = lines


def module_name(prefix: str, key: str) -> str:
    return f"_{prefix}_{hashlib.md5(key.encode('utf-8', 'surrogateescape')).hexdigest()}"


def load_script(path: str, modname: str) -> ModuleType:
    """Compile and run the script's source as module ``modname`` (in sys.modules)."""
    with open(path, "rb") as f:
        source = f.read()
    module = ModuleType(modname)
    module.__file__ = path
    module.__builtins__ = __builtins__  # type: ignore[attr-defined]
    code = compile(source, path, "exec", dont_inherit=True)
    old = sys.modules.get(modname)
    sys.modules[modname] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        if old is not None:
            sys.modules[modname] = old
        else:
            sys.modules.pop(modname, None)
        raise
    return module


def load_callable(tag: str, path: str, modname: str, name: str, what: str) -> Any:
    """Load the script and return its callable, or raise ScriptError with mod_wsgi's
    wording and the traceback."""
    pid = os.getpid()
    try:
        module = load_script(path, modname)
    except BaseException:
        raise ScriptError([
            f"{tag} (pid={pid}): Target {what} script '{path}' cannot be loaded as "
            "Python module.",
            f"{tag} (pid={pid}): Exception occurred processing {what} script '{path}'.",
            *traceback_lines()]) from None
    app = getattr(module, name, None)
    if app is None or not callable(app):
        raise ScriptError([f"{tag} (pid={pid}): Target {what} script '{path}' does not "
                           f"contain {what} application '{name}'."])
    return app


def traceback_lines() -> list[str]:
    return traceback.format_exc().rstrip("\n").split("\n")


def log_lines(r: Request, lines: list[str], level: int = ERROR) -> None:
    for line in lines:
        r.log_error(level, line)


def log_exception(r: Request, tag: str, what: str, path: str, lines: list[str]) -> None:
    """mod_wsgi's report: one headline, then the traceback a line per entry."""
    r.log_error(ERROR, f"{tag} (pid={os.getpid()}): Exception occurred processing {what} "
                       f"script '{path}'.")
    log_lines(r, lines)


def add_python_path(paths: list[str]) -> None:
    """WSGIPythonPath: each directory (and its .pth files) ahead of sys.path."""
    for d in reversed(paths):
        before = list(sys.path)
        site.addsitedir(d)
        added = [p for p in sys.path if p not in before]
        if d not in added:
            added.insert(0, d)
        sys.path[:] = added + [p for p in before if p != d]


# --- responses -------------------------------------------------------------------------------
def parse_seconds(v: str) -> float | None:
    """A directive's seconds (``20``, ``0.5``; 0 allowed), None when not a finite number."""
    v = v.strip()
    if not re.fullmatch(r"\d+(\.\d*)?|\.\d+", v):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def seconds_arg(name: str, v: str, note: str = "") -> float:
    """parse_seconds for a directive row: the value, or the directive's error."""
    secs = parse_seconds(v)
    if secs is None:
        raise DirectiveError(f"{name} must be a number of seconds{note}")
    return secs


def apply_headers(r: Request, status: int, status_line: str | None,
                  headers: list[tuple[str, str]]) -> None:
    """The application's status and headers onto r (content type and hop-by-hop fields
    handled; the script file's own type, encoding and language never leak)."""
    r.status = status
    r.status_line = status_line
    r.content_type = None
    r.content_encoding = None
    r.content_languages = None
    out = r.headers_out
    for k, v in headers:
        lk = k.lower()
        if lk == "content-type":
            r.content_type = v
        elif lk in HOP_BY_HOP:
            r.log_error(DEBUG, f"hop-by-hop header '{k}' set by the application dropped")
        else:
            out.add(k, v)


def check_header(name: str, value: str) -> None:
    """Refuse what would split the response: CR, LF or NUL in a name or value."""
    for s in (name, value):
        if "\n" in s or "\r" in s or "\x00" in s:
            raise ValueError(f"embedded newline in response header with name '{name}' "
                             f"and value '{value}'")
    if not name or ":" in name or " " in name:
        raise ValueError(f"invalid response header name '{name}'")


# --- the worker thread pool -----------------------------------------------------------------
class ThreadPool:
    """Threads that run blocking calls for the event loop: ``submit(loop, fn, *args)``
    returns an asyncio future. Threads are started as the load needs them, up to
    ``size``; they are daemons, so a stuck application never holds the process."""

    def __init__(self, size: int, name: str = "featherd-wsgi") -> None:
        self.size = max(1, size)
        self.name = name
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.busy = 0                     # touched on the loop's thread only
        self.stuck = 0                    # threads abandoned to a timed-out call
        self.abandoned: set[Any] = set()

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any],
               *args: Any) -> asyncio.Future[Any]:
        fut = loop.create_future()
        self.busy += 1
        live = len(self.threads) - self.stuck
        if self.busy > live and live < self.size:
            t = threading.Thread(target=self._run, name=f"{self.name}-{len(self.threads)}",
                                 daemon=True)
            self.threads.append(t)
            t.start()
        self.queue.put((loop, fut, fn, args))
        return fut

    def _run(self) -> None:
        get = self.queue.get
        while True:
            item = get()
            if item is None:
                return
            loop, fut, fn, args = item
            item = None
            try:
                res, err = fn(*args), None
            except BaseException as e:     # the pool thread survives anything
                res, err = None, e
            try:
                loop.call_soon_threadsafe(self._done, fut, res, err)
            except RuntimeError:
                pass                       # the loop is gone: the process is ending
            res = err = fut = None

    def _done(self, fut: asyncio.Future[Any], res: Any, err: BaseException | None) -> None:
        if fut in self.abandoned:
            # a call given up on has ended after all: its thread is ours again
            self.abandoned.discard(fut)
            self.stuck -= 1
            return
        self.busy -= 1
        if fut.done():
            return
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(res)

    def abandon(self, fut: asyncio.Future[Any], exc: BaseException) -> None:
        """Give up on a call that is still running: its future fails with ``exc`` now,
        its thread no longer counts (a new one is started for the next call)."""
        if fut.done() or fut in self.abandoned:
            return
        self.abandoned.add(fut)
        self.busy -= 1
        self.stuck += 1
        fut.set_exception(exc)

    def shutdown(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        self.threads = []


@dataclass
class ProcessState:
    """Per-process state of the Python application modules (tree.extra)."""

    pid: int = 0
    gen: int = 0
    apps: dict[Any, Any] = field(default_factory=dict)
    pool: ThreadPool | None = None
    lifespans: list[Any] = field(default_factory=list)
    tasks: set[Any] = field(default_factory=set)


#: bumped in each forked child: a ProcessState of another generation belongs to the parent
_FORKS = [0]


def _forked() -> None:
    _FORKS[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def process_state(tree: Any) -> ProcessState:
    st = tree.extra.get("pyapps")
    if st is None or st.gen != _FORKS[0]:
        st = ProcessState(pid=os.getpid(), gen=_FORKS[0])
        tree.extra["pyapps"] = st
    return st  # type: ignore[no-any-return]


def flag(v: Any, default: bool) -> bool:
    return default if v is UNSET or v is None else bool(v)


__all__ = ["MOUNT_KEY", "Mount", "ProcessState", "ScriptError", "ThreadPool",
           "apply_headers", "best_mount", "load_callable", "parse_alias", "translate"]


def script_precheck(r: Any, kind: str, label: str) -> tuple[Any, int]:
    """What mod_wsgi and mod_asgi check before running a script: (mount, 0) or
    (None, status). ``kind`` is the handler name, ``label`` "WSGI" or "ASGI"."""
    hit = r.ctx.get(MOUNT_KEY)
    mount = hit[0] if hit is not None and hit[0].kind == kind else None
    path = r.filename or ""
    if mount is None and "ExecCGI" not in options(r.per_dir_config[core.index]):
        r.log_error(ERROR, f"Options ExecCGI is off in this directory: {path}")
        return None, 403
    st = r.finfo
    if st is None:
        r.log_error(ERROR, f"Target {label} script not found or unable to stat: {path}")
        return None, 404
    if S_ISDIR(st.st_mode):
        r.log_error(ERROR, f"Attempt to invoke directory as {label} application: {path}")
        return None, 403
    body = r.body
    if body is not None and body.check_limit(r):
        return None, 413
    return mount, 0
