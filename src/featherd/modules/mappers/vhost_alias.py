"""mod_vhost_alias: dynamically configured mass virtual hosting, as in Apache 2.2.

``VirtualDocumentRoot`` and ``VirtualScriptAlias`` build the document root (and the
``/cgi-bin/`` directory) from the server name of the request (UseCanonicalName decides
what that is), ``VirtualDocumentRootIP`` and ``VirtualScriptAliasIP`` from the local IP
address of the connection. The interpolation ("Directory Name Interpolation"):

``%%``   a ``%``;  ``%p``  the port;  ``%N.M``  part of the name, where

* ``N`` picks dot-separated parts: ``0`` the whole name, ``1`` the first, ``2`` the
  second, ``-1`` the last, ``-2`` the penultimate, ``2+`` the second and all after it,
  ``-2+`` the penultimate and all before it (``1+``/``-1+`` are the whole name);
* ``.M`` then picks characters of that the same way (``.1`` the first, ``.-1`` the
  last, ``.2+`` from the second on, ``.-2+`` up to the penultimate; ``.0`` all);
* a part or character past the end gives ``_``.

The name is lower-cased. ``none`` turns a directive off (for a virtual host that
inherits one). A request whose path starts with ``/cgi-bin/`` (after any slashes) uses
the script alias and runs as a CGI script. Runs in translate_name after mod_alias and
mod_userdir, so their mappings win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.parser import CmdParms
from featherd.core.hooks import DECLINED, MIDDLE, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError

if TYPE_CHECKING:
    from featherd.core.request import Request

UNSET_MODE, NONE, NAME, IP = 0, 1, 2, 3
MAXDOTS = 19


@dataclass(slots=True)
class MvaConfig:
    """mva_sconf_t."""

    doc_root: str | None = None
    cgi_root: str | None = None
    doc_root_mode: int = UNSET_MODE
    cgi_root_mode: int = UNSET_MODE


class VhostAliasModule(Module):
    def merge_server_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        out = MvaConfig()
        src = base if new.doc_root_mode == UNSET_MODE else new
        out.doc_root_mode, out.doc_root = src.doc_root_mode, src.doc_root
        src = base if new.cgi_root_mode == UNSET_MODE else new
        out.cgi_root_mode, out.cgi_root = src.cgi_root_mode, src.cgi_root
        return out


vhost_alias = VhostAliasModule("vhost_alias_module", "mod_vhost_alias.c",
                               server_config=MvaConfig,
                               description="Provides for dynamically configured mass "
                                           "virtual hosting")
vhost_alias_module = vhost_alias


def check_format(fmt: str) -> None:
    """The syntax check of vhost_alias_set."""
    i, n = 0, len(fmt)
    while i < n:
        c = fmt[i]
        i += 1
        if c != "%":
            continue
        if i < n and fmt[i] in "p%":
            i += 1
            continue
        if i < n and fmt[i] == "-":
            i += 1
        if i < n and fmt[i].isdigit():
            i += 1
        else:
            raise DirectiveError("syntax error in format string")
        if i < n and fmt[i] == "+":
            i += 1
        if i >= n or fmt[i] != ".":
            continue
        i += 1
        if i < n and fmt[i] == "-":
            i += 1
        if i < n and fmt[i].isdigit():
            i += 1
        else:
            raise DirectiveError("syntax error in format string")
        if i < n and fmt[i] == "+":
            i += 1


def _setter(name: str, which: str, mode: int) -> None:
    help_ = ("how to create a ScriptAlias based on the host" if which == "cgi"
             else "how to create the DocumentRoot based on the host")

    def fn(cmd: CmdParms, conf: MvaConfig, fmt: str) -> None:
        if not fmt.startswith("/"):
            if fmt.lower() != "none":
                raise DirectiveError("format string must start with '/' or be 'none'")
            setattr(conf, f"{which}_root", None)
            setattr(conf, f"{which}_root_mode", NONE)
            return
        check_format(fmt)
        setattr(conf, f"{which}_root", fmt)
        setattr(conf, f"{which}_root_mode", mode)

    fn.__name__ = name.lower()
    vhost_alias.directive(name, args=ArgSpec.TAKE1, context=Context.RSRC,
                          syntax=f"{name} interpolated-directory|none", help=help_)(fn)


_setter("VirtualScriptAlias", "cgi", NAME)
_setter("VirtualDocumentRoot", "doc", NAME)
_setter("VirtualScriptAliasIP", "cgi", IP)
_setter("VirtualDocumentRootIP", "doc", IP)


def interpolate(name: str, fmt: str, port: int) -> str:
    """vhost_alias_interpolate, without the URI: the expanded directory."""
    # dots[0] is "just before the name", dots[ndots] its end
    dots = [-1]
    for i, c in enumerate(name):
        if c == "." and len(dots) < MAXDOTS:
            dots.append(i)
    ndots = len(dots)
    dots.append(len(name))
    out: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        i += 1
        if i < n and fmt[i] == "%":
            out.append("%")
            i += 1
            continue
        if i < n and fmt[i] == "p":
            out.append(str(port))
            i += 1
            continue
        nd = np_ = md = mp = False
        m = 0
        if fmt[i] == "-":
            nd = True
            i += 1
        big_n = int(fmt[i])
        i += 1
        if i < n and fmt[i] == "+":
            np_ = True
            i += 1
        if i < n and fmt[i] == ".":
            i += 1
            if fmt[i] == "-":
                md = True
                i += 1
            m = int(fmt[i])
            i += 1
            if i < n and fmt[i] == "+":
                mp = True
                i += 1
        text = name
        start, end = dots[0] + 1, dots[ndots]
        if big_n != 0:
            if big_n > ndots:
                text, start, end = "_", 0, 1
            elif not nd:
                start = dots[big_n - 1] + 1
                if not np_:
                    end = dots[big_n]
            else:
                if not np_:
                    start = dots[ndots - big_n] + 1
                end = dots[ndots - big_n + 1]
        if m != 0:
            if m > end - start:
                text, start, end = "_", 0, 1
            elif not md:
                start = start + m - 1
                if not mp:
                    end = start + 1
            else:
                if not mp:
                    start = end - m
                end = end - m + 1
        out.append(text[start:end].lower())
    return "".join(out)


def map_uri(conf: MvaConfig, uri: str, server_name: str, local_ip: str,
            port: int) -> tuple[str, bool] | None:
    """(filename, is_cgi) for ``uri``, or None when this module does not map it."""
    cgi = uri.find("cgi-bin/")
    if cgi >= 0 and cgi != len(uri) - len(uri.lstrip("/")):
        cgi = -1
    if cgi >= 0:
        mode, fmt, rest = conf.cgi_root_mode, conf.cgi_root, uri[cgi + 7:]
    elif uri.startswith("/"):
        mode, fmt, rest = conf.doc_root_mode, conf.doc_root, uri
    else:
        return None
    if mode == NAME:
        name = server_name
    elif mode == IP:
        name = local_ip
    else:
        return None
    assert fmt is not None
    base = interpolate(name, fmt, port)
    if fmt.endswith("/") and rest.startswith("/"):
        rest = rest[1:]                 # no double slashes
    return base + rest, cgi >= 0


@vhost_alias.hook("translate_name", order=MIDDLE + 1, needs=True)
def mva_translate(r: Request) -> int:
    from featherd.core.vhost import server_name, server_port

    conf: MvaConfig = r.server.module_config[vhost_alias.index]
    if conf.doc_root_mode in (UNSET_MODE, NONE) and conf.cgi_root_mode in (UNSET_MODE, NONE):
        return DECLINED
    res = map_uri(conf, r.uri, server_name(r), r.connection.local_ip or "",
                  server_port(r))
    if res is None:
        return DECLINED
    r.filename, is_cgi = res
    if is_cgi:
        r.handler = "cgi-script"
        r.notes["alias-forced-type"] = "cgi-script"
    return OK


__all__ = ["interpolate", "map_uri", "vhost_alias", "vhost_alias_module"]
