"""mod_authz_dbm: ``Require group`` (and ``file-group``) against a DBM group file
(AuthDBMGroupFile): the value stored for a user is ``group,group`` or, in a combined
user file as htdbm writes it, ``hash:group,group[:comment]``. 2.4's ``dbm-group``
provider too."""

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
    AUTHZ_GENERAL_ERROR,
    AUTHZ_GRANTED,
    AUTHZ_GROUP_NOTE,
    ERROR,
    flag,
    note_auth_failure,
    require_words,
)
from featherd.support.dbmfile import DBMError, fetch

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class AuthzDBMConfig:
    grpfile: Any = UNSET
    dbmtype: Any = UNSET
    authoritative: Any = UNSET


authz_dbm = Module("authz_dbm_module", "mod_authz_dbm.c", dir_config=AuthzDBMConfig,
                   description="Group authorization using DBM files")
DIR = Context.DIR_HTACCESS


@authz_dbm.directive("AuthDBMGroupFile", args=ArgSpec.TAKE1, context=DIR,
                     override=Override.AUTHCFG, syntax="AuthDBMGroupFile file-path",
                     help="database file containing group names and member user IDs")
def group_file(cmd: CmdParms, conf: AuthzDBMConfig, path: str) -> None:
    conf.grpfile = cmd.server_root_relative(path)


@authz_dbm.directive("AuthzDBMType", args=ArgSpec.TAKE1, context=DIR, override=Override.AUTHCFG,
                     syntax="AuthzDBMType default|SDBM|GDBM|NDBM|DB",
                     help="what type of DBM file the group file is")
def dbm_type(cmd: CmdParms, conf: AuthzDBMConfig, t: str) -> None:
    conf.dbmtype = t


@authz_dbm.directive("AuthzDBMAuthoritative", args=ArgSpec.FLAG, context=DIR,
                     override=Override.AUTHCFG, syntax="AuthzDBMAuthoritative On|Off",
                     help="Set to 'Off' to allow access control to be passed along to lower "
                          "modules, if the group required is not found or empty, or the user "
                          " is not in the required groups. (default: On).")
def authoritative(cmd: CmdParms, conf: AuthzDBMConfig, on: bool) -> None:
    conf.authoritative = on


def dbm_groups(dbtype: str, path: str, user: str) -> list[str] | None:
    val = fetch(dbtype, path, user)
    if val is None:
        return None
    if ":" in val:
        val = val.split(":")[1]
    return [g for g in val.split(",")]


def _conf(r: Request) -> tuple[AuthzDBMConfig, str]:
    c: AuthzDBMConfig = r.per_dir_config[authz_dbm.index]
    return c, "default" if c.dbmtype is UNSET else c.dbmtype


@authz_dbm.hook("auth_checker")
def dbm_check_auth(r: Request) -> int:
    c, dbtype = _conf(r)
    if c.grpfile is UNSET:
        return DECLINED
    reqs = requires_for(r)
    if not reqs:
        return DECLINED
    auth = flag(c.authoritative, True)
    user = r.user or ""
    knowngroup = False
    for line in reqs:
        if not isinstance(line, str):
            continue
        w, rest = require_words(line)
        lw = w.lower()
        filegroup = None
        if lw == "file-group":
            filegroup = r.notes.get(AUTHZ_GROUP_NOTE)
            if filegroup is None:
                continue
        if lw != "group" and filegroup is None:
            continue
        try:
            groups = dbm_groups(dbtype, c.grpfile, user)
        except DBMError as e:
            r.log_error(ERROR, f"{e.apache_text()}: could not open dbm (type {dbtype}) group "
                               f"access file: {c.grpfile}")
            return 500
        if groups is None:
            if not auth:
                return DECLINED
            r.log_error(ERROR, f"user {user} not in DBM group file {c.grpfile}: {r.filename}")
            note_auth_failure(r)
            return 401
        if filegroup is not None:
            if filegroup in groups:
                return OK
            if auth:
                r.log_error(ERROR, f"user {user} not in right group: {filegroup}")
                note_auth_failure(r)
                return 401
            continue
        for want in rest.split():
            if want in groups:
                return OK
        knowngroup = True
    if knowngroup and auth:
        r.log_error(ERROR, f"Authorization of user {r.user} to access {r.uri} failed, reason: "
                           "user is not part of the 'require'ed group(s).")
        note_auth_failure(r)
        return 401
    return DECLINED


class DBMGroupProvider:
    def check(self, r: Request, args: str, parsed: Any) -> int:
        c, dbtype = _conf(r)
        if not r.user:
            return AUTHZ_DENIED_NO_USER
        if c.grpfile is UNSET:
            r.log_error(ERROR, "No group file was specified in the configuration")
            return AUTHZ_DENIED
        try:
            groups = dbm_groups(dbtype, c.grpfile, r.user)
        except DBMError as e:
            r.log_error(ERROR, f"{e.apache_text()}: could not open dbm (type {dbtype}) group "
                               f"access file: {c.grpfile}")
            return AUTHZ_GENERAL_ERROR
        for want in args.split():
            if groups and want in groups:
                return AUTHZ_GRANTED
        r.log_error(ERROR, f"Authorization of user {r.user} to access {r.uri} failed, reason: "
                           "user is not part of the 'require'ed group(s).")
        return AUTHZ_DENIED


authz_dbm.provider("authz", "dbm-group", DBMGroupProvider())
