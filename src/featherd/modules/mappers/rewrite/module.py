"""mod_rewrite's module object, configuration records and directives.

Per-server record: the engine state and options, the maps, the server-context rules
(and the RewriteCond lines waiting for their rule), RewriteLog/RewriteLogLevel.
Per-directory record: state, options, RewriteBase, the directory the rules belong to
and its rules. The merges are Apache's (config_server_merge, config_perdir_merge):
rules of an enclosing context are only used with ``RewriteOptions inherit`` (after the
local ones) or ``InheritBefore`` (2.4: before them); RewriteEngine and RewriteOptions
are inherited; RewriteBase is not. A section without any mod_rewrite directive leaves
the configuration it is merged onto as it is (Apache creates a module's record for a
section only when one of its directives appears there).
"""

from __future__ import annotations

from typing import Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.parser import CmdParms
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.mappers.rewrite.maps import MapEntry, parse_map
from featherd.modules.mappers.rewrite.rules import CondEntry, RuleEntry, parse_cond, parse_rule

OPTION_INHERIT = 1 << 1
OPTION_INHERIT_BEFORE = 1 << 2
OPTION_NOSLASH = 1 << 3
OPTION_ANYURI = 1 << 4
OPTION_MERGEBASE = 1 << 5
OPTION_INHERIT_DOWN = 1 << 6
OPTION_INHERIT_DOWN_BEFORE = 1 << 7
OPTION_IGNORE_INHERIT = 1 << 8
OPTION_IGNORE_CONTEXT_INFO = 1 << 9
OPTION_LEGACY_PREFIX_DOCROOT = 1 << 10
OPTION_LONGOPT = 1 << 11

OPTION_NAMES = {
    "inherit": OPTION_INHERIT,
    "inheritbefore": OPTION_INHERIT_BEFORE,
    "inheritdown": OPTION_INHERIT_DOWN,
    "inheritdownbefore": OPTION_INHERIT_DOWN_BEFORE,
    "ignoreinherit": OPTION_IGNORE_INHERIT,
    "allownoslash": OPTION_NOSLASH,
    "allowanyuri": OPTION_ANYURI,
    "mergebase": OPTION_MERGEBASE,
    "ignorecontextinfo": OPTION_IGNORE_CONTEXT_INFO,
    "legacyprefixdocroot": OPTION_LEGACY_PREFIX_DOCROOT,
    "longurloptimization": OPTION_LONGOPT,
}


def _inherit_mode(options: int, base_options: int) -> int:
    """1: local then inherited, 2: inherited then local, 0: local only."""
    if options & OPTION_INHERIT or (base_options & OPTION_INHERIT_DOWN
                                    and not options & OPTION_IGNORE_INHERIT):
        return 1
    if options & OPTION_INHERIT_BEFORE or (base_options & OPTION_INHERIT_DOWN_BEFORE
                                           and not options & OPTION_IGNORE_INHERIT):
        return 2
    return 0


class RewriteServerConfig:
    """rewrite_server_conf."""

    __slots__ = ("state", "state_set", "options", "options_set", "maps", "rules",
                 "pending_conds", "log_file", "log_level", "log_level_set", "lock_file",
                 "log_target", "touched")

    def __init__(self) -> None:
        self.state = False
        self.state_set = False
        self.options = 0
        self.options_set = False
        self.maps: dict[str, MapEntry] = {}
        self.rules: list[RuleEntry] = []
        self.pending_conds: list[CondEntry] = []
        self.log_file: str | None = None        # RewriteLog as written
        self.log_level = 0                      # RewriteLogLevel
        self.log_level_set = False
        self.lock_file: str | None = None
        self.log_target: Any = None             # the opened RewriteLog (open_logs)
        self.touched = False


class RewriteDirConfig:
    """rewrite_perdir_conf."""

    __slots__ = ("state", "state_set", "options", "options_set", "baseurl", "baseurl_set",
                 "directory", "rules", "pending_conds", "touched")

    def __init__(self, path: str | None = None) -> None:
        self.state = False
        self.state_set = False
        self.options = 0
        self.options_set = False
        self.baseurl: str | None = None
        self.baseurl_set = False
        if path is None:
            self.directory: str | None = None
        else:
            self.directory = path if path.endswith("/") else path + "/"
        self.rules: list[RuleEntry] = []
        self.pending_conds: list[CondEntry] = []
        self.touched = False


