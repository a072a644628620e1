"""The core's per-server directives: timeouts and request limits, KeepAlive, the
server's identity (ServerName, ServerAlias, ServerAdmin, ServerPath, DocumentRoot),
AccessFileName, TraceEnable, LimitInternalRecursion, UseCanonicalPhysicalPort,
ServerTokens.

Rows of the core module, registered on :data:`~featherd.core.core_module.core` when
:mod:`featherd.core.core_module` imports this file (import that module, not this one).
"""

from __future__ import annotations

import os
import re
from typing import Any

from featherd.config.directives import ArgSpec, Context, int_arg
from featherd.config.parser import CmdParms
from featherd.core.core_module import ACCESS, RSRC, SERVER, CoreServerConfig, core
from featherd.errors import DirectiveError


# --- server identity and limits ----------------------------------------------------
def _server_level_setter(field_name: str, conv: Any, help: str, syntax: str = "",
                         context: Context = RSRC) -> None:
    def fn(cmd: CmdParms, conf: Any, value: str) -> None:
        setattr(cmd.server, field_name, conv(value))
    core.directive(field_name, args=ArgSpec.TAKE1, context=context, help=help,
                   syntax=syntax)(fn)


def _int_arg(name: str, lo: int = 0) -> Any:
    def conv(v: str) -> int:
        return int_arg(name, v, lo)
    return conv


def _server_directive(name: str, attr: str, conv: Any, help: str) -> None:
    def fn(cmd: CmdParms, conf: Any, value: str) -> None:
        setattr(cmd.server, attr, conv(value))
    fn.__name__ = attr
    core.directive(name, args=ArgSpec.TAKE1, context=RSRC, help=help)(fn)


def _seconds(name: str) -> Any:
    def conv(v: str) -> float:
        s = v.strip().lower()
        mult = 1.0
        if s.endswith("ms"):
            s, mult = s[:-2], 0.001
        try:
            return float(int(s)) * mult
        except ValueError:
            raise DirectiveError(f"{name} argument is not a number") from None
    return conv


_server_directive("TimeOut", "timeout", _seconds("TimeOut"), "Timeout duration (sec)")
_server_directive("KeepAliveTimeout", "keep_alive_timeout", _seconds("KeepAliveTimeout"),
                  "Keep-Alive timeout duration (sec)")
_server_directive("MaxKeepAliveRequests", "keep_alive_max", _int_arg("MaxKeepAliveRequests"),
                  "Maximum number of Keep-Alive requests per connection, or 0 for infinite")
_server_directive("LimitRequestLine", "limit_req_line", _int_arg("LimitRequestLine"),
                  "Limit on maximum size of an HTTP request line")
_server_directive("LimitRequestFieldsize", "limit_req_fieldsize",
                  _int_arg("LimitRequestFieldsize"),
                  "Limit on maximum size of an HTTP request header field")
_server_directive("LimitRequestFields", "limit_req_fields", _int_arg("LimitRequestFields"),
                  "Limit (0 = unlimited) on max number of header fields in a request message")


@core.directive("KeepAlive", args=ArgSpec.FLAG, context=RSRC,
                help="Whether persistent connections should be On or Off")
def keep_alive(cmd: CmdParms, conf: Any, on: bool) -> None:
    cmd.server.keep_alive = on


@core.directive("ServerName", args=ArgSpec.TAKE1, context=RSRC,
                syntax="ServerName [scheme://]fully-qualified-domain-name[:port]",
                help="The hostname and port of the server")
def server_name(cmd: CmdParms, conf: Any, name: str) -> None:
    scheme = None
    if "://" in name:
        scheme, name = name.split("://", 1)
    host, port = name, 0
    m = re.match(r"^(\[[^\]]+\]|[^:]*)(?::(\d+))?$", name)
    if not m:
        raise DirectiveError(f"Invalid ServerName \"{name}\" use a fully qualified name")
    host = m.group(1)
    if m.group(2):
        port = int(m.group(2))
    cmd.server.server_hostname = host
    cmd.server.port = port
    cmd.server.server_scheme = scheme


