"""mod_include: Server Side Includes, the INCLUDES output filter.

Enabled per directory by ``Options Includes`` (or ``IncludesNOEXEC``: no ``exec``, and
``include`` only of text/* documents) and put on responses with ``AddOutputFilter
INCLUDES .shtml``, ``SetOutputFilter INCLUDES``, the 2.2 ``server-parsed`` handler, the
``text/x-server-parsed-html`` type, or XBitHack (text/html files with the user
execute bit; ``full`` also sends Last-Modified when the group execute bit is set).

The document is scanned as it streams (parser.py); elements run in order: config,
echo, exec (mod_cgi's), fsize, flastmod, include (file= and virtual=, through
sub-requests whose output is spliced in after this filter), printenv, set, if / elif /
else / endif (expr.py), and 2.4's comment. Elements that wait (sub-requests, programs)
make the filter finish the document in a task; the handler's completion waits for it
(``r.ctx["filter_waits"]``). The response loses Content-Length, ETag (unless SSIETag
on) and Last-Modified (unless XBitHack full or SSILastModified on), as Apache's does.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import pwd
import stat as stat_mod
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.core_module import core, options
from featherd.core.hooks import DECLINED, DONE, OK, REALLY_LAST
from featherd.core.module import Module
from featherd.errors import DirectiveError, HTTPError
from featherd.filters.buckets import EOS, FLUSH, FileBucket, bucket_len
from featherd.filters.chain import FTYPE_RESOURCE, add_output_filter
from featherd.modules.filters.include import expr as expr_mod
from featherd.modules.filters.include.parser import (
    TAG_START,
    UNFINISHED,
    SSIParser,
    Tag,
)
from featherd.modules.generators import cgi_env

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

ERROR, WARN, INFO, DEBUG = 3, 4, 6, 7
DEFAULT_START_SEQUENCE = "<!--#"
DEFAULT_END_SEQUENCE = "-->"
DEFAULT_ERROR_MSG = "[an error occurred while processing this directive]"
DEFAULT_TIME_FORMAT = "%A, %d-%b-%Y %H:%M:%S %Z"
DEFAULT_UNDEFINED_ECHO = "(none)"
INCLUDES_MAGIC_TYPES = ("text/x-server-parsed-html", "text/x-server-parsed-html3")
FLUSH_AT = 65536                 # pending output passed on past this (httpd's core
#                                  output filter sets aside as much before writing)
READ_CHUNK = 4 * 1024 * 1024     # a file is read as APR mmaps it: up to 4 MiB at a time
PRINTING, COND_TRUE, SIZE_IN_BYTES = 1, 2, 4


@dataclass(slots=True)
class IncludeDirConfig:
    error_msg: Any = UNSET        # SSIErrorMsg
    time_fmt: Any = UNSET         # SSITimeFormat
    undefined_echo: Any = UNSET   # SSIUndefinedEcho
    xbithack: Any = UNSET         # XBitHack off|on|full
    etag: Any = UNSET             # SSIETag
    last_modified: Any = UNSET    # SSILastModified
    legacy_expr: Any = UNSET      # SSILegacyExprParser


@dataclass(slots=True)
class IncludeServerConfig:
    start_tag: Any = UNSET        # SSIStartTag
    end_tag: Any = UNSET          # SSIEndTag


include = Module("include_module", "mod_include.c", dir_config=IncludeDirConfig,
                 server_config=IncludeServerConfig,
                 description="Server-parsed html documents (Server Side Includes)")


@include.directive("XBitHack", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                   override=Override.OPTIONS, syntax="XBitHack on|off|full",
                   help="Off, On, or Full")
def xbithack(cmd: CmdParms, conf: IncludeDirConfig, v: str) -> None:
    lv = v.lower()
    if lv not in ("off", "on", "full"):
        raise DirectiveError("XBitHack must be set to Off, On, or Full")
    conf.xbithack = lv


@include.directive("SSIErrorMsg", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                   override=Override.ALL, syntax="SSIErrorMsg message", help="a string")
def ssi_error_msg(cmd: CmdParms, conf: IncludeDirConfig, msg: str) -> None:
    conf.error_msg = msg


@include.directive("SSITimeFormat", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                   override=Override.ALL, syntax="SSITimeFormat formatstring",
                   help="a strftime(3) formatted string")
def ssi_time_format(cmd: CmdParms, conf: IncludeDirConfig, fmt: str) -> None:
    conf.time_fmt = fmt


@include.directive("SSIUndefinedEcho", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                   override=Override.ALL, syntax="SSIUndefinedEcho string",
                   help="String to be displayed if an echoed variable is undefined")
def ssi_undefined_echo(cmd: CmdParms, conf: IncludeDirConfig, msg: str) -> None:
    conf.undefined_echo = msg


def _no_space(name: str, tag: str) -> str:
    if any(c.isspace() for c in tag):
        raise DirectiveError(f"{name} may not contain any whitespaces")
    if not tag:
        raise DirectiveError(f"{name} must not be empty")
    return tag


@include.directive("SSIStartTag", args=ArgSpec.TAKE1, context=Context.RSRC,
                   syntax="SSIStartTag tag", help="SSI Start String Tag")
def ssi_start_tag(cmd: CmdParms, conf: IncludeServerConfig, tag: str) -> None:
    conf.start_tag = _no_space("SSIStartTag", tag)


@include.directive("SSIEndTag", args=ArgSpec.TAKE1, context=Context.RSRC,
                   syntax="SSIEndTag tag", help="SSI End String Tag")
def ssi_end_tag(cmd: CmdParms, conf: IncludeServerConfig, tag: str) -> None:
    conf.end_tag = _no_space("SSIEndTag", tag)


@include.directive("SSIETag", args=ArgSpec.FLAG, context=Context.DIR_HTACCESS,
                   override=Override.ALL, syntax="SSIETag on|off",
                   help="Whether ETags should be generated by the server (2.2.15 and later)")
def ssi_etag(cmd: CmdParms, conf: IncludeDirConfig, on: bool) -> None:
    conf.etag = on


@include.directive("SSILastModified", args=ArgSpec.FLAG, context=Context.DIR_HTACCESS,
                   override=Override.ALL, syntax="SSILastModified on|off",
                   help="Whether Last-Modified headers should be generated by the server")
def ssi_last_modified(cmd: CmdParms, conf: IncludeDirConfig, on: bool) -> None:
    conf.last_modified = on


@include.directive("SSILegacyExprParser", args=ArgSpec.FLAG, context=Context.DIR_HTACCESS,
                   override=Override.ALL, syntax="SSILegacyExprParser on|off",
                   help="Whether to use the old (2.2) expression syntax in #if (featherd "
                        "always does: the 2.2 syntax is its default)")
def ssi_legacy_expr(cmd: CmdParms, conf: IncludeDirConfig, on: bool) -> None:
    conf.legacy_expr = on


def _v(v: Any, default: Any) -> Any:
    return default if v is UNSET else v


# --- hooks: when the filter applies ----------------------------------------------------------
@include.hook("fixups", order=REALLY_LAST + 1)
def include_fixup(r: Request) -> int:
    """server-parsed (2.2) and the x-server-parsed types become INCLUDES on the default
    handler; XBitHack adds INCLUDES to executable text/html files. Runs after the
    core's SetHandler/ForceType."""
    ct = (r.content_type or "").split(";", 1)[0].strip().lower()
    if r.handler == "server-parsed":
        if not r.content_type:
            r.content_type = "text/html"
        r.handler = "default-handler"
    elif ct in INCLUDES_MAGIC_TYPES and not r.handler:
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


