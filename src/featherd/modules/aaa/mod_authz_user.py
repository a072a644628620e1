"""mod_authz_user: ``Require user`` and ``Require valid-user`` (2.2's auth_checker with
AuthzUserAuthoritative; the 2.4 ``user``/``valid-user`` providers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.access import requires_for
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.modules.aaa.common import (
    AUTHZ_DENIED,
    AUTHZ_DENIED_NO_USER,
    AUTHZ_GRANTED,
    ERROR,
    conf_words,
    flag,
    note_auth_failure,
    require_words,
)

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class AuthzUserConfig:
    authoritative: Any = UNSET


authz_user = Module("authz_user_module", "mod_authz_user.c", dir_config=AuthzUserConfig,
                    description="User Authorization")


@authz_user.directive("AuthzUserAuthoritative", args=ArgSpec.FLAG, context=Context.DIR_HTACCESS,
                      override=Override.AUTHCFG, syntax="AuthzUserAuthoritative On|Off",
                      help="Set to 'Off' to allow access control to be passed along to lower "
                           "modules if the 'require user' or 'require valid-user' statement "
                           "is not met. (default: On).")
def authoritative(cmd: CmdParms, conf: AuthzUserConfig, on: bool) -> None:
    conf.authoritative = on


@authz_user.hook("auth_checker")
def check_user_access(r: Request) -> int:
    reqs = requires_for(r)
    if not reqs:
        return DECLINED
    required_user = False
    user = r.user or ""
    for line in reqs:
        if not isinstance(line, str):
            continue
        w, rest = require_words(line)
        lw = w.lower()
        if lw == "valid-user":
            return OK
        if lw == "user":
            required_user = True
            if user in conf_words(rest):
                return OK
    if not required_user:
        return DECLINED
    if not flag(r.per_dir_config[authz_user.index].authoritative, True):
        return DECLINED
    r.log_error(ERROR, f"access to {r.uri} failed, reason: user '{r.user}' does not meet "
                       "'require'ments for user/valid-user to be allowed access")
    note_auth_failure(r)
    return 401


class UserProvider:
    def check(self, r: Request, args: str, parsed: Any) -> int:
        if not r.user:
            return AUTHZ_DENIED_NO_USER
        if r.user in conf_words(args):
            return AUTHZ_GRANTED
        r.log_error(ERROR, f"access to {r.uri} failed, reason: user '{r.user}' does not meet "
                           "'require'ments for user to be allowed access")
        return AUTHZ_DENIED


class ValidUserProvider:
    def check(self, r: Request, args: str, parsed: Any) -> int:
        return AUTHZ_GRANTED if r.user else AUTHZ_DENIED_NO_USER


authz_user.provider("authz", "user", UserProvider())
authz_user.provider("authz", "valid-user", ValidUserProvider())
