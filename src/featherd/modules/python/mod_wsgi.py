"""mod_wsgi: WSGI (PEP 3333) applications in the worker processes, with mod_wsgi's
directive names.

``WSGIScriptAlias /app /srv/app.py`` mounts the callable ``application`` of that file
at /app (see common.py for the mapping); ``AddHandler wsgi-script .wsgi`` in a directory
with ``Options ExecCGI`` works too. The request goes through every phase first
(rewrite, access control, authentication); the response through the output filters
and the access log like any other.

The application runs in a thread of a per-process pool (``WSGIThreads``), never on the
event loop. ``wsgi.input`` streams the request body from the loop (each read is a
hand-over to the loop's ``r.read_body``: big uploads are never held whole);
``start_response`` keeps PEP 3333's exc_info rules and returns ``write``; the body of a
list answer goes out in one piece with a Content-Length, other iterables are streamed
piece by piece (chunked on HTTP/1.1), each piece handed to the loop and, when the
client is slow, waited for; ``wsgi.file_wrapper`` over a real file becomes a file
bucket (sendfile). ``close()`` of the result is always called.

Errors stay with the request: a script that can't be loaded, an exception before the
first piece of the body, or a bad header gives a 500 with the traceback in the error
log (mod_wsgi's wording); an exception after the head went out aborts the connection.
WSGIDaemonProcess/WSGIProcessGroup are accepted: applications always run in featherd's
own worker processes (WSGIProcessGroup and WSGIApplicationGroup show in the environ as
``mod_wsgi.process_group`` and ``mod_wsgi.application_group``; each application group
gets its own copy of a script's module).

This file is the module (directives, hooks, the handler); wsgi_app.py has the loaded
scripts, the environ and its objects, and the two sides of one request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.core.hooks import FIRST, MIDDLE
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.python import common
from featherd.modules.python.common import (
    ERROR,
    ThreadPool,
    fixup_handler,
    flag,
    process_state,
    script_name_and_path_info,
    script_precheck,
    translate,
)
from featherd.modules.python.wsgi_app import TAG, WSGIEntry, WSGIJob, build_environ

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

DEFAULT_THREADS = 15                 # mod_wsgi's default threads= for a daemon group


@dataclass(slots=True)
class WSGIServerConfig:
    mounts: Any = unset_field(common._child_first)   # WSGIScriptAlias
    python_path: Any = unset_field("append")         # WSGIPythonPath
    threads: Any = UNSET                             # WSGIThreads
    daemons: Any = unset_field("update")             # WSGIDaemonProcess name -> options
    request_timeout: Any = UNSET                     # WSGIRequestTimeout


@dataclass(slots=True)
class WSGIDirConfig:
    process_group: Any = UNSET
    application_group: Any = UNSET
    reloading: Any = UNSET
    pass_authorization: Any = UNSET


wsgi = Module("wsgi_module", "mod_wsgi.c", dir_config=WSGIDirConfig,
              server_config=WSGIServerConfig,
              description="Python WSGI (PEP 3333) applications in the worker processes")
common.MOUNT_MODULES.append(wsgi)

_ALIAS_OPTIONS = frozenset(("application", "callable-object", "application-group",
                            "process-group", "pass-authorization"))


# --- directives ------------------------------------------------------------------------
@wsgi.directive("WSGIScriptAlias", args=ArgSpec.TAKE_ARGV, context=Context.RSRC,
                syntax="WSGIScriptAlias URL-path file-path|directory-path [application=name] "
                       "[application-group=name] [process-group=name] "
                       "[pass-authorization=On|Off]",
                help="Maps a URL-path onto a WSGI script file (or a directory of them): "
                     "the file's callable (application= or callable-object=, default "
                     "'application') answers every URL under it, with SCRIPT_NAME the "
                     "URL-path and PATH_INFO the rest; the longest matching mount wins")
def wsgi_script_alias(cmd: CmdParms, conf: WSGIServerConfig, words: list[str]) -> None:
    m = common.parse_alias(cmd, words, "wsgi-script", "application", _ALIAS_OPTIONS)
    conf.mounts = [*(conf.mounts or []), m]


@wsgi.directive("WSGIPythonPath", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="WSGIPythonPath directory[:directory]...",
                help="Directories (separated by ':') put at the front of sys.path in each "
                     "worker process, their .pth files processed (site.addsitedir), so "
                     "that WSGI and ASGI scripts can import modules kept there")
def wsgi_python_path(cmd: CmdParms, conf: WSGIServerConfig, v: str) -> None:
    dirs = [cmd.tree.server_root_relative(d) for d in v.split(os.pathsep) if d]
    conf.python_path = [*(conf.python_path or []), *dirs]


@wsgi.directive("WSGIThreads", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="WSGIThreads number",
                help="Size of the per-process thread pool WSGI applications run in "
                     f"(featherd's own; default {DEFAULT_THREADS}): at most this many "
                     "WSGI requests run at once in one worker process, the event loop "
                     "keeps serving the rest")
def wsgi_threads(cmd: CmdParms, conf: WSGIServerConfig, v: str) -> None:
    if not v.strip().isdigit() or int(v) < 1:
        raise DirectiveError("WSGIThreads must be a positive number")
    conf.threads = int(v)


@wsgi.directive("WSGIRequestTimeout", args=ArgSpec.TAKE1, context=Context.RSRC,
                syntax="WSGIRequestTimeout seconds",
                help="Seconds a WSGI application may take over one request (0, the "
                     "default: no limit). A request still running then is answered 504 "
                     "Gateway Timeout (or its connection dropped if the response had "
                     "begun), with an error-log line; the application's thread is "
                     "abandoned and a new one serves the next requests")
def wsgi_request_timeout(cmd: CmdParms, conf: WSGIServerConfig, v: str) -> None:
    conf.request_timeout = common.seconds_arg("WSGIRequestTimeout", v, " (0: no limit)")


@wsgi.directive("WSGIDaemonProcess", args=ArgSpec.TAKE_ARGV, context=Context.RSRC,
                syntax="WSGIDaemonProcess name [option=value] ...",
                help="Accepted for mod_wsgi configurations: featherd runs WSGI "
                     "applications in its own worker processes, with a thread pool "
                     "sized by WSGIThreads; the name may be used with WSGIProcessGroup")
def wsgi_daemon_process(cmd: CmdParms, conf: WSGIServerConfig, words: list[str]) -> None:
    if not words or not words[0]:
        raise DirectiveError("WSGIDaemonProcess requires at least one argument")
    name = words[0]
    opts: dict[str, str] = {}
    for w in words[1:]:
        k, eq, v = w.partition("=")
        if not eq:
            raise DirectiveError(f"Invalid option to WSGI daemon process definition: '{w}'.")
        opts[k.lower()] = v
    if name in (conf.daemons or {}):
        raise DirectiveError(f"Name duplicates previous WSGI daemon definition: '{name}'.")
    conf.daemons = {**(conf.daemons or {}), name: opts}
    note = (f"WSGIDaemonProcess {name} (line {cmd.line} of {cmd.filename}): WSGI "
            "applications run in featherd's worker processes, not in daemon processes")
    if note not in cmd.tree.warnings:
        cmd.tree.warnings.append(note)


@wsgi.directive("WSGIProcessGroup", args=ArgSpec.TAKE1, context=Context.ACCESS,
                syntax="WSGIProcessGroup %{GLOBAL}|%{ENV:variable}|name",
                help="Accepted for mod_wsgi configurations: the application runs in the "
                     "worker process; the name is passed as mod_wsgi.process_group")
def wsgi_process_group(cmd: CmdParms, conf: WSGIDirConfig, v: str) -> None:
    conf.process_group = v


@wsgi.directive("WSGIApplicationGroup", args=ArgSpec.TAKE1, context=Context.ACCESS,
                syntax="WSGIApplicationGroup %{GLOBAL}|%{SERVER}|%{RESOURCE}|"
                       "%{ENV:variable}|name",
                help="The application group a script is loaded in: each group has its "
                     "own copy of the script's module (default %{RESOURCE}: one per "
                     "server and mount point; %{GLOBAL} shares one per process)")
def wsgi_application_group(cmd: CmdParms, conf: WSGIDirConfig, v: str) -> None:
    conf.application_group = v


@wsgi.directive("WSGIScriptReloading", args=ArgSpec.FLAG, context=Context.ALL_DIR,
                override=Override.FILEINFO, syntax="WSGIScriptReloading On|Off",
                help="On (the default): a script whose modification time changed is "
                     "loaded again at its next request; Off: loaded once per process")
def wsgi_script_reloading(cmd: CmdParms, conf: WSGIDirConfig, v: bool) -> None:
    conf.reloading = v


@wsgi.directive("WSGIPassAuthorization", args=ArgSpec.FLAG, context=Context.ALL_DIR,
                override=Override.FILEINFO, syntax="WSGIPassAuthorization On|Off",
                help="On: the Authorization header reaches the application as "
                     "HTTP_AUTHORIZATION (Off, the default, keeps credentials that the "
                     "server checked away from it)")
def wsgi_pass_authorization(cmd: CmdParms, conf: WSGIDirConfig, v: bool) -> None:
    conf.pass_authorization = v


# --- hooks ------------------------------------------------------------------------------
@wsgi.hook("translate_name", order=FIRST, needs=True)
def translate_wsgi(r: Request) -> int:
    return translate(r, "wsgi-script")


@wsgi.hook("fixups", order=MIDDLE, needs=True)
def fixup_wsgi(r: Request) -> int:
    return fixup_handler(r, "wsgi-script")


@wsgi.hook("child_init")
def child_init(tree: Any, loop: Any) -> None:
    paths = tree.main.module_config[wsgi.index].python_path
    if paths:
        common.add_python_path(paths)


@wsgi.hook("child_exit")
def child_exit(tree: Any) -> None:
    st = tree.extra.get("pyapps")
    if st is not None and st.pid == os.getpid() and st.pool is not None:
        st.pool.shutdown()
        st.pool = None


def _pool(r: Request) -> ThreadPool:
    st = process_state(r.tree)
    pool = st.pool
    if pool is None:
        n = r.tree.main.module_config[wsgi.index].threads
        pool = st.pool = ThreadPool(DEFAULT_THREADS if n is UNSET else n)
    return pool


# --- application groups -----------------------------------------------------------------
def application_group(r: Request, spec: str | None, script_name: str) -> str:
    """Expand WSGIApplicationGroup's %{...} forms for this request. The server part is
    the configured ServerName (and port unless 80/443), as mod_wsgi has it, never the
    client's Host header: one copy per server, however clients spell its name."""
    if spec == "%{GLOBAL}":
        return ""
    if spec is not None and spec.startswith("%{ENV:") and spec.endswith("}"):
        return r.subprocess_env.get(spec[6:-1], "")
    if spec is not None and spec not in ("%{RESOURCE}", "%{SERVER}"):
        return spec
    s = r.server
    port = s.port
    host = (s.server_hostname or "localhost") + \
        ("" if port in (0, 80, 443) else f":{port}")
    return host if spec == "%{SERVER}" else f"{host}|{script_name}"