# --- values --------------------------------------------------------------------------------
_ENTITIES = {
    2: {"lt": "<", "gt": ">"},
    3: {"amp": "&", "ETH": "\xd0", "eth": "\xf0"},
    4: {"quot": '"', "Auml": "\xc4", "Euml": "\xcb", "Iuml": "\xcf", "Ouml": "\xd6",
        "Uuml": "\xdc", "auml": "\xe4", "euml": "\xeb", "iuml": "\xef", "ouml": "\xf6",
        "uuml": "\xfc", "yuml": "\xff"},
    5: {"Acirc": "\xc2", "Aring": "\xc5", "AElig": "\xc6", "Ecirc": "\xca", "Icirc": "\xce",
        "Ocirc": "\xd4", "Ucirc": "\xdb", "THORN": "\xde", "szlig": "\xdf", "acirc": "\xe2",
        "aring": "\xe5", "aelig": "\xe6", "ecirc": "\xea", "icirc": "\xee", "ocirc": "\xf4",
        "ucirc": "\xfb", "thorn": "\xfe"},
    6: {"Agrave": "\xc0", "Aacute": "\xc1", "Atilde": "\xc3", "Ccedil": "\xc7",
        "Egrave": "\xc8", "Eacute": "\xc9", "Igrave": "\xcc", "Iacute": "\xcd",
        "Ntilde": "\xd1", "Ograve": "\xd2", "Oacute": "\xd3", "Otilde": "\xd5",
        "Oslash": "\xd8", "Ugrave": "\xd9", "Uacute": "\xda", "Yacute": "\xdd",
        "agrave": "\xe0", "aacute": "\xe1", "atilde": "\xe3", "ccedil": "\xe7",
        "egrave": "\xe8", "eacute": "\xe9", "igrave": "\xec", "iacute": "\xed",
        "ntilde": "\xf1", "ograve": "\xf2", "oacute": "\xf3", "otilde": "\xf5",
        "oslash": "\xf8", "ugrave": "\xf9", "uacute": "\xfa", "yacute": "\xfd"},
}


