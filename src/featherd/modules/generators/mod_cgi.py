"""mod_cgi: CGI/1.1 scripts (RFC 3875), with mod_cgid's directives accepted.

A request whose handler is ``cgi-script`` (ScriptAlias, AddHandler, SetHandler) or
whose type is ``application/x-httpd-cgi`` runs its file as a script, in a directory
with ``Options ExecCGI`` (ScriptAlias'd ones need not). The script gets the CGI
environment (cgi_env.py), the request body on stdin as it arrives (chunked ones too,
within LimitRequestBody), and runs without blocking the worker (cgi_script.py): its
stderr lines go to the error log, its header block is parsed as Apache does (Status,
Location: a local path is an internal GET redirect, a URL a 302; the rest passed on),
its body streamed (chunked on HTTP/1.1 unless all of it is in at once). ``nph-``
scripts speak HTTP themselves. A script silent for TimeOut (CGIScriptTimeout) seconds
is killed. ScriptLog/ScriptLogLength/ScriptLogBuffer keep Apache's debugging log.

mod_include's ``exec`` element lives here too, as in Apache (``exec cgi`` runs a
script as a sub-request with the document's path info and query string, ``exec cmd``
runs /bin/sh). suEXEC (SuexecUserGroup, ~user scripts as their owner) is
featherd.support.suexec's, used when the server runs as root.
"""

from __future__ import annotations

import asyncio
import os
import stat as stat_mod
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.core.core_module import core, options
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError, HTTPError
from featherd.filters.buckets import EOS
from featherd.filters.chain import pass_brigade
from featherd.modules.generators import cgi_env
from featherd.modules.generators.cgi_script import ScriptProcess, scan_script_headers

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

ERROR, WARN, INFO, DEBUG = 3, 4, 6, 7
DEFAULT_LOGBYTES = 10385760
DEFAULT_BUFBYTES = 1024
APACHE_ARG_MAX = 4096
CGI_MAGIC_TYPE = "application/x-httpd-cgi"
EOF_GRACE = 0.002                 # how long a body waits for the script's end of output


@dataclass(slots=True)
class CGIServerConfig:
    logname: Any = UNSET          # ScriptLog
    logbytes: Any = UNSET         # ScriptLogLength
    bufbytes: Any = UNSET         # ScriptLogBuffer
    sock: Any = UNSET             # ScriptSock (mod_cgid; featherd needs no daemon)
    suexec: Any = UNSET           # SuexecUserGroup: (user, group)


@dataclass(slots=True)
class CGIDirConfig:
    timeout: Any = UNSET          # CGIScriptTimeout / CGIDScriptTimeout
    pass_auth: Any = UNSET        # CGIPassAuth
    cgi_vars: Any = unset_field("update")   # CGIVar
    interpreter_source: Any = UNSET         # ScriptInterpreterSource


cgi = Module("cgi_module", "mod_cgi.c", dir_config=CGIDirConfig,
             server_config=CGIServerConfig, description="Execution of CGI scripts")


def _number(name: str, v: str) -> int:
    try:
        return int(v.strip())
    except ValueError:
        raise DirectiveError(f"{name} must be a number") from None


@cgi.directive("ScriptLog", args=ArgSpec.TAKE1, context=Context.RSRC,
               syntax="ScriptLog file-path", help="the name of a log for script debugging info")
def script_log(cmd: CmdParms, conf: CGIServerConfig, path: str) -> None:
    conf.logname = path if os.path.isabs(path) else os.path.join(cmd.tree.server_root, path)


@cgi.directive("ScriptLogLength", args=ArgSpec.TAKE1, context=Context.RSRC,
               syntax="ScriptLogLength bytes",
               help="the maximum length (in bytes) of the script debug log")
def script_log_length(cmd: CmdParms, conf: CGIServerConfig, v: str) -> None:
    conf.logbytes = _number("ScriptLogLength", v)


