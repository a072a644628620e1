"""mod_ext_filter: an external program as a filter (Apache 2.2's mod_ext_filter.c).

``ExtFilterDefine filtername [mode=output|input] [intype=type] [outtype=type]
[PreservesContentLength] [ftype=n] [disableenv=var] [enableenv=var]
cmd="program args..."`` (server config) registers an output (or input) filter by that
name for SetOutputFilter, AddOutputFilter, AddOutputFilterByType, FilterProvider...;
``ExtFilterOptions`` (directory) sets ``LogStderr`` / ``NoLogStderr`` (the program's
standard error to the error log, or discarded: the default), ``Onfail=abort`` (the
default: a program that can't be started is a 500) / ``Onfail=remove`` (the body goes
through unfiltered) and, as 2.2, ``DebugLevel=n``.

The program is run directly (no shell; its arguments split like apr_tokenize_to_argv)
with the CGI environment plus DOCUMENT_URI, DOCUMENT_PATH_INFO and
QUERY_STRING_UNESCAPED. It runs as an asyncio subprocess fed the body as it comes,
its output passed on as it is produced (never a whole body in memory); the request
waits for it. ``intype`` limits it to one media type, ``enableenv``/``disableenv`` to
requests with/without a variable; ``outtype`` sets the response's type and, unless
PreservesContentLength, the Content-Length goes (the protocol stage recomputes one when
it can). An input filter transforms the request body a handler reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.merge import UNSET
from featherd.config.tree import getword_conf
from featherd.core.module import Module
from featherd.errors import DirectiveError, HTTPError
from featherd.filters.buckets import EOS, FLUSH
from featherd.filters.chain import FTYPE_RESOURCE
from featherd.modules.filters.streaming import AsyncFilter, close_buckets, pieces

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

ERROR, WARN, DEBUG = 3, 4, 7
READ_SIZE = 65536
DBGLVL_SHOWOPTIONS = 1
DBGLVL_GORY = 9


@dataclass(slots=True)
class ExtFilterDef:
    name: str
    mode: str = "output"
    ftype: int = FTYPE_RESOURCE
    command: str = ""
    args: list[str] = field(default_factory=list)
    intype: str | None = None
    outtype: str | None = None
    preserves_content_length: bool = False
    enable_env: str | None = None
    disable_env: str | None = None


@dataclass(slots=True)
class ExtServerConfig:
    filters: dict[str, ExtFilterDef] = field(default_factory=dict)


@dataclass(slots=True)
class ExtDirConfig:
    log_stderr: Any = UNSET
    onfail: Any = UNSET             # "abort" | "remove"
    debug: Any = UNSET


class ExtFilterModule(Module):
    def merge_server_config(self, base: Any, new: Any) -> Any:
        return new if new is not None else base     # find_filter_def falls back to main


ext_filter = ExtFilterModule("ext_filter_module", "mod_ext_filter.c",
                             server_config=ExtServerConfig, dir_config=ExtDirConfig,
                             description="Pass the response body through an external "
                                         "program before delivery to the client")


@ext_filter.directive("ExtFilterOptions", args=ArgSpec.ITERATE, context=Context.DIR,
                      syntax="ExtFilterOptions option [option] ...",
                      help="valid options: DebugLevel=n, LogStderr, NoLogStderr, "
                           "Onfail=remove, Onfail=abort")
def ext_filter_options(cmd: CmdParms, conf: ExtDirConfig, arg: str) -> None:
    low = arg.lower()
    if low == "logstderr":
        conf.log_stderr = True
    elif low == "nologstderr":
        conf.log_stderr = False
    elif low == "onfail=remove":
        conf.onfail = "remove"
    elif low == "onfail=abort":
        conf.onfail = "abort"
    elif low.startswith("debuglevel="):
        try:
            conf.debug = int(arg[11:])
        except ValueError:
            conf.debug = 0
    else:
        raise DirectiveError(f"Invalid ExtFilterOptions option: {arg}")


def _word_white(s: str, i: int) -> tuple[str, int]:
    """ap_getword_white."""
    n = len(s)
    j = i
    while j < n and not s[j].isspace():
        j += 1
    word = s[i:j]
    while j < n and s[j].isspace():
        j += 1
    return word, j


def _parse_cmd(args: str, i: int, fdef: ExtFilterDef) -> int:
    """parse_cmd: cmd="program args" (tokenised) or a bare word."""
    if i < len(args) and args[i] == '"':
        j = i + 1
        escaping = False
        while j < len(args) and (args[j] != '"' or escaping):
            escaping = not escaping and args[j] == "\\"
            j += 1
        if j >= len(args):
            raise DirectiveError("Expected cmd= delimiter")
        parms = args[i + 1:j]
        try:
            fdef.args = shlex.split(parms)
        except ValueError:
            raise DirectiveError("cmd= parse error") from None
        i = j + 1
    else:
        word, i = _word_white(args, i)
        fdef.args = [word] if word else []
    if not fdef.args or not fdef.args[0]:
        raise DirectiveError("Invalid cmd= parameter")
    fdef.command = fdef.args[0]
    return i


@ext_filter.directive("ExtFilterDefine", args=ArgSpec.RAW_ARGS, context=Context.RSRC,
                      syntax="ExtFilterDefine filtername parameters",
                      help="Define an external filter")
def ext_filter_define(cmd: CmdParms, conf: ExtServerConfig, raw: str) -> None:
    name, i, _ = getword_conf(raw, 0)
    if not name:
        raise DirectiveError("Filter name not found")
    key = name.lower()
    if key in conf.filters:
        raise DirectiveError(f"ExtFilter {name} is already defined")
    fdef = ExtFilterDef(name)
    args = raw
    n = len(args)
    while i < n:
        while i < n and args[i].isspace():
            i += 1
        if i >= n:
            break
        low = args[i:].lower()
        if low.startswith("preservescontentlength"):
            tok, i = _word_white(args, i)
            if tok.lower() != "preservescontentlength":
                raise DirectiveError(f"mangled argument `{tok}'")
            fdef.preserves_content_length = True
        elif low.startswith("mode="):
            tok, i = _word_white(args, i + 5)
            if tok.lower() not in ("output", "input"):
                raise DirectiveError(f"Invalid mode: `{tok}'")
            fdef.mode = tok.lower()
        elif low.startswith("ftype="):
            tok, i = _word_white(args, i + 6)
            try:
                fdef.ftype = int(tok)
            except ValueError:
                fdef.ftype = 0
        elif low.startswith("enableenv="):
            fdef.enable_env, i = _word_white(args, i + 10)
        elif low.startswith("disableenv="):
            fdef.disable_env, i = _word_white(args, i + 11)
        elif low.startswith("intype="):
            fdef.intype, i = _word_white(args, i + 7)
        elif low.startswith("outtype="):
            fdef.outtype, i = _word_white(args, i + 8)
        elif low.startswith("cmd="):
            i = _parse_cmd(args, i + 4, fdef)
        else:
            raise DirectiveError(f"Unexpected parameter: `{args[i:]}'")
    if not fdef.command:
        raise DirectiveError("Invalid cmd= parameter")
    conf.filters[key] = fdef
    # ap_register_output_filter / ap_register_input_filter: a name the whole server knows
    table = cmd.tree.filters if fdef.mode == "output" else cmd.tree.input_filters
    factory = ExtOutputFilter if fdef.mode == "output" else ExtInputFilter
    table[key] = (fdef.ftype, factory, ext_filter)


# --- the program ----------------------------------------------------------------------------
def find_filter_def(r: Request, name: str) -> ExtFilterDef | None:
    sc: ExtServerConfig | None = r.server.module_config[ext_filter.index]
    f = sc.filters.get(name) if sc is not None else None
    if f is None:
        main = r.tree.main.module_config[ext_filter.index]
        f = main.filters.get(name) if main is not None else None
    return f


def _noop(r: Request, fdef: ExtFilterDef) -> bool:
    """init_filter_instance's tests: wrong type, or an env var says no."""
    if fdef.intype:
        ctypes = r.headers_in.get("Content-Type") if fdef.mode == "input" else r.content_type
        if not ctypes or ctypes.split(";", 1)[0].strip().lower() != fdef.intype.lower():
            return True
    if fdef.enable_env and fdef.enable_env not in r.subprocess_env:
        return True
    return bool(fdef.disable_env and fdef.disable_env in r.subprocess_env)