def decodehtml(s: str) -> str:
    """mod_include's decodehtml: Latin-1 entities and numeric references; unknown ones
    stay, references to unused characters disappear."""
    if "&" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c != "&":
            out.append(c)
            i += 1
            continue
        semi = s.find(";", i + 1)
        if semi < 0:
            out.append(s[i:])
            break
        body = s[i + 1:semi]
        if body.startswith("#"):
            digits = ""
            for ch in body[1:]:
                if not ch.isdigit():
                    break
                digits += ch
            val = int(digits) if digits else 0
            if len(digits) == len(body) - 1 and not (
                    val <= 8 or 11 <= val <= 31 or 127 <= val <= 160 or val >= 256):
                out.append(chr(val))
            i = semi + 1
            continue
        rep = _ENTITIES.get(len(body), {}).get(body)
        if rep is None:
            out.append("&")
            i += 1
            continue
        out.append(rep)
        i = semi + 1
    return "".join(out)


def escape_html(s: str) -> str:
    """ap_escape_html."""
    if not any(c in s for c in '<>&"'):
        return s
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&quot;")


def _latin1(s: str) -> bytes:
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape")


def escape_urlencoded(s: str) -> str:
    """ap_escape_urlencoded: form encoding (space as '+')."""
    return cgi_env.escape_bytes(s, ".-*_ ").replace(" ", "+")


def _encode(v: str, how: str) -> str:
    if how == "url":
        return cgi_env.escape_uri(v)
    if how == "urlencoded":
        return escape_urlencoded(v)
    if how == "entity":
        return escape_html(v)
    if how == "base64":
        return base64.b64encode(_latin1(v)).decode("latin-1")
    return v


def _decode(v: str, how: str) -> str:
    if how == "url":
        return cgi_env.unescape_url(v)
    if how == "urlencoded":
        return unquote_to_bytes(v.replace("+", " ")).decode("latin-1")
    if how == "entity":
        return decodehtml(v)
    if how == "base64":
        try:
            return base64.b64decode(_latin1(v)).decode("latin-1")
        except ValueError:
            return ""
    return v


def ht_time(t: float, fmt: str, gmt: bool) -> str:
    """ap_ht_time: strftime on local or GMT time (with %Z as GMT, %z as +0000)."""
    return _ht_time(int(t), fmt, gmt)


@functools.lru_cache(maxsize=256)
def _ht_time(t: int, fmt: str, gmt: bool) -> str:
    if gmt:
        out = []
        i = 0
        while i < len(fmt):
            c = fmt[i]
            if c == "%" and i + 1 < len(fmt):
                nx = fmt[i + 1]
                out.append({"Z": "GMT", "z": "+0000"}.get(nx, "%" + nx))
                i += 2
                continue
            out.append(c)
            i += 1
        fmt = "".join(out)
        tm = time.gmtime(t)
    else:
        tm = time.localtime(t)
    try:
        return time.strftime(fmt, tm)
    except (ValueError, UnicodeError):
        return ""


