"""Virtual host matching, as the manual's "Virtual Host Matching" describes.

First the address: vhosts whose <VirtualHost> address equals the connection's local
(ip, port) (a ``*`` port matches any), else wildcard (``*``) addresses on that port,
else ``_default_``, else the main server. Then, when the address is name-based
(NameVirtualHost, or several vhosts share it as in 2.4), the Host: header picks among
them by ServerName, then ServerAlias; no match picks the first vhost of the group.
Without Host, ServerPath prefixes choose. The whole map is built at start-up.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from featherd.config.merge import UNSET
from featherd.core.core_module import core
from featherd.core.walk import fn_match

if TYPE_CHECKING:
    from featherd.core.config import ServerConfigTree
    from featherd.core.request import Request
    from featherd.core.server import ServerRec


@dataclass
class AddrGroup:
    host: str
    port: int
    servers: list[ServerRec] = field(default_factory=list)
    name_based: bool = False


class VhostMap:
    def __init__(self, tree: ServerConfigTree) -> None:
        self.tree = tree
        self.exact: dict[tuple[str, int], AddrGroup] = {}   # (ip, port) port 0 = any
        self.wild: dict[int, AddrGroup] = {}                  # *:port, 0 = *:*
        self.default: dict[int, AddrGroup] = {}               # _default_:port
        self._cache: dict[tuple[str, int], AddrGroup | None] = {}
        named = set(tree.name_vhosts)
        for s in tree.vhosts:
            for host, port in s.addrs:
                if host == "_default_":
                    g = self.default.setdefault(port, AddrGroup(host, port))
                elif host == "*":
                    g = self.wild.setdefault(port, AddrGroup(host, port))
                else:
                    g = self.exact.setdefault((host, port), AddrGroup(host, port))
                if s not in g.servers:
                    g.servers.append(s)
        for g in [*self.exact.values(), *self.wild.values(), *self.default.values()]:
            g.name_based = ((g.host, g.port) in named or len(g.servers) > 1
                            or (g.host, 0) in named)

    def groups(self) -> list[AddrGroup]:
        return [*self.wild.values(), *self.default.values(), *self.exact.values()]

    def by_addr(self, ip: str, port: int) -> AddrGroup | None:
        key = (ip, port)
        try:
            return self._cache[key]
        except KeyError:
            pass
        if ip.startswith("::ffff:"):
            ip4 = ip[7:]
        else:
            ip4 = ip
        g = (self.exact.get((ip, port)) or self.exact.get((ip4, port))
             or self.exact.get((ip, 0)) or self.exact.get((ip4, 0))
             or self.wild.get(port) or self.wild.get(0)
             or self.default.get(port) or self.default.get(0))
        self._cache[key] = g
        return g

    def select(self, group: AddrGroup | None, host: str | None, uri: str) -> ServerRec:
        main = self.tree.main
        if group is None:
            return main
        if not group.name_based:
            return group.servers[0]
        if host:
            h = host
            for s in group.servers:
                if s.server_hostname and s.server_hostname.lower() == h:
                    return s
                if h in s.names:
                    return s
                for w in s.wild_names:
                    if fn_match(w, h, pathname=False):
                        return s
        else:
            for s in group.servers:
                if s.path and (uri == s.path or uri.startswith(s.path.rstrip("/") + "/")):
                    return s
        return group.servers[0]


@lru_cache(maxsize=1024)
def clean_host(value: str) -> str | None:
    """Lower-case, drop the port and a trailing dot; None when the Host is invalid."""
    h = value.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        if end < 0:
            return None
        rest = h[end + 1:]
        if rest and (not rest.startswith(":") or not rest[1:].isdigit()):
            if rest != ":":
                return None
        return h[:end + 1]
    if ":" in h:
        h, _, port = h.partition(":")
        if port and not port.isdigit():
            return None
    h = h.rstrip(".")
    if not h:
        return ""
    if _HOST_CHARS.fullmatch(h) is None:     # fix_hostname: apr_isalnum, '-', '.', '_'
        return None
    return h


_HOST_CHARS = re.compile(r"[a-z0-9._-]+")


_DNS_NAMES: dict[str, str] = {}


def local_host_name(r: Request) -> str:
    """The reverse-DNS name of the connection's local address (UseCanonicalName DNS);
    the ServerName when the lookup fails. Looked up once per address."""
    ip = r.connection.local_ip
    name = _DNS_NAMES.get(ip)
    if name is None:
        try:
            name = socket.gethostbyaddr(ip)[0].lower()
        except OSError:
            name = r.server.server_hostname or r.tree.main.server_hostname or ip
        _DNS_NAMES[ip] = name
    return name


def _ucn(r: Request) -> str:
    v = r.per_dir_config[core.index].use_canonical_name
    return "off" if v is UNSET else v  # type: ignore[no-any-return]


def server_name(r: Request) -> str:
    """ap_get_server_name: the Host the client sent (Off, the 2.2 default), the ServerName
    (On), or the reverse-DNS name of the local address (DNS)."""
    ucn = _ucn(r)
    if ucn == "off":
        if r.hostname:
            return r.hostname
    elif ucn == "dns":
        return local_host_name(r)
    return r.server.server_hostname or r.tree.main.server_hostname or "localhost"


def server_port(r: Request) -> int:
    """ap_get_server_port. Off/DNS: the port of the Host header, else the ServerName's
    port, else the scheme's default. On: the ServerName's port, else the default.
    UseCanonicalPhysicalPort On puts the connection's local port before the default."""
    ucn = _ucn(r)
    phys = r.server.module_config[core.index].use_canonical_physical_port
    phys_port = r.connection.local_port if phys is not UNSET and phys else 0
    default = 443 if r.connection.is_tls else 80
    if ucn in ("off", "dns"):
        if r.parsed_port:
            return r.parsed_port
        hp = r.ctx.get("host_port")
        if hp:
            return int(hp)
        if phys_port:
            return phys_port
        return r.server.port or default
    return r.server.port or phys_port or default


def construct_url(r: Request, path: str) -> str:
    """ap_construct_url: scheme://name[:port]path, the port left out when it is the
    scheme's default."""
    scheme = r.server.server_scheme or ("https" if r.connection.is_tls else "http")
    host = server_name(r)
    port = server_port(r)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    default = 443 if scheme == "https" else 80
    if port and port != default:
        return f"{scheme}://{host}:{port}{path}"
    return f"{scheme}://{host}{path}"
