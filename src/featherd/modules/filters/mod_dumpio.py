"""mod_dumpio: every byte a connection receives and sends, in the error log (2.2).

``DumpIOInput On`` logs what the client sends (request lines, headers and bodies, as
they arrive), ``DumpIOOutput On`` what goes back (heads, bodies, chunk framing), at the
level ``DumpIOLogLevel`` sets (default debug; 2.2.4+: the server's LogLevel must let it
through). Lines look like Apache's::

    mod_dumpio: dumpio_in [readbytes-blocking] 38 readbytes
    mod_dumpio:  dumpio_in (data-HEAP): 38 bytes
    mod_dumpio:  dumpio_in (data-HEAP): GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n
    mod_dumpio:  dumpio_out (data-HEAP): 159 bytes
    mod_dumpio:  dumpio_out (data-FILE): ...
    mod_dumpio:  dumpio_out (metadata-EOS): 0 bytes

Control characters are escaped (\\r, \\n, \\xNN) so that one log line stays one line.
The settings of the connection's server (the default server of its address, as
Apache's base_server) apply. Apache does this with connection filters; featherd taps
the connection's input (its request parser's feed) and output (its send) when the
connection opens, so nothing is paid when the module is not configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.merge import UNSET
from featherd.core.hooks import DECLINED, MIDDLE
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.filters.buckets import EOS, FileBucket
from featherd.log import DEBUG, parse_level

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms

DUMP_LIMIT = 64 * 1024        # at most this much of one file bucket is shown


@dataclass(slots=True)
class DumpIOConfig:
    enable_input: Any = UNSET
    enable_output: Any = UNSET
    loglevel: Any = UNSET


dumpio = Module("dumpio_module", "mod_dumpio.c", server_config=DumpIOConfig,
                description="Dumps all I/O to error log as desired.")


@dumpio.directive("DumpIOInput", args=ArgSpec.FLAG, context=Context.RSRC,
                  syntax="DumpIOInput On|Off", help="Enable I/O Dump on Input Data")
def dump_input(cmd: CmdParms, conf: DumpIOConfig, on: bool) -> None:
    conf.enable_input = on


@dumpio.directive("DumpIOOutput", args=ArgSpec.FLAG, context=Context.RSRC,
                  syntax="DumpIOOutput On|Off", help="Enable I/O Dump on Output Data")
def dump_output(cmd: CmdParms, conf: DumpIOConfig, on: bool) -> None:
    conf.enable_output = on


@dumpio.directive("DumpIOLogLevel", args=ArgSpec.TAKE1, context=Context.RSRC,
                  syntax="DumpIOLogLevel level",
                  help="Level at which DumpIO info is logged")
def dump_loglevel(cmd: CmdParms, conf: DumpIOConfig, level: str) -> None:
    n = parse_level(level)
    if n is None or n > DEBUG:
        raise DirectiveError("DumpIOLogLevel requires level keyword: one of "
                             "emerg/alert/crit/error/warn/notice/info/debug")
    conf.loglevel = n


def escape(data: bytes) -> str:
    """ap_escape_logitem-like: printable bytes as they are, the rest escaped."""
    out: list[str] = []
    for c in data:
        if c == 0x0D:
            out.append("\\r")
        elif c == 0x0A:
            out.append("\\n")
        elif c == 0x09:
            out.append("\\t")
        elif c == 0x5C:
            out.append("\\\\")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\x{c:02x}")
    return "".join(out)


class _Dumper:
    def __init__(self, conn: Any, level: int) -> None:
        self.conn = conn
        self.level = level

    def log(self, msg: str) -> None:
        base = self.conn.base
        log = (base.error_log if base is not None else None) or self.conn.tree.main.error_log
        if log is not None:
            log.log(self.level, msg)

    def data(self, name: str, kind: str, data: bytes, length: int | None = None) -> None:
        n = len(data) if length is None else length
        self.log(f"mod_dumpio:  {name} (data-{kind}): {n} bytes")
        if data:
            self.log(f"mod_dumpio:  {name} (data-{kind}): {escape(data)}")


class _ParserTap:
    """The connection's request parser, with its input logged as it is fed."""

    __slots__ = ("_p", "_d")

    def __init__(self, parser: Any, dumper: _Dumper) -> None:
        object.__setattr__(self, "_p", parser)
        object.__setattr__(self, "_d", dumper)

    def feed(self, data: bytes) -> None:
        d = self._d
        if data:
            d.log(f"mod_dumpio: dumpio_in [readbytes-blocking] {len(data)} readbytes")
            d.data("dumpio_in", "HEAP", data)
        self._p.feed(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._p, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._p, name, value)


def _tap_output(conn: Any, dumper: _Dumper) -> None:
    send = conn.send

    def dumping_send(r: Any, buckets: list[Any], done: bool) -> None:
        for b in buckets:
            if isinstance(b, FileBucket):
                n = min(b.length, DUMP_LIMIT)
                try:
                    data = b.pread(n, b.offset) if n else b""
                except OSError:
                    data = b""
                dumper.data("dumpio_out", "FILE", data, b.length)
            elif b is EOS:
                continue
            elif isinstance(b, (bytes, bytearray, memoryview)):
                dumper.data("dumpio_out", "HEAP", bytes(b))
        if done:
            dumper.log("mod_dumpio:  dumpio_out (metadata-EOS): 0 bytes")
        send(r, buckets, done)

    conn.send = dumping_send


@dumpio.hook("pre_connection", order=MIDDLE, needs=True)
def dumpio_pre_conn(conn: Any) -> int:
    base = conn.base if conn.base is not None else conn.tree.main
    c: DumpIOConfig | None = base.module_config[dumpio.index]
    if c is None or (c.enable_input is not True and c.enable_output is not True):
        return DECLINED
    dumper = _Dumper(conn, c.loglevel if c.loglevel is not UNSET else DEBUG)
    if c.enable_input is True:
        conn.parser = _ParserTap(conn.parser, dumper)
    if c.enable_output is True:
        _tap_output(conn, dumper)
    return DECLINED


__all__ = ["DumpIOConfig", "dumpio", "escape"]
