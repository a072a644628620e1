"""`featherd -S`: the vhost map as `httpd -S` prints it."""

from __future__ import annotations

from typing import Any

from featherd.core.vhost import VhostMap


def dump_vhosts(tree: Any) -> str:
    vm = VhostMap(tree)
    lines = ["VirtualHost configuration:"]
    for g in vm.groups():
        addr = f"{g.host}:{g.port or '*'}"
        if g.name_based:
            lines.append(f"{addr:<22} is a NameVirtualHost")
            first = g.servers[0]
            lines.append(f"         default server {first.server_hostname} "
                         f"({first.defn_name}:{first.defn_line_number})")
            for s in g.servers:
                lines.append(f"         port {g.port or '*'} namevhost {s.server_hostname} "
                             f"({s.defn_name}:{s.defn_line_number})")
                for a in s.names + s.wild_names:
                    lines.append(f"                 alias {a}")
        else:
            s = g.servers[0]
            lines.append(f"{addr:<22} {s.server_hostname} ({s.defn_name}:{s.defn_line_number})")
    from featherd.core.core_module import core

    dr = tree.main.module_config[core.index].document_root
    lines.append(f'ServerRoot: "{tree.server_root}"')
    lines.append(f'Main DocumentRoot: "{dr if isinstance(dr, str) else tree.server_root + "/htdocs"}"')
    lines.append(f'Main ErrorLog: "{tree.server_root_relative(tree.main.error_fname or "logs/error_log")}"')
    return "\n".join(lines) + "\n"
