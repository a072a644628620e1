"""featherd-httxt2dbm: Apache's httxt2dbm, text map to DBM for ``RewriteMap dbm:``.

    featherd-httxt2dbm [-v] [-f format] -i SOURCE_TXT -o OUTPUT_DBM

The input is read as mod_rewrite reads a ``txt:`` map: a line starting with ``#`` or a
blank is skipped, the key is the first word and the value the second (the rest of the
line is ignored); a line without a value is skipped. Pairs are stored with REPLACE, so
the last line for a key wins (the text map uses the first one). The default format is
SDBM, written byte for byte as APR writes it (:mod:`featherd.support.sdbm`); GDBM and
NDBM use Python's ``dbm.gnu`` / ``dbm.ndbm`` when this Python has them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO, Any

from featherd.support import sdbm

USAGE = """httxt2dbm -- Program to Create DBM Files for use by RewriteMap
Usage: httxt2dbm [-v] [-f format] -i SOURCE_TXT -o OUTPUT_DBM

Options: {sp}
 -v    More verbose output

 -i    Source Text File. If '-', use stdin.

 -o    Output DBM.

 -f    DBM Format.  If not specified, will use the APR Default.
           GDBM for GDBM files ({gdbm})
           SDBM for SDBM files (available)
           DB   for berkeley DB files (unavailable)
           NDBM for NDBM files ({ndbm})
           default for the default DBM type

"""

MAX_LINE = 1024   # REWRITE_MAX_TXT_MAP_LINE


def _available(name: str) -> bool:
    try:
        __import__(f"dbm.{name}")
    except ImportError:
        return False
    return True


def usage() -> str:
    return USAGE.format(sp=" ", gdbm="available" if _available("gnu") else "unavailable",
                        ndbm="available" if _available("ndbm") else "unavailable")


def _isspace(b: int) -> bool:
    return b in b" \t\n\r\f\v"


def parse_lines(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs of a text map, as httxt2dbm's to_dbm() reads them."""
    for raw in data.splitlines(keepends=True):
        # apr_file_gets with a 1025-byte buffer: longer lines arrive in pieces
        for start in range(0, max(len(raw), 1), MAX_LINE):
            line = raw[start:start + MAX_LINE]
            if not line or line[0] == 0x23 or _isspace(line[0]):
                continue
            i = 0
            n = len(line)
            while i < n and not _isspace(line[i]):
                i += 1
            if i >= n:
                continue
            key = line[:i]
            while i < n and _isspace(line[i]):
                i += 1
            if i >= n:
                continue
            j = i
            while j < n and not _isspace(line[j]):
                j += 1
            yield key, line[i:j]


def open_dbm(fmt: str, path: str) -> Any:
    """Open ``path`` for writing (created when missing) in format ``fmt``."""
    f = fmt.lower()
    if f in ("sdbm", "default"):
        return sdbm.SDBM(path, "c")
    if f == "gdbm":
        import dbm.gnu

        return dbm.gnu.open(path, "c")
    if f == "ndbm":
        import dbm.ndbm

        return dbm.ndbm.open(path, "c")
    raise OSError(20019, "DSO load failed")


def convert(inp: IO[bytes], out_path: str, fmt: str = "default",
            verbose: bool = False, err: IO[str] | None = None) -> int:
    err = err or sys.stderr
    db = open_dbm(fmt, out_path)
    try:
        for key, val in parse_lines(inp.read()):
            if verbose:
                err.write(f"    '{key.decode('latin-1')}' -> '{val.decode('latin-1')}'\n")
            db[key] = val
    finally:
        db.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = False
    fmt = "default"
    inp: str | None = None
    out: str | None = None
    err = sys.stderr
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-v":
            verbose = True
            i += 1
            continue
        if a in ("-f", "-i", "-o"):
            if i + 1 >= len(args):
                err.write(usage())
                return 1
            val = args[i + 1]
            if a == "-f":
                fmt = val
            elif a == "-i":
                inp = val
            else:
                out = val
            i += 2
            continue
        err.write(usage())
        return 1
    if inp is None:
        err.write("Error: No input file specified.\n\n" + usage())
        return 1
    if out is None:
        err.write("Error: No output DBM specified.\n\n" + usage())
        return 1
    if verbose:
        err.write(f"DBM Format: {fmt}\n")
    try:
        fp: IO[bytes] = sys.stdin.buffer if inp == "-" else open(inp, "rb")  # noqa: SIM115
    except OSError as e:
        err.write(f"Error: Cannot open input file '{inp}': ({e.errno}) {e.strerror}\n\n")
        return 1
    if verbose:
        err.write(f"Input File: {inp}\n")
    try:
        if verbose:
            err.write(f"DBM File: {out}\n")
        try:
            convert(fp, out, fmt, verbose, err)
        except OSError as e:
            err.write(f"Error: Cannot open output DBM '{out}': ({e.errno}) "
                      f"{e.strerror}\n\n")
            return 1
    finally:
        if fp is not sys.stdin.buffer:
            fp.close()
    if verbose:
        err.write("Conversion Complete.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
