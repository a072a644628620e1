"""The core's error-log directives (LogLevel, ErrorLog), 2.2's core authentication
directives (AuthType, AuthName, Satisfy, Require) and PidFile.

Rows of the core module, registered on :data:`~featherd.core.core_module.core` when
:mod:`featherd.core.core_module` imports this file (import that module, not this one).
"""

from __future__ import annotations

from typing import Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.parser import CmdParms
from featherd.core.core_module import RSRC, SERVER, CoreDirConfig, core
from featherd.errors import DirectiveError
from featherd.log import parse_level


@core.directive("LogLevel", args=ArgSpec.ITERATE, context=RSRC,
                syntax="LogLevel [module:]level",
                help="Level of verbosity in error logging")
def log_level(cmd: CmdParms, conf: Any, v: str) -> None:
    if ":" in v:
        mod, _, lvl = v.partition(":")
        n = parse_level(lvl)
        if n is None:
            raise DirectiveError("LogLevel requires level keyword: one of emerg/alert/crit/"
                                 "error/warn/notice/info/debug")
        cmd.tree.extra.setdefault("module_loglevels", {})[mod.lower()] = n
        return
    n = parse_level(v)
    if n is None:
        raise DirectiveError("LogLevel requires level keyword: one of emerg/alert/crit/error/"
                             "warn/notice/info/debug")
    cmd.server.loglevel = n


@core.directive("ErrorLog", args=ArgSpec.TAKE1, context=RSRC,
                help="The filename of the error log")
def error_log(cmd: CmdParms, conf: Any, v: str) -> None:
    cmd.server.error_fname = v


# --- 2.2 core authentication hooks' directives -------------------------------------
@core.directive("AuthType", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                override=Override.AUTHCFG, help="An HTTP authorization type (e.g., \"Basic\")")
def auth_type(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    conf.auth_type = None if v.lower() == "none" else v


@core.directive("AuthName", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                override=Override.AUTHCFG, help="The authentication realm (e.g. \"Members Only\")")
def auth_name(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    conf.auth_name = v


@core.directive("Satisfy", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                override=Override.AUTHCFG, syntax="Satisfy Any|All",
                help="access policy if both allow and require used ('all' or 'any')")
def satisfy(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    lv = v.lower()
    if lv not in ("all", "any"):
        raise DirectiveError("Satisfy either 'any' or 'all'.")
    conf.satisfy = lv


@core.directive("Require", args=ArgSpec.RAW_ARGS, context=Context.DIR_HTACCESS,
                override=Override.AUTHCFG, syntax="Require entity-name [entity-name] ...",
                help="Selects which authenticated users or groups may access a protected space")
def require(cmd: CmdParms, conf: CoreDirConfig, raw: str) -> None:
    cur = list(conf.requires or [])
    methods = cmd.limited
    if cmd.limit_except and methods is not None:
        methods = frozenset({"__except__", *methods})
    cur.append((methods, raw.strip()))
    conf.requires = cur
    name, rest = ([*raw.split(None, 1), ""])[:2]
    if name.lower() == "not":
        name, rest = ([*rest.split(None, 1), ""])[:2]
    prov = cmd.tree.providers.get(("authz", name.lower()))
    if getattr(prov, "parse_at_directive", False):
        prov.parse(rest.strip())        # 2.4: a bad line is an error at its own line


@core.directive("PidFile", args=ArgSpec.TAKE1, context=SERVER,
                help="A file for logging the server process ID")
def pid_file(cmd: CmdParms, conf: Any, path: str) -> None:
    cmd.tree.extra["pidfile"] = path
