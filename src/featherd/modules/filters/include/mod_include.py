"""mod_include: Server Side Includes, the INCLUDES output filter.

Enabled per directory by ``Options Includes`` (or ``IncludesNOEXEC``: no ``exec``, and
``include`` only of text/* documents) and put on responses with ``AddOutputFilter
INCLUDES .shtml``, ``SetOutputFilter INCLUDES``, the 2.2 ``server-parsed`` handler, the
``text/x-server-parsed-html`` type, or XBitHack (text/html files with the user
execute bit; ``full`` also sends Last-Modified when the group execute bit is set).

The document is scanned as it streams (parser.py); a whole file passed at once is
parsed once per distinct content (the parse cache below); elements (elements.py) run in
order: config, echo, exec (mod_cgi's), fsize, flastmod, include (file= and virtual=,
through sub-requests whose output is spliced in at the element), printenv, set,
if / elif / else / endif (expr.py), and 2.4's comment; values.py holds the encodings,
times and variables, config.py the directives. Elements that wait (sub-requests,
programs) make the filter finish the document in a task; the handler's completion waits
for it (``r.ctx["filter_waits"]``).
Output is held until the end (or 64 KiB), so a small page leaves in one write. The
response loses the file's Content-Length, ETag (unless SSIETag on) and Last-Modified
(unless XBitHack full or SSILastModified on), as Apache's does.
"""

from __future__ import annotations

import asyncio
import functools
import stat as stat_mod
import traceback
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from featherd.core.core_module import core, options
from featherd.core.eager import start_eager
from featherd.core.hooks import DECLINED, REALLY_LAST
from featherd.errors import HTTPError
from featherd.filters.buckets import EOS, FLUSH, FileBucket, bucket_len
from featherd.filters.chain import FTYPE_RESOURCE, add_output_filter
from featherd.filters.protocol import protocol_stage
from featherd.modules.filters.include import expr as expr_mod
from featherd.modules.filters.include.config import (
    DEFAULT_END_SEQUENCE,
    DEFAULT_ERROR_MSG,
    DEFAULT_START_SEQUENCE,
    DEFAULT_UNDEFINED_ECHO,
    IncludeDirConfig,
    IncludeServerConfig,
    _v,
    include,
)
from featherd.modules.filters.include.elements import COND_TRUE, ELEMENTS, PRINTING
from featherd.modules.filters.include.parser import (
    TAG_START,
    UNFINISHED,
    SSIParser,
    Tag,
)
from featherd.modules.filters.include.values import (
    DEFAULT_TIME_FORMAT,
    _latin1,
    add_include_vars,
    decodehtml,
    env_get,
    env_set,
)
from featherd.modules.generators import cgi_env

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR, WARN, INFO, DEBUG = 3, 4, 6, 7
INCLUDES_MAGIC_TYPES = ("text/x-server-parsed-html", "text/x-server-parsed-html3")
FLUSH_AT = 65536                 # pending output passed on past this (httpd's core
#                                  output filter sets aside as much before writing)
READ_CHUNK = 4 * 1024 * 1024     # a file is read as APR mmaps it: up to 4 MiB at a time
# Parsed documents (the parser's events: text and tags, and its state at the end) by
# their bytes and the start/end tags: the document is read every time, as Apache reads
# it, and parsed again only when its bytes differ. Used for a whole file passed at once
# (what the default handler does); the elements never change a Tag, so the events are
# shared between requests.
PARSE_CACHE_MAX_FILE = 256 * 1024
PARSE_CACHE_BUDGET = 16 * 1024 * 1024     # bytes of documents kept, per worker
SINK_READ_MAX = 65536            # included files up to this size are read, not passed on
_PARSE_CACHE: dict[tuple[bytes, bytes, bytes], tuple[tuple[Any, ...], bytes, bool]] = {}
_parse_cache_bytes = 0


# --- hooks: when the filter applies ----------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _magic_type(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in INCLUDES_MAGIC_TYPES


