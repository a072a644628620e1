"""Post-config fixups of the core: defaults of the main server and the merging of every
<VirtualHost> with it (ap_fixup_virtual_hosts), done once before serving."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from featherd.core.core_module import core
from featherd.core.hooks import OK, REALLY_FIRST
from featherd.core.walk import sort_sections

if TYPE_CHECKING:
    from featherd.core.config import ServerConfigTree

_INHERIT = ("server_admin", "error_fname", "loglevel", "timeout", "keep_alive",
            "keep_alive_timeout", "keep_alive_max", "limit_req_line", "limit_req_fieldsize",
            "limit_req_fields")


def default_hostname() -> str:
    try:
        return socket.gethostname() or "127.0.0.1"
    except OSError:
        return "127.0.0.1"


@core.hook("post_config", order=REALLY_FIRST)
def fixup_servers(tree: ServerConfigTree) -> int:
    main = tree.main
    if main.server_hostname is None:
        main.server_hostname = default_hostname()
        tree.warnings.append(
            "featherd: Could not reliably determine the server's fully qualified domain "
            f"name, using {main.server_hostname} for ServerName")
    if main.error_fname is None:
        main.error_fname = "logs/error_log"
    if main.loglevel is None:
        main.loglevel = 4
    sort_sections(main)
    used = {(h, p) for v in tree.vhosts for h, p in v.addrs}
    for host, port in tree.name_vhosts:
        if (host, port) not in used and not (port == 0 and any(h == host for h, _ in used)):
            tree.warnings.append(f"NameVirtualHost {host}:{port or '*'} has no "
                                 "VirtualHosts")
    for v in tree.vhosts:
        for i, m in enumerate(tree.modules):
            if i < len(v.module_config):
                v.module_config[i] = m.merge_server_config(main.module_config[i],
                                                           v.module_config[i])
        v.lookup_defaults = tree.merge_dir_confs(main.lookup_defaults, v.lookup_defaults)
        v.sec_dir = [*main.sec_dir, *v.sec_dir]
        v.sec_url = [*main.sec_url, *v.sec_url]
        sort_sections(v)
        for f in _INHERIT:
            if getattr(v, f) is None:
                setattr(v, f, getattr(main, f))
        if v.server_hostname is None:
            v.server_hostname = main.server_hostname
    return OK
