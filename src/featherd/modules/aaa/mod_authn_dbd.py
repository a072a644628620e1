"""mod_authn_dbd: the "dbd" authn provider, looking users up in an SQL database through
mod_dbd's connections.

AuthDBDUserPWQuery (Basic: ``AuthBasicProvider dbd``) is a statement taking the user
name and returning the stored password hash first; AuthDBDUserRealmQuery (Digest:
``AuthDigestProvider dbd``) takes the user and the realm and returns
MD5(user:realm:password) in hex. Each is prepared on the connections of the server
whose <Directory> holds it (labels ``authn_dbd_1``, ``authn_dbd_2``... as Apache names
them). The other columns of the first row go to the environment as
``AUTHENTICATE_<COLUMN>``. Hashes are checked as apr_password_validate does (bcrypt,
$apr1$, {SHA}, crypt(3); plain text never matches on Unix).

The user name goes to the database as the bytes the client sent (decoded as UTF-8 when
they are UTF-8, which is what the drivers send). The connection is the request's when it
already holds one (mod_dbd.acquire), else one taken from the pool for the lookup only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.merge import UNSET
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.aaa.common import (
    AUTH_DENIED,
    AUTH_GENERAL_ERROR,
    AUTH_GRANTED,
    AUTH_USER_FOUND,
    AUTH_USER_NOT_FOUND,
    ERROR,
)
from featherd.modules.aaa.mod_authn_file import VERIFIED
from featherd.modules.database import mod_dbd

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request
    from featherd.modules.database.drivers import Result

AUTHN_PREFIX = "AUTHENTICATE_"


@dataclass(slots=True)
class AuthnDBDConfig:
    user: Any = UNSET       # label of the AuthDBDUserPWQuery statement
    realm: Any = UNSET      # label of the AuthDBDUserRealmQuery statement


authn_dbd = Module("authn_dbd_module", "mod_authn_dbd.c", dir_config=AuthnDBDConfig,
                   description="User authentication using an SQL database")


def _prepare(cmd: CmdParms, query: str) -> str:
    if mod_dbd.dbd.name not in cmd.tree.loaded:
        raise DirectiveError("You must load mod_dbd to enable AuthDBD functions")
    n = cmd.tree.extra.get("authn_dbd_labels", 0) + 1
    cmd.tree.extra["authn_dbd_labels"] = n
    label = f"authn_dbd_{n}"
    mod_dbd.prepare(cmd.server, query, label, cmd.tree)
    return label


@authn_dbd.directive("AuthDBDUserPWQuery", args=ArgSpec.TAKE1, context=Context.DIR,
                     syntax="AuthDBDUserPWQuery query",
                     help="Query used to fetch password for user")
def auth_dbd_user_pw_query(cmd: CmdParms, conf: AuthnDBDConfig, query: str) -> None:
    conf.user = _prepare(cmd, query)


@authn_dbd.directive("AuthDBDUserRealmQuery", args=ArgSpec.TAKE1, context=Context.DIR,
                     syntax="AuthDBDUserRealmQuery query",
                     help="Query used to fetch password for user+realm")
def auth_dbd_user_realm_query(cmd: CmdParms, conf: AuthnDBDConfig, query: str) -> None:
    conf.realm = _prepare(cmd, query)


def db_text(s: str) -> str:
    """A header-decoded (latin-1) string as the text whose bytes the client sent."""
    try:
        return s.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return s


def env_name(column: str) -> str:
    return AUTHN_PREFIX + "".join(c.upper() if c.isascii() and c.isalnum() else "_"
                                  for c in column)


def _first_value(r: Request, res: Result) -> str | None:
    """The first column of the first row with one; the other columns of each row read
    until then go to the environment (as Apache's loop over the rows does)."""
    for row in res.rows:
        for name, v in zip(res.columns[1:], row[1:], strict=False):
            r.subprocess_env[env_name(name)] = "" if v is None else v
        if row and row[0] is not None:
            return row[0]
    return None


async def _lookup(r: Request, which: str, args: tuple[str, ...], who: str
                  ) -> tuple[int, str | None]:
    conf: AuthnDBDConfig = r.per_dir_config[authn_dbd.index]
    directive = "AuthDBDUserPWQuery" if which == "user" else "AuthDBDUserRealmQuery"
    async with mod_dbd.connection(r) as conn:
        if conn is None:
            r.log_error(ERROR, "Failed to acquire database connection to look up user "
                               f"'{who}'")
            return AUTH_GENERAL_ERROR, None
        label = getattr(conf, which)
        if label is UNSET:
            r.log_error(ERROR, f"No {directive} has been specified")
            return AUTH_GENERAL_ERROR, None
        if label not in conn.prepared:
            r.log_error(ERROR, f"A prepared statement could not be found for {directive} "
                               f"with the key '{label}'")
            return AUTH_GENERAL_ERROR, None
        try:
            res = await conn.pselect(label, *(db_text(a) for a in args))
        except mod_dbd.DBDError as e:
            r.log_error(ERROR, f"Query execution error looking up '{who}' in database")
            r.log_error(ERROR, f"DBD [{conn.driver}] Error: {e}")
            return AUTH_GENERAL_ERROR, None
    value = _first_value(r, res)
    if value is None:
        return AUTH_USER_NOT_FOUND, None
    return AUTH_USER_FOUND, value


class DBDProvider:
    async def check_password(self, r: Request, user: str, password: str) -> int:
        st, stored = await _lookup(r, "user", (user,), user)
        if st != AUTH_USER_FOUND or stored is None:
            return st
        return AUTH_GRANTED if VERIFIED.check(password, stored) else AUTH_DENIED

    async def get_realm_hash(self, r: Request, user: str, realm: str
                             ) -> tuple[int, str | None]:
        return await _lookup(r, "realm", (user, realm), f"{user}:{realm}")


authn_dbd.provider("authn", "dbd", DBDProvider())
