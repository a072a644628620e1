"""The core's configuration-language directives: ServerRoot, Include, IncludeOptional,
<IfModule>, <IfDefine>, <IfVersion> (mod_version's), Define, UnDefine.

Rows of the core module, registered on :data:`~featherd.core.core_module.core` when
:mod:`featherd.core.core_module` imports this file (import that module, not this one).
"""

from __future__ import annotations

import os
import re
from typing import Any

from featherd import APACHE_COMPAT_VERSION
from featherd.config.directives import ArgSpec, Override
from featherd.config.parser import CmdParms, include
from featherd.core.core_module import ACCESS, ALL, RSRC, SERVER, core, version
from featherd.errors import DirectiveError


# --- the configuration language itself -------------------------------------------
@core.directive("ServerRoot", args=ArgSpec.TAKE1, context=SERVER,
                help="Common directory of server-related files (logs, confs, etc.)")
def server_root(cmd: CmdParms, conf: Any, path: str) -> None:
    p = os.path.abspath(os.path.join(cmd.tree.server_root, path))
    if not os.path.isdir(p):
        raise DirectiveError("ServerRoot must be a valid directory")
    cmd.tree.server_root = p


@core.directive("Include", args=ArgSpec.TAKE1, context=ACCESS,
                help="Name(s) of the config file(s) to be included; fails if the wildcard "
                     "does not match at least one file")
def include_(cmd: CmdParms, conf: Any, path: str) -> None:
    include(cmd, path, optional=False)


@core.directive("IncludeOptional", args=ArgSpec.TAKE1, context=ACCESS,
                help="Name or pattern of the config file(s) to be included; ignored if the "
                     "file does not exist or the pattern does not match any files")
def include_optional(cmd: CmdParms, conf: Any, path: str) -> None:
    include(cmd, path, optional=True)


def _cond_arg(cmd: CmdParms, what: str) -> str:
    a = cmd.node.args.strip() if cmd.node else ""
    if not a:
        raise DirectiveError(f"<{what}> directive requires additional arguments")
    return a


@core.directive("IfModule", args=ArgSpec.RAW_ARGS, context=ALL, override=Override.ALL,
                container=True, syntax="<IfModule [!]module-file|module-identifier> ... </IfModule>",
                help="Container for directives based on existence of specified modules")
def if_module(cmd: CmdParms, conf: Any, raw: str) -> None:
    arg = _cond_arg(cmd, "IfModule")
    neg = arg.startswith("!")
    name = arg[1:] if neg else arg
    found = cmd.tree.module_by_source(name) is not None and (
        cmd.tree.module_by_source(name).name in cmd.tree.loaded)  # type: ignore[union-attr]
    if found != neg:
        assert cmd.node and cmd.node.children is not None
        cmd.walk(cmd.node.children)


@core.directive("IfDefine", args=ArgSpec.RAW_ARGS, context=ALL, override=Override.ALL,
                container=True, syntax="<IfDefine [!]parameter-name> ... </IfDefine>",
                help="Container for directives based on existence of command line defines")
def if_define(cmd: CmdParms, conf: Any, raw: str) -> None:
    arg = _cond_arg(cmd, "IfDefine")
    neg = arg.startswith("!")
    name = arg[1:] if neg else arg
    if (name in cmd.tree.defines) != neg:
        assert cmd.node and cmd.node.children is not None
        cmd.walk(cmd.node.children)


_VER_RE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


def version_matches(op: str, spec: str, have: tuple[int, int, int] = APACHE_COMPAT_VERSION) -> bool:
    if op in ("~",) or (spec.startswith("/") and spec.endswith("/")):
        pat = spec[1:-1] if spec.startswith("/") else spec
        return re.search(pat, ".".join(map(str, have))) is not None
    m = _VER_RE.match(spec)
    if not m:
        raise DirectiveError("Version appears to be invalid. It must have the format "
                             "major[.minor[.patch]] where major, minor and patch are numbers.")
    want = tuple(int(x) if x is not None else None for x in m.groups())
    if op in ("=", "=="):
        return all(w is None or w == h for w, h in zip(want, have, strict=True))
    full = tuple(w if w is not None else 0 for w in want)
    if op == ">":
        return have > full
    if op == ">=":
        return have >= full
    if op == "<":
        return have < full
    if op == "<=":
        return have <= full
    raise DirectiveError(f"unrecognized operator '{op}'")


@version.directive("IfVersion", args=ArgSpec.RAW_ARGS, context=ALL, override=Override.ALL,
                container=True, syntax="<IfVersion [[!]operator] version> ... </IfVersion>",
                help="a comparison operator followed by a version, or a regular expression")
def if_version(cmd: CmdParms, conf: Any, raw: str) -> None:
    words = _cond_arg(cmd, "IfVersion").split()
    neg = False
    if words[0].startswith("!"):
        neg = True
        words[0] = words[0][1:]
        if not words[0]:
            words.pop(0)
    if len(words) == 1:
        op, spec = ("~" if words[0].startswith("/") else "="), words[0]
    elif len(words) == 2:
        op, spec = words
    else:
        raise DirectiveError("<IfVersion> takes 1-2 arguments")
    if version_matches(op, spec) != neg:
        assert cmd.node and cmd.node.children is not None
        cmd.walk(cmd.node.children)


@core.directive("Define", args=ArgSpec.TAKE12, context=RSRC,
                syntax="Define parameter-name [parameter-value]",
                help="Define a variable, optionally to a value.  Same as passing -D to the command "
                     "line.")
def define(cmd: CmdParms, conf: Any, name: str, value: str | None) -> None:
    cmd.tree.defines.add(name)
    if value is not None:
        cmd.tree.define_vars[name] = value


@core.directive("UnDefine", args=ArgSpec.TAKE1, context=RSRC, help="Undefine a variable")
def undefine(cmd: CmdParms, conf: Any, name: str) -> None:
    cmd.tree.defines.discard(name)
    cmd.tree.define_vars.pop(name, None)
