"""What ``-v``, ``-V``, ``-l``, ``-L`` and ``-M`` print, in httpd 2.2's shapes, generated
from the modules and their directive rows (``-S`` is core/vhost_dump.py's).

``-L`` follows ap_show_directives/show_overrides (config.c): for every directive of every
built-in module, in module order then declaration order::

    <Directory (core.c)
    \tContainer for directives affecting resources located in the specified directories
    \tAllowed in *.conf only outside <Directory>, <Files> or <Location>

The "Allowed in" line is computed from Apache's ``req_override`` bits, which featherd's
rows express as Context (RSRC_CONF = server config or virtual host, ACCESS_CONF = the
sections) and Override (the OR_* classes, when .htaccess is in the context).
"""

from __future__ import annotations

import os
import platform
import socket
import time
from importlib import metadata, resources
from typing import Any

from featherd import APACHE_COMPAT_VERSION, __version__
from featherd.config.directives import Context, Directive, Override

#: httpd's DEFAULT_PIDLOG and DEFAULT_ERRORLOG (ServerRoot-relative), as featherd uses them
DEFAULT_PIDLOG = "logs/httpd.pid"
DEFAULT_ERRORLOG = "logs/error_log"


def server_version() -> str:
    return f"featherd/{__version__} (Unix)"


def server_built() -> str:
    """Like httpd's ``__DATE__ " " __TIME__``: when this copy of featherd was installed."""
    try:
        ts = os.stat(str(resources.files("featherd") / "__init__.py")).st_mtime
    except OSError:
        ts = time.time()
    t = time.localtime(ts)
    return f"{time.strftime('%b', t)} {t.tm_mday:2d} {time.strftime('%Y %H:%M:%S', t)}"


def version() -> str:
    """``-v``."""
    return f"Server version: {server_version()}\nServer built:   {server_built()}\n"


def compiled_modules(mods: list[Any]) -> str:
    """``-l``: the built-in modules by source name."""
    return "".join(["Compiled in modules:\n", *(f"  {m.source}\n" for m in mods)])


def loaded_modules(mods: list[Any], shared: set[str] | frozenset[str] = frozenset()) -> str:
    """``-M``: every loaded module; those from LoadModule are "(shared)"."""
    lines = ["Loaded Modules:\n"]
    for m in mods:
        lines.append(f" {m.name} ({'shared' if m.name in shared else 'static'})\n")
    return "".join(lines)


# --- -L -----------------------------------------------------------------------------------
_OR_ORDER = [(Override.AUTHCFG, "AuthConfig"), (Override.LIMIT, "Limit"),
             (Override.OPTIONS, "Options"), (Override.FILEINFO, "FileInfo"),
             (Override.INDEXES, "Indexes")]


def _has_dir_config(m: Any) -> bool:
    from featherd.core.module import Module

    return m.dir_config_cls is not None or \
        type(m).create_dir_config is not Module.create_dir_config


def allowed_text(d: Directive) -> str:
    """show_overrides(): the "Allowed in *.conf ..." line(s) of one row."""
    c = d.context
    rsrc = bool(c & Context.RSRC)
    access = bool(c & Context.DIR)
    ors = d.override if Context.HTACCESS in c else Override.NONE
    out = "\tAllowed in *.conf "
    if ors & (Override.OPTIONS | Override.FILEINFO | Override.INDEXES) or (
            rsrc and (access or ors & (Override.AUTHCFG | Override.LIMIT))):
        out += "anywhere"
    elif rsrc:
        out += "only outside <Directory>, <Files> or <Location>"
    else:
        out += "only inside <Directory>, <Files> or <Location>"
    if (ors or access) and d.module is not None and not _has_dir_config(d.module):
        out += " [no per-dir config]"
    if ors:
        out += " and in .htaccess\n\twhen AllowOverride"
        if ors == Override.ALL:
            out += " isn't None"
        else:
            out += " includes " + " or ".join(n for o, n in _OR_ORDER if o in ors)
    return out + "\n"


def directive_row(d: Directive) -> str:
    src = d.module.source if d.module is not None else "?"
    out = f"{'<' if d.container else ''}{d.name} ({src})\n"
    if d.help:
        out += f"\t{d.help}\n"
    return out + allowed_text(d)


def directive_list(mods: list[Any]) -> str:
    """``-L``: the rows of the given modules, in module order then declaration order."""
    return "".join(directive_row(d) for m in mods for d in m.directives)


# --- -V -----------------------------------------------------------------------------------
def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def version_info(mpm_name: str = "event", config_file: str = "", httpd_root: str = "") -> str:
    """``-V``: the version, the Python runtime in place of APR, the MPM and the defaults."""
    py = f"Python {platform.python_version()} ({platform.python_implementation()})"
    loaded = [py]
    for dist in ("uvloop", "httptools"):
        v = _dist_version(dist)
        if v:
            loaded.append(f"{dist} {v}")
    compat = ".".join(map(str, APACHE_COMPAT_VERSION))
    lines = [
        f"Server version: {server_version()}",
        f"Server built:   {server_built()}",
        f"Server loaded:  {', '.join(loaded)}",
        f"Compiled using: {py}",
        f"Architecture:   {platform.architecture()[0].replace('bit', '-bit')}",
        f"Server MPM:     {mpm_name.capitalize()}",
        "  threaded:     no",
        "    forked:     yes (fixed process count)",
        "Server compiled with....",
        f' -D APACHE_COMPAT_VERSION="{compat}"',
    ]
    if hasattr(os, "sendfile"):
        lines.append(" -D APR_HAS_SENDFILE")
    if socket.has_ipv6:
        lines.append(" -D APR_HAVE_IPV6 (IPv4-mapped addresses enabled)")
    if _dist_version("uvloop"):
        lines.append(" -D FEATHERD_HAS_UVLOOP")
    if httpd_root:
        lines.append(f' -D HTTPD_ROOT="{httpd_root}"')
    lines.append(__import__("featherd.support.suexec", fromlist=["_"]).status_line())
    lines += [
        f' -D DEFAULT_PIDLOG="{DEFAULT_PIDLOG}"',
        f' -D DEFAULT_ERRORLOG="{DEFAULT_ERRORLOG}"',
    ]
    if config_file:
        lines.append(f' -D SERVER_CONFIG_FILE="{config_file}"')
    return "\n".join(lines) + "\n"
