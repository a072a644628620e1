"""Section containers and server-structure directives of the core: <VirtualHost>,
<Directory>, <Files>, <Location> (and their Match forms), <Limit>, <LimitExcept>,
Listen, NameVirtualHost, LoadModule."""

from __future__ import annotations

import re
import socket
from typing import Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.parser import CmdParms
from featherd.core.config import ListenSpec
from featherd.core.core_module import core
from featherd.errors import DirectiveError

_FNMATCH_CHARS = re.compile(r"[*?\[]")


def _section_arg(cmd: CmdParms, tag: str) -> str:
    a = (cmd.node.args if cmd.node else "").strip()
    if not a:
        raise DirectiveError(f"<{tag}> directive requires additional arguments")
    return a


def _regex(pattern: str, tag: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error:
        raise DirectiveError("Regex could not be compiled") from None


def _strip_quotes(s: str) -> str:
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    return s


def _walk_section(cmd: CmdParms, where: Context, path: str, regex: Any) -> list[Any]:
    assert cmd.node is not None and cmd.node.children is not None
    if cmd.limited is not None:
        raise DirectiveError(f"<{cmd.node.name}> cannot occur within <Limit> section")
    confs = cmd.tree.new_dir_confs(path)
    sub = cmd.child(where=where, dir_confs=confs, path=path, section_regex=regex,
                    limited=None, limit_except=False, section_tag=cmd.node.name)
    sub.walk(cmd.node.children)
    return confs


def _dir_section(cmd: CmdParms, raw: str, is_match: bool) -> None:
    tag = "DirectoryMatch" if is_match else "Directory"
    arg = _strip_quotes(_section_arg(cmd, tag))
    regex = None
    if is_match:
        regex = _regex(arg, tag)
    elif arg.startswith("~"):
        arg = _strip_quotes(arg[1:].strip())
        regex = _regex(arg, tag)
    path = arg
    if regex is None:
        if arg != "/" and not arg.startswith("/") and not _FNMATCH_CHARS.search(arg[:1]):
            path = cmd.server_root_relative(arg)
        if not path.endswith("/"):
            path += "/"
    confs = _walk_section(cmd, Context.DIRECTORY, path, regex)
    comps = path.count("/") if regex is None else 0
    sec = cmd.tree.new_section(kind="directory", pattern=arg if regex is not None else path,
                               regex=regex, confs=confs, filename=cmd.filename,
                               line=cmd.line, components=comps,
                               wildcard=regex is None and bool(_FNMATCH_CHARS.search(path)))
    cmd.server.sec_dir.append(sec)


@core.directive("Directory", args=ArgSpec.RAW_ARGS, context=Context.RSRC, container=True,
                syntax="<Directory directory-path> ... </Directory>",
                help="Container for directives affecting resources located in the specified "
                     "directories")
def directory(cmd: CmdParms, conf: Any, raw: str) -> None:
    _dir_section(cmd, raw, False)


@core.directive("DirectoryMatch", args=ArgSpec.RAW_ARGS, context=Context.RSRC, container=True,
                syntax="<DirectoryMatch regex> ... </DirectoryMatch>",
                help="Container for directives affecting resources located in the specified "
                     "directories")
def directory_match(cmd: CmdParms, conf: Any, raw: str) -> None:
    _dir_section(cmd, raw, True)


def _loc_section(cmd: CmdParms, is_match: bool) -> None:
    tag = "LocationMatch" if is_match else "Location"
    arg = _strip_quotes(_section_arg(cmd, tag))
    regex = None
    if is_match:
        regex = _regex(arg, tag)
    elif arg.startswith("~"):
        arg = _strip_quotes(arg[1:].strip())
        regex = _regex(arg, tag)
    confs = _walk_section(cmd, Context.LOCATION, arg, regex)
    sec = cmd.tree.new_section(kind="location", pattern=arg, regex=regex, confs=confs,
                               filename=cmd.filename, line=cmd.line,
                               wildcard=regex is None and bool(_FNMATCH_CHARS.search(arg)))
    cmd.server.sec_url.append(sec)


@core.directive("Location", args=ArgSpec.RAW_ARGS, context=Context.RSRC, container=True,
                syntax="<Location URL-path|URL> ... </Location>",
                help="Container for directives affecting resources accessed through the "
                     "specified URL paths")
def location(cmd: CmdParms, conf: Any, raw: str) -> None:
    _loc_section(cmd, False)


@core.directive("LocationMatch", args=ArgSpec.RAW_ARGS, context=Context.RSRC, container=True,
                syntax="<LocationMatch regex> ... </LocationMatch>",
                help="Container for directives affecting resources accessed through the "
                     "specified URL paths")
def location_match(cmd: CmdParms, conf: Any, raw: str) -> None:
    _loc_section(cmd, True)


def _files_section(cmd: CmdParms, is_match: bool) -> None:
    tag = "FilesMatch" if is_match else "Files"
    arg = _strip_quotes(_section_arg(cmd, tag))
    regex = None
    if is_match:
        regex = _regex(arg, tag)
    elif arg.startswith("~"):
        arg = _strip_quotes(arg[1:].strip())
        regex = _regex(arg, tag)
    confs = _walk_section(cmd, Context.FILES, arg, regex)
    sec = cmd.tree.new_section(kind="files", pattern=arg, regex=regex, confs=confs,
                               filename=cmd.filename, line=cmd.line,
                               wildcard=regex is None and bool(_FNMATCH_CHARS.search(arg)))
    target = cmd.dir_confs if cmd.dir_confs is not None else cmd.server.lookup_defaults
    c = target[core.index]
    c.sec_file = [*(c.sec_file or []), sec]


# 2.2's filesection refuses only <Location> and <Limit> around it: <Files> may nest.
_FILES_CTX = (Context.SERVER | Context.VHOST | Context.DIRECTORY | Context.FILES
              | Context.HTACCESS)


@core.directive("Files", args=ArgSpec.RAW_ARGS, context=_FILES_CTX, override=Override.ALL,
                container=True, syntax="<Files filename> ... </Files>",
                help="Container for directives affecting files matching specified patterns")
def files(cmd: CmdParms, conf: Any, raw: str) -> None:
    _files_section(cmd, False)


@core.directive("FilesMatch", args=ArgSpec.RAW_ARGS, context=_FILES_CTX, override=Override.ALL,
                container=True, syntax="<FilesMatch regex> ... </FilesMatch>",
                help="Container for directives affecting files matching specified patterns")
def files_match(cmd: CmdParms, conf: Any, raw: str) -> None:
    _files_section(cmd, True)


def _limit(cmd: CmdParms, tag: str, except_: bool) -> None:
    methods = _section_arg(cmd, tag).split()
    ms = frozenset(m.upper() for m in methods)
    for m in ms:
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", m):
            raise DirectiveError(f"{m} is not a valid method")
    if cmd.limited is not None:
        raise DirectiveError(f"<{tag}> cannot occur within <Limit> section")
    sub = cmd.child(limited=ms, limit_except=except_)
    assert cmd.node is not None and cmd.node.children is not None
    sub.walk(cmd.node.children)


@core.directive("Limit", args=ArgSpec.RAW_ARGS, context=Context.ALL_DIR,
                override=Override.ALL, container=True,
                syntax="<Limit method [method] ... > ... </Limit>",
                help="Container for authentication directives when accessed using specified "
                     "HTTP methods")
def limit(cmd: CmdParms, conf: Any, raw: str) -> None:
    _limit(cmd, "Limit", False)


@core.directive("LimitExcept", args=ArgSpec.RAW_ARGS, context=Context.ALL_DIR,
                override=Override.ALL, container=True,
                syntax="<LimitExcept method [method] ... > ... </LimitExcept>",
                help="Container for authentication directives to be enforced when any HTTP "
                     "method other than those specified is used to access the resource")
def limit_except(cmd: CmdParms, conf: Any, raw: str) -> None:
    _limit(cmd, "LimitExcept", True)


# --- addresses ------------------------------------------------------------------------
def parse_addr(s: str, default_port: int = 0) -> tuple[str, int]:
    """'*', '_default_', '1.2.3.4', '[::1]:80', 'host:port' -> (host, port); port 0 = any."""
    host, port = s, default_port
    if s.startswith("["):
        end = s.find("]")
        host = s[1:end]
        rest = s[end + 1:]
        if rest.startswith(":"):
            p = rest[1:]
            port = 0 if p == "*" else int(p)
    elif s.count(":") == 1:
        host, p = s.split(":")
        port = 0 if p == "*" else int(p)
    elif s.count(":") > 1:
        host = s
    return host, port


def resolve_host(host: str) -> str:
    if host in ("*", "_default_") or re.fullmatch(r"[\d.]+", host) or ":" in host:
        return host
    try:
        return socket.gethostbyname(host)
    except OSError:
        raise DirectiveError(f"Cannot resolve host name {host} --- ignoring!") from None


@core.directive("Listen", args=ArgSpec.TAKE12, context=Context.SERVER,
                syntax="Listen [IP-address:]portnumber [protocol]",
                help="A port number or a numeric IP address and a port number, and an optional "
                     "protocol")
def listen(cmd: CmdParms, conf: Any, addr: str, proto: str | None) -> None:
    try:
        if addr.isdigit():
            host, port = None, int(addr)
        else:
            host, port = parse_addr(addr)
    except ValueError:
        raise DirectiveError("Port must be specified") from None
    if not 0 < port < 65536 and port != 0:
        raise DirectiveError("Invalid port specified")
    if host is not None and host.startswith("[") is False and host == "*":
        host = None
    for ls in cmd.tree.listens:
        if ls.host == host and ls.port == port and port != 0:
            raise DirectiveError("Cannot define multiple Listeners on the same IP:port")
    cmd.tree.listens.append(ListenSpec(host, port, proto.lower() if proto else None,
                                       cmd.filename, cmd.line))


@core.directive("NameVirtualHost", args=ArgSpec.TAKE1, context=Context.SERVER,
                help="A numeric IP address:port, or the name of a host")
def name_virtual_host(cmd: CmdParms, conf: Any, addr: str) -> None:
    host, port = parse_addr(addr)
    cmd.tree.name_vhosts.append((resolve_host(host), port))


@core.directive("VirtualHost", args=ArgSpec.RAW_ARGS, context=Context.SERVER, container=True,
                syntax="<VirtualHost addr[:port] [addr[:port]] ...> ... </VirtualHost>",
                help="Container for directives affecting resources accessed through the "
                     "specified IP address")
def virtual_host(cmd: CmdParms, conf: Any, raw: str) -> None:
    arg = _section_arg(cmd, "VirtualHost")
    s = cmd.tree.new_server()
    s.is_virtual = True
    s.defn_name = cmd.filename
    s.defn_line_number = cmd.line
    for a in arg.split():
        host, port = parse_addr(a)
        s.addrs.append((resolve_host(host), port))
    cmd.tree.vhosts.append(s)
    sub = cmd.child(server=s, where=Context.VHOST, dir_confs=None)
    assert cmd.node is not None and cmd.node.children is not None
    sub.walk(cmd.node.children)


@core.directive("LoadModule", args=ArgSpec.TAKE2, context=Context.SERVER,
                syntax="LoadModule module-name filename",
                help="a module name and the name of a shared object file to load it from")
def load_module(cmd: CmdParms, conf: Any, name: str, path: str) -> None:
    from featherd.modules import load_external

    tree = cmd.tree
    tree.extra.setdefault("load_module_names", set()).add(name)
    if name in tree.loaded:
        from featherd.modules import builtin_modules

        if tree.loaded[name] in builtin_modules():
            tree.warnings.append(f"module {name} is built-in and can't be loaded")
        else:
            tree.warnings.append(f"module {name} is already loaded, skipping")
        return
    full = cmd.server_root_relative(path)
    try:
        mod = load_external(name)
    except Exception as e:  # noqa: BLE001 - a broken package fails like a bad .so
        raise DirectiveError(f"Cannot load {full} into server: {type(e).__name__}: {e}") \
            from None
    if mod is None:
        raise DirectiveError(f"Cannot load {full} into server: {full}: cannot open shared "
                             "object file: No such file or directory")
    from featherd.core.module import Module

    if not isinstance(mod, Module):
        raise DirectiveError(f"Can't locate API module structure `{name}' in file {full}: "
                             "the entry point is not a featherd Module")
    tree.add_module(mod)
