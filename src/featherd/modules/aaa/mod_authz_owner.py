"""mod_authz_owner: ``Require file-owner`` (the user's name is the file's owner) and
``Require file-group`` (the file's group is handed to the group modules through a
request note), with AuthzOwnerAuthoritative."""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.access import requires_for
from featherd.core.hooks import DECLINED, MIDDLE, OK
from featherd.core.module import Module
from featherd.modules.aaa.common import (
    AUTHZ_DENIED,
    AUTHZ_DENIED_NO_USER,
    AUTHZ_GRANTED,
    AUTHZ_GROUP_NOTE,
    ERROR,
    flag,
    note_auth_failure,
    require_words,
)

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class OwnerConfig:
    authoritative: Any = UNSET


authz_owner = Module("authz_owner_module", "mod_authz_owner.c", dir_config=OwnerConfig,
                     description="Authorization based on file ownership")


@authz_owner.directive("AuthzOwnerAuthoritative", args=ArgSpec.FLAG,
                       context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                       syntax="AuthzOwnerAuthoritative On|Off",
                       help="Set to 'Off' to allow access control to be passed along to lower "
                            "modules. (default is On.)")
def authoritative(cmd: CmdParms, conf: OwnerConfig, on: bool) -> None:
    conf.authoritative = on


def _owner(r: Request) -> tuple[str | None, str | None]:
    """(owner name, reason when there is none)."""
    if not r.filename:
        return None, "no filename available"
    try:
        st = os.stat(r.filename)
    except OSError:
        return None, f"could not stat file {r.filename}"
    try:
        return pwd.getpwuid(st.st_uid).pw_name, None
    except KeyError:
        return None, "could not get name of file owner"


def file_group_name(r: Request) -> str | None:
    if not r.filename:
        return None
    try:
        st = os.stat(r.filename)
        return grp.getgrgid(st.st_gid).gr_name
    except (OSError, KeyError):
        return None


# before the group modules, which read the file-group note (aszSucc in Apache)
@authz_owner.hook("auth_checker", order=MIDDLE - 1)
def check_file_owner(r: Request) -> int:
    reqs = requires_for(r)
    if not reqs:
        return DECLINED
    required = 0
    reason: str | None = None
    for line in reqs:
        if not isinstance(line, str):
            continue
        w, _ = require_words(line)
        if w == "file-owner":
            required |= 1
            owner, why = _owner(r)
            if owner is None:
                reason = why
                continue
            if owner != r.user:
                reason = f"file owner {owner} does not match."
                continue
            return OK
        if w == "file-group":
            required |= 2
            if not r.filename:
                reason = "no filename available"
                continue
            try:
                st = os.stat(r.filename)
            except OSError:
                reason = f"could not stat file {r.filename}"
                continue
            try:
                r.notes[AUTHZ_GROUP_NOTE] = grp.getgrgid(st.st_gid).gr_name
            except KeyError:
                reason = "could not get name of file group"
                continue
    if not required or not flag(r.per_dir_config[authz_owner.index].authoritative, True):
        return DECLINED
    if required == 2 and not reason:
        return DECLINED     # the group modules decide file-group
    r.log_error(ERROR, f"Authorization of user {r.user} to access {r.uri} failed, reason: "
                + (reason or "unknown"))
    note_auth_failure(r)
    return 401


class FileOwnerProvider:
    def check(self, r: Request, args: str, parsed: Any) -> int:
        if not r.user:
            return AUTHZ_DENIED_NO_USER
        owner, why = _owner(r)
        if owner is not None and owner == r.user:
            return AUTHZ_GRANTED
        r.log_error(ERROR, f"Authorization of user {r.user} to access {r.uri} failed, reason: "
                    + (why or f"file owner {owner} does not match."))
        return AUTHZ_DENIED


authz_owner.provider("authz", "file-owner", FileOwnerProvider())
