"""mod_deflate's output filters: ``DEFLATE`` (deflate_out_filter: the checks of its
first call, then the body compressed brigade by brigade, a big file read in a task) and
``INFLATE`` (inflate_out_filter: a coded response body decoded)."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.filters.buckets import EOS, FLUSH, FileBucket, bucket_len
from featherd.filters.chain import FTYPE_CONTENT_SET, FTYPE_RESOURCE
from featherd.modules.filters.mod_deflate.codings import (
    DECODE_ERRORS,
    DEFAULT_LEVELS,
    Compressor,
    Decompressor,
    _tokens,
    choose_coding,
    merge_vary,
    outer_coding,
)
from featherd.modules.filters.mod_deflate.config import (
    DEFAULT_BUFFER_SIZE,
    DEFAULT_MEMLEVEL,
    DEFAULT_WINDOW,
    ERROR,
    DeflateDirConfig,
    DeflateServerConfig,
    _v,
    deflate,
)
from featherd.modules.filters.streaming import AsyncFilter, close_buckets, pieces

if TYPE_CHECKING:
    from featherd.core.request import Request

ASYNC_FILE = 256 * 1024           # file buckets bigger than this are read in a task
IDENTITY = frozenset(("identity", "7bit", "8bit", "binary"))


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