def strfsize(size: int) -> str:
    """apr_strfsize: four columns, K/M/G/T/P/E."""
    if size < 0:
        return "  - "
    if size < 973:
        return f"{size:3d} "
    for o in "KMGTPE":
        remain = size & 1023
        size >>= 10
        if size >= 973:
            continue
        if size < 9 or (size == 9 and remain < 973):
            remain = (remain * 5 + 256) // 512
            if remain >= 10:
                size += 1
                remain = 0
            return f"{size}.{remain}{o}"
        if remain >= 512:
            size += 1
        return f"{size:3d}{o}"
    return "****"


def env_get(env: dict[str, str], name: str) -> str | None:
    """An apr table lookup: names are case-insensitive."""
    v = env.get(name)
    if v is not None:
        return v
    n = len(name)
    ln = name.lower()
    for k, val in env.items():
        if len(k) == n and k.lower() == ln:
            return val
    return None


def env_set(env: dict[str, str], name: str, value: str) -> None:
    if name in env:
        env[name] = value
        return
    n = len(name)
    ln = name.lower()
    for k in env:
        if len(k) == n and k.lower() == ln:
            env[k] = value
            return
    env[name] = value


@functools.lru_cache(maxsize=64)
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "<unknown>"


def add_include_vars(r: Request, timefmt: str) -> None:
    e = r.subprocess_env
    now = r.request_time
    mtime = r.finfo.st_mtime if r.finfo is not None else 0.0
    e["DATE_LOCAL"] = ht_time(now, timefmt, False)
    e["DATE_GMT"] = ht_time(now, timefmt, True)
    e["LAST_MODIFIED"] = ht_time(mtime, timefmt, False)
    e["DOCUMENT_URI"] = r.uri
    if r.path_info:
        e["DOCUMENT_PATH_INFO"] = r.path_info
    e["USER_NAME"] = user_name(r.finfo.st_uid) if r.finfo is not None else "<unknown>"
    fn = r.filename or ""
    e["DOCUMENT_NAME"] = fn.rsplit("/", 1)[1] if "/" in fn else r.uri
    if r.args is not None:
        e["QUERY_STRING_UNESCAPED"] = cgi_env.escape_shell_cmd(cgi_env.unescape_url(r.args))


# --- the filter ------------------------------------------------------------------------------
@include.output_filter("INCLUDES", FTYPE_RESOURCE)
class IncludesFilter:
    """One document being parsed (the filter's ctx). Elements get this object."""

    def __init__(self, r: Request) -> None:
        self.r = r
        self.started = False
        self.passthrough = False
        conf: IncludeDirConfig = r.per_dir_config[include.index]
        # includes_setup: no 304 for a parsed document, unless XBitHack full with g+x
        # or SSILastModified on
        if not self._xbit_full(r, conf) and conf.last_modified is not True:
            r.no_local_copy = True
        self.flags = PRINTING | COND_TRUE
        self.if_nesting = 0
        self.no_exec = False
        self.error_str = DEFAULT_ERROR_MSG
        self.time_str = DEFAULT_TIME_FORMAT
        self.echo_msg = DEFAULT_UNDEFINED_ECHO
        self.re_state: tuple[str, str, int, Any] | None = None
        self.parser: SSIParser | None = None
        self.out: list[Any] = []
        self.events: deque[Any] = deque()
        self.inbox: deque[Any] = deque()
        self.out_bytes = 0
        self.busy = False
        self.seen_eos = False

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
        out, self.out = self.out, []
        self.out_bytes = 0
        return out

    def _pass_down(self, bb: list[Any]) -> None:
        """ap_pass_brigade(f->next, bb): the filters after this one, then the network."""
        from featherd.filters.protocol import protocol_stage

        r = self.r
        chain = r.output_filters
        idx = -1
        for i, f in enumerate(chain):
            if f is self:
                idx = i
                break
        for f in chain[idx + 1:]:
            bb = f.filter(r, bb)
            if not bb:
                return
        protocol_stage(r, bb)

    def _go_async(self, aw: Awaitable[None]) -> None:
        self.busy = True
        task = asyncio.get_running_loop().create_task(self._async_loop(aw))
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
            out, self.out = self.out, []
            self.out_bytes = 0
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
                    self._feed(bytes(b))
            elif isinstance(b, FileBucket):
                try:
                    off, left = b.offset, b.length
                    while left > 0:
                        data = os.pread(b.fd, min(READ_CHUNK, left), off)
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
        self.events.extend(self.parser.feed(data))

    def _event(self, ev: Any) -> Awaitable[None] | None:
        if isinstance(ev, bytes):
            if self.flags & PRINTING:
                self.emit(ev)
            return None
        if ev is TAG_START:
            return None
        if isinstance(ev, Tag):
            return self._tag(ev)
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
        self.out_bytes += bucket_len(data)
        if self.out_bytes > FLUSH_AT:
            self.flush()

    def error(self) -> None:
        self.emit(_latin1(self.error_str))

    def flush(self) -> None:
        """Pass what is pending on now."""
        if self.out:
            out, self.out = self.out, []
            self.out_bytes = 0
            self._pass_down(out)

    def sink(self, bb: list[Any]) -> None:
        """Where a sub-request's (or a program's) output goes: into the document's
        output at this point."""
        for b in bb:
            if b is not EOS and b is not FLUSH:
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