@include.hook("fixups", order=REALLY_LAST + 1)
def include_fixup(r: Request) -> int:
    """server-parsed (2.2) and the x-server-parsed types become INCLUDES on the default
    handler; XBitHack adds INCLUDES to executable text/html files. Runs after the
    core's SetHandler/ForceType."""
    h = r.handler
    if h == "server-parsed":
        if not r.content_type:
            r.content_type = "text/html"
        r.handler = "default-handler"
    elif not h and r.content_type and _magic_type(r.content_type):
        r.content_type = "text/html"
    else:
        conf: IncludeDirConfig = r.per_dir_config[include.index]
        xb = _v(conf.xbithack, "off")
        st = r.finfo
        if xb == "off" or st is None or not st.st_mode & stat_mod.S_IXUSR:
            return DECLINED
        if not (r.content_type or "").startswith("text/html"):
            return DECLINED
    add_output_filter(r, "INCLUDES")
    return DECLINED


# --- the filter ------------------------------------------------------------------------------
@include.output_filter("INCLUDES", FTYPE_RESOURCE)
class IncludesFilter:
    """One document being parsed (the filter's ctx). Elements get this object."""

    # the state a new document starts with (class defaults: set per instance on change)
    started = False
    passthrough = False
    flags = PRINTING | COND_TRUE
    if_nesting = 0
    no_exec = False
    error_str = DEFAULT_ERROR_MSG
    time_str = DEFAULT_TIME_FORMAT
    echo_msg = DEFAULT_UNDEFINED_ECHO
    re_state: tuple[str, str, int, Any] | None = None
    parser: SSIParser | None = None
    out_bytes = 0
    busy = False
    seen_eos = False
    fed = False                          # the parser has seen part of the document

    def __init__(self, r: Request) -> None:
        self.r = r
        conf: IncludeDirConfig = r.per_dir_config[include.index]
        # includes_setup: no 304 for a parsed document, unless XBitHack full with g+x
        # or SSILastModified on
        if conf.last_modified is not True and not self._xbit_full(r, conf):
            r.no_local_copy = True
        self.out: list[Any] = []
        self.events: deque[Any] = deque()
        self.inbox: deque[Any] = deque()

    @staticmethod
    def _xbit_full(r: Request, conf: IncludeDirConfig) -> bool:
        st = r.finfo
        return _v(conf.xbithack, "off") == "full" and st is not None and \
            bool(st.st_mode & stat_mod.S_IXGRP)

    # -- the chain --------------------------------------------------------------------
    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        if self.passthrough or self.seen_eos:
            return bb
        if not self.started:
            self.started = True
            if not self._setup(r):
                # includes_setup asked for no ETag already (the "no-etag" note)
                if r.per_dir_config[include.index].etag is not True:
                    r.headers_out.unset("ETag")
                self.passthrough = True
                return bb
        self.inbox.extend(bb)
        if self.busy:
            return []
        aw = self._run()
        if aw is not None:
            self._go_async(aw)           # the task passes on what is pending, in order
            return []
        return self._take_out()

    def _take_out(self) -> list[Any]:
        """The pending output, runs of data joined (a page's text and elements leave as
        one piece: less for the filters below and the network to go through)."""
        out, self.out = self.out, []
        self.out_bytes = 0
        if len(out) < 2:
            return out
        merged: list[Any] = []
        run: list[bytes] = []
        for b in out:
            if b.__class__ is bytes:
                run.append(b)
                continue
            if run:
                merged.append(run[0] if len(run) == 1 else b"".join(run))
                run = []
            merged.append(b)
        if run:
            merged.append(run[0] if len(run) == 1 else b"".join(run))
        return merged

    def _pass_down(self, bb: list[Any]) -> None:
        """ap_pass_brigade(f->next, bb): the filters after this one, then the network."""
        r = self.r
        chain = r.output_filters
        idx = len(chain)                   # not in the chain (any more): the network
        for i, f in enumerate(chain):
            if f is self or getattr(f, "inner", None) is self:   # mod_filter's harness
                idx = i
                break
        for f in chain[idx + 1:]:
            bb = f.filter(r, bb)
            if not bb:
                return
        protocol_stage(r, bb)

    def _go_async(self, aw: Awaitable[None]) -> None:
        """Finish the document in a task, started eagerly (core/eager.py): the elements
        that only look like they wait (a sub-request for a static file never does) cost
        no Task and no trip through the event loop."""
        self.busy = True
        task = start_eager(asyncio.get_running_loop(), self._async_loop(aw))
        if task is not None:
            self.r.ctx.setdefault("filter_waits", []).append(task)

    async def _async_loop(self, aw: Awaitable[None] | None) -> None:
        try:
            while aw is not None:
                await aw
                aw = self._run()
        except (HTTPError, Exception):  # noqa: BLE001
            self.r.log_error(ERROR, "mod_include: internal error: "
                             + traceback.format_exc().replace("\n", " | "))
            self.passthrough = True
            self.inbox.clear()
            self.events.clear()
            self.out.append(EOS)
        finally:
            self.busy = False
            out = self._take_out()
            if out:
                self._pass_down(out)

    # -- setting up -------------------------------------------------------------------
    def _setup(self, r: Request) -> bool:
        opts = options(r.per_dir_config[core.index])
        if "Includes" not in opts and "IncludesNOEXEC" not in opts:
            r.log_error(WARN, "mod_include: Options +Includes (or IncludesNoExec) wasn't "
                              "set, INCLUDES filter removed")
            return False
        conf: IncludeDirConfig = r.per_dir_config[include.index]
        sconf: IncludeServerConfig = r.server.module_config[include.index]
        self.no_exec = "Includes" not in opts
        self.error_str = _v(conf.error_msg, DEFAULT_ERROR_MSG)
        self.time_str = _v(conf.time_fmt, DEFAULT_TIME_FORMAT)
        self.echo_msg = _v(conf.undefined_echo, DEFAULT_UNDEFINED_ECHO)
        self.parser = SSIParser(_v(sconf.start_tag, DEFAULT_START_SEQUENCE).encode("latin-1"),
                                _v(sconf.end_tag, DEFAULT_END_SEQUENCE).encode("latin-1"))
        parent = r.ctx.get("ssi_parent")
        if parent is not None and r.main is not None:
            # a nested document keeps the including one's variables (as Apache's kludge)
            r.subprocess_env = r.main.subprocess_env
        else:
            cgi_env.add_common_vars(r)
            cgi_env.add_cgi_vars(r)
            add_include_vars(r, self.time_str)
            if r.path_info:
                self.events.append(_PathTranslated())
        h = r.headers_out
        h.unset("Content-Length")
        if conf.last_modified is True:
            if r.mtime is not None:
                from featherd.core.handlers import set_last_modified

                set_last_modified(r, r.mtime)
        elif self._xbit_full(r, conf):
            from featherd.core.handlers import set_last_modified

            assert r.finfo is not None
            set_last_modified(r, r.finfo.st_mtime)
        else:
            h.unset("Last-Modified")
        if conf.etag is not True:
            h.unset("ETag")
            r.etag = None
        if r.args is not None:
            r.subprocess_env["QUERY_STRING"] = r.args
            r.subprocess_env["QUERY_STRING_UNESCAPED"] = \
                cgi_env.escape_shell_cmd(cgi_env.unescape_url(r.args))
        return True

    # -- the engine -------------------------------------------------------------------
    def _run(self) -> Awaitable[None] | None:
        """Parse and run what is in hand; an awaitable when an element must wait (the
        rest stays queued)."""
        parser = self.parser
        assert parser is not None
        while True:
            while self.events:
                aw = self._event(self.events.popleft())
                if aw is not None:
                    return aw
            if not self.inbox:
                return None
            b = self.inbox.popleft()
            if isinstance(b, (bytes, bytearray, memoryview)):
                if b:
                    data = bytes(b)
                    if not self.fed and self._whole_file(len(data)):
                        self._feed_cached(data)
                    else:
                        self._feed(data)
            elif isinstance(b, FileBucket):
                if not self.fed and b.offset == 0 and b.length <= PARSE_CACHE_MAX_FILE \
                        and self._whole_file(b.length):
                    try:
                        data = b.pread(b.length, 0)
                    finally:
                        b.close()
                    if len(data) == b.length:
                        self._feed_cached(data)
                    elif data:
                        self._feed(data)
                    continue
                try:
                    off, left = b.offset, b.length
                    while left > 0:
                        data = b.pread(min(READ_CHUNK, left), off)
                        if not data:
                            break
                        off += len(data)
                        left -= len(data)
                        self._feed(data)
                finally:
                    b.close()
            elif b is EOS:
                self.events.extend(parser.finish())
                self.events.append(_End())
            elif b is FLUSH:
                self.events.append(_Flush())

    def _feed(self, data: bytes) -> None:
        assert self.parser is not None
        self.fed = True
        self.events.extend(self.parser.feed(data))

    def _whole_file(self, length: int) -> bool:
        """Is this piece, the first, the whole document (a regular file of this size,
        the end of the body after it)?"""
        st = self.r.finfo
        return length <= PARSE_CACHE_MAX_FILE and st is not None and \
            st.st_size == length and stat_mod.S_ISREG(st.st_mode) and \
            bool(self.inbox) and self.inbox[0] is EOS

    def _feed_cached(self, data: bytes) -> None:
        """Feed a whole document to the fresh parser, through the parse cache."""
        global _parse_cache_bytes
        parser = self.parser
        assert parser is not None
        self.fed = True
        key = (data, parser.start, parser.end)
        hit = _PARSE_CACHE.get(key)
        if hit is not None:
            evs, parser.buf, parser.in_tag = hit
            self.events.extend(evs)
            return
        new = parser.feed(data)
        self.events.extend(new)
        while _PARSE_CACHE and _parse_cache_bytes + len(data) > PARSE_CACHE_BUDGET:
            old = next(iter(_PARSE_CACHE))          # the oldest goes first
            del _PARSE_CACHE[old]
            _parse_cache_bytes -= len(old[0])
        # (TAG_START is only a marker: nothing is done for it)
        _PARSE_CACHE[key] = (tuple(e for e in new if e is not TAG_START), parser.buf,
                             parser.in_tag)
        _parse_cache_bytes += len(data)

    def _event(self, ev: Any) -> Awaitable[None] | None:
        cls = ev.__class__
        if cls is Tag:
            return self._tag(ev)
        if cls is bytes:
            if self.flags & PRINTING:
                self.emit(ev)
            return None
        if ev is TAG_START:
            return None
        if isinstance(ev, Tag):
            return self._tag(ev)
        if isinstance(ev, (bytes, bytearray, memoryview)):
            if self.flags & PRINTING:
                self.emit(bytes(ev))
            return None
        if ev is UNFINISHED:
            self.log(ERROR, f"SSI directive was not properly finished at the end of parsed "
                            f"document {self.r.filename}")
            if self.flags & PRINTING:
                self.error()
            return None
        if isinstance(ev, _Flush):
            self.flush()
            return None
        if isinstance(ev, _End):
            if not self.flags & PRINTING:
                self.log(WARN, f"missing closing endif directive in parsed document "
                               f"{self.r.filename}")
            self.seen_eos = True
            self.out.append(EOS)
            return None
        if isinstance(ev, _PathTranslated):
            return self._path_translated()
        return None

    async def _path_translated(self) -> None:
        pt = await cgi_env.path_translated(self.r)
        if pt is not None:
            self.r.subprocess_env["PATH_TRANSLATED"] = pt

    def _tag(self, tag: Tag) -> Awaitable[None] | None:
        if tag.errors:
            fn = self.r.filename
            for e in tag.errors:
                self.log(ERROR, e.format(tag=tag.name, file=fn))
            if self.flags & PRINTING:
                self.error()
            return None
        handler = ELEMENTS.get(tag.name)
        if handler is None:
            handler = self.r.tree.providers.get(("ssi_element", tag.name))
        if handler is None:
            self.log(ERROR, f"unknown directive \"{tag.name}\" in parsed doc "
                            f"{self.r.filename}")
            if self.flags & PRINTING:
                self.error()
            return None
        return handler(self, tag.args)  # type: ignore[no-any-return]

    # -- what elements use --------------------------------------------------------------
    @property
    def printing(self) -> bool:
        return bool(self.flags & PRINTING)

    def log(self, level: int, msg: str) -> None:
        self.r.log_error(level, msg)

    def emit(self, data: Any) -> None:
        """Output, in order. It is held (one write for a small page, whatever its
        elements) until the end, a FLUSH, or FLUSH_AT bytes."""
        self.out.append(data)
        self.out_bytes += len(data) if data.__class__ is bytes else bucket_len(data)
        if self.out_bytes > FLUSH_AT:
            self.flush()

    def error(self) -> None:
        self.emit(_latin1(self.error_str))

    def flush(self) -> None:
        """Pass what is pending on now."""
        if self.out:
            self._pass_down(self._take_out())

    def sink(self, bb: list[Any]) -> None:
        """Where a sub-request's (or a program's) output goes: into the document's
        output at this point."""
        for b in bb:
            if b is EOS or b is FLUSH:
                continue
            if isinstance(b, FileBucket) and b.length <= SINK_READ_MAX:
                # a small included file is read now, to join the text around it
                data = b.pread(b.length, b.offset) if b.length else b""
                if len(data) == b.length:
                    b.close()
                    b = data
            self.emit(b)

    def decode(self, value: str) -> str:
        return decodehtml(value)

    def get_var(self, name: str) -> str | None:
        if len(name) == 1 and name.isdigit():
            return self._backref(int(name))
        return env_get(self.r.subprocess_env, name)

    def set_var(self, name: str, value: str) -> None:
        env_set(self.r.subprocess_env, name, value)

    def _backref(self, idx: int) -> str | None:
        fn = self.r.filename
        if self.re_state is None:
            self.log(WARN, f"regex capture ${idx} refers to no regex in {fn}")
            return None
        source, rexp, nsub, m = self.re_state
        if nsub < idx:
            self.log(WARN, f"regex capture ${idx} is out of range (last regex was: "
                           f"'{rexp}') in {fn}")
            return None
        if m is None:
            return None
        return m.group(idx)  # type: ignore[no-any-return]

    def parse_string(self, s: str, leave_name: bool = False) -> str:
        """ap_ssi_parse_string: $name and ${name} substituted, \\$ a dollar."""
        if "$" not in s and "\\" not in s:
            return s
        out: list[str] = []
        i, n = 0, len(s)
        while i < n:
            c = s[i]
            if c == "\\":
                if i + 1 < n and s[i + 1] == "$":
                    out.append("$")
                    i += 2
                else:
                    out.append("\\")
                    i += 1
                continue
            if c != "$":
                j = i
                while j < n and s[j] not in "\\$":
                    j += 1
                out.append(s[i:j])
                i = j
                continue
            if i + 1 < n and s[i + 1] == "{":
                end = s.find("}", i + 2)
                if end < 0:
                    self.log(ERROR, f"Missing '}}' on variable \"{s[i + 2:]}\" in "
                                    f"{self.r.filename}")
                    break
                key = s[i + 2:end]
                name_end, newp = end, end + 1
            else:
                j = i + 1
                while j < n and (s[j] == "_" or (s[j].isascii() and s[j].isalnum())):
                    j += 1
                key = s[i + 1:j]
                name_end, newp = j, j
            if not key:
                out.append("$")
                i += 1
                continue
            val = self.get_var(key)
            if val is None and leave_name:
                val = s[i:name_end]
            if val:
                out.append(val)
            i = newp
        return "".join(out)

    def re_check(self, string: str, rexp: str) -> int:
        try:
            pat = expr_mod.compile_regex(rexp)
        except Exception:  # noqa: BLE001 - re.error and recursion limits alike
            self.log(ERROR, f"unable to compile pattern \"{rexp}\"")
            return -1
        m = pat.search(string)
        self.re_state = (string, rexp, pat.groups, m)
        return 1 if m is not None else 0


class _Flush:
    __slots__ = ()


class _End:
    __slots__ = ()


class _PathTranslated:
    __slots__ = ()
