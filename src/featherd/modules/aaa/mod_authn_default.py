"""mod_authn_default (2.2): the last check_user_id. An AuthType that no module handled
ends in 401 unless AuthDefaultAuthoritative is Off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.access import auth_type
from featherd.core.hooks import DECLINED, LAST
from featherd.core.module import Module
from featherd.modules.aaa.common import ERROR, flag, note_auth_failure

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class AuthnDefaultConfig:
    authoritative: Any = UNSET


authn_default = Module("authn_default_module", "mod_authn_default.c",
                       dir_config=AuthnDefaultConfig,
                       description="Authentication fallback module")


@authn_default.directive("AuthDefaultAuthoritative", args=ArgSpec.FLAG,
                         context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                         syntax="AuthDefaultAuthoritative On|Off",
                         help="Set to 'Off' to allow access control to be passed along to "
                              "lower modules if the UserID is not known to this module. "
                              "(default is On).")
def authoritative(cmd: CmdParms, conf: AuthnDefaultConfig, on: bool) -> None:
    conf.authoritative = on


@authn_default.hook("check_user_id", order=LAST)
def authentication_no_config(r: Request) -> int:
    if auth_type(r) is None:
        return DECLINED
    if not flag(r.per_dir_config[authn_default.index].authoritative, True):
        return DECLINED
    r.log_error(ERROR, f"access to {r.uri} failed, reason: verification of user id "
                       f"'{r.user if r.user else '<null>'}' not configured")
    note_auth_failure(r)
    return 401
