"""`featherd -S`: the vhost map as `httpd -S` prints it.

The shape is 2.4's (ap_dump_vhost_config and DUMP_RUN_CFG), which lists aliases and the
run-time paths: address groups with a specific IP first, then ``*`` and ``_default_``
ones; a name-based group shows its default server then every namevhost with its aliases::

    VirtualHost configuration:
    127.0.0.2:8080         c.example (/etc/featherd.conf:12)
    *:8080                 is a NameVirtualHost
             default server a.example (/etc/featherd.conf:5)
             port 8080 namevhost a.example (/etc/featherd.conf:5)
                     alias www.a.example
                     wild alias *.a.example
    ServerRoot: "/etc/featherd"
    ...

``_default_`` keeps its 2.2 meaning (it catches what no other address took) and is
shown as ``_default_:PORT``.
"""

from __future__ import annotations

from typing import Any

from featherd.core.vhost import AddrGroup, VhostMap


def _addr(g: AddrGroup) -> str:
    host = f"[{g.host}]" if ":" in g.host else g.host
    return f"{host}:{g.port or '*'}"


def _where(s: Any) -> str:
    return f"({s.defn_name}:{s.defn_line_number})"


def dump_group(g: AddrGroup) -> list[str]:
    addr = _addr(g)
    if not g.name_based:
        s = g.servers[0]
        return [f"{addr:<22} {s.server_hostname} {_where(s)}"]
    first = g.servers[0]
    lines = [f"{addr:<22} is a NameVirtualHost",
             f"{'':8} default server {first.server_hostname} {_where(first)}"]
    for s in g.servers:
        lines.append(f"{'':8} port {g.port or '*'} namevhost {s.server_hostname} {_where(s)}")
        for a in s.names:
            lines.append(f"{'':16} alias {a}")
        for a in s.wild_names:
            lines.append(f"{'':16} wild alias {a}")
    return lines


def dump_vhosts(tree: Any) -> str:
    from featherd.config.merge import UNSET
    from featherd.core.core_module import core

    vm = VhostMap(tree)
    lines = ["VirtualHost configuration:"]
    for g in vm.exact.values():
        lines.extend(dump_group(g))
    for g in vm.wild.values():
        lines.extend(dump_group(g))
    for g in vm.default.values():
        lines.extend(dump_group(g))
    dr = tree.main.module_config[core.index].document_root
    if dr is UNSET:
        dr = tree.server_root_relative("htdocs")
    lines.append(f'ServerRoot: "{tree.server_root}"')
    lines.append(f'Main DocumentRoot: "{dr}"')
    lines.append('Main ErrorLog: "'
                 + tree.server_root_relative(tree.main.error_fname or "logs/error_log") + '"')
    pid = tree.extra.get("pidfile") or "logs/httpd.pid"
    lines.append(f'PidFile: "{tree.server_root_relative(pid)}"')
    for d in sorted(tree.defines):
        v = tree.define_vars.get(d)
        lines.append(f"Define: {d}" + (f"={v}" if v is not None else ""))
    return "\n".join(lines) + "\n"
