"""mod_auth_basic: HTTP Basic authentication (RFC 2617) through the authn providers
named by AuthBasicProvider ("file" when none is), with AuthBasicAuthoritative."""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.access import auth_name, auth_type
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.modules.aaa.common import (
    AUTH_DENIED,
    AUTH_GENERAL_ERROR,
    AUTH_GRANTED,
    AUTH_USER_NOT_FOUND,
    AUTHN_DEFAULT_PROVIDER,
    AUTHN_PROVIDER_NAME_NOTE,
    ERROR,
    authn_provider_list,
    flag,
    maybe_await,
)

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class BasicConfig:
    providers: Any = UNSET
    authoritative: Any = UNSET


auth_basic = Module("auth_basic_module", "mod_auth_basic.c", dir_config=BasicConfig,
                    description="Basic authentication")


@auth_basic.directive("AuthBasicProvider", args=ArgSpec.ITERATE, context=Context.DIR_HTACCESS,
                      override=Override.AUTHCFG,
                      syntax="AuthBasicProvider provider-name [provider-name] ...",
                      help="specify the auth providers for a directory or location")
def basic_provider(cmd: CmdParms, conf: BasicConfig, name: str) -> None:
    authn_provider_list(cmd, name, "check_password", "Basic")
    conf.providers = [*(conf.providers or []), name]


@auth_basic.directive("AuthBasicAuthoritative", args=ArgSpec.FLAG, context=Context.DIR_HTACCESS,
                      override=Override.AUTHCFG, syntax="AuthBasicAuthoritative On|Off",
                      help="Set to 'Off' to allow access control to be passed along to lower "
                           "modules if the UserID is not known to this module")
def basic_authoritative(cmd: CmdParms, conf: BasicConfig, on: bool) -> None:
    conf.authoritative = on


def note_basic_auth_failure(r: Request) -> None:
    r.err_headers_out.set("WWW-Authenticate", f'Basic realm="{auth_name(r) or ""}"')


auth_basic.provider("note_auth_failure", "basic", note_basic_auth_failure)


def b64decode_lenient(s: str) -> bytes:
    """apr_base64_decode: decode up to the first character outside the alphabet."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    n = 0
    while n < len(s) and s[n] in alphabet:
        n += 1
    body = s[:n]
    body = body[: len(body) - (len(body) % 4 == 1)]
    try:
        return binascii.a2b_base64(body + "=" * (-len(body) % 4))
    except binascii.Error:
        return b""


def get_basic_auth(r: Request) -> tuple[int, str, str]:
    line = r.headers_in.get("Authorization")
    if line is None:
        note_basic_auth_failure(r)
        return 401, "", ""
    scheme, _, rest = line.partition(" ")
    if scheme.lower() != "basic":
        r.log_error(ERROR, f"client used wrong authentication scheme: {r.uri}")
        note_basic_auth_failure(r)
        return 401, "", ""
    decoded = b64decode_lenient(rest.lstrip(" \t")).split(b"\0", 1)[0].decode("latin-1")
    user, _, pw = decoded.partition(":")
    r.user = user
    return OK, user, pw


@auth_basic.hook("check_user_id")
async def authenticate_basic_user(r: Request) -> int:
    t = auth_type(r)
    if t is None or t.lower() != "basic":
        return DECLINED
    if auth_name(r) is None:
        r.log_error(ERROR, f"need AuthName: {r.uri}")
        return 500
    r.ap_auth_type = "Basic"
    st, user, pw = get_basic_auth(r)
    if st:
        return st
    conf: BasicConfig = r.per_dir_config[auth_basic.index]
    names = conf.providers if conf.providers is not UNSET else [AUTHN_DEFAULT_PROVIDER]
    result = AUTH_USER_NOT_FOUND
    for name in names:
        prov = r.tree.providers.get(("authn", name))
        if prov is None or getattr(prov, "check_password", None) is None:
            r.log_error(ERROR, "No Authn provider configured")
            result = AUTH_GENERAL_ERROR
            break
        r.notes[AUTHN_PROVIDER_NAME_NOTE] = name
        try:
            result = await maybe_await(prov.check_password(r, user, pw))
        finally:
            r.notes.pop(AUTHN_PROVIDER_NAME_NOTE, None)
        if result != AUTH_USER_NOT_FOUND:
            break
    if result == AUTH_GRANTED:
        return OK
    if not flag(conf.authoritative, True) and result != AUTH_DENIED:
        return DECLINED
    if result == AUTH_DENIED:
        r.log_error(ERROR, f"user {user}: authentication failure for \"{r.uri}\": "
                           "Password Mismatch")
    elif result == AUTH_USER_NOT_FOUND:
        r.log_error(ERROR, f"user {user} not found: {r.uri}")
    else:
        return 500
    note_basic_auth_failure(r)
    return 401