class RewriteModule(Module):
    def create_dir_config(self, path: str | None) -> Any:
        return RewriteDirConfig(path)

    def create_server_config(self) -> Any:
        return RewriteServerConfig()

    def merge_server_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        a = RewriteServerConfig()
        a.touched = base.touched or new.touched
        a.state = new.state if new.state_set else base.state
        a.state_set = new.state_set or base.state_set
        a.options = new.options if new.options_set else base.options
        a.options_set = new.options_set or base.options_set
        mode = _inherit_mode(a.options, base.options)
        if mode == 1:
            a.maps = {**base.maps, **new.maps}
            a.rules = new.rules + base.rules
        elif mode == 2:
            a.maps = {**new.maps, **base.maps}
            a.rules = base.rules + new.rules
        else:
            a.maps = new.maps
            a.rules = new.rules
        a.log_file = new.log_file if new.log_file is not None else base.log_file
        a.log_level = new.log_level if new.log_level_set else base.log_level
        a.log_level_set = new.log_level_set or base.log_level_set
        a.lock_file = base.lock_file or new.lock_file
        return a

    def merge_dir_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        if not new.touched:
            return base
        a = RewriteDirConfig(None)
        a.touched = True
        a.state = new.state if new.state_set else base.state
        a.state_set = new.state_set or base.state_set
        a.options = new.options if new.options_set else base.options
        a.options_set = new.options_set or base.options_set
        if a.options & OPTION_MERGEBASE:
            a.baseurl = new.baseurl if new.baseurl_set else base.baseurl
            a.baseurl_set = new.baseurl_set or base.baseurl_set
        else:
            a.baseurl = new.baseurl
            a.baseurl_set = new.baseurl_set
        a.directory = new.directory
        mode = _inherit_mode(a.options, base.options)
        if mode == 1:
            a.rules = new.rules + base.rules
        elif mode == 2:
            a.rules = base.rules + new.rules
        else:
            a.rules = new.rules
        return a


rewrite = RewriteModule("rewrite_module", "mod_rewrite.c",
                        description="Provides a rule-based rewriting engine to rewrite "
                                    "requested URLs on the fly")

_CTX = Context.ALL_DIR


def _sconf(cmd: CmdParms) -> RewriteServerConfig:
    sc: RewriteServerConfig = cmd.server.module_config[rewrite.index]
    sc.touched = True
    return sc


def _is_server(cmd: CmdParms) -> bool:
    return cmd.path is None and cmd.where in (Context.SERVER, Context.VHOST)


@rewrite.directive("RewriteEngine", args=ArgSpec.FLAG, context=_CTX,
                   override=Override.FILEINFO, syntax="RewriteEngine on|off",
                   help="On or Off to enable or disable (default) the whole rewriting engine")
def rewrite_engine(cmd: CmdParms, dconf: RewriteDirConfig, on: bool) -> None:
    if _is_server(cmd):
        sc = _sconf(cmd)
        sc.state = on
        sc.state_set = True
    dconf.state = on
    dconf.state_set = True
    dconf.touched = True


@rewrite.directive("RewriteOptions", args=ArgSpec.ITERATE, context=_CTX,
                   override=Override.FILEINFO, syntax="RewriteOptions Options",
                   help="List of option strings to set")
def rewrite_options(cmd: CmdParms, dconf: RewriteDirConfig, opt: str) -> None:
    low = opt.lower()
    if low.startswith("maxredirects="):
        cmd.tree.warnings.append("RewriteOptions: MaxRedirects option has been removed in "
                                 "favor of the global LimitInternalRecursion directive and "
                                 "will be ignored.")
        return
    flag = OPTION_NAMES.get(low)
    if flag is None:
        raise DirectiveError(f"RewriteOptions: unknown option '{opt}'")
    if _is_server(cmd):
        sc = _sconf(cmd)
        sc.options |= flag
        sc.options_set = True
    dconf.options |= flag
    dconf.options_set = True
    dconf.touched = True


