"""mod_deflate: the DEFLATE and INFLATE output filters and the DEFLATE input filter.

As Apache 2.2's mod_deflate.c:

* ``DEFLATE`` (output, CONTENT_SET) compresses the response for clients whose
  Accept-Encoding names the coding, as ``SetOutputFilter DEFLATE``,
  ``AddOutputFilterByType DEFLATE text/html`` or ``AddOutputFilter DEFLATE .html`` put it
  on a response. It steps aside for sub-requests, with the ``no-gzip`` environment
  variable (set by ``BrowserMatch``), for anything but text/html when
  ``gzip-only-text/html`` is "1", for a Content-Range, for a body that already has a
  Content-Encoding other than identity (no double compression), for 204 and 304, and for
  an empty body. ``Vary: Accept-Encoding`` is added once those checks pass, whether or not
  this client gets a compressed body; ``force-gzip`` compresses regardless of
  Accept-Encoding. Content-Length and Content-MD5 are dropped (the protocol stage
  computes a new length when the compressed body is complete in one brigade, else it is
  chunked). The ETag is left alone, as 2.2 does (2.4 appends "-gzip": that is
  ``DeflateAlterETag AddSuffix``).
* The body is compressed brigade by brigade with a zlib stream; a FLUSH, or the end of
  a brigade that leaves more to come (a CGI between two writes: Apache's core adds a
  FLUSH when reading the script's pipe would block), flushes it so the client gets
  what there is; a big file's output goes on in pieces of ``DeflateBufferSize`` bytes. A big file is read in pieces in
  a task that waits for the client to take each one, so no body is held whole.
  ``DeflateCompressionLevel``, ``DeflateMemLevel`` and ``DeflateWindowSize`` are zlib's
  parameters; ``DeflateFilterNote`` puts the input and output sizes (of the deflate stream,
  without the gzip header and trailer) and their ratio in percent in ``r.notes`` for
  ``%{name}n`` in a LogFormat.
* ``INFLATE`` (output) decompresses a gzip'd response body (for a client that can't take
  it, or to filter it further); ``DEFLATE`` as an input filter (``SetInputFilter``)
  inflates a request body sent with ``Content-Encoding: gzip`` before a handler reads it,
  within ``DeflateInflateLimitRequestBody`` (413) and ``DeflateInflateRatioLimit``/
  ``Burst`` (2.4's guards against decompression bombs; the limit defaults to
  LimitRequestBody); a body that can't be decoded is a 400. Its Content-Encoding and
  Content-Length are removed when the filter is put in place, before the handler runs
  (Apache does it at the first read, after mod_cgi has passed the coded length on).

Beyond Apache: ``DeflateAlgorithms gzip br zstd`` (default ``gzip``) lets the same filter
answer with Brotli (the ``brotli`` package) or Zstandard (``zstandard``), the coding being
the one with the highest q-value in Accept-Encoding, ties going to the order of the
directive; ``name=level`` sets a level for one of them. A coding with ``q=0`` is refused,
as RFC 9110 says (Apache's 2.4 does the same for gzip); like Apache, only a coding named
in Accept-Encoding is used ("*" and "x-gzip" are not taken for gzip).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.module import Module
from featherd.errors import DirectiveError, HTTPError
from featherd.filters.buckets import EOS, FLUSH, FileBucket, bucket_len
from featherd.filters.chain import FTYPE_CONTENT_SET, FTYPE_RESOURCE
from featherd.modules.filters.streaming import AsyncFilter, close_buckets, pieces

try:
    import brotli
except ImportError:   # pragma: no cover - optional dependency ("compression" extra)
    brotli = None
try:
    import zstandard
except ImportError:   # pragma: no cover
    zstandard = None

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

ERROR, WARN, INFO, DEBUG = 3, 4, 6, 7
DEFAULT_BUFFER_SIZE = 8096
DEFAULT_MEMLEVEL = 9              # MAX_MEM_LEVEL
DEFAULT_WINDOW = 15               # MAX_WBITS
ASYNC_FILE = 256 * 1024           # file buckets bigger than this are read in a task
GZIP_HEADER = bytes((0x1F, 0x8B, zlib.DEFLATED, 0, 0, 0, 0, 0, 0, 3))   # OS_CODE unix
IDENTITY = frozenset(("identity", "7bit", "8bit", "binary"))
DEFAULT_LEVELS = {"br": 5, "zstd": 3}
ALGORITHMS = ("gzip", "br", "zstd")


def available(name: str) -> bool:
    return name == "gzip" or (name == "br" and brotli is not None) or \
        (name == "zstd" and zstandard is not None)


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


# --- helpers ----------------------------------------------------------------------------
def parse_accept_encoding(value: str) -> dict[str, float]:
    """Accept-Encoding as {coding: q}; the first mention of a coding counts."""
    out: dict[str, float] = {}
    for part in value.split(","):
        tok, *params = part.split(";")
        tok = tok.strip(" \t").lower()
        if not tok:
            continue
        q = 1.0
        for p in params:
            k, _, v = p.strip(" \t").partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v.strip(" \t\""))
                except ValueError:
                    q = 0.0
                q = min(max(q, 0.0), 1.0)
        out.setdefault(tok, q)
    return out


def choose_coding(accept: str, algos: tuple[tuple[str, int | None], ...]) -> str | None:
    """The configured coding the client takes with the highest q (None: identity)."""
    acc = parse_accept_encoding(accept)
    best: str | None = None
    best_q = 0.0
    for name, _ in algos:
        q = acc.get(name, 0.0)
        if q > best_q:
            best, best_q = name, q
    return best


def merge_vary(r: Request, token: str) -> None:
    """apr_table_mergen(headers_out, "Vary", token), without repeating the token."""
    cur = r.headers_out.get("Vary")
    if cur is None:
        r.headers_out.set("Vary", token)
        return
    if token.lower() not in {t.strip().lower() for t in cur.split(",")}:
        r.headers_out.set("Vary", f"{cur}, {token}")


def _tokens(enc: str) -> list[str]:
    return [t.strip(" \t") for t in enc.split(",")]


def outer_coding(r: Request, hdrs: Any, hdrs2: Any) -> str | None:
    """check_gzip: if the outermost (last non-identity) content coding is one we can
    decode, remove it from where it was set and return it (gzip, br or zstd)."""
    enc = hdrs.get("Content-Encoding")
    where = hdrs
    if not enc and hdrs2 is not None:
        enc = hdrs2.get("Content-Encoding")
        where = hdrs2
        if not enc:
            enc = r.content_encoding
            where = None
    if not enc:
        return None
    toks = [t for t in _tokens(enc)]
    while toks and (not toks[-1] or toks[-1].lower() == "identity"):
        toks.pop()
    if not toks:
        return None
    last = toks[-1].lower()
    coding = "gzip" if last in ("gzip", "x-gzip") else last
    if coding not in ALGORITHMS or not available(coding):
        return None
    rest = ",".join(toks[:-1]) or None
    if where is None:
        r.content_encoding = rest
    else:
        if rest is None:
            where.unset("Content-Encoding")
        else:
            where.set("Content-Encoding", rest)
        if r.content_encoding:
            r.content_encoding = None
    return coding


class Compressor:
    """One content coding's streaming compressor: compress / flush / finish."""

    def __init__(self, coding: str, level: int, wbits: int, memlevel: int) -> None:
        self.coding = coding
        self.total_in = 0
        self.total_out = 0                 # the coded stream, without gzip's framing
        self.crc = 0
        if coding == "gzip":
            self.z: Any = zlib.compressobj(level, zlib.DEFLATED, -wbits, memlevel)
            self.head = GZIP_HEADER
        elif coding == "br":
            self.z = brotli.Compressor(quality=level)
            self.head = b""
        else:
            self.z = zstandard.ZstdCompressor(level=level).compressobj()
            self.head = b""

    def compress(self, data: bytes) -> bytes:
        self.total_in += len(data)
        if self.coding == "gzip":
            self.crc = zlib.crc32(data, self.crc)
            out = self.z.compress(data)
        elif self.coding == "br":
            out = self.z.process(data)
        else:
            out = self.z.compress(data)
        self.total_out += len(out)
        return out  # type: ignore[no-any-return]

    def flush(self) -> bytes:
        if self.coding == "gzip":
            out = self.z.flush(zlib.Z_SYNC_FLUSH)
        elif self.coding == "br":
            out = self.z.flush()
        else:
            out = self.z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        self.total_out += len(out)
        return out  # type: ignore[no-any-return]

    def finish(self) -> bytes:
        if self.coding == "gzip":
            out = self.z.flush(zlib.Z_FINISH)
            self.total_out += len(out)
            return out + struct.pack("<II", self.crc & 0xFFFFFFFF,   # type: ignore[no-any-return]
                                     self.total_in & 0xFFFFFFFF)
        out = self.z.finish() if self.coding == "br" else self.z.flush()
        self.total_out += len(out)
        return out  # type: ignore[no-any-return]