def _environment(r: Request) -> dict[bytes, bytes]:
    from featherd.modules.generators import cgi_env

    cgi_env.add_cgi_vars(r)
    cgi_env.add_common_vars(r)
    env = r.subprocess_env
    env["DOCUMENT_URI"] = r.uri
    env["DOCUMENT_PATH_INFO"] = r.path_info or ""
    if r.args:
        env["QUERY_STRING_UNESCAPED"] = cgi_env.escape_shell_cmd(cgi_env.unescape_url(r.args))
    return cgi_env.create_environment(env)


def _cfg_string(dc: ExtDirConfig, fdef: ExtFilterDef) -> str:
    return (f"ExtFilterOptions {'LogStderr' if dc.log_stderr is True else 'NoLogStderr'} "
            f"{'PreservesContentLength' if fdef.preserves_content_length else '!PreserveContentLength'} "
            f"ExtFilterInType {fdef.intype or '*/*'} "
            f"ExtFilterOuttype {fdef.outtype or '(unchanged)'}")


class Program:
    """The external program of one filter instance: stdin fed, stdout collected by a
    reader task, stderr to the error log (LogStderr) or discarded."""

    def __init__(self, r: Request, fdef: ExtFilterDef, dc: ExtDirConfig) -> None:
        self.r = r
        self.fdef = fdef
        self.dc = dc
        self.proc: asyncio.subprocess.Process | None = None
        self.out: list[bytes] = []
        self.out_event = asyncio.Event()
        self.out_eof = False
        self.reader: asyncio.Task[None] | None = None
        self.err_reader: asyncio.Task[None] | None = None
        self.debug = dc.debug if dc.debug is not UNSET else 0

    async def start(self) -> None:
        r = self.r
        log_stderr = self.dc.log_stderr is True
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.fdef.args, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE if log_stderr else asyncio.subprocess.DEVNULL,
                env=_environment(r), close_fds=True)
        except OSError as e:
            r.log_error(ERROR, f"({e.errno}){e.strerror}: couldn't create child process to "
                               f"run `{self.fdef.command}'")
            raise
        self.reader = asyncio.get_running_loop().create_task(self._read())
        if log_stderr:
            self.err_reader = asyncio.get_running_loop().create_task(self._read_err())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            while True:
                data = await self.proc.stdout.read(READ_SIZE)
                if self.debug >= DBGLVL_GORY:
                    self.r.log_error(DEBUG, f"apr_file_read(child output), len {len(data)}")
                if not data:
                    break
                self.out.append(data)
                self.out_event.set()
        finally:
            self.out_eof = True
            self.out_event.set()

    async def _read_err(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                return
            self.r.log_error(ERROR, line.rstrip(b"\r\n").decode("utf-8", "backslashreplace"))

    def take(self) -> bytes:
        data = b"".join(self.out)
        self.out = []
        self.out_event.clear()
        return data

    async def write(self, data: bytes) -> bool:
        """Feed the program; False when it stopped reading."""
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as e:
            self.r.log_error(ERROR, f"({e.errno}){e.strerror}: apr_file_write(child input), "
                                    f"len {len(data)}")
            return False
        return True

    async def close_input(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
            await self.proc.stdin.wait_closed()

    async def finish(self, timeout: float) -> bool:
        """After the input ends: wait for the rest of the output and the exit."""
        assert self.proc is not None
        try:
            if self.reader is not None:
                await asyncio.wait_for(asyncio.shield(self.reader), timeout)
            await asyncio.wait_for(self.proc.wait(), timeout)
            if self.err_reader is not None:
                await asyncio.wait_for(self.err_reader, timeout)
        except TimeoutError:
            self.r.log_error(ERROR, "(70007)The timeout specified has expired: "
                                    "apr_file_read(child output)")
            self.kill()
            return False
        return True

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()


def _timeout(r: Request) -> float:
    t = r.server.timeout if r.server.timeout is not None else r.tree.main.timeout
    return float(t) if t is not None else 300.0


class ExtOutputFilter(AsyncFilter):
    """ef_output_filter."""

    def __init__(self, r: Request) -> None:
        super().__init__(r)
        self.state: str | None = None      # None, "noop", "run", "removed"
        self.fdef: ExtFilterDef | None = None
        self.prog: Program | None = None
        self.broken = False

    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        if self.state is None:
            if not bb:
                return bb
            name = getattr(self, "filter_name", "")
            self.fdef = find_filter_def(r, name)
            if self.fdef is None:
                r.log_error(ERROR, f"couldn't find definition of filter '{name}'")
                self.state = "noop"
            else:
                self.state = "noop" if _noop(r, self.fdef) else "run"
                dc: ExtDirConfig = r.per_dir_config[ext_filter.index]
                if dc.debug is not UNSET and dc.debug >= DBGLVL_SHOWOPTIONS:
                    r.log_error(DEBUG, f"{'NOT ' if self.state == 'noop' else ''}filtering "
                                       f"`{r.uri or r.filename}' of type "
                                       f"`{r.content_type or '(unspecified)'}' through "
                                       f"`{self.fdef.command}', cfg {_cfg_string(dc, self.fdef)}")
        if self.state in ("noop", "removed"):
            return bb
        return super().filter(r, bb)

    async def _start(self) -> bool:
        r = self.r
        assert self.fdef is not None
        dc: ExtDirConfig = r.per_dir_config[ext_filter.index]
        self.prog = Program(r, self.fdef, dc)
        try:
            await self.prog.start()
        except OSError:
            remove = dc.onfail == "remove"
            r.log_error(ERROR, f"can't initialise output filter {self.fdef.name}: "
                               f"{'removing' if remove else 'aborting'}")
            return False
        if self.fdef.outtype:
            r.content_type = self.fdef.outtype
        if not self.fdef.preserves_content_length:
            r.headers_out.unset("Content-Length")
        return True

    async def work(self, bb: list[Any]) -> None:
        r = self.r
        if self.prog is None:
            if not await self._start():
                dc: ExtDirConfig = r.per_dir_config[ext_filter.index]
                if dc.onfail == "remove":
                    self.state = "removed"
                    queued, self.queue = self.queue, []
                    for b2 in [bb, *queued]:
                        if b2:
                            self.down(b2)
                    return
                close_buckets(bb)
                self.fail()
                return
        prog = self.prog
        assert prog is not None
        eos = False
        for i, b in enumerate(bb):
            if b is EOS:
                eos = True
                close_buckets(bb[i + 1:])
                break
            if b is FLUSH:
                continue
            for piece in pieces(b):
                if self.broken:
                    continue               # the program stopped reading: drop the rest
                if not await prog.write(piece):
                    self.broken = True
                    continue
                out = prog.take()
                if out:
                    self.down([out])
                    await self.drain()
        if eos:
            await prog.close_input()
            ok = await prog.finish(_timeout(r))
            out = prog.take()
            if not ok:
                r.connection.must_close = True
            self.down([out, EOS] if out else [EOS])
            return
        out = prog.take()
        if out:
            self.down([out])


class ExtInputFilter:
    """ef_input_filter: the request body through the program."""

    def __init__(self, r: Request) -> None:
        self.state: str | None = None
        self.prog: Program | None = None
        self.feeder: asyncio.Task[None] | None = None
        self.feed_error: BaseException | None = None
        self.eof = False

    async def _feed(self, nxt: Any) -> None:
        prog = self.prog
        assert prog is not None
        try:
            while True:
                data = await nxt(READ_SIZE)
                if not data:
                    break
                if not await prog.write(data):
                    break
        except (HTTPError, OSError) as e:
            self.feed_error = e
            prog.kill()
        finally:
            await prog.close_input()

    async def read(self, r: Request, nxt: Any, want: int) -> bytes:
        if self.state is None:
            name = getattr(self, "filter_name", "")
            fdef = find_filter_def(r, name)
            dc: ExtDirConfig = r.per_dir_config[ext_filter.index]
            if fdef is None:
                r.log_error(ERROR, f"couldn't find definition of filter '{name}'")
                self.state = "noop"
            elif _noop(r, fdef):
                self.state = "noop"
            else:
                self.prog = Program(r, fdef, dc)
                try:
                    await self.prog.start()
                except OSError:
                    remove = dc.onfail == "remove"
                    r.log_error(ERROR, f"can't initialise input filter {fdef.name}: "
                                       f"{'removing' if remove else 'aborting'}")
                    if not remove:
                        raise HTTPError(500, None) from None
                    self.state = "noop"
                else:
                    self.state = "run"
                    self.feeder = asyncio.get_running_loop().create_task(self._feed(nxt))
        if self.state == "noop":
            return await nxt(want)  # type: ignore[no-any-return]
        prog = self.prog
        assert prog is not None
        while not prog.out and not prog.out_eof:
            await prog.out_event.wait()
        if self.feed_error is not None:
            err = self.feed_error
            self.feed_error = None
            raise err
        data = prog.take()
        if not data:
            if not self.eof:
                self.eof = True
                await prog.finish(_timeout(r))
            return b""
        if 0 < want < len(data):
            prog.out.insert(0, data[want:])
            prog.out_event.set()
            data = data[:want]
        return data


__all__ = ["ExtFilterDef", "ExtInputFilter", "ExtOutputFilter", "ext_filter"]