@rewrite.directive("RewriteBase", args=ArgSpec.TAKE1, context=_CTX,
                   override=Override.FILEINFO, syntax="RewriteBase URL-path",
                   help="the base URL of the per-directory context")
def rewrite_base(cmd: CmdParms, dconf: RewriteDirConfig, url: str) -> None:
    if _is_server(cmd):
        raise DirectiveError("RewriteBase: only valid in per-directory config files")
    if not url:
        raise DirectiveError("RewriteBase: empty URL not allowed")
    if not url.startswith("/"):
        raise DirectiveError("RewriteBase: argument is not a valid URL")
    dconf.baseurl = url
    dconf.baseurl_set = True
    dconf.touched = True


def _warn(cmd: CmdParms) -> Any:
    return cmd.tree.warnings.append


@rewrite.directive("RewriteCond", args=ArgSpec.RAW_ARGS, context=_CTX,
                   override=Override.FILEINFO,
                   syntax="RewriteCond TestString CondPattern [flags]",
                   help="an input string and a to be applied regexp-pattern")
def rewrite_cond(cmd: CmdParms, dconf: RewriteDirConfig, raw: str) -> None:
    cond = parse_cond(raw, cmd.filename, cmd.line, warn=_warn(cmd))
    if _is_server(cmd):
        _sconf(cmd).pending_conds.append(cond)
    else:
        dconf.pending_conds.append(cond)
        dconf.touched = True


@rewrite.directive("RewriteRule", args=ArgSpec.RAW_ARGS, context=_CTX,
                   override=Override.FILEINFO,
                   syntax="RewriteRule Pattern Substitution [flags]",
                   help="an URL-applied regexp-pattern and a substitution URL")
def rewrite_rule(cmd: CmdParms, dconf: RewriteDirConfig, raw: str) -> None:
    if _is_server(cmd):
        sc = _sconf(cmd)
        rule = parse_rule(raw, sc.pending_conds, cmd.filename, cmd.line)
        sc.pending_conds = []
        sc.rules = [*sc.rules, rule]
    else:
        rule = parse_rule(raw, dconf.pending_conds, cmd.filename, cmd.line)
        dconf.pending_conds = []
        dconf.rules = [*dconf.rules, rule]
        dconf.touched = True


@rewrite.directive("RewriteMap", args=ArgSpec.TAKE23, context=Context.RSRC,
                   syntax="RewriteMap MapName MapType:MapSource",
                   help="a mapname and a filename")
def rewrite_map(cmd: CmdParms, conf: Any, name: str, spec: str, extra: str | None) -> None:
    sc = _sconf(cmd)
    m = parse_map(name, spec, cmd.server_root_relative, extra)
    sc.maps = {**sc.maps, name: m}


@rewrite.directive("RewriteLock", args=ArgSpec.TAKE1, context=Context.SERVER,
                   syntax="RewriteLock file-path",
                   help="the filename of a lockfile used for inter-process synchronization")
def rewrite_lock(cmd: CmdParms, conf: Any, path: str) -> None:
    # prg: lookups are serialised per worker with an asyncio lock; the file is accepted
    # for compatibility and recorded
    _sconf(cmd).lock_file = cmd.server_root_relative(path)


@rewrite.directive("RewriteLog", args=ArgSpec.TAKE1, context=Context.RSRC,
                   syntax="RewriteLog file-path",
                   help="the filename of the rewriting logfile")
def rewrite_log(cmd: CmdParms, conf: Any, path: str) -> None:
    _sconf(cmd).log_file = path


@rewrite.directive("RewriteLogLevel", args=ArgSpec.TAKE1, context=Context.RSRC,
                   syntax="RewriteLogLevel Level",
                   help="the level of the rewriting logfile verbosity (0=none, 1=std, .., "
                        "9=max)")
def rewrite_log_level(cmd: CmdParms, conf: Any, level: str) -> None:
    try:
        n = int(level)
    except ValueError:
        n = 0   # atoi()
    sc = _sconf(cmd)
    sc.log_level = n
    sc.log_level_set = True


__all__ = ["RewriteDirConfig", "RewriteServerConfig", "rewrite"]
