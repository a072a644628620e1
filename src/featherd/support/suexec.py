"""suEXEC: CGI and SSI ``exec`` programs run as another user, with suexec's checks.

Apache's model (the suEXEC manual, support/suexec.c): a request has an identity to run
as when its virtual host says ``SuexecUserGroup user group``, or when it is a UserDir
(``~user``) request (mod_userdir's note ``mod_userdir_user``: the user and their
primary group). The program then runs through the wrapper, which refuses it unless:

1. the command is a plain name in the current directory (no ``/``-rooted path, no
   ``../``);
2. the target user and group exist and are not root, nor below UID_MIN/GID_MIN;
3. the directory is inside the document root (or, for ``~user``, inside the user's
   ``public_html``);
4. neither the directory nor the program is writable by group or others, the program
   is not setuid or setgid, both belong to the target user and group, and the program
   is executable by its owner.

It then switches to the target user and group (with their supplementary groups), keeps
only the safe variables of the environment (the CGI ones, HTTP_*, SSL_*), sets a safe
PATH and umask, and execs. Every attempt is logged to ``logs/suexec_log``.

featherd has no setuid wrapper: suEXEC is active when the process that serves requests
runs as root (no ``User`` directive to drop to, or ``featherd -X`` as root); then the
checks above run in the worker before the program starts under the target identity.
Otherwise SuexecUserGroup is ignored (with a warning at start-up), as Apache ignores it
when its wrapper is not installed setuid root. ``featherd -V`` tells which.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat as stat_mod
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from featherd.core.request import Request
    from featherd.modules.generators.cgi_script import ScriptProcess

UID_MIN = 100                  # AP_UID_MIN
GID_MIN = 100                  # AP_GID_MIN
USERDIR_SUFFIX = "public_html"  # AP_USERDIR_SUFFIX
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"   # AP_SAFE_PATH
UMASK = 0o022                  # AP_SUEXEC_UMASK
LOG_NAME = "suexec_log"        # AP_LOG_EXEC, under the ServerRoot's logs/

#: suexec.c's safe_env_lst: what survives clean_env (plus HTTP_* and SSL_*)
SAFE_ENV = frozenset((
    "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "CONTEXT_DOCUMENT_ROOT",
    "CONTEXT_PREFIX", "DATE_GMT", "DATE_LOCAL", "DOCUMENT_ARGS", "DOCUMENT_NAME",
    "DOCUMENT_PATH_INFO", "DOCUMENT_ROOT", "DOCUMENT_URI", "GATEWAY_INTERFACE", "HTTPS",
    "LAST_MODIFIED", "PATH_INFO", "PATH_TRANSLATED", "QUERY_STRING",
    "QUERY_STRING_UNESCAPED", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_IDENT",
    "REMOTE_PORT", "REMOTE_USER", "REDIRECT_ERROR_NOTES", "REDIRECT_HANDLER",
    "REDIRECT_QUERY_STRING", "REDIRECT_REMOTE_USER", "REDIRECT_SCRIPT_FILENAME",
    "REDIRECT_STATUS", "REDIRECT_URL", "REQUEST_METHOD", "REQUEST_URI", "REQUEST_SCHEME",
    "SCRIPT_FILENAME", "SCRIPT_NAME", "SCRIPT_URI", "SCRIPT_URL", "SERVER_ADMIN",
    "SERVER_NAME", "SERVER_ADDR", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SIGNATURE",
    "SERVER_SOFTWARE", "UNIQUE_ID", "USER_NAME", "TZ",
))


class SuexecError(Exception):
    """A check failed; the message is suexec's log text."""


def active(tree: Any = None) -> bool:
    """suEXEC works only where requests are served as root (see the module text); with
    a configuration tree, a ``User`` the workers drop to turns it off."""
    if os.geteuid() != 0:
        return False
    return tree is None or not tree.extra.get("mpm", {}).get("User")


def status_line() -> str:
    """For ``featherd -V``."""
    state = "active: running as root" if active() else "inactive: not running as root"
    return f' -D SUEXEC_BIN="featherd.support.suexec" (suEXEC {state})'


def startup_notice(tree: Any, configured: bool) -> tuple[int, str] | None:
    """What the server logs at start-up about suEXEC (mod_suexec's and unixd's lines)."""
    if active(tree):
        return 5, "suEXEC mechanism enabled (wrapper: featherd.support.suexec)"
    if configured:
        return 4, "SuexecUserGroup configured, but suEXEC is disabled"
    return None


def identity_from_config(user: str, group: str) -> tuple[str, str]:
    """SuexecUserGroup's arguments, as given (looked up when a script starts, as the
    wrapper does: a missing user is the wrapper's error, not a configuration error)."""
    return user, group


def request_identity(r: Request, configured: Any) -> tuple[str, str] | None:
    """mod_suexec's get_suexec_identity (SuexecUserGroup) or mod_userdir's (``~user``)
    for this request; None when suEXEC is off or has nothing to say."""
    if not active():
        return None
    udir = r.notes.get("mod_userdir_user")
    if udir:
        return "~" + udir, ""
    m = r.main
    while udir is None and m is not None:
        udir = m.notes.get("mod_userdir_user")
        m = m.main
    if udir:
        return "~" + udir, ""
    if configured is None or not configured or not isinstance(configured, tuple):
        return None
    return configured  # type: ignore[no-any-return]


