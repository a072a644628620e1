"""mod_env: SetEnv, UnsetEnv and PassEnv (Apache 2.2's mod_env.c).

The variables go into ``r.subprocess_env`` in the fixups phase, so they are seen by
handlers (CGI, SSI), by the access log's ``%{VAR}e`` and by the core's special-purpose
variables (nokeepalive, force-response-1.0, ...), but not by SetEnvIf or RewriteCond,
which run earlier (manual: mod_env, "Environment Variables").

Merging follows merge_env_dir_configs: the parent's variables, minus the names the child
unsets, plus the child's own settings. An UnsetEnv only removes a SetEnv/PassEnv that
came before it in the same section, and variables inherited from enclosing sections.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.core.hooks import DECLINED, MIDDLE, OK
from featherd.core.module import Module

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class EnvDirConfig:
    vars: dict[str, str] = field(default_factory=dict)
    unset: set[str] = field(default_factory=set)


class EnvModule(Module):
    def merge_dir_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        if not new.vars and not new.unset:
            return base
        merged = {k: v for k, v in base.vars.items() if k not in new.unset}
        merged.update(new.vars)
        return EnvDirConfig(merged, set())


env = EnvModule("env_module", "mod_env.c", dir_config=EnvDirConfig,
                description="Modifies the environment which is passed to CGI scripts and "
                            "SSI pages")


@env.directive("PassEnv", args=ArgSpec.ITERATE, context=Context.ALL_DIR,
               override=Override.FILEINFO, syntax="PassEnv env-variable [env-variable] ...",
               help="a list of environment variables to pass to CGI.")
def pass_env(cmd: CmdParms, conf: EnvDirConfig, name: str) -> None:
    v = os.environ.get(name)
    if v is None:
        cmd.warn(f"PassEnv variable {name} was undefined")
        return
    conf.vars[name] = v


@env.directive("SetEnv", args=ArgSpec.TAKE12, context=Context.ALL_DIR,
               override=Override.FILEINFO, syntax="SetEnv env-variable value",
               help="an environment variable name and optional value to pass to CGI.")
def set_env(cmd: CmdParms, conf: EnvDirConfig, name: str, value: str | None) -> None:
    conf.vars[name] = value if value is not None else ""


@env.directive("UnsetEnv", args=ArgSpec.ITERATE, context=Context.ALL_DIR,
               override=Override.FILEINFO, syntax="UnsetEnv env-variable [env-variable] ...",
               help="a list of variables to remove from the CGI environment.")
def unset_env(cmd: CmdParms, conf: EnvDirConfig, name: str) -> None:
    conf.unset.add(name)
    conf.vars.pop(name, None)


@env.hook("fixups", order=MIDDLE, needs=True)
def fixup_env(r: Request) -> int:
    c: EnvDirConfig | None = r.per_dir_config[env.index]
    if c is None or not c.vars:
        return DECLINED
    r.subprocess_env.update(c.vars)
    return OK