@cgi.directive("ScriptLogBuffer", args=ArgSpec.TAKE1, context=Context.RSRC,
               syntax="ScriptLogBuffer bytes",
               help="the maximum size (in bytes) to record of a POST request")
def script_log_buffer(cmd: CmdParms, conf: CGIServerConfig, v: str) -> None:
    conf.bufbytes = _number("ScriptLogBuffer", v)


@cgi.directive("ScriptSock", args=ArgSpec.TAKE1, context=Context.SERVER,
               syntax="ScriptSock file-path",
               help="the name of the socket to use for communication with the cgi daemon.")
def script_sock(cmd: CmdParms, conf: CGIServerConfig, path: str) -> None:
    # mod_cgid's: featherd's workers start scripts themselves, no daemon is needed
    conf.sock = path


def _timeout_arg(name: str, v: str) -> float:
    s = v.strip().lower()
    mult = 1.0
    for suffix, m in (("ms", 0.001), ("s", 1.0), ("mi", 60.0), ("min", 60.0), ("h", 3600.0)):
        if s.endswith(suffix) and s[:-len(suffix)].strip().isdigit():
            s, mult = s[:-len(suffix)].strip(), m
            break
    if not s.isdigit():
        raise DirectiveError(f"{name} argument {v!r} not recognized")
    return int(s) * mult


@cgi.directive("CGIScriptTimeout", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
               override=Override.FILEINFO, syntax="CGIScriptTimeout time[s|ms]",
               help="The amount of time to wait between successful reads from the CGI "
                    "script, in seconds.")
def cgi_script_timeout(cmd: CmdParms, conf: CGIDirConfig, v: str) -> None:
    conf.timeout = _timeout_arg("CGIScriptTimeout", v)


@cgi.directive("CGIDScriptTimeout", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
               override=Override.FILEINFO, syntax="CGIDScriptTimeout time[s|ms]",
               help="The amount of time to wait between successful reads from the CGI "
                    "script, in seconds.")
def cgid_script_timeout(cmd: CmdParms, conf: CGIDirConfig, v: str) -> None:
    t = _timeout_arg("CGIDScriptTimeout", v)
    conf.timeout = t if t > 0 else UNSET      # 0: the TimeOut value (mod_cgid)


@cgi.directive("CGIPassAuth", args=ArgSpec.FLAG, context=Context.DIR_HTACCESS,
               override=Override.AUTHCFG, syntax="CGIPassAuth On|Off",
               help="Controls whether HTTP authorization headers, normally hidden, will be "
                    "passed to scripts")
def cgi_pass_auth(cmd: CmdParms, conf: CGIDirConfig, on: bool) -> None:
    conf.pass_auth = on


@cgi.directive("CGIVar", args=ArgSpec.TAKE2, context=Context.DIR_HTACCESS,
               override=Override.FILEINFO, syntax="CGIVar variable rule",
               help="Controls how some CGI variables are set")
def cgi_var(cmd: CmdParms, conf: CGIDirConfig, var: str, rule: str) -> None:
    if var != "REQUEST_URI":
        raise DirectiveError(f"Unrecognized CGI variable: \"{var}\"")
    if rule not in ("original-uri", "current-uri"):
        raise DirectiveError(f"Unrecognized option for CGIVar {var}: \"{rule}\"")
    conf.cgi_vars = {var: rule}


@cgi.directive("ScriptInterpreterSource", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
               override=Override.FILEINFO,
               syntax="ScriptInterpreterSource Registry|Registry-Strict|Script",
               help="Where to find interpreter to run scripts")
def script_interpreter_source(cmd: CmdParms, conf: CGIDirConfig, v: str) -> None:
    # Windows only: on Unix the kernel reads the #! line, which is what "Script" means
    lv = v.lower()
    if lv not in ("registry", "registry-strict", "script"):
        raise DirectiveError("ScriptInterpreterSource must be \"registry\", "
                             "\"registry-strict\" or \"script\"")
    conf.interpreter_source = lv


