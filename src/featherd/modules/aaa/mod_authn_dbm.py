"""mod_authn_dbm: the "dbm" authn provider. AuthDBMUserFile holds ``user`` ->
``hash[:groups[:comment]]`` (htdbm's records) for Basic and ``user:realm`` -> ``hash``
for Digest; AuthDBMType names the DBM flavour (default SDBM)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.module import Module
from featherd.modules.aaa.common import (
    AUTH_DENIED,
    AUTH_GENERAL_ERROR,
    AUTH_GRANTED,
    AUTH_USER_FOUND,
    AUTH_USER_NOT_FOUND,
    ERROR,
)
from featherd.modules.aaa.mod_authn_file import VERIFIED
from featherd.support.dbmfile import DBMError, fetch

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class AuthnDBMConfig:
    pwfile: Any = UNSET
    dbmtype: Any = UNSET


authn_dbm = Module("authn_dbm_module", "mod_authn_dbm.c", dir_config=AuthnDBMConfig,
                   description="User authentication using DBM files")


@authn_dbm.directive("AuthDBMUserFile", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                     override=Override.AUTHCFG, syntax="AuthDBMUserFile file-path",
                     help="dbm database file containing user IDs and passwords")
def auth_dbm_user_file(cmd: CmdParms, conf: AuthnDBMConfig, path: str) -> None:
    conf.pwfile = cmd.server_root_relative(path)


@authn_dbm.directive("AuthDBMType", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                     override=Override.AUTHCFG,
                     syntax="AuthDBMType default|SDBM|GDBM|NDBM|DB",
                     help="what type of DBM file the user file is")
def auth_dbm_type(cmd: CmdParms, conf: AuthnDBMConfig, t: str) -> None:
    conf.dbmtype = t


def _conf(r: Request) -> tuple[str | None, str]:
    c: AuthnDBMConfig = r.per_dir_config[authn_dbm.index]
    return (None if c.pwfile is UNSET else c.pwfile,
            "default" if c.dbmtype is UNSET else c.dbmtype)


class DBMProvider:
    def check_password(self, r: Request, user: str, password: str) -> int:
        path, dbtype = _conf(r)
        if path is None:
            r.log_error(ERROR, "AuthDBMUserFile not specified in the configuration")
            return AUTH_GENERAL_ERROR
        try:
            val = fetch(dbtype, path, user)
        except DBMError as e:
            r.log_error(ERROR, f"{e.apache_text()}: could not open dbm (type {dbtype}) auth "
                               f"file: {path}")
            return AUTH_GENERAL_ERROR
        if val is None:
            return AUTH_USER_NOT_FOUND
        stored = val.split(":", 1)[0]
        return AUTH_GRANTED if VERIFIED.check(password, stored) else AUTH_DENIED

    def get_realm_hash(self, r: Request, user: str, realm: str) -> tuple[int, str | None]:
        path, dbtype = _conf(r)
        if path is None:
            r.log_error(ERROR, "AuthDBMUserFile not specified in the configuration")
            return AUTH_GENERAL_ERROR, None
        try:
            val = fetch(dbtype, path, f"{user}:{realm}")
        except DBMError as e:
            r.log_error(ERROR, f"{e.apache_text()}: Could not open dbm (type {dbtype}) hash "
                               f"file: {path}")
            return AUTH_GENERAL_ERROR, None
        if val is None:
            return AUTH_USER_NOT_FOUND, None
        return AUTH_USER_FOUND, val.split(":", 1)[0]


authn_dbm.provider("authn", "dbm", DBMProvider())
