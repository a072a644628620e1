"""mod_deflate's input filter: ``DEFLATE`` (deflate_in_filter) hands the handler a
request body sent with Content-Encoding gzip (br, zstd) decoded, within
DeflateInflateLimitRequestBody and DeflateInflateRatioLimit/Burst."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.errors import HTTPError
from featherd.filters.chain import FTYPE_CONTENT_SET
from featherd.modules.filters.mod_deflate.codings import DECODE_ERRORS, Decompressor, outer_coding
from featherd.modules.filters.mod_deflate.config import ERROR, DeflateDirConfig, _v, deflate
from featherd.modules.filters.mod_deflate.output_filters import PASS, RUN

if TYPE_CHECKING:
    from featherd.core.request import Request


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