@cgi.directive("SuexecUserGroup", args=ArgSpec.TAKE2, context=Context.RSRC,
               syntax="SuexecUserGroup User Group",
               help="User and group for spawned processes")
def suexec_user_group(cmd: CmdParms, conf: CGIServerConfig, user: str, group: str) -> None:
    from featherd.support import suexec

    conf.suexec = suexec.identity_from_config(user, group)


@cgi.hook("open_logs")
def cgi_open_logs(tree: Any) -> int:
    from featherd.support import suexec

    servers = [tree.main, *getattr(tree, "vhosts", [])]
    configured = any(s.module_config[cgi.index].suexec is not UNSET for s in servers)
    note = suexec.startup_notice(tree, configured)
    log = tree.main.error_log
    if note is not None and log is not None and (configured or note[0] == 5):
        log.log(note[0], note[1])
    return OK


# --- configuration at request time ----------------------------------------------------------
def _sconf(r: Request) -> CGIServerConfig:
    return r.server.module_config[cgi.index]  # type: ignore[no-any-return]


def _dconf(r: Request) -> CGIDirConfig:
    return r.per_dir_config[cgi.index]  # type: ignore[no-any-return]


def script_timeout(r: Request) -> float:
    t = _dconf(r).timeout
    if t is not UNSET and t:
        return float(t)
    return float(getattr(r.connection, "timeout", 300.0) or 300.0)


def _cfg(v: Any, default: Any) -> Any:
    return default if v is UNSET else v


# --- the ScriptLog ------------------------------------------------------------------------
def _open_scriptlog(r: Request) -> Any:
    sc = _sconf(r)
    name = sc.logname
    if name is UNSET or not name:
        return None
    try:
        if os.stat(name).st_size > _cfg(sc.logbytes, DEFAULT_LOGBYTES):
            return None
    except OSError:
        pass
    try:
        return open(name, "ab")  # noqa: SIM115
    except OSError:
        return None


def _log_head(r: Request, ret: int) -> str:
    q = f"?{r.args}" if r.args is not None else ""
    return f"%% [{time.ctime()}] {r.method} {r.uri}{q} {r.protocol}\n%% {ret} {r.filename}\n"


def log_scripterror(r: Request, ret: int, error: str, errno_text: str = "") -> int:
    """The error log line ("error: filename") and the ScriptLog's %error record."""
    r.log_error(ERROR, f"{errno_text}{error}: {r.filename}")
    f = _open_scriptlog(r)
    if f is not None:
        with f:
            f.write((_log_head(r, ret) + f"%error\n{error}\n").encode("latin-1", "replace"))
    return ret


def log_script(r: Request, ret: int, dbuf: bytes, sbuf: list[str], stdout: bytes,
               stderr: list[str]) -> int:
    """log_script: the request, the script's headers and output, for a failed script."""
    f = _open_scriptlog(r)
    if f is None:
        return ret
    parts = [_log_head(r, ret), "%request\n"]
    parts += [f"{k}: {v}\n" for k, v in r.headers_in]
    if r.method in ("POST", "PUT") and dbuf:
        parts.append("\n" + dbuf.decode("latin-1") + "\n")
    parts.append("%response\n")
    parts += [f"{k}: {v}\n" for k, v in r.err_headers_out]
    if sbuf and sbuf[0]:
        parts.append(sbuf[0] + "\n")
    if stdout:
        parts.append("%stdout\n" + stdout.decode("latin-1") + "\n")
    if stderr:
        parts.append("%stderr\n" + "".join(line + "\n" for line in stderr) + "\n")
    with f:
        f.write("".join(parts).encode("latin-1", "replace"))
    return ret


# --- running a script ------------------------------------------------------------------------
def build_argv(r: Request) -> list[str]:
    """default_build_command: the script, then an ISINDEX query (no '=') split at '+',
    each word unescaped and shell-escaped."""
    argv = [r.filename or ""]
    args = r.args
    if args and "=" not in args:
        words = args.split("+")[:APACHE_ARG_MAX - 2]
        argv += [cgi_env.escape_shell_cmd(cgi_env.unescape_url(w)) for w in words]
    return argv


