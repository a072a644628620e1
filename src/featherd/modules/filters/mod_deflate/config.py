"""mod_deflate's configuration: the server and directory records, the module object and
the directive rows (Deflate*, DeflateInflate*, featherd's DeflateAlgorithms)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.filters.mod_deflate.codings import ALGORITHMS, available

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms

ERROR, WARN, INFO, DEBUG = 3, 4, 6, 7
DEFAULT_BUFFER_SIZE = 8096
DEFAULT_MEMLEVEL = 9              # MAX_MEM_LEVEL
DEFAULT_WINDOW = 15               # MAX_WBITS


@dataclass(slots=True)
class DeflateServerConfig:
    window_size: Any = UNSET
    buffer_size: Any = UNSET
    mem_level: Any = UNSET
    compression_level: Any = UNSET
    note_ratio: Any = UNSET
    note_input: Any = UNSET
    note_output: Any = UNSET
    alter_etag: Any = UNSET


@dataclass(slots=True)
class DeflateDirConfig:
    algorithms: Any = UNSET           # ((name, level | None), ...)
    inflate_limit: Any = UNSET
    ratio_limit: Any = UNSET
    ratio_burst: Any = UNSET


deflate = Module("deflate_module", "mod_deflate.c", server_config=DeflateServerConfig,
                 dir_config=DeflateDirConfig,
                 description="Compress content before it is delivered to the client")

RSRC = Context.RSRC


def _int(v: str) -> int:
    """atoi: the leading digits (0 when there are none)."""
    v = v.strip()
    n = ""
    for i, ch in enumerate(v):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            n += ch
        else:
            break
    try:
        return int(n)
    except ValueError:
        return 0


@deflate.directive("DeflateFilterNote", args=ArgSpec.TAKE12, context=RSRC,
                   syntax="DeflateFilterNote [type] notename",
                   help="Set a note to report on compression ratio")
def filter_note(cmd: CmdParms, conf: DeflateServerConfig, a: str, b: str | None) -> None:
    if b is None:
        conf.note_ratio = a
        return
    kind = a.lower()
    if kind == "ratio":
        conf.note_ratio = b
    elif kind == "input":
        conf.note_input = b
    elif kind == "output":
        conf.note_output = b
    else:
        raise DirectiveError(f"Unknown note type {a}")


@deflate.directive("DeflateWindowSize", args=ArgSpec.TAKE1, context=RSRC,
                   syntax="DeflateWindowSize value",
                   help="Set the Deflate window size (1-15)")
def window_size(cmd: CmdParms, conf: DeflateServerConfig, v: str) -> None:
    i = _int(v)
    if i < 1 or i > 15:
        raise DirectiveError("DeflateWindowSize must be between 1 and 15")
    conf.window_size = i


@deflate.directive("DeflateBufferSize", args=ArgSpec.TAKE1, context=RSRC,
                   syntax="DeflateBufferSize value",
                   help="Set the Deflate Buffer Size")
def buffer_size(cmd: CmdParms, conf: DeflateServerConfig, v: str) -> None:
    n = _int(v)
    if n <= 0:
        raise DirectiveError("DeflateBufferSize should be positive")
    conf.buffer_size = n


@deflate.directive("DeflateMemLevel", args=ArgSpec.TAKE1, context=RSRC,
                   syntax="DeflateMemLevel value",
                   help="Set the Deflate Memory Level (1-9)")
def mem_level(cmd: CmdParms, conf: DeflateServerConfig, v: str) -> None:
    i = _int(v)
    if i < 1 or i > 9:
        raise DirectiveError("DeflateMemLevel must be between 1 and 9")
    conf.mem_level = i


@deflate.directive("DeflateCompressionLevel", args=ArgSpec.TAKE1, context=RSRC,
                   syntax="DeflateCompressionLevel value",
                   help="Set the Deflate Compression Level (1-9)")
def compression_level(cmd: CmdParms, conf: DeflateServerConfig, v: str) -> None:
    i = _int(v)
    if i < 1 or i > 9:
        raise DirectiveError("Compression Level must be between 1 and 9")
    conf.compression_level = i


@deflate.directive("DeflateAlterETag", args=ArgSpec.TAKE1, context=RSRC,
                   syntax="DeflateAlterETag AddSuffix|NoChange|Remove",
                   help="Set how mod_deflate should modify ETAG response headers: "
                        "'AddSuffix' (2.4's default), 'NoChange' (2.2.x behavior, "
                        "featherd's default), 'Remove'")
def alter_etag(cmd: CmdParms, conf: DeflateServerConfig, v: str) -> None:
    low = v.lower()
    if low not in ("addsuffix", "nochange", "remove"):
        raise DirectiveError("DeflateAlterETag accepts only 'NoChange', 'AddSuffix', "
                             "and 'Remove'")
    conf.alter_etag = low


@deflate.directive("DeflateInflateLimitRequestBody", args=ArgSpec.TAKE1,
                   context=Context.ALL_DIR, override=Override.ALL,
                   syntax="DeflateInflateLimitRequestBody value",
                   help="Set a limit on size of inflated input")
def inflate_limit(cmd: CmdParms, conf: DeflateDirConfig, v: str) -> None:
    try:
        n = int(v)
    except ValueError:
        raise DirectiveError("DeflateInflateLimitRequestBody is invalid") from None
    if n < 0:
        raise DirectiveError("DeflateInflateLimitRequestBody must be positive")
    conf.inflate_limit = n


@deflate.directive("DeflateInflateRatioLimit", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                   override=Override.ALL, syntax="DeflateInflateRatioLimit value",
                   help="Set the inflation ratio limit above which inflation is aborted "
                        "(default: 200)")
def ratio_limit(cmd: CmdParms, conf: DeflateDirConfig, v: str) -> None:
    i = _int(v)
    if i <= 0:
        raise DirectiveError("DeflateInflateRatioLimit must be positive")
    conf.ratio_limit = i


@deflate.directive("DeflateInflateRatioBurst", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                   override=Override.ALL, syntax="DeflateInflateRatioBurst value",
                   help="Set the maximum number of following inflation ratios above limit "
                        "(default: 3)")
def ratio_burst(cmd: CmdParms, conf: DeflateDirConfig, v: str) -> None:
    i = _int(v)
    if i <= 0:
        raise DirectiveError("DeflateInflateRatioBurst must be positive")
    conf.ratio_burst = i


@deflate.directive("DeflateAlgorithms", args=ArgSpec.TAKE_ARGV, context=Context.ALL_DIR,
                   override=Override.FILEINFO,
                   syntax="DeflateAlgorithms coding[=level] [coding[=level]] ...",
                   help="Content codings the DEFLATE filter may answer with, in order of "
                        "preference: gzip, br (Brotli), zstd (Zstandard); the client's "
                        "Accept-Encoding q-values choose, ties go to this order. "
                        "'br=5' sets the Brotli quality (0-11), 'zstd=3' the Zstandard "
                        "level (1-22), 'gzip=6' a zlib level for gzip. featherd only; "
                        "default gzip")
def algorithms(cmd: CmdParms, conf: DeflateDirConfig, words: list[str]) -> None:
    if not words:
        raise DirectiveError("DeflateAlgorithms requires at least one argument")
    out: list[tuple[str, int | None]] = []
    for word in words:
        name, eq, lvl = word.partition("=")
        name = name.lower()
        if name not in ALGORITHMS:
            raise DirectiveError(f"DeflateAlgorithms: unknown coding '{name}' (use gzip, "
                                 "br or zstd)")
        level: int | None = None
        if eq:
            lo, hi = {"gzip": (1, 9), "br": (0, 11), "zstd": (1, 22)}[name]
            try:
                level = int(lvl)
            except ValueError:
                level = -1
            if not lo <= level <= hi:
                raise DirectiveError(f"DeflateAlgorithms: the level of {name} must be "
                                     f"between {lo} and {hi}")
        if not available(name):
            pkg = "brotli" if name == "br" else "zstandard"
            cmd.warn(f"DeflateAlgorithms: {name} needs the Python package '{pkg}' "
                     f"(pip install {pkg}); it is not offered")
            continue
        out = [a for a in out if a[0] != name]
        out.append((name, level))
    conf.algorithms = tuple(out)


def _v(x: Any, default: Any) -> Any:
    return default if x is UNSET else x
