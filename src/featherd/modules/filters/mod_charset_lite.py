"""mod_charset_lite: character set translation (Apache 2.2's mod_charset_lite.c).

``CharsetSourceEnc charset`` names the charset of the documents (files, CGI and SSI
output), ``CharsetDefault charset`` the one to send; with both set and different, the
fixups phase prepares a translation and the XLATEOUT output filter is added at
insert-filter time (``CharsetOptions ImplicitAdd``, the default) unless already
configured (``NoImplicitAdd``: place it yourself with ``SetOutputFilter XLATEOUT``). A
PUT or POST body is translated the other way by XLATEIN. Only text/* and message/*
responses are translated, unless ``CharsetOptions TranslateAllMimeTypes`` (2.2.?+);
``DebugLevel=n`` (2.2) logs what the module decides. Charset names are those Python's
codecs know (ISO-8859-1, UTF-8, KOI8-R, EBCDIC code pages as cp037/cp500...).

A multi-byte character split between two buckets is put together; an invalid byte ends
the response with "xlate filter - an input character was invalid" (a 500 when nothing
was sent yet), an incomplete character at the end with "xlate filter - incomplete char
at end of input - XX". Content-Length goes when the translation is not single-byte to
single-byte (the protocol stage recomputes it when the body is complete).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.hooks import DECLINED, MIDDLE, REALLY_LAST
from featherd.core.module import Module
from featherd.errors import DirectiveError, HTTPError
from featherd.filters.buckets import EOS, FLUSH
from featherd.filters.chain import FTYPE_RESOURCE, add_output_filter
from featherd.filters.input import add_input_filter
from featherd.modules.filters.streaming import close_buckets, pieces

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

ERROR, DEBUG = 3, 7
DBGLVL_PMC = 2          # print module config
DBGLVL_FLOW = 4         # the filter's decisions
DBGLVL_GORY = 9


@dataclass(slots=True)
class CharsetConfig:
    source: Any = UNSET
    default: Any = UNSET
    implicit_add: Any = UNSET        # True (ImplicitAdd) / False
    force_xlate: Any = UNSET
    debug: Any = UNSET


charset_lite = Module("charset_lite_module", "mod_charset_lite.c", dir_config=CharsetConfig,
                      description="Specify character set translation or recoding")

_CTX = Context.ALL_DIR
_OVR = Override.FILEINFO


@charset_lite.directive("CharsetSourceEnc", args=ArgSpec.TAKE1, context=_CTX, override=_OVR,
                        syntax="CharsetSourceEnc charset",
                        help="source (html,cgi,ssi) file charset")
def charset_source(cmd: CmdParms, conf: CharsetConfig, name: str) -> None:
    conf.source = name


@charset_lite.directive("CharsetDefault", args=ArgSpec.TAKE1, context=_CTX, override=_OVR,
                        syntax="CharsetDefault charset",
                        help="name of default charset")
def charset_default(cmd: CmdParms, conf: CharsetConfig, name: str) -> None:
    conf.default = name


@charset_lite.directive("CharsetOptions", args=ArgSpec.ITERATE, context=_CTX, override=_OVR,
                        syntax="CharsetOptions option [option] ...",
                        help="valid options: ImplicitAdd, NoImplicitAdd, "
                             "TranslateAllMimeTypes, NoTranslateAllMimeTypes, DebugLevel=n")
def charset_options(cmd: CmdParms, conf: CharsetConfig, flag: str) -> None:
    low = flag.lower()
    if low == "implicitadd":
        conf.implicit_add = True
    elif low == "noimplicitadd":
        conf.implicit_add = False
    elif low == "translateallmimetypes":
        conf.force_xlate = True
    elif low == "notranslateallmimetypes":
        conf.force_xlate = False
    elif low.startswith("debuglevel="):
        try:
            conf.debug = int(flag[11:])
        except ValueError:
            conf.debug = 0
    else:
        raise DirectiveError(f"Invalid CharsetOptions option: {flag}")


def _debug(conf: CharsetConfig) -> int:
    return conf.debug if conf.debug is not UNSET else 0


def _codec(name: str) -> codecs.CodecInfo | None:
    try:
        return codecs.lookup(name)
    except LookupError:
        return None


def _single_byte(info: codecs.CodecInfo) -> bool:
    name = info.name
    return not any(x in name for x in ("utf", "16", "32", "euc", "jis", "gb", "big5", "hz",
                                       "johab", "kr", "cp9", "mbcs", "idna", "punycode"))


class Translator:
    """An incremental from → to translation (apr_xlate)."""

    def __init__(self, frm: codecs.CodecInfo, to: codecs.CodecInfo) -> None:
        self.dec = frm.incrementaldecoder("strict")
        self.enc = to.incrementalencoder("strict")
        self.is_sb = _single_byte(frm) and _single_byte(to)

    def feed(self, data: bytes, final: bool = False) -> bytes:
        text = self.dec.decode(data, final)
        return self.enc.encode(text, final)  # type: ignore[no-any-return]

    def pending(self) -> bytes:
        buf, _ = self.dec.getstate()
        return buf  # type: ignore[no-any-return]


def _translation(r: Request, conf: CharsetConfig, frm: str, to: str) -> Translator | None:
    a, b = _codec(frm), _codec(to)
    if a is None or b is None:
        r.log_error(ERROR, f"can't open translation {frm}->{to}")
        return None
    return Translator(a, b)


@charset_lite.hook("fixups", order=MIDDLE, needs=True)
def find_code_page(r: Request) -> int:
    conf: CharsetConfig | None = r.per_dir_config[charset_lite.index]
    if conf is None:
        return DECLINED
    dbg = _debug(conf)
    if dbg >= DBGLVL_FLOW:
        r.log_error(DEBUG, f"uri: {r.uri} file: {r.filename or '(none)'} method: {r.method} "
                           f"imt: {r.content_type or '(unknown)'} flags: "
                           f"{'S' if r.main else ''}{'R' if r.prev else ''} "
                           f"{_v(conf.source)}->{_v(conf.default)}")
    if conf.source is UNSET or conf.default is UNSET:
        if dbg >= DBGLVL_PMC and (conf.source is not UNSET or conf.default is not UNSET):
            r.log_error(DEBUG, f"incomplete configuration: src {_v(conf.source, 'unspecified')}"
                               f", dst {_v(conf.default, 'unspecified')}")
        return DECLINED
    fn = r.filename or ""
    if fn.startswith(("redirect:", "gone:", "passthrough:", "forbidden:")):
        return DECLINED
    if conf.source.lower() == conf.default.lower():
        return DECLINED
    r.ctx["xlate_out"] = True
    if r.method in ("PUT", "POST"):
        tr = _translation(r, conf, conf.default, conf.source)
        if tr is None:
            return 500
        r.ctx["xlate_in"] = tr
    return DECLINED


def _v(x: Any, default: str = "(none)") -> str:
    return default if x is UNSET else str(x)


@charset_lite.hook("insert_filter", order=REALLY_LAST, needs=True)
def xlate_insert_filter(r: Request) -> None:
    conf: CharsetConfig | None = r.per_dir_config[charset_lite.index]
    if conf is None:
        return
    if conf.implicit_add is False:
        if _debug(conf) >= DBGLVL_GORY:
            r.log_error(DEBUG, "xlate output filter not added implicitly because "
                               "CharsetOptions included 'NoImplicitAdd'")
        return
    if r.ctx.get("xlate_out"):
        add_output_filter(r, "XLATEOUT")
    if r.ctx.get("xlate_in") is not None and r.body is not None:
        add_input_filter(r, "XLATEIN")


def _error_text(kind: str, partial: bytes = b"") -> str:
    if kind == "incomplete":
        return "xlate filter - incomplete char at end of input - " + \
            "".join(f"{c:02X}" for c in partial)
    return "xlate filter - an input character was invalid"


@charset_lite.output_filter("XLATEOUT", FTYPE_RESOURCE)
class XlateOutFilter:
    """xlate_out_filter."""

    def __init__(self, r: Request) -> None:
        self.state: str | None = None       # "noop", "run", "done"
        self.tr: Translator | None = None

    def _setup(self, r: Request) -> str:
        conf: CharsetConfig = r.per_dir_config[charset_lite.index]
        if not r.ctx.pop("xlate_out", None):
            return "noop"
        mt = r.content_type
        low = (mt or "").lower()
        if not (mt and (low.startswith("text/") or low.startswith("message/")
                        or conf.force_xlate is True)):
            if mt and _debug(conf) >= DBGLVL_GORY:
                r.log_error(DEBUG, f"mime type is {mt}; no translation selected")
            return "noop"
        tr = _translation(r, conf, conf.source, conf.default)
        if tr is None:
            return "noop"
        self.tr = tr
        if _debug(conf) >= DBGLVL_GORY:
            r.log_error(DEBUG, f"xlate_out_filter() - charset_source: {conf.source} "
                               f"charset_default: {conf.default}")
        if not tr.is_sb:
            r.headers_out.unset("Content-Length")
        return "run"

    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        if self.state is None:
            if not bb:
                return bb
            self.state = self._setup(r)
        if self.state == "noop":
            return bb
        if self.state == "done":
            close_buckets(bb)
            return []
        tr = self.tr
        assert tr is not None
        out: list[Any] = []
        for i, b in enumerate(bb):
            if b is FLUSH:
                out.append(b)
                continue
            if b is EOS:
                left = tr.pending()
                if left:
                    return self._fail(r, out, bb[i + 1:], _error_text("incomplete", left))
                out.append(EOS)
                self.state = "done"
                close_buckets(bb[i + 1:])
                break
            for piece in pieces(b):
                try:
                    data = tr.feed(piece)
                except (UnicodeDecodeError, UnicodeEncodeError):
                    return self._fail(r, out, bb[i + 1:], _error_text("bad"))
                if data:
                    out.append(data)
        return out

    def _fail(self, r: Request, out: list[Any], rest: list[Any], msg: str) -> list[Any]:
        close_buckets(rest)
        self.state = "done"
        r.log_error(ERROR, msg)
        r.connection.must_close = True
        if not r.sent_headers and r.main is None:
            from featherd.core.http_request import send_error_response

            send_error_response(r, 500)
            return []
        return [*out, EOS]


@charset_lite.input_filter("XLATEIN", FTYPE_RESOURCE)
class XlateInFilter:
    """xlate_in_filter: the request body from CharsetDefault to CharsetSourceEnc."""

    def __init__(self, r: Request) -> None:
        self.tr: Translator | None = None
        self.state: str | None = None

    async def read(self, r: Request, nxt: Any, want: int) -> bytes:
        if self.state is None:
            self.tr = r.ctx.pop("xlate_in", None)
            self.state = "run" if self.tr is not None else "noop"
        if self.state == "noop":
            return await nxt(want)  # type: ignore[no-any-return]
        tr = self.tr
        assert tr is not None
        while True:
            data = await nxt(want)
            if not data:
                left = tr.pending()
                if left:
                    r.log_error(ERROR, _error_text("incomplete", left))
                    raise HTTPError(400, None)
                return b""
            try:
                out = tr.feed(data)
            except (UnicodeDecodeError, UnicodeEncodeError):
                r.log_error(ERROR, _error_text("bad"))
                raise HTTPError(400, None) from None
            if out:
                return out


__all__ = ["CharsetConfig", "Translator", "XlateInFilter", "XlateOutFilter", "charset_lite"]