def _stderr_logger(r: Request) -> Any:
    return lambda line: r.log_error(ERROR, line)


async def start_script(r: Request, argv: list[str], env: dict[str, str], *, stdin: bool,
                       cwd: str | None) -> ScriptProcess:
    """Start a script for r, through suEXEC when r has an identity to run as."""
    from featherd.support import suexec

    ident = suexec.request_identity(r, _sconf(r).suexec)
    if ident is not None:
        return await suexec.spawn(r, ident, argv, env, stdin=stdin, cwd=cwd,
                                  on_stderr=_stderr_logger(r))
    return await ScriptProcess.spawn(argv, env=cgi_env.create_environment(env), cwd=cwd,
                                     stdin=stdin, on_stderr=_stderr_logger(r))


async def _pump_body(r: Request, proc: ScriptProcess, timeout: float, dbuf: bytearray,
                     bufbytes: int) -> None:
    """Copy the request body to the script's stdin as it arrives; once the script stops
    reading, the rest is read and dropped (Apache's child_stopped_reading)."""
    try:
        while True:
            data = await r.read_body()
            if not data:
                break
            if len(dbuf) < bufbytes:
                dbuf += data[:bufbytes - len(dbuf)]
            if not proc.stdin_closed:
                await proc.write_stdin(data, timeout)
    finally:
        proc.close_stdin()
        proc.hold(False)


async def _soak(proc: ScriptProcess, timeout: float, keep: bool) -> bytes:
    """discard_script_output: read stdout to its end (kept for the ScriptLog)."""
    got = bytearray()
    while True:
        data = proc.take()
        if keep:
            got += data
        if proc.out_eof:
            return bytes(got)
        if not await proc.wait_out(timeout):
            return bytes(got)


@cgi.handler("cgi-script", CGI_MAGIC_TYPE)
async def cgi_handler(r: Request) -> int:
    if r.method == "OPTIONS":
        r.allowed_methods.update(("GET", "POST"))   # 99 out of 100 CGI scripts
        return DECLINED
    fname = r.filename or ""
    argv0 = os.path.basename(fname)
    nph = argv0.startswith("nph-")
    included = r.main is not None
    cd = r.per_dir_config[core.index]
    if "ExecCGI" not in options(cd) and \
            (r.notes.get("alias-forced-type") or "").lower() != "cgi-script":
        return log_scripterror(r, 403, "Options ExecCGI is off in this directory")
    if nph and included:
        return log_scripterror(r, 403, "attempt to include NPH CGI script")
    st = r.finfo
    if st is None:
        return log_scripterror(r, 404, "script not found or unable to stat")
    if stat_mod.S_ISDIR(st.st_mode):
        return log_scripterror(r, 403, "attempt to invoke directory as script")
    if r.path_info and cd.accept_path_info is False:
        return log_scripterror(r, 404, "AcceptPathInfo off disallows user's path")
    if cd.accept_path_info is UNSET:
        r.used_path_info = True          # a script takes path info unless told not to
    # (no ap_can_exec test: as in httpd, a script the server may not run fails at exec)
    if r.body is not None and r.body.check_limit(r):
        return 413
    dc = _dconf(r)
    cgi_env.add_common_vars(r, pass_auth=dc.pass_auth is True)
    req_uri = r.uri if (dc.cgi_vars or {}).get("REQUEST_URI") == "current-uri" else None
    cgi_env.add_cgi_vars(r, await cgi_env.path_translated(r), req_uri)
    timeout = script_timeout(r)
    sc = _sconf(r)
    logging = sc.logname is not UNSET and bool(sc.logname)
    try:
        proc = await start_script(r, build_argv(r), r.subprocess_env, stdin=True,
                                  cwd=os.path.dirname(fname))
    except OSError as e:
        r.log_error(ERROR, f"({e.errno}){os.strerror(e.errno or 0)}: exec of '{fname}' "
                           "failed")
        r.log_error(ERROR, f"Premature end of script headers: {argv0}")
        return log_script(r, 500, b"", [], b"", [])
    proc.keep_stderr = logging
    try:
        return await _run(r, proc, nph, timeout, logging)
    finally:
        proc.finish(kill_now=not proc.out_eof)