def _lookup(user: str, group: str) -> tuple[pwd.struct_passwd, int, str, bool]:
    userdir = user.startswith("~")
    name = user[1:] if userdir else user
    try:
        pw = pwd.getpwuid(int(name[1:])) if name.startswith("#") else pwd.getpwnam(name)
    except (KeyError, ValueError):
        raise SuexecError(f"invalid target user name: ({name})") from None
    if userdir:
        gid = pw.pw_gid
        try:
            gname = grp.getgrgid(gid).gr_name
        except KeyError:
            gname = str(gid)
        return pw, gid, gname, True
    try:
        gr = grp.getgrgid(int(group[1:])) if group.startswith("#") else grp.getgrnam(group)
    except (KeyError, ValueError):
        raise SuexecError(f"invalid target group name: ({group})") from None
    return pw, gr.gr_gid, gr.gr_name, False


def check(ident: tuple[str, str], cwd: str, cmd: str, doc_roots: list[str]
          ) -> tuple[int, int, list[int], str, str]:
    """suexec.c's checks; (uid, gid, groups, user name, group name) or SuexecError."""
    if cmd.startswith("/") or cmd.startswith("../") or "/../" in cmd:
        raise SuexecError(f"invalid command ({cmd})")
    pw, gid, gname, userdir = _lookup(*ident)
    uid = pw.pw_uid
    if uid == 0 or uid < UID_MIN:
        raise SuexecError(f"cannot run as forbidden uid ({uid}/{cmd})")
    if gid == 0 or gid < GID_MIN:
        raise SuexecError(f"cannot run as forbidden gid ({gid}/{cmd})")
    cwd = os.path.realpath(cwd)
    if userdir:
        roots = [os.path.realpath(os.path.join(pw.pw_dir, USERDIR_SUFFIX))]
    else:
        roots = [os.path.realpath(d) for d in doc_roots]
    if not any(cwd == d or cwd.startswith(d.rstrip("/") + "/") for d in roots):
        raise SuexecError(f"command not in docroot ({cwd}/{cmd})")
    try:
        dst = os.lstat(cwd)
    except OSError:
        raise SuexecError(f"cannot stat directory: ({cwd})") from None
    if dst.st_mode & (stat_mod.S_IWOTH | stat_mod.S_IWGRP):
        raise SuexecError(f"directory is writable by others: ({cwd})")
    path = os.path.join(cwd, cmd)
    try:
        pst = os.lstat(path)
    except OSError:
        raise SuexecError(f"cannot stat program: ({cmd})") from None
    if pst.st_mode & (stat_mod.S_IWOTH | stat_mod.S_IWGRP):
        raise SuexecError(f"file is writable by others: ({cwd}/{cmd})")
    if pst.st_mode & (stat_mod.S_ISUID | stat_mod.S_ISGID):
        raise SuexecError(f"file is either setuid or setgid: ({cwd}/{cmd})")
    if (uid, gid) != (dst.st_uid, dst.st_gid) or (uid, gid) != (pst.st_uid, pst.st_gid):
        raise SuexecError(f"target uid/gid ({uid}/{gid}) mismatch with directory "
                          f"({dst.st_uid}/{dst.st_gid}) or program "
                          f"({pst.st_uid}/{pst.st_gid})")
    if not pst.st_mode & stat_mod.S_IXUSR:
        raise SuexecError(f"file has no execute permission: ({cwd}/{cmd})")
    groups = os.getgrouplist(pw.pw_name, gid)
    return uid, gid, groups, pw.pw_name, gname


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """clean_env: the safe variables only, PATH set to SAFE_PATH."""
    out = {k: v for k, v in env.items()
           if k in SAFE_ENV or k.startswith("HTTP_") or k.startswith("SSL_")}
    out["PATH"] = SAFE_PATH
    return out


def log(r: Request, text: str) -> None:
    path = os.path.join(r.tree.server_root, "logs", LOG_NAME)
    try:
        with open(path, "a") as f:
            f.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}]: {text}\n")
    except OSError:
        pass


def doc_roots(r: Request) -> list[str]:
    """Where programs may live: the DocumentRoot, and the directory a ScriptAlias
    mapped this request to (the wrapper's compiled-in docroot, made per server)."""
    from featherd.core.handlers import document_root

    roots = [document_root(r)]
    if (r.notes.get("alias-forced-type") or "").lower() == "cgi-script" and r.filename:
        roots.append(os.path.dirname(r.filename))
    return roots


async def spawn(r: Request, ident: tuple[str, str], argv: list[str], env: dict[str, str],
                *, stdin: bool, cwd: str | None, on_stderr: Callable[[str], None]
                ) -> ScriptProcess:
    """Start argv[0] (a file in cwd) as the identity. ``exec cmd`` (``/bin/sh -c
    text``) goes through the wrapper as Apache's does: the text must name a program
    in the document's directory, run without a shell and without arguments."""
    from featherd.modules.generators.cgi_env import create_environment
    from featherd.modules.generators.cgi_script import ScriptProcess

    cwd = cwd or "/"
    shell = argv[0] == "/bin/sh" and len(argv) == 3 and argv[1] == "-c"
    cmd = argv[2] if shell else os.path.basename(argv[0])
    try:
        uid, gid, groups, uname, gname = check(ident, cwd, cmd, doc_roots(r))
    except SuexecError as e:
        log(r, str(e))
        raise PermissionError(1, str(e)) from None
    log(r, f"uid: ({uid}/{uname}) gid: ({gid}/{gname}) cmd: {cmd}")
    run_argv = [os.path.join(cwd, cmd)] + ([] if shell else argv[1:])
    return await ScriptProcess.spawn(run_argv, env=create_environment(clean_env(env)),
                                     cwd=cwd, stdin=stdin, on_stderr=on_stderr,
                                     ident=(uid, gid, groups), umask=UMASK)
