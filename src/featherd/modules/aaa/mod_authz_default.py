"""mod_authz_default (2.2): the last auth_checker. Require lines that apply to the method
but that no module granted end in 401, unless AuthzDefaultAuthoritative is Off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.access import requires_for
from featherd.core.hooks import DECLINED, LAST, OK
from featherd.core.module import Module
from featherd.modules.aaa.common import ERROR, flag, note_auth_failure

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class AuthzDefaultConfig:
    authoritative: Any = UNSET


authz_default = Module("authz_default_module", "mod_authz_default.c",
                       dir_config=AuthzDefaultConfig,
                       description="Authorization control as a last resort")


@authz_default.directive("AuthzDefaultAuthoritative", args=ArgSpec.FLAG,
                         context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                         syntax="AuthzDefaultAuthoritative On|Off",
                         help="Set to 'Off' to allow access control to be passed along to "
                              "lower modules. (default is On.)")
def authoritative(cmd: CmdParms, conf: AuthzDefaultConfig, on: bool) -> None:
    conf.authoritative = on


@authz_default.hook("auth_checker", order=LAST)
def check_user_access(r: Request) -> int:
    if not requires_for(r):
        return OK
    if not flag(r.per_dir_config[authz_default.index].authoritative, True):
        return DECLINED
    r.log_error(ERROR, f"access to {r.uri} failed, reason: require directives present and no "
                       "Authoritative handler.")
    note_auth_failure(r)
    return 401