async def _run(r: Request, proc: ScriptProcess, nph: bool, timeout: float,
               logging: bool) -> int:
    sc = _sconf(r)
    dbuf = bytearray()
    pump: asyncio.Task[None] | None = None
    if r.body is not None:
        proc.hold(True)
        pump = asyncio.get_running_loop().create_task(
            _pump_body(r, proc, timeout, dbuf,
                       _cfg(sc.bufbytes, DEFAULT_BUFBYTES) if logging else 0))
    else:
        proc.close_stdin()
    try:
        if nph:
            if pump is not None:
                await pump
            return await _send_nph(r, proc, timeout)
        sbuf: list[str] = []
        ret = await scan_script_headers(r, proc, timeout, sbuf)
        if pump is not None and not ret:
            await pump                      # the whole body went in before the output
    except HTTPError as e:
        proc.kill()
        return e.status
    finally:
        if pump is not None and not pump.done():
            pump.cancel()
    if ret:
        rest = await _soak(proc, timeout, logging)
        await proc.wait(0.5)
        log_script(r, ret, bytes(dbuf), sbuf, rest, proc.stderr_lines)
        if ret == 304:
            r.status = 304                 # the core sends the head
            return OK
        return ret
    location = r.headers_out.get("Location")
    if location and r.status == 200:
        await _soak(proc, timeout, False)  # the redirect's body is not wanted
        if location.startswith("/"):
            r.method = "GET"
            r.headers_in.unset("Content-Length")
            await _local_redirect(r, location)
            return OK
        return 302
    return await _send_body(r, proc, timeout)


async def _local_redirect(r: Request, location: str) -> None:
    from featherd.core.http_request import internal_redirect
    from featherd.core.subrequest import lookup_uri, run_sub_req

    if r.main is None:
        await internal_redirect(r, location)
        return
    # in a sub-request the target's body belongs where ours would have gone
    sub = await lookup_uri(r.main, location, method="GET")
    if sub.status == 200:
        await run_sub_req(sub, sink=r.ctx.get("sub_sink"))


async def _send_body(r: Request, proc: ScriptProcess, timeout: float) -> int:
    conn = r.connection
    first = True
    while True:
        if first and not proc.out_eof:
            # a quick script's whole output goes out at once, with a Content-Length, as
            # httpd's content-length filter manages when the script is done in time
            await proc.wait_eof(EOF_GRACE)
        first = False
        data = proc.take()
        if proc.out_eof:
            pass_brigade(r, [data, EOS] if data else [EOS])
            return OK
        if data:
            pass_brigade(r, [data])
            if conn.transport_closed or conn.aborted:
                return OK
            await conn.drain_response(r)
            continue
        if not await proc.wait_out(timeout):
            r.log_error(ERROR, f"Timeout waiting for output from CGI script {r.filename}")
            if not r.sent_headers:
                pass_brigade(r, [])
            # what went out stays incomplete (no last chunk) and the connection closes
            r.eos_sent = True
            r.keepalive_ok = False
            conn.must_close = True
            return OK


async def _send_nph(r: Request, proc: ScriptProcess, timeout: float) -> int:
    """An nph- script's output is the response, status line and headers included."""
    conn = r.connection
    r.sent_headers = True
    conn.must_close = True
    while True:
        data = proc.take()
        if data:
            r.bytes_sent += len(data)
            conn.send(r, [data], False)
            await conn.drain_response(r)
        if proc.out_eof:
            break
        if not await proc.wait_out(timeout):
            r.log_error(ERROR, f"Timeout waiting for output from CGI script {r.filename}")
            conn.abort()
            return OK
    r.eos_sent = True
    conn.send(r, [], True)
    return OK