# --- the elements ----------------------------------------------------------------------------
Args = list[tuple[str | None, str | None]]


def _prelude(ctx: IncludesFilter, args: Args, element: str, ok: bool) -> bool:
    """The common start of most handlers: log a missing argument, skip when not printing.
    True when the element should run."""
    fn = ctx.r.filename
    if not ok:
        ctx.log(ERROR if ctx.printing else WARN,
                f"missing argument for {element} element in {fn}")
    if not ctx.printing:
        return False
    if not ok:
        ctx.error()
        return False
    return True


def handle_config(ctx: IncludesFilter, args: Args) -> None:
    if not _prelude(ctx, args, "config", bool(args)):
        return
    r = ctx.r
    for tag, raw in args:
        if tag is None or raw is None:
            break
        if tag == "errmsg":
            ctx.error_str = ctx.parse_string(raw)
        elif tag == "echomsg":
            ctx.echo_msg = ctx.parse_string(raw)
        elif tag == "timefmt":
            ctx.time_str = ctx.parse_string(raw)
            env = r.subprocess_env
            env["DATE_LOCAL"] = ht_time(r.request_time, ctx.time_str, False)
            env["DATE_GMT"] = ht_time(r.request_time, ctx.time_str, True)
            mtime = r.finfo.st_mtime if r.finfo is not None else 0.0
            if r.main is not None and r.ctx.get("ssi_parent") is not None:
                m = r.main
                mtime = m.finfo.st_mtime if m.finfo is not None else mtime
            env["LAST_MODIFIED"] = ht_time(mtime, ctx.time_str, False)
        elif tag == "sizefmt":
            v = ctx.parse_string(raw)
            if v == "bytes":
                ctx.flags |= SIZE_IN_BYTES
            elif v == "abbrev":
                ctx.flags &= ~SIZE_IN_BYTES
            else:
                ctx.log(ERROR, f"unknown value \"{v}\" to parameter \"sizefmt\" of tag config "
                               f"in {r.filename}")
                ctx.error()
                break
        else:
            ctx.log(ERROR, f"unknown parameter \"{tag}\" to tag config in {r.filename}")
            ctx.error()
            break


_CODINGS = ("none", "url", "urlencoded", "base64", "entity")


def _codings(v: str) -> list[str] | None:
    out = [c.strip().lower() for c in v.split(",")]
    return out if all(c in _CODINGS for c in out) else None


def handle_echo(ctx: IncludesFilter, args: Args) -> None:
    if not _prelude(ctx, args, "echo", bool(args)):
        return
    fn = ctx.r.filename
    encode = ["entity"]
    decode = ["none"]
    for tag, raw in args:
        if tag is None or raw is None:
            break
        val = ctx.decode(raw)
        if tag == "var":
            v = ctx.get_var(ctx.parse_string(val))
            if v is None:
                ctx.emit(_latin1(ctx.echo_msg))
                continue
            for d in decode:
                v = _decode(v, d)
            for e in encode:
                v = _encode(v, e)
            ctx.emit(_latin1(v))
        elif tag in ("encoding", "decoding"):
            c = _codings(val)
            if c is None:
                ctx.log(ERROR, f"unknown value \"{val}\" to parameter \"{tag}\" of tag echo "
                               f"in {fn}")
                ctx.error()
                break
            if tag == "encoding":
                encode = c
            else:
                decode = c
        else:
            ctx.log(ERROR, f"unknown parameter \"{tag}\" in tag echo of {fn}")
            ctx.error()
            break


