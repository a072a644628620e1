"""MPM directives (mpm_common, event, worker, prefork), mapped onto featherd's model:
a master process and N worker processes, each one event loop serving many
connections at once. Every row's help says what the directive means here."""

from __future__ import annotations

import grp
import os
import pwd
from typing import Any

from featherd.config.directives import ArgSpec, Context, int_arg
from featherd.config.parser import CmdParms
from featherd.core.hooks import DECLINED, REALLY_FIRST, REALLY_LAST
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.mpm import scoreboard

mpm = Module("mpm_event_module", "event.c",
             description="featherd's event MPM: a master and event-loop worker processes")


def _int(name: str, v: str, lo: int = 0) -> int:
    return int_arg(name, v, lo)


def _setting(name: str, help: str, lo: int = 0, key: str | None = None) -> None:
    def fn(cmd: CmdParms, conf: Any, v: str) -> None:
        cmd.tree.extra.setdefault("mpm", {})[key or name] = _int(name, v, lo)
    fn.__name__ = name.lower()
    mpm.directive(name, args=ArgSpec.TAKE1, context=Context.SERVER, help=help)(fn)


_setting("StartServers", "Number of worker processes to start (featherd: the number of "
         "event-loop worker processes; default: CPUs, at most 4)", 1)
_setting("ServerLimit", "Upper limit on the number of worker processes (and the scoreboard's "
         "process rows, at least twice the workers so that a graceful restart has room; "
         "fixed at start-up)", 1)
_setting("MaxClients", "Maximum number of connections served at once (featherd: shared "
         "among the worker processes; a worker at its share stops accepting until one of its "
         "connections closes, and logs 'server reached MaxClients setting' once; unset: as "
         "many as the open-files limit allows)", 1)
_setting("MaxRequestWorkers", "2.4 name of MaxClients", 1, key="MaxClients")
_setting("ThreadsPerChild", "Number of threads each child creates (featherd: an event loop "
         "has no threads; this is the number of scoreboard slots of each worker, one per "
         "connection shown by mod_status; default 25)", 1)
_setting("ThreadLimit", "Maximum ThreadsPerChild (accepted)", 1)
_setting("MinSpareThreads", "Minimum number of idle threads (accepted; event loops are never "
         "short of idle threads)", 0)
_setting("MaxSpareThreads", "Maximum number of idle threads (accepted)", 0)
_setting("MinSpareServers", "prefork: minimum number of idle children (accepted; mapped to "
         "StartServers when that is unset)", 0)
_setting("MaxSpareServers", "prefork: maximum number of idle children (accepted)", 0)
_setting("MaxRequestsPerChild", "Maximum number of connections a worker serves before it is "
         "replaced (0 = never; keep-alive requests count once, as in Apache); the worker "
         "finishes its requests gracefully and the master starts a new one", 0)
_setting("MaxConnectionsPerChild", "2.4 name of MaxRequestsPerChild", 0,
         key="MaxRequestsPerChild")
_setting("ListenBacklog", "Maximum length of the queue of pending connections", 1)
_setting("GracefulShutdownTimeout", "Seconds a graceful stop waits for requests in flight "
         "(0 = no limit)", 0)
_setting("AsyncRequestWorkerFactor", "event: accepted", 0)
_setting("ReceiveBufferSize", "TCP receive buffer size (0 = OS default)", 0)
_setting("SendBufferSize", "TCP send buffer size (0 = OS default)", 0)


@mpm.directive("User", args=ArgSpec.TAKE1, context=Context.SERVER,
               help="Effective user id for the workers (when started as root)")
def user(cmd: CmdParms, conf: Any, name: str) -> None:
    if name.startswith("#"):
        uid = int(name[1:])
    else:
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            raise DirectiveError(f"Bad user name {name}") from None
    cmd.tree.extra.setdefault("mpm", {})["User"] = (name, uid)


@mpm.directive("Group", args=ArgSpec.TAKE1, context=Context.SERVER,
               help="Effective group id for the workers (when started as root)")
