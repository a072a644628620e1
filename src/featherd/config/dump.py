"""-l, -L, -M and -V output, generated from the modules and the registry."""

from __future__ import annotations

import platform
import sys
from typing import Any

from featherd import APACHE_COMPAT_VERSION, __version__
from featherd.config.directives import Override, Registry


def compiled_modules(mods: list[Any]) -> str:
    lines = ["Compiled in modules:"]
    lines += [f"  {m.source}" for m in mods]
    return "\n".join(lines) + "\n"


def loaded_modules(mods: list[Any]) -> str:
    lines = ["Loaded Modules:"]
    lines += [f" {m.name} (static)" for m in mods]
    return "\n".join(lines) + "\n"


def _allowed_text(d: Any) -> str:
    from featherd.config.directives import Context

    c = d.context
    if Context.HTACCESS in c and d.override != Override.NONE:
        ov = d.override_text()
        if c & Context.RSRC and c & Context.DIR:
            return f"Allowed in *.conf anywhere and in .htaccess\n\twhen AllowOverride includes {ov}"
        return f"Allowed in *.conf only inside <Directory>, <Files>, <Location>, or <If>\n\tand in .htaccess\n\twhen AllowOverride includes {ov}"
    if c & Context.RSRC and c & Context.DIR:
        return "Allowed in *.conf anywhere"
    if c & Context.RSRC:
        if Context.VHOST not in c:
            return "Allowed in *.conf only outside <Directory>, <Files>, <Location>, or <If>" \
                   "\n\tand not in <VirtualHost>"
        return "Allowed in *.conf only outside <Directory>, <Files>, <Location>, or <If>"
    return "Allowed in *.conf only inside <Directory>, <Files>, <Location>, or <If>"


def directive_list(reg: Registry) -> str:
    out = []
    for d in sorted(reg.rows.values(), key=lambda d: (d.module.index if d.module else 0)):
        name = f"<{d.name}>" if d.container else d.name
        src = d.module.source if d.module else "?"
        out.append(f"{name} ({src})\n\t{d.help or d.syntax}\n\tSyntax: {d.syntax}\n"
                   f"\t{_allowed_text(d)}")
    return "\n".join(out) + "\n"


def version_info() -> str:
    v = ".".join(map(str, APACHE_COMPAT_VERSION))
    return (f"Server version: featherd/{__version__} (Unix)\n"
            f"Apache compatibility: {v}\n"
            f"Python: {platform.python_version()} ({sys.implementation.name})\n"
            "Architecture:   " + platform.machine() + "\n"
            "Server MPM:     event (asyncio)\n")