class Decompressor:
    """Streaming decoder for gzip, br or zstd."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        if coding == "gzip":
            self.z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "br":
            self.z = brotli.Decompressor()
        else:
            self.z = zstandard.ZstdDecompressor().decompressobj()

    def decompress(self, data: bytes) -> bytes:
        if self.coding == "gzip":
            if self.z.eof:
                return b""                # data after the gzip member is ignored
            return self.z.decompress(data)  # type: ignore[no-any-return]
        if self.coding == "br":
            return self.z.process(data)  # type: ignore[no-any-return]
        if self.z.eof:
            return b""                    # data after the zstd frame is ignored
        return self.z.decompress(data)  # type: ignore[no-any-return]

    @property
    def complete(self) -> bool:
        if self.coding == "gzip":
            return bool(self.z.eof)
        if self.coding == "br":
            return bool(self.z.is_finished())
        return bool(self.z.eof)


def _errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [zlib.error, ValueError]
    if brotli is not None:
        errs.append(brotli.error)
    if zstandard is not None:
        errs.append(zstandard.ZstdError)
    return tuple(errs)


DECODE_ERRORS = _errors()


def _v(x: Any, default: Any) -> Any:
    return default if x is UNSET else x


# --- DEFLATE (output) ---------------------------------------------------------------------
PASS = "pass"
RUN = "run"


@deflate.output_filter("DEFLATE", FTYPE_CONTENT_SET)
class DeflateFilter(AsyncFilter):
    """deflate_out_filter."""

    def __init__(self, r: Request) -> None:
        super().__init__(r)
        self.mode: str | None = None
        self.comp: Compressor | None = None
        self.out: list[bytes] = []
        self.out_len = 0
        self.buffer_size = DEFAULT_BUFFER_SIZE

    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        if self.mode is None:
            if not bb:
                return bb
            self.mode = self._setup(r, bb)
        if self.mode is PASS:
            return bb
        return super().filter(r, bb)

    # -- the checks of deflate_out_filter's first call ---------------------------------
    def _setup(self, r: Request, bb: list[Any]) -> str:
        env = r.subprocess_env
        if r.main is not None or "no-gzip" in env or "Content-Range" in r.headers_out:
            return PASS
        for b in bb:       # an empty body: nothing to compress (as 2.4 does)
            if b is EOS:
                return PASS
            if b is FLUSH or not bucket_len(b):
                continue
            break
        ct = r.content_type
        if (ct is None or not ct.startswith("text/html")) and \
                env.get("gzip-only-text/html") == "1":
            return PASS
        enc = r.headers_out.get("Content-Encoding")
        err_enc = r.err_headers_out.get("Content-Encoding")
        if enc and err_enc:
            enc = f"{enc},{err_enc}"
        elif not enc:
            enc = err_enc
        if r.content_encoding:
            enc = f"{enc},{r.content_encoding}" if enc else r.content_encoding
        if enc:
            for tok in _tokens(enc):
                if tok and tok not in IDENTITY:
                    return PASS
        merge_vary(r, "Accept-Encoding")
        dc: DeflateDirConfig = r.per_dir_config[deflate.index]
        algos = _v(dc.algorithms, (("gzip", None),))
        if "force-gzip" in env:
            coding: str | None = "gzip"
        else:
            accepts = r.headers_in.get("Accept-Encoding")
            if accepts is None:
                return PASS
            coding = choose_coding(accepts, algos)
            if coding is None:
                return PASS
        if r.status in (304, 204):
            return PASS
        sc: DeflateServerConfig = r.server.module_config[deflate.index]
        self.buffer_size = _v(sc.buffer_size, DEFAULT_BUFFER_SIZE)
        level = dict(algos).get(coding)
        if level is None:
            level = _v(sc.compression_level, -1) if coding == "gzip" else \
                DEFAULT_LEVELS[coding]
        try:
            self.comp = Compressor(coding, level, _v(sc.window_size, DEFAULT_WINDOW),
                                   _v(sc.mem_level, DEFAULT_MEMLEVEL))
        except (ValueError, zlib.error):
            r.log_error(ERROR, f"unable to init Zlib: deflateInit2 returned -2: URL {r.uri}")
            return PASS
        self._add(self.comp.head)
        if not enc or enc.lower() == "identity":
            r.headers_out.set("Content-Encoding", coding)
        else:
            r.headers_out.merge("Content-Encoding", coding)
        if r.content_encoding:
            r.content_encoding = r.headers_out.get("Content-Encoding")
        r.headers_out.unset("Content-Length")
        r.headers_out.unset("Content-MD5")
        alter = _v(sc.alter_etag, "nochange")
        etag = r.headers_out.get("ETag")
        if etag and alter == "remove":
            r.headers_out.unset("ETag")
        elif etag and alter == "addsuffix":
            r.headers_out.set("ETag", etag[:-1] + f"-{coding}\"" if etag.endswith('"')
                              else f"{etag}-{coding}")
        return RUN

    # -- compressing ------------------------------------------------------------------
    def _add(self, data: bytes) -> None:
        if data:
            self.out.append(data)
            self.out_len += len(data)

    def _take(self) -> list[Any]:
        if not self.out:
            return []
        data = self.out[0] if len(self.out) == 1 else b"".join(self.out)
        self.out = []
        self.out_len = 0
        return [data]

    def _finish(self) -> list[Any]:
        comp = self.comp
        assert comp is not None
        self._add(comp.finish())
        sc: DeflateServerConfig = self.r.server.module_config[deflate.index]
        notes = self.r.notes
        if sc.note_ratio is not UNSET:
            notes[sc.note_ratio] = str(comp.total_out * 100 // comp.total_in) \
                if comp.total_in else "-"
        if sc.note_input is not UNSET:
            notes[sc.note_input] = str(comp.total_in)
        if sc.note_output is not UNSET:
            notes[sc.note_output] = str(comp.total_out)
        return [*self._take(), EOS]

    def _bucket(self, b: Any) -> list[Any]:
        """One bucket in; what must go down now (at EOS, FLUSH or a full buffer)."""
        comp = self.comp
        assert comp is not None
        if b is EOS:
            return self._finish()
        if b is FLUSH:
            self._add(comp.flush())
            return [*self._take(), FLUSH]
        for piece in pieces(b, max(self.buffer_size, 8192)):
            self._add(comp.compress(piece))
        return []

    def quick(self, r: Request, bb: list[Any]) -> list[Any] | None:
        if any(isinstance(b, FileBucket) and b.length > ASYNC_FILE for b in bb):
            if r.header_only:
                # HEAD: a body this big would go out chunked, without a length to tell
                close_buckets(bb)
                if bb and bb[-1] is EOS:
                    self.finished = True
                    return [EOS]
                return []
            return None          # read in a task, waiting for the client
        out: list[Any] = []
        data = False
        for b in bb:
            if b is not EOS and b is not FLUSH and bucket_len(b):
                data = True
            out.extend(self._bucket(b))
            if b is EOS:
                self.finished = True
                break
        if data and not (out and out[-1] in (EOS, FLUSH)):
            # the handler will wait before its next brigade (a CGI between writes): what
            # this one brought goes out now, as after the FLUSH Apache's core adds when
            # reading a pipe would block
            assert self.comp is not None
            self._add(self.comp.flush())
            out.extend(self._take())
        return out

    def _full(self) -> list[Any]:
        """The output so far in pieces of exactly DeflateBufferSize; the rest waits."""
        data = b"".join(self.out)
        size = self.buffer_size
        n = len(data) - len(data) % size
        rest = data[n:]
        self.out = [rest] if rest else []
        self.out_len = len(rest)
        return [data[i:i + size] for i in range(0, n, size)]

    async def work(self, bb: list[Any]) -> None:
        comp = self.comp
        assert comp is not None
        for b in bb:
            if isinstance(b, FileBucket) and b.length > ASYNC_FILE:
                for piece in pieces(b):
                    self._add(comp.compress(piece))
                    if self.out_len >= self.buffer_size:
                        self.down(self._full())
                        await self.drain()
                        if self.r.connection.transport_closed:
                            close_buckets(bb)
                            self.finished = True
                            return
                continue
            out = self._bucket(b)
            if out:
                self.down(out)
            if b is EOS:
                return
        if self.out_len >= self.buffer_size:
            self.down(self._full())


# --- INFLATE (output) ---------------------------------------------------------------------
@deflate.output_filter("INFLATE", FTYPE_RESOURCE - 1)
class InflateFilter:
    """inflate_out_filter: decode a gzip (br, zstd) response body."""

    def __init__(self, r: Request) -> None:
        self.mode: str | None = None
        self.dec: Decompressor | None = None

    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        if self.mode is None:
            if not bb:
                return bb
            self.mode = PASS
            if r.main is not None or r.prev is not None or "Content-Range" in r.headers_out:
                return bb
            coding = outer_coding(r, r.headers_out, r.err_headers_out)
            if coding is None or bb[0] is EOS:
                return bb
            r.headers_out.unset("Content-Length")
            r.headers_out.unset("Content-MD5")
            self.dec = Decompressor(coding)
            self.mode = RUN
        if self.mode is PASS:
            return bb
        dec = self.dec
        assert dec is not None
        out: list[Any] = []
        for b in bb:
            if b is EOS or b is FLUSH:
                out.append(b)
                if b is EOS:
                    self.mode = PASS
                    if not dec.complete:
                        r.log_error(ERROR, "Zlib error -5 inflating data (incomplete "
                                           f"compressed stream) for {r.uri}")
                continue
            for piece in pieces(b):
                try:
                    data = dec.decompress(piece)
                except DECODE_ERRORS as e:
                    r.log_error(ERROR, f"Zlib error -3 inflating data ({e})")
                    r.connection.must_close = True
                    close_buckets(bb)
                    self.mode = PASS
                    return [*out, EOS]
                if data:
                    out.append(data)
        return out


# --- DEFLATE (input) ----------------------------------------------------------------------
@deflate.input_filter("DEFLATE", FTYPE_CONTENT_SET)
class DeflateInputFilter:
    """deflate_in_filter: a request body sent with Content-Encoding gzip (br, zstd) is
    handed to the handler decoded."""

    def __init__(self, r: Request) -> None:
        self.mode: str | None = None
        self.dec: Decompressor | None = None
        self.buf = b""
        self.eof = False
        self.inflated = 0
        self.read_in = 0
        self.limit = 0
        self.ratio_limit = 200
        self.ratio_burst = 3
        self.ratio_count = 0
        # decided when the filter is put in place (before the handler builds a CGI
        # environment), so that a handler never sees the coded body's Content-Length
        # and Content-Encoding
        self.mode = self._setup(r)

    def _setup(self, r: Request) -> str:
        if r.main is not None or r.prev is not None:
            return PASS
        coding = outer_coding(r, r.headers_in, None)
        if coding is None:
            return PASS
        r.headers_in.unset("Content-Length")
        r.headers_in.unset("Content-MD5")
        self.dec = Decompressor(coding)
        dc: DeflateDirConfig = r.per_dir_config[deflate.index]
        from featherd.core.core_module import core

        lim = dc.inflate_limit
        if lim is UNSET:
            lim = r.per_dir_config[core.index].limit_req_body
        self.limit = 0 if lim is UNSET or lim is None else int(lim)
        self.ratio_limit = _v(dc.ratio_limit, 200)
        self.ratio_burst = _v(dc.ratio_burst, 3)
        return RUN

    async def read(self, r: Request, nxt: Any, want: int) -> bytes:
        if self.mode is None:
            self.mode = self._setup(r)
        if self.mode is PASS:
            return await nxt(want)  # type: ignore[no-any-return]
        dec = self.dec
        assert dec is not None
        while not self.buf and not self.eof:
            data = await nxt(-1)
            if not data:
                self.eof = True
                if not dec.complete:
                    r.log_error(ERROR, "Zlib error -5 inflating data (unexpected end of "
                                       "the compressed request body)")
                    raise HTTPError(400, None)
                break
            self.read_in += len(data)
            try:
                out = dec.decompress(data)
            except DECODE_ERRORS as e:
                r.log_error(ERROR, f"Zlib error -3 inflating data ({e})")
                raise HTTPError(400, None) from None
            self.inflated += len(out)
            if self.limit and self.inflated > self.limit:
                r.log_error(ERROR, f"Inflated content length of {self.inflated} is larger "
                                   f"than the configured limit of {self.limit}")
                raise HTTPError(413, None)
            if self.read_in and self.inflated // self.read_in > self.ratio_limit:
                self.ratio_count += 1
                if self.ratio_count > self.ratio_burst:
                    r.log_error(ERROR, "Inflated content ratio is larger than the configured "
                                       f"limit {self.ratio_limit} by {self.ratio_count} "
                                       "time(s)")
                    raise HTTPError(400, None)
            else:
                self.ratio_count = 0
            self.buf = out
        data = self.buf
        if 0 < want < len(data):
            self.buf = data[want:]
            return data[:want]
        self.buf = b""
        return data


__all__ = ["Compressor", "Decompressor", "DeflateFilter", "DeflateInputFilter",
           "InflateFilter", "choose_coding", "deflate", "parse_accept_encoding"]
