"""mod_authz_groupfile: ``Require group`` (and ``file-group``, with mod_authz_owner)
against a plain-text AuthGroupFile ("group: user user ..." lines).

Group names match without regard to case (Apache keeps them in an apr_table); the file
is re-read when its modification time or size changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.access import requires_for
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.aaa.common import (
    AUTHZ_DENIED,
    AUTHZ_DENIED_NO_USER,
    AUTHZ_GENERAL_ERROR,
    AUTHZ_GRANTED,
    AUTHZ_GROUP_NOTE,
    ERROR,
    cfg_lines,
    conf_words,
    flag,
    note_auth_failure,
    require_words,
)

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class GroupFileConfig:
    groupfile: Any = UNSET
    authoritative: Any = UNSET


authz_groupfile = Module("authz_groupfile_module", "mod_authz_groupfile.c",
                         dir_config=GroupFileConfig,
                         description="Group authorization using plaintext files")


@authz_groupfile.directive("AuthGroupFile", args=ArgSpec.TAKE12, context=Context.DIR_HTACCESS,
                           override=Override.AUTHCFG, syntax="AuthGroupFile file-path",
                           help="text file containing group names and member user IDs")
def auth_group_file(cmd: CmdParms, conf: GroupFileConfig, path: str, kind: str | None) -> None:
    if kind is not None and kind != "standard":
        raise DirectiveError(f"Invalid auth file type: {kind}")
    conf.groupfile = cmd.server_root_relative(path)


@authz_groupfile.directive("AuthzGroupFileAuthoritative", args=ArgSpec.FLAG,
                           context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                           syntax="AuthzGroupFileAuthoritative On|Off",
                           help="Set to 'Off' to allow access control to be passed along to "
                                "lower modules if this module can't confirm a users group "
                                "membership. (default: On).")
def authoritative(cmd: CmdParms, conf: GroupFileConfig, on: bool) -> None:
    conf.authoritative = on


_CACHE: dict[str, tuple[tuple[int, int, int], dict[str, set[str]]]] = {}


def groups_for_user(path: str, user: str) -> set[str]:
    """The (lower-cased) groups naming ``user``; OSError when the file can't be read."""
    st = os.stat(path)
    ver = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _CACHE.get(path)
    if hit is None or hit[0] != ver:
        table: dict[str, set[str]] = {}
        for line in cfg_lines(path):
            if not line or line.startswith("#"):
                continue
            name, _, members = line.partition(":")
            g = name.rstrip().lower()
            for w in conf_words(members):
                table.setdefault(w, set()).add(g)
        hit = (ver, table)
        _CACHE[path] = hit
    return hit[1].get(user, set())


@authz_groupfile.hook("auth_checker")
def check_user_access(r: Request) -> int:
    conf: GroupFileConfig = r.per_dir_config[authz_groupfile.index]
    if conf.groupfile is UNSET:
        return DECLINED
    reqs = requires_for(r)
    if not reqs:
        return DECLINED
    authoritative = flag(conf.authoritative, True)
    required_group = False
    groups: set[str] | None = None
    reason = None
    user = r.user or ""
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
        if lw == "group" or filegroup is not None:
            required_group = True
            if groups is None:
                try:
                    groups = groups_for_user(conf.groupfile, user)
                except OSError:
                    r.log_error(ERROR, f"Could not open group file: {conf.groupfile}")
                    return 500
            if not groups:
                reason = f"user doesn't appear in group file ({conf.groupfile})."
                break
            if filegroup is not None:
                if filegroup.lower() in groups:
                    return OK
                if authoritative:
                    reason = f"file group '{filegroup}' does not match."
                    break
                continue
            for g in conf_words(rest):
                if g.lower() in groups:
                    return OK
    if not required_group or not authoritative:
        return DECLINED
    r.log_error(ERROR, f"Authorization of user {r.user} to access {r.uri} failed, reason: "
                + (reason or "user is not part of the 'require'ed group(s)."))
    note_auth_failure(r)
    return 401


class GroupProvider:
    """2.4 ``Require group``."""

    file_group = False

    def check(self, r: Request, args: str, parsed: Any) -> int:
        conf: GroupFileConfig = r.per_dir_config[authz_groupfile.index]
        if not r.user:
            return AUTHZ_DENIED_NO_USER
        if conf.groupfile is UNSET:
            r.log_error(ERROR, "No group file was specified in the configuration")
            return AUTHZ_DENIED
        try:
            groups = groups_for_user(conf.groupfile, r.user)
        except OSError:
            r.log_error(ERROR, f"Could not open group file: {conf.groupfile}")
            return AUTHZ_GENERAL_ERROR
        if not groups:
            r.log_error(ERROR, f"Authorization of user {r.user} to access {r.uri} failed, "
                               f"reason: user doesn't appear in group file "
                               f"({conf.groupfile}).")
            return AUTHZ_DENIED
        if self.file_group:
            from featherd.modules.aaa.mod_authz_owner import file_group_name

            want = [file_group_name(r)]
            if want[0] is None:
                return AUTHZ_DENIED
        else:
            want = conf_words(args)
        for g in want:
            if g is not None and g.lower() in groups:
                return AUTHZ_GRANTED
        r.log_error(ERROR, f"Authorization of user {r.user} to access {r.uri} failed, reason: "
                           "user is not part of the 'require'ed group(s).")
        return AUTHZ_DENIED


class FileGroupProvider(GroupProvider):
    file_group = True


authz_groupfile.provider("authz", "group", GroupProvider())
authz_groupfile.provider("authz", "file-group", FileGroupProvider())
