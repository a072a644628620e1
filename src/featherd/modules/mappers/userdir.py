"""mod_userdir: ``/~user/...`` mapped to per-user directories, as in Apache 2.2.

``UserDir`` (server config, virtual host) takes one or more patterns, tried in order; a
pattern is used when its directory exists or when it is the last one (so that a handler
may still answer for a missing file). For ``/~bob/one/two.html``:

======================================  ==============================================
``UserDir public_html``                 ``~bob/public_html/one/two.html`` (home directory
                                        from the password database)
``UserDir /usr/web``                    ``/usr/web/bob/one/two.html``
``UserDir /home/*/www``                 ``/home/bob/www/one/two.html``
``UserDir http://example.com/users``    302 to ``http://example.com/users/bob/one/two.html``
``UserDir http://example.com/*/usr``    302 to ``http://example.com/bob/usr/one/two.html``
``UserDir http://example.com/~*/``      302 to ``http://example.com/~bob/one/two.html``
======================================  ==============================================

The redirects follow the manual's table (2.2's code, and 2.4's, treat a URL without
``*`` as a directory under the home directory and drop what follows ``*`` in a URL; the
manual is the reference here). ``UserDir disabled`` turns translation off except for
names given to ``UserDir enabled user ...``; ``UserDir disabled user ...`` refuses those
names always (``UserDir disabled root`` is recommended: ``UserDir ./`` would map
``/~root`` to ``/``); ``UserDir enabled`` alone re-enables everyone. No UserDir, no
translation (the 2.1.4+ default). A virtual host inherits the main server's patterns
and global setting; its enabled/disabled lists replace the main server's, as Apache
documents ("Merging details").

The user name is left in the note ``mod_userdir_user`` for suEXEC. Runs in
translate_name after mod_alias and before mod_vhost_alias.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.parser import CmdParms
from featherd.config.tree import split_args
from featherd.core.hooks import DECLINED, MIDDLE, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError

if TYPE_CHECKING:
    from featherd.core.request import Request

O_DEFAULT, O_ENABLE, O_DISABLE = 0, 1, 2


@dataclass(slots=True)
class UserdirConfig:
    """userdir_config."""

    globally_disabled: int = O_DEFAULT
    userdir: str | None = None                 # the raw pattern list, None: no UserDir
    enabled_users: set[str] = field(default_factory=set)
    disabled_users: set[str] = field(default_factory=set)


class UserdirModule(Module):
    def merge_server_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        return UserdirConfig(
            new.globally_disabled if new.globally_disabled != O_DEFAULT
            else base.globally_disabled,
            new.userdir if new.userdir is not None else base.userdir,
            new.enabled_users, new.disabled_users)        # lists: not merged


userdir = UserdirModule("userdir_module", "mod_userdir.c", server_config=UserdirConfig,
                        description="User-specific directories")
userdir_module = userdir


@userdir.directive("UserDir", args=ArgSpec.RAW_ARGS, context=Context.RSRC,
                   syntax="UserDir directory-filename [directory-filename] ...",
                   help="the public subdirectory in users' home directories, or "
                        "'disabled', or 'disabled username username...', or "
                        "'enabled username username...'")
def set_user_dir(cmd: CmdParms, conf: UserdirConfig, raw: str) -> None:
    words = split_args(raw)
    if not words or not words[0]:
        raise DirectiveError("UserDir requires an argument.")
    kw = words[0].lower()
    names = words[1:]
    if kw in ("disable", "disabled"):
        if not names:
            conf.globally_disabled = O_DISABLE
            return
        conf.disabled_users.update(names)
    elif kw in ("enable", "enabled"):
        if not names:
            conf.globally_disabled = O_ENABLE
            return
        conf.enabled_users.update(names)
    else:
        conf.userdir = raw.strip()


def home_dir(user: str) -> str | None:
    """apr_uid_homepath_get: the user's home directory, None for an unknown user."""
    try:
        return pwd.getpwnam(user).pw_dir
    except (KeyError, ValueError):
        return None


def _url_join(head: str, tail: str) -> str:
    """Join a redirect's pieces without doubling the slash between them."""
    if head.endswith("/") and tail.startswith("/"):
        return head + tail[1:]
    return head + tail


def translate(conf: UserdirConfig, uri: str) -> tuple[str, str, str] | None:
    """("file", filename, user) or ("redirect", url, user) for ``uri``, or None."""
    if not uri.startswith("/~") or conf.userdir is None:
        return None
    rest = uri[2:]
    slash = rest.find("/")
    w, dname = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    # no user name; "." and ".." are ignored (Apache tests the second character)
    if not w or (len(w) > 1 and w[1] == "." and (len(w) == 2 or w[2:] == ".")):
        return None
    if w in conf.disabled_users:
        return None
    if conf.globally_disabled == O_DISABLE and w not in conf.enabled_users:
        return None
    patterns = split_args(conf.userdir)
    for i, pat in enumerate(patterns):
        last = i == len(patterns) - 1
        filename = None
        prefix = None
        rest_pat = pat
        if "*" in pat:
            prefix, _, rest_pat = pat.partition("*")
        if prefix is not None and ":" in prefix and not prefix.startswith("/"):
            return "redirect", _url_join(prefix + w + rest_pat, dname), w
        if prefix is None and ":" in pat and not pat.startswith("/"):
            return "redirect", _url_join(pat.rstrip("/") + "/" + w, dname), w
        if rest_pat == "" or pat.startswith("/"):
            filename = prefix + w + rest_pat if prefix is not None else pat + "/" + w
        else:
            home = home_dir(w)
            if home is not None:
                filename = home + "/" + pat
        if filename is not None and (last or os.path.exists(filename)):
            return "file", filename + dname, w
    return None


@userdir.hook("translate_name", order=MIDDLE, needs=True)
def translate_userdir(r: Request) -> int:
    uri = r.uri
    if len(uri) < 2 or uri[1] != "~":
        return DECLINED
    res = translate(r.server.module_config[userdir.index], uri)
    if res is None:
        return DECLINED
    kind, target, user = res
    if kind == "redirect":
        r.headers_out.set("Location", target)
        return 302
    r.filename = target
    r.notes["mod_userdir_user"] = user
    return OK


__all__ = ["translate", "userdir", "userdir_module"]
