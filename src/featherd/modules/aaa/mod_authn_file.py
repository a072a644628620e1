"""mod_authn_file: the "file" authn provider over an htpasswd file (AuthUserFile) for
Basic, and an htdigest file ("user:realm:hash") for Digest.

Every hash format Apache reads is accepted (see :mod:`featherd.support.passwords`).
The parsed file is kept until its modification time, size or inode change, and
passwords that verified are remembered by keyed digest (as mod_authn_socache would),
so a bcrypt file costs one bcrypt per user and password, not one per request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
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
    cfg_lines,
)
from featherd.support.passwords import VerifiedCache

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class AuthnFileConfig:
    pwfile: Any = UNSET


authn_file = Module("authn_file_module", "mod_authn_file.c", dir_config=AuthnFileConfig,
                    description="User authentication using text files")


@authn_file.directive("AuthUserFile", args=ArgSpec.TAKE12, context=Context.DIR_HTACCESS,
                      override=Override.AUTHCFG, syntax="AuthUserFile file-path",
                      help="text file containing user IDs and passwords")
def auth_user_file(cmd: CmdParms, conf: AuthnFileConfig, path: str, kind: str | None) -> None:
    if kind is not None and kind != "standard":
        raise DirectiveError(f"Invalid auth file type: {kind}")
    conf.pwfile = cmd.server_root_relative(path)


class _File:
    __slots__ = ("ver", "users", "realms")

    def __init__(self, ver: tuple[int, int, int], lines: list[str]) -> None:
        self.ver = ver
        self.users: dict[str, str] = {}
        self.realms: dict[tuple[str, str], str] = {}
        for line in lines:
            if not line or line.startswith("#"):
                continue
            parts = line.split(":")
            self.users.setdefault(parts[0], parts[1] if len(parts) > 1 else "")
            if len(parts) > 1:
                self.realms.setdefault((parts[0], parts[1]), parts[2] if len(parts) > 2 else "")


_FILES: dict[str, _File] = {}
VERIFIED = VerifiedCache()


def load(path: str) -> _File:
    st = os.stat(path)
    ver = (st.st_mtime_ns, st.st_size, st.st_ino)
    f = _FILES.get(path)
    if f is None or f.ver != ver:
        f = _File(ver, cfg_lines(path))
        _FILES[path] = f
    return f


def _pwfile(r: Request) -> str | None:
    p = r.per_dir_config[authn_file.index].pwfile
    return None if p is UNSET else p  # type: ignore[no-any-return]


class FileProvider:
    def check_password(self, r: Request, user: str, password: str) -> int:
        path = _pwfile(r)
        if path is None:
            r.log_error(ERROR, "AuthUserFile not specified in the configuration")
            return AUTH_GENERAL_ERROR
        try:
            f = load(path)
        except OSError as e:
            r.log_error(ERROR, f"({e.errno}){e.strerror}: Could not open password file: "
                               f"{path}")
            return AUTH_GENERAL_ERROR
        stored = f.users.get(user)
        if stored is None:
            return AUTH_USER_NOT_FOUND
        return AUTH_GRANTED if VERIFIED.check(password, stored) else AUTH_DENIED

    def get_realm_hash(self, r: Request, user: str, realm: str) -> tuple[int, str | None]:
        path = _pwfile(r)
        if path is None:
            r.log_error(ERROR, "AuthUserFile not specified in the configuration")
            return AUTH_GENERAL_ERROR, None
        try:
            f = load(path)
        except OSError as e:
            r.log_error(ERROR, f"({e.errno}){e.strerror}: Could not open password file: "
                               f"{path}")
            return AUTH_GENERAL_ERROR, None
        h = f.realms.get((user, realm))
        if h is None:
            return AUTH_USER_NOT_FOUND, None
        return AUTH_USER_FOUND, h


authn_file.provider("authn", "file", FileProvider())