def group(cmd: CmdParms, conf: Any, name: str) -> None:
    if name.startswith("#"):
        gid = int(name[1:])
    else:
        try:
            gid = grp.getgrnam(name).gr_gid
        except KeyError:
            raise DirectiveError(f"Bad group name {name}") from None
    cmd.tree.extra.setdefault("mpm", {})["Group"] = (name, gid)


@mpm.directive("CoreDumpDirectory", args=ArgSpec.TAKE1, context=Context.SERVER,
               help="The location of the directory Apache changes to before dumping core")
def core_dump_directory(cmd: CmdParms, conf: Any, path: str) -> None:
    p = cmd.server_root_relative(path)
    if not os.path.isdir(p):
        raise DirectiveError(f"CoreDumpDirectory {p} does not exist")
    cmd.tree.extra.setdefault("mpm", {})["CoreDumpDirectory"] = p


def _accepted(name: str, args: ArgSpec, help: str) -> None:
    def fn(cmd: CmdParms, conf: Any, *a: Any) -> None:
        cmd.tree.extra.setdefault("mpm", {})[name] = a
    fn.__name__ = name.lower()
    mpm.directive(name, args=args, context=Context.SERVER, help=help)(fn)


_accepted("LockFile", ArgSpec.TAKE1, "The lockfile used when Apache needs to lock the accept() "
          "call (accepted; featherd needs no accept mutex)")
_accepted("AcceptMutex", ArgSpec.TAKE1, "Trading off speed and robustness of the accept mutex "
          "(accepted; not needed)")
_accepted("Mutex", ArgSpec.RAW_ARGS, "2.4 mutex configuration (accepted; not needed)")
_accepted("ScoreBoardFile", ArgSpec.TAKE1, "A file for the scoreboard (featherd uses anonymous "
          "shared memory; accepted)")
_accepted("MaxMemFree", ArgSpec.TAKE1, "Maximum free memory kept by allocators (accepted)")
_accepted("ThreadStackSize", ArgSpec.TAKE1, "Thread stack size (accepted)")
_accepted("EnableExceptionHook", ArgSpec.FLAG, "Enables a hook that runs exception handlers "
          "after a crash (accepted)")
_accepted("RLimitCPU", ArgSpec.TAKE12, "Limits the CPU consumption of processes launched by "
          "featherd children (CGI)")
_accepted("RLimitMEM", ArgSpec.TAKE12, "Limits the memory consumption of processes launched by "
          "featherd children (CGI)")
_accepted("RLimitNPROC", ArgSpec.TAKE12, "Limits the number of processes that can be launched "
          "by processes launched by featherd children (CGI)")
_accepted("AcceptFilter", ArgSpec.TAKE2, "Configures optimizations for a protocol's listener "
          "sockets (accepted)")


# --- the scoreboard, kept by the MPM for mod_status ---------------------------------------
_BOARD = scoreboard._BOARD
_W, _K, _C = scoreboard.WRITE[0], scoreboard.KEEPALIVE[0], scoreboard.CLOSING[0]


@mpm.hook("post_read_request", order=REALLY_FIRST)
def scoreboard_request(r: Any) -> int:
    """The connection's slot shows W and (ExtendedStatus) what is being served."""
    sb = _BOARD[0]
    if sb is not None:
        c = r.connection
        off = c.notes.get("sb", -1)
        if off >= 0:
            if sb.extended:
                sb.request_started(off, c.client_ip, r.server.server_hostname or "",
                                   r.the_request or "")
            else:
                sb.mm[off] = _W
    return DECLINED


@mpm.hook("log_transaction", order=REALLY_LAST)
def scoreboard_done(r: Any) -> int:
    """After logging: the counters (ExtendedStatus), then K (keep-alive) or C."""
    sb = _BOARD[0]
    if sb is not None:
        c = r.connection
        off = c.notes.get("sb", -1)
        if sb.extended:
            sb.request_done(off, r.final.bytes_sent or 0, bool(c.keepalive))
        elif off >= 0:
            sb.mm[off] = _K if c.keepalive else _C
    return DECLINED