def handle_set(ctx: IncludesFilter, args: Args) -> None:
    if not _prelude(ctx, args, "set", len(args) >= 2):
        return
    fn = ctx.r.filename
    var: str | None = None
    encode = ["none"]
    decode = ["none"]
    for tag, raw in args:
        if tag is None or raw is None:
            break
        val = ctx.decode(raw)
        if tag == "var":
            var = ctx.parse_string(val)
        elif tag == "value":
            if var is None:
                ctx.log(ERROR, f"variable must precede value in set directive in {fn}")
                ctx.error()
                break
            v = ctx.parse_string(val)
            for d in decode:
                v = _decode(v, d)
            for e in encode:
                v = _encode(v, e)
            ctx.set_var(var, v)
        elif tag in ("encoding", "decoding"):
            c = _codings(val)
            if c is None:
                ctx.log(ERROR, f"unknown value \"{val}\" to parameter \"{tag}\" of tag set "
                               f"in {fn}")
                ctx.error()
                break
            if tag == "encoding":
                encode = c
            else:
                decode = c
        else:
            ctx.log(ERROR, f"Invalid tag for set directive in {fn}")
            ctx.error()
            break


def handle_printenv(ctx: IncludesFilter, args: Args) -> None:
    fn = ctx.r.filename
    if args:
        ctx.log(ERROR if ctx.printing else WARN, f"printenv directive does not take tags in "
                                                 f"{fn}")
    if not ctx.printing:
        return
    if args:
        ctx.error()
        return
    parts = [f"{escape_html(k)}={escape_html(v)}\n"
             for k, v in ctx.r.subprocess_env.items() if v is not None]
    ctx.emit(_latin1("".join(parts)))


def handle_comment(ctx: IncludesFilter, args: Args) -> None:
    """2.4.21: <!--#comment ... --> outputs nothing."""


def _expr_of(ctx: IncludesFilter, args: Args, element: str) -> str | None:
    fn = ctx.r.filename
    tag, value = args[0]
    if tag != "expr":
        ctx.log(ERROR, f"unknown parameter \"{tag}\" to tag if in {fn}")
        ctx.error()
        return None
    if value is None:
        ctx.log(ERROR, f"missing expr value for if element in {fn}" if element == "if"
                else f"missing expr in elif statement: {fn}")
        ctx.error()
        return None
    return value


def _condition(ctx: IncludesFilter, expr: str, done: Callable[[bool], None]
               ) -> Awaitable[None] | None:
    """Evaluate; call done(result) (or emit the error). Async only for -A."""
    fn = ctx.r.filename or ""
    try:
        root, regex = expr_mod.parse(expr)
    except expr_mod.ExprError as e:
        ctx.log(ERROR, str(e).format(expr=expr, file=fn))
        ctx.error()
        return None
    acc = expr_mod.access_nodes(root)

    def run(results: dict[str, bool]) -> None:
        try:
            val = expr_mod.evaluate(root, regex, ctx.parse_string, ctx.re_check,
                                    lambda u: results.get(u, False))
        except expr_mod.ExprError as e:
            ctx.log(ERROR, str(e).format(expr=expr, file=fn))
            ctx.error()
            return
        done(val)

    if not acc:
        run({})
        return None
    return _with_access(ctx, acc, run)


async def _with_access(ctx: IncludesFilter, nodes: list[expr_mod.Node],
                       run: Callable[[dict[str, bool]], None]) -> None:
    """-A url: true when a sub-request for url passes the access checks (< 400)."""
    from featherd.core.http_request import lookup_uri

    results: dict[str, bool] = {}
    for nd in nodes:
        if nd.right is None or nd.right.value is None:
            continue
        url = ctx.parse_string(nd.right.value)
        if url in results:
            continue
        rr = await lookup_uri(ctx.r, url)
        results[url] = rr.status < 400
        if not results[url]:
            ctx.log(DEBUG, f"mod_include: The tested subrequest -A \"{url}\" returned an "
                           "error code.")
    run(results)