# --- mod_include's exec element -------------------------------------------------------------
def handle_exec(ctx: Any, args: list[tuple[str, str | None]]) -> Any:
    """<!--#exec cgi="/url" --> or <!--#exec cmd="shell command" -->."""
    r = ctx.r
    if not args:
        r.log_error(ERROR if ctx.printing else WARN,
                    f"missing argument for exec element in {r.filename}")
    if not ctx.printing:
        return None
    if not args:
        ctx.error()
        return None
    if ctx.no_exec:
        r.log_error(ERROR, f"exec used but not allowed in {r.filename}")
        ctx.error()
        return None
    return _exec(ctx, args)


async def _exec(ctx: Any, args: list[tuple[str, str | None]]) -> None:
    r = ctx.r
    for tag, raw in args:
        if raw is None:
            break
        val = ctx.decode(raw)
        if tag == "cmd":
            ok = await include_cmd(ctx, ctx.parse_string(val, leave_name=True))
            if not ok:
                r.log_error(ERROR, f"execution failure for parameter \"{tag}\" to tag exec "
                                   f"in file {r.filename}")
                ctx.error()
                break
        elif tag == "cgi":
            ok = await include_cgi(ctx, ctx.parse_string(val))
            if not ok:
                r.log_error(ERROR, f"invalid CGI ref \"{val}\" in {r.filename}")
                ctx.error()
                break
        else:
            r.log_error(ERROR, f"unknown parameter \"{tag}\" to tag exec in {r.filename}")
            ctx.error()
            break


async def include_cgi(ctx: Any, url: str) -> bool:
    """The script runs as a sub-request with the document's PATH_INFO and QUERY_STRING;
    a redirect it answers with becomes a link."""
    from featherd.core.subrequest import lookup_uri, run_sub_req
    from featherd.http.status import esc, is_redirect

    r = ctx.r
    rr = await lookup_uri(r, url, method="GET")
    if rr.status != 200 or rr.path_info or rr.args is not None:
        return False
    if rr.finfo is None or not stat_mod.S_ISREG(rr.finfo.st_mode):
        return False
    rr.path_info = r.path_info
    rr.args = r.args
    rr.content_type = CGI_MAGIC_TYPE
    rv = await run_sub_req(rr, sink=ctx.sink)
    if is_redirect(rv if rv > 0 else rr.status):
        loc = rr.headers_out.get("Location")
        if loc:
            loc = esc(loc)
            ctx.emit(f'<a href="{loc}">{loc}</a>'.encode("latin-1", "replace"))
    return True


async def include_cmd(ctx: Any, command: str) -> bool:
    """/bin/sh -c command in the document's directory; its output goes into the page."""
    r = ctx.r
    cgi_env.add_ssi_vars(r)
    pt = await cgi_env.path_translated(r)
    if pt is not None:
        r.subprocess_env["PATH_TRANSLATED"] = pt
    try:
        proc = await start_script(r, ["/bin/sh", "-c", command], r.subprocess_env,
                                  stdin=False, cwd=os.path.dirname(r.filename or "/"))
    except OSError as e:
        r.log_error(ERROR, f"({e.errno}){os.strerror(e.errno or 0)}: couldn't spawn child "
                           f"process: {r.filename}")
        return False
    timeout = script_timeout(r)
    try:
        while True:
            data = proc.take()
            if data:
                ctx.sink([data])
                await r.connection.drain_response(r)
            if proc.out_eof:
                break
            if not await proc.wait_out(timeout):
                r.log_error(ERROR, f"Timeout waiting for output from CGI script {command}")
                break
    finally:
        proc.finish(kill_now=not proc.out_eof)
    return True


cgi.provider("ssi_element", "exec", handle_exec)
