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

Layout: :mod:`.codings` (the coders and Accept-Encoding / Content-Encoding handling),
:mod:`.config` (the records, the module object and the directive rows),
:mod:`.output_filters` (DEFLATE and INFLATE), :mod:`.input_filter` (DEFLATE as an input
filter).
"""

from featherd.modules.filters.mod_deflate.codings import (
    Compressor,
    Decompressor,
    choose_coding,
    parse_accept_encoding,
)
from featherd.modules.filters.mod_deflate.config import deflate
from featherd.modules.filters.mod_deflate.input_filter import DeflateInputFilter
from featherd.modules.filters.mod_deflate.output_filters import DeflateFilter, InflateFilter

__all__ = ["Compressor", "Decompressor", "DeflateFilter", "DeflateInputFilter",
           "InflateFilter", "choose_coding", "deflate", "parse_accept_encoding"]
