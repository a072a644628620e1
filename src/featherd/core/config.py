"""Loading a configuration: modules, registry, hooks, servers, all decided at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from featherd.config.directives import Context, Registry
from featherd.config.parser import CmdParms, build, process_nodes, read_config_file
from featherd.config.tree import parse_text
from featherd.core.hooks import Hooks
from featherd.core.module import Module
from featherd.core.server import Section, ServerRec
from featherd.errors import ConfigError


@dataclass
class ListenSpec:
    host: str | None
    port: int
    proto: str | None = None      # "http" / "https" (Listen's second argument)
    filename: str = ""
    line: int = 0


@dataclass
class ServerConfigTree:
    """Everything a configuration decides: the result of reading httpd.conf."""

    modules: list[Module]
    server_root: str
    config_file: str
    defines: set[str] = field(default_factory=set)
    define_vars: dict[str, str] = field(default_factory=dict)
    registry: Registry = field(default_factory=Registry)
    hooks: Hooks = field(default_factory=Hooks)
    main: ServerRec = field(default_factory=ServerRec)
    vhosts: list[ServerRec] = field(default_factory=list)
    listens: list[ListenSpec] = field(default_factory=list)
    name_vhosts: list[tuple[str, int]] = field(default_factory=list)
    loaded: dict[str, Module] = field(default_factory=dict)
    filters: dict[str, tuple[int, Any, Module]] = field(default_factory=dict)
    input_filters: dict[str, tuple[int, Any, Module]] = field(default_factory=dict)
    providers: dict[tuple[str, str], Any] = field(default_factory=dict)
    handlers: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)   # module-wide process state
    used_directives: set[str] = field(default_factory=set)  # every directive read (names)
    _section_seq: int = 0

    # -- modules ------------------------------------------------------------------------
    def add_module(self, m: Module) -> None:
        if m.name in self.loaded:
            return
        m.index = len(self.modules) if m not in self.modules else m.index
        if m not in self.modules:
            self.modules.append(m)
        self.loaded[m.name] = m
        for d in m.directives:
            self.registry.add(d)
        for name, fn, order in m.hooks:
            self.hooks.register(name, fn, order, m.name)
        for name, ftype, factory in m.output_filters:
            self.filters[name.lower()] = (ftype, factory, m)
        for name, ftype, factory in m.input_filters:
            self.input_filters[name.lower()] = (ftype, factory, m)
        for group, pname, obj in m.providers:
            self.providers[(group, pname)] = obj
        for hname, fn in m.handlers.items():
            self.handlers[hname] = fn
        # extend the vectors of servers that already exist
        for s in [self.main, *self.vhosts]:
            while len(s.module_config) < len(self.modules):
                s.module_config.append(None)
                s.lookup_defaults.append(None)
            s.module_config[m.index] = m.create_server_config()
            s.lookup_defaults[m.index] = m.create_dir_config(None)

    def module_by_source(self, ident: str) -> Module | None:
        for m in self.modules:
            if m.source == ident or m.name == ident:
                return m
        return None

    # -- records ------------------------------------------------------------------------
    def new_dir_confs(self, path: str | None) -> list[Any]:
        return [m.create_dir_config(path) for m in self.modules]

    def new_server(self) -> ServerRec:
        s = ServerRec()
        s.module_config = [m.create_server_config() for m in self.modules]
        s.lookup_defaults = self.new_dir_confs(None)
        return s

    def merge_dir_confs(self, base: list[Any], new: list[Any]) -> list[Any]:
        n = len(self.modules)
        if len(base) < n:
            base = [*base, *[None] * (n - len(base))]
        if len(new) < n:
            new = [*new, *[None] * (n - len(new))]
        return [m.merge_dir_config(b, c) for m, b, c in zip(self.modules, base, new, strict=False)]

    def new_section(self, **kw: Any) -> Section:
        self._section_seq += 1
        return Section(uid=self._section_seq, **kw)

    def server_root_relative(self, p: str) -> str:
        if os.path.isabs(p) or p.startswith("|"):
            return p
        return os.path.join(self.server_root, p)

    def all_servers(self) -> list[ServerRec]:
        return [self.main, *self.vhosts]


def load_config(config_file: str | None, modules: list[Module], *,
                server_root: str | None = None, defines: set[str] | None = None,
                pre: list[str] | None = None, post: list[str] | None = None,
                text: str | None = None) -> ServerConfigTree:
    """Read and process a configuration, then run the post-config fixups.

    ``pre``/``post`` are ``-C``/``-c`` directives; ``text`` lets tests pass the file body.
    """
    root = server_root or (os.path.dirname(os.path.abspath(config_file)) if config_file
                           else os.getcwd())
    tree = ServerConfigTree(modules=[], server_root=os.path.abspath(root),
                            config_file=config_file or "<string>",
                            defines=set(defines or ()))
    for m in modules:
        tree.add_module(m)
    tree.main = tree.new_server()
    tree.main.defn_name = tree.config_file
    cmd = CmdParms(tree=tree, server=tree.main, where=Context.SERVER, dir_confs=None)
    if pre:
        for i, d in enumerate(pre, 1):
            process_nodes(parse_text(d, "-c/-C directives"), cmd.child())
            del i
    if text is not None:
        nodes = parse_text(text, tree.config_file)
    else:
        assert config_file is not None
        if config_file and not os.path.isabs(config_file):
            config_file = tree.server_root_relative(config_file)
            tree.config_file = config_file
        nodes = read_config_file(config_file)
    nodes = build(nodes, cmd)            # Include, <IfModule>... done: what mod_info shows
    tree.extra["conftree"] = nodes
    process_nodes(nodes, cmd.child(built=True))
    if post:
        for d in post:
            process_nodes(parse_text(d, "-c/-C directives"), cmd.child())
    from featherd.core.hooks import run_all_sync

    rv = run_all_sync(tree.hooks["post_config"], tree)
    if rv not in (0, -1):
        raise ConfigError(f"post_config failed ({rv})")
    tree.hooks.prune(tree)
    return tree