def _set_cond(ctx: IncludesFilter, val: bool) -> None:
    if val:
        ctx.flags |= PRINTING | COND_TRUE
    else:
        ctx.flags &= ~(PRINTING | COND_TRUE)


def handle_if(ctx: IncludesFilter, args: Args) -> Awaitable[None] | None:
    fn = ctx.r.filename
    if len(args) != 1:
        ctx.log(ERROR if ctx.printing else WARN,
                f"too many arguments for if element in {fn}" if args else
                f"missing expr argument for if element in {fn}")
    if not ctx.printing:
        ctx.if_nesting += 1
        return None
    if len(args) != 1:
        ctx.error()
        return None
    expr = _expr_of(ctx, args, "if")
    if expr is None:
        return None

    def done(val: bool) -> None:
        _set_cond(ctx, val)
        ctx.if_nesting = 0

    return _condition(ctx, expr, done)


def handle_elif(ctx: IncludesFilter, args: Args) -> Awaitable[None] | None:
    fn = ctx.r.filename
    if len(args) != 1:
        ctx.log(WARN if ctx.if_nesting else ERROR,
                f"too many arguments for if element in {fn}" if args else
                f"missing expr argument for if element in {fn}")
    if ctx.if_nesting:
        return None
    if len(args) != 1:
        ctx.error()
        return None
    expr = _expr_of(ctx, args, "elif")
    if expr is None:
        return None
    if ctx.flags & COND_TRUE:
        ctx.flags &= ~PRINTING
        return None
    return _condition(ctx, expr, lambda val: _set_cond(ctx, val))


def handle_else(ctx: IncludesFilter, args: Args) -> None:
    if args:
        ctx.log(WARN if ctx.if_nesting else ERROR,
                f"else directive does not take tags in {ctx.r.filename}")
    if ctx.if_nesting:
        return
    if args:
        if ctx.printing:
            ctx.error()
        return
    if ctx.flags & COND_TRUE:
        ctx.flags &= ~PRINTING
    else:
        ctx.flags |= PRINTING | COND_TRUE


def handle_endif(ctx: IncludesFilter, args: Args) -> None:
    if args:
        ctx.log(WARN if ctx.if_nesting else ERROR,
                f"endif directive does not take tags in {ctx.r.filename}")
    if ctx.if_nesting:
        ctx.if_nesting -= 1
        return
    if args:
        ctx.error()
        return
    ctx.flags |= PRINTING | COND_TRUE


# include, fsize, flastmod: sub-requests
def _relative_ok(path: str) -> str | None:
    """apr_filepath_merge(NOTABSOLUTE|NOTABOVEROOT): a relative path that stays at or
    below the document's directory, normalised; None otherwise."""
    if not path or path.startswith("/"):
        return None
    depth = 0
    segs: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            depth -= 1
            if depth < 0:
                return None
            segs.pop()
            continue
        depth += 1
        segs.append(seg)
    return "/".join(segs) if segs else None


async def _lookup_file(ctx: IncludesFilter, rel: str) -> Request:
    from featherd.core.http_request import lookup_file

    r = ctx.r
    base = os.path.dirname(r.filename or "/")
    return await lookup_file(r, os.path.join(base, rel))


async def find_file(ctx: IncludesFilter, element: str, tag: str, val: str
                    ) -> os.stat_result | None:
    from featherd.core.http_request import lookup_uri

    r = ctx.r
    fn = r.filename
    if tag == "file":
        rel = _relative_ok(val)
        if rel is None:
            ctx.log(ERROR, f"unable to access file \"{val}\" in parsed file {fn}")
            return None
        rr = await _lookup_file(ctx, rel)
        if rr.status == 200 and rr.finfo is not None:
            try:
                return os.stat(rr.filename or "")
            except OSError:
                ctx.log(ERROR, f"unable to get information about \"{rr.filename}\" in "
                               f"parsed file {fn}")
                return None
        ctx.log(ERROR, f"unable to lookup information about \"{val}\" in parsed file {fn}")
        return None
    if tag == "virtual":
        rr = await lookup_uri(r, val)
        if rr.status == 200 and rr.finfo is not None:
            return rr.finfo
        ctx.log(ERROR, f"unable to get information about \"{val}\" in parsed file {fn}")
        return None
    ctx.log(ERROR, f"unknown parameter \"{tag}\" to tag {element} in {fn}")
    return None


