"""mod_authn_anon: the "anon" authn provider, anonymous access "FTP style": listed user
IDs (or ``*``) are let in, the password being taken as an e-mail address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.aaa.common import (
    AUTH_DENIED,
    AUTH_GRANTED,
    AUTH_USER_NOT_FOUND,
    INFO,
    flag,
)

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class AnonConfig:
    users: Any = UNSET          # list of user IDs (compared without case)
    anyuserid: Any = UNSET
    nouserid: Any = UNSET
    logemail: Any = UNSET
    verifyemail: Any = UNSET
    mustemail: Any = UNSET


authn_anon = Module("authn_anon_module", "mod_authn_anon.c", dir_config=AnonConfig,
                    description="Allows \"anonymous\" user access to authenticated areas")
DIR = Context.DIR_HTACCESS


@authn_anon.directive("Anonymous", args=ArgSpec.ITERATE, context=DIR,
                      override=Override.AUTHCFG, syntax="Anonymous user [user] ...",
                      help="a space-separated list of user IDs")
def anonymous(cmd: CmdParms, conf: AnonConfig, user: str) -> None:
    if not user:
        raise DirectiveError("Anonymous string cannot be empty, use Anonymous_NoUserId")
    if conf.anyuserid is True:
        return
    if user == "*":
        conf.anyuserid = True
        return
    conf.users = [*(conf.users or []), user]


def _flag(name: str, attr: str) -> None:
    def fn(cmd: CmdParms, conf: AnonConfig, on: bool) -> None:
        setattr(conf, attr, on)
    fn.__name__ = attr
    authn_anon.directive(name, args=ArgSpec.FLAG, context=DIR, override=Override.AUTHCFG,
                         syntax=f"{name} On|Off", help="Limited to 'on' or 'off'")(fn)


_flag("Anonymous_MustGiveEmail", "mustemail")
_flag("Anonymous_NoUserId", "nouserid")
_flag("Anonymous_VerifyEmail", "verifyemail")
_flag("Anonymous_LogEmail", "logemail")


class AnonProvider:
    def check_password(self, r: Request, user: str, sent_pw: str) -> int:
        c: AnonConfig = r.per_dir_config[authn_anon.index]
        anyuser = c.anyuserid is True
        users = c.users if c.users is not UNSET else []
        if not users and not anyuser:
            return AUTH_USER_NOT_FOUND
        found = False
        if not user:
            found = flag(c.nouserid, False)
        elif anyuser:
            found = True
        else:
            found = any(user.lower() == u.lower() for u in users)
        if found:
            must = flag(c.mustemail, True)
            verify = flag(c.verifyemail, False)
            if ((not must and not sent_pw) or (sent_pw and not verify)
                    or (sent_pw and verify and "@" in sent_pw and "." in sent_pw)):
                if flag(c.logemail, True) and r.main is None and r.prev is None:
                    r.log_error(INFO, f"Anonymous: Passwd <{sent_pw}> Accepted")
                return AUTH_GRANTED
            return AUTH_DENIED
        return AUTH_USER_NOT_FOUND


authn_anon.provider("authn", "anon", AnonProvider())