# --- the handler ------------------------------------------------------------------------
@wsgi.handler("wsgi-script")
async def wsgi_handler(r: Request) -> int:
    mount, status = script_precheck(r, "wsgi-script", "WSGI")
    if status:
        return status
    path = r.filename or ""
    st = r.finfo
    dc: WSGIDirConfig = r.per_dir_config[wsgi.index]
    script_name, path_info = script_name_and_path_info(r)
    spec = mount.application_group if mount is not None and mount.application_group \
        else (dc.application_group if dc.application_group is not UNSET else None)
    group = application_group(r, spec, script_name)
    cname = mount.callable if mount is not None else "application"
    state = process_state(r.tree)
    key = (group, path, cname)
    entry = state.apps.get(key)
    if entry is None:
        entry = state.apps[key] = WSGIEntry(path, cname, group)
    loop = r.connection.loop
    job = WSGIJob(r, loop, entry, st.st_mtime_ns, flag(dc.reloading, True))
    job.environ = build_environ(r, job, dc, mount, script_name, path_info, group)
    pool = _pool(r)
    fut = pool.submit(loop, job.run)
    secs = r.server.module_config[wsgi.index].request_timeout
    if not secs or secs is UNSET:
        return job.finish(await fut)
    timer = loop.call_later(secs, pool.abandon, fut, RequestTimeout())
    try:
        res = await fut
    except RequestTimeout:
        job.timed_out = True
        job.gone = True
        r.log_error(ERROR, f"{TAG} (pid={os.getpid()}): WSGI script '{path}' did not "
                           f"complete its response within WSGIRequestTimeout ({secs:g} "
                           f"seconds); its thread is abandoned ({pool.stuck} abandoned in "
                           "this process).")
        return 504
    finally:
        timer.cancel()
    return job.finish(res)


class RequestTimeout(Exception):
    """WSGIRequestTimeout expired for a request."""


__all__ = ["wsgi"]