def _size_text(ctx: IncludesFilter, size: int) -> str:
    if not ctx.flags & SIZE_IN_BYTES:
        return strfsize(size)
    return f"{size:,}"


def handle_fsize(ctx: IncludesFilter, args: Args) -> Awaitable[None] | None:
    if not _prelude(ctx, args, "fsize", bool(args)):
        return None
    return _file_info(ctx, args, "fsize")


def handle_flastmod(ctx: IncludesFilter, args: Args) -> Awaitable[None] | None:
    if not _prelude(ctx, args, "flastmod", bool(args)):
        return None
    return _file_info(ctx, args, "flastmod")


async def _file_info(ctx: IncludesFilter, args: Args, element: str) -> None:
    for tag, raw in args:
        if tag is None or raw is None:
            break
        val = ctx.parse_string(ctx.decode(raw))
        st = await find_file(ctx, element, tag, val)
        if st is None:
            ctx.error()
            break
        if element == "fsize":
            ctx.emit(_size_text(ctx, st.st_size).encode("latin-1"))
        else:
            ctx.emit(_latin1(ht_time(st.st_mtime, ctx.time_str, False)))


def handle_include(ctx: IncludesFilter, args: Args) -> Awaitable[None] | None:
    if not _prelude(ctx, args, "include", bool(args)):
        return None
    return _include(ctx, args)


async def _include(ctx: IncludesFilter, args: Args) -> None:
    fn = ctx.r.filename
    failed = False
    for tag, raw in args:
        if tag is None or raw is None:
            break
        if tag not in ("virtual", "file", "onerror"):
            ctx.log(ERROR, f"unknown parameter \"{tag}\" to tag include in {fn}")
            ctx.error()
            return
        if tag == "onerror":
            if not failed:
                continue                 # 2.4: only after an include that failed
        elif failed:
            break                        # the last failure had no onerror
        val = ctx.decode(raw)
        failed = not await _include_one(ctx, "virtual" if tag == "onerror" else tag, val)
    if failed:
        ctx.error()


async def _include_one(ctx: IncludesFilter, tag: str, val: str) -> bool:
    from featherd.core.http_request import lookup_uri, run_sub_req

    r = ctx.r
    fn = r.filename
    parsed = ctx.parse_string(val)
    err: str | None = None
    rr: Request | None = None
    if tag == "file":
        rel = _relative_ok(parsed)
        if rel is None:
            err = "unable to include file \"{v}\" in parsed file {f}"
        else:
            rr = await _lookup_file(ctx, rel)
    else:
        rr = await lookup_uri(r, parsed)
    if err is None and rr is not None and rr.status != 200:
        err = "unable to include \"{v}\" in parsed file {f}"
    if err is None and rr is not None and ctx.no_exec and rr.content_type and \
            not rr.content_type.startswith("text/"):
        err = "unable to include potential exec \"{v}\" in parsed file {f}"
    if err is None and rr is not None and _recursive(r, rr):
        err = "Recursive include of \"{v}\" in parsed file {f}"
    if err is None and rr is not None:
        rr.ctx["ssi_parent"] = r
        rv = await run_sub_req(rr, sink=ctx.sink)
        if rv not in (OK, DONE):
            err = "unable to include \"{v}\" in parsed file {f}"
    if err is not None:
        ctx.log(ERROR, err.format(v=val, f=fn))
        return False
    return True


def _recursive(r: Request, rr: Request) -> bool:
    """The included document is one of the documents including it (or was redirected
    from one)."""
    p: Request | None = r
    while p is not None:
        q: Request | None = p
        while q is not None:
            if (q.filename and rr.filename and q.filename == rr.filename) or \
                    (q.uri.startswith("/") and q.uri == rr.uri):
                return True
            q = q.prev
        p = p.main
    return False


ELEMENTS: dict[str, Callable[[IncludesFilter, Args], Awaitable[None] | None]] = {
    "if": handle_if, "set": handle_set, "else": handle_else, "elif": handle_elif,
    "echo": handle_echo, "endif": handle_endif, "fsize": handle_fsize,
    "config": handle_config, "include": handle_include, "flastmod": handle_flastmod,
    "printenv": handle_printenv, "comment": handle_comment,
}