@core.directive("ServerAlias", args=ArgSpec.ITERATE, context=Context.VHOST,
                help="A name or names alternately used to access the server")
def server_alias(cmd: CmdParms, conf: Any, name: str) -> None:
    if any(c in name for c in "*?["):
        cmd.server.wild_names.append(name.lower())
    else:
        cmd.server.names.append(name.lower())


@core.directive("ServerAdmin", args=ArgSpec.TAKE1, context=RSRC,
                help="The email address of the server administrator")
def server_admin(cmd: CmdParms, conf: Any, addr: str) -> None:
    cmd.server.server_admin = addr


@core.directive("ServerPath", args=ArgSpec.TAKE1, context=RSRC,
                help="The pathname the server can be reached at")
def server_path(cmd: CmdParms, conf: Any, p: str) -> None:
    cmd.server.path = p


@core.directive("DocumentRoot", args=ArgSpec.TAKE1, context=RSRC,
                help="Root directory of the document tree")
def document_root(cmd: CmdParms, conf: CoreServerConfig, path: str) -> None:
    p = cmd.server_root_relative(path)
    p = os.path.normpath(p) if p != "/" else p
    if not os.path.isdir(p):
        cmd.tree.warnings.append(f"Warning: DocumentRoot [{p}] does not exist")
    conf.document_root = p


@core.directive("AccessFileName", args=ArgSpec.TAKE_ARGV, context=RSRC,
                syntax="AccessFileName filename [filename] ...",
                help="Name(s) of per-directory config files (default: .htaccess)")
def access_file_name(cmd: CmdParms, conf: CoreServerConfig, names: list[str]) -> None:
    if not names:
        raise DirectiveError("AccessFileName requires at least one argument, Name(s) of "
                             "per-directory config files (default: .htaccess)")
    conf.access_name = list(names)


@core.directive("TraceEnable", args=ArgSpec.TAKE1, context=SERVER,
                help="'on' (default), 'off' or 'extended' to trace request body content")
def trace_enable(cmd: CmdParms, conf: CoreServerConfig, v: str) -> None:
    v = v.lower()
    if v not in ("on", "off", "extended"):
        raise DirectiveError("TraceEnable must be one of 'on', 'off', or 'extended'")
    conf.trace_enable = v


@core.directive("LimitInternalRecursion", args=ArgSpec.TAKE12, context=RSRC,
                help="maximum recursion depth of internal redirects and subrequests")
def limit_internal_recursion(cmd: CmdParms, conf: CoreServerConfig, a: str, b: str | None) -> None:
    conf.redirect_limit = int_arg("LimitInternalRecursion", a)
    conf.subreq_limit = int_arg("LimitInternalRecursion", b if b is not None else a)


@core.directive("UseCanonicalPhysicalPort", args=ArgSpec.FLAG, context=ACCESS,
                conf="server", help="Whether to use the physical Port when constructing URLs")
def use_canonical_physical_port(cmd: CmdParms, conf: CoreServerConfig, on: bool) -> None:
    conf.use_canonical_physical_port = on


@core.directive("ServerTokens", args=ArgSpec.TAKE1, context=SERVER,
                syntax="ServerTokens Major|Minor|Min[imal]|Prod[uctOnly]|OS|Full",
                help="Determine tokens displayed in the Server: header - Min(imal), "
                     "Major, Minor, Prod(uctOnly), OS, or Full")
def server_tokens(cmd: CmdParms, conf: Any, v: str) -> None:
    m = v.lower()
    table = {"os": "os", "min": "min", "minimal": "min", "major": "major", "minor": "minor",
             "prod": "prod", "productonly": "prod", "full": "full"}
    cmd.tree.extra["server_tokens"] = table.get(m, "full")
