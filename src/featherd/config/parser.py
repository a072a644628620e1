"""Walking the node tree: every directive goes through the registry.

The processor reads a file, expands Include and the conditional sections as it goes (in
file order, as Apache's pre-parse does), checks each directive's arity and context
against its row and calls its handler with a :class:`CmdParms`.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import Context, Directive, Override
from featherd.config.tree import Node, parse_text, substitute
from featherd.errors import ConfigError, DirectiveError

if TYPE_CHECKING:
    from featherd.core.config import ServerConfigTree
    from featherd.core.server import ServerRec

MAX_INCLUDE_DEPTH = 128

_WHERE_TAG = {Context.DIRECTORY: "Directory", Context.LOCATION: "Location",
              Context.FILES: "Files"}


@dataclass(slots=True)
class CmdParms:
    """What a directive handler learns about where it is (Apache's cmd_parms)."""

    tree: ServerConfigTree
    server: ServerRec
    where: Context                     # exactly one Context flag
    dir_confs: list[Any] | None        # the per-dir vector being filled
    path: str | None = None            # the section's path, None at server level
    override: Override = Override.ALL  # in .htaccess: what AllowOverride permits
    override_opts: frozenset[str] | None = None   # AllowOverride Options=... list
    limited: frozenset[str] | None = None         # methods of an enclosing <Limit>
    limit_except: bool = False
    node: Node | None = None
    info: Directive | None = None
    include_depth: int = 0
    section_regex: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return self.node.filename if self.node else ""

    @property
    def line(self) -> int:
        return self.node.line if self.node else 0

    def child(self, **changes: Any) -> CmdParms:
        c = CmdParms(self.tree, self.server, self.where, self.dir_confs, self.path,
                     self.override, self.override_opts, self.limited, self.limit_except,
                     self.node, self.info, self.include_depth, self.section_regex,
                     dict(self.extra))
        for k, v in changes.items():
            setattr(c, k, v)
        return c

    def walk(self, nodes: list[Node]) -> None:
        process_nodes(nodes, self)

    def server_root_relative(self, p: str) -> str:
        return self.tree.server_root_relative(p)


def read_config_file(path: str) -> list[Node]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except IsADirectoryError:
        raise
    except OSError as e:
        raise ConfigError(
            f"Could not open configuration file {path}: {e.strerror}") from None
    return parse_text(text, path)


def check_context(row: Directive, cmd: CmdParms) -> str | None:
    """Apache's invoke_cmd/ap_check_cmd_context checks; the error text or None."""
    where = cmd.where
    name = row.name
    if where is Context.HTACCESS:
        if Context.HTACCESS not in row.context or not (row.override & cmd.override):
            return f"{name} not allowed here"
        return None
    if where not in row.context:
        if where is Context.VHOST and Context.SERVER in row.context:
            return f"{name} cannot occur within <VirtualHost> section"
        if where & Context.DIR and row.context & Context.DIR:
            return f"{name} cannot occur within <{_WHERE_TAG[where]}> section"
        return f"{name} not allowed here"
    if cmd.limited is not None and row.not_in_limit:
        return f"{name} cannot occur within <Limit> section"
    return None


def invoke(node: Node, cmd: CmdParms) -> None:
    tree = cmd.tree
    row = tree.registry.get(node.name)
    if row is None or node.is_container != row.container:
        shown = f"<{node.name}" if node.is_container else node.name
        if row is None and node.is_container:
            raise ConfigError(
                f"Invalid command '{shown}', perhaps misspelled or defined by a module "
                "not included in the server configuration", node.filename, node.line)
        if row is None:
            raise ConfigError(
                f"Invalid command '{node.name}', perhaps misspelled or defined by a module "
                "not included in the server configuration", node.filename, node.line)
        raise ConfigError(f"Invalid command '{shown}', perhaps misspelled or defined by a "
                          "module not included in the server configuration",
                          node.filename, node.line)
    if "${" in node.args:
        node = Node(node.name, substitute(node.args, tree.define_vars), node.filename,
                    node.line, node.children)
    c = cmd.child(node=node, info=row)
    err = check_context(row, c)
    if err:
        raise ConfigError(err, node.filename, node.line)
    try:
        args = row.split(node.args)
        module = row.module
        assert module is not None
        if row.conf == "dir":
            confs = c.dir_confs
            if confs is None:
                confs = c.server.lookup_defaults
            conf = confs[module.index]
        else:
            conf = c.server.module_config[module.index]
        if row.args.name in ("ITERATE",):
            for a in args:
                row.func(c, conf, a)
        elif row.args.name == "ITERATE2":
            for a in args[1:]:
                row.func(c, conf, args[0], a)
        else:
            row.func(c, conf, *args)
    except ConfigError as e:
        if e.filename is None:
            raise ConfigError(e.message, node.filename, node.line) from None
        raise


def process_nodes(nodes: list[Node], cmd: CmdParms) -> None:
    for node in nodes:
        invoke(node, cmd)


def include(cmd: CmdParms, pattern: str, optional: bool) -> None:
    """Include: a file, a directory (all files, sorted) or a wildcard pattern."""
    if cmd.include_depth >= MAX_INCLUDE_DEPTH:
        raise DirectiveError(
            f"Exceeded the maximum include directory nesting level of {MAX_INCLUDE_DEPTH}. "
            "You have probably a recursion somewhere.")
    path = cmd.server_root_relative(pattern)
    if glob.has_magic(path):
        files = sorted(p for p in glob.glob(path) if not os.path.isdir(p) or True)
        if not files and not optional:
            # Apache 2.2 accepts a wildcard that matches nothing.
            return
    elif os.path.isdir(path):
        files = [path]
    elif not os.path.exists(path):
        if optional:
            return
        raise DirectiveError(f"Could not open configuration file {path}: "
                             "No such file or directory")
    else:
        files = [path]
    sub = cmd.child(include_depth=cmd.include_depth + 1)
    for f in files:
        if os.path.isdir(f):
            entries = sorted(os.listdir(f))
            for e in entries:
                full = os.path.join(f, e)
                if os.path.isdir(full):
                    include(sub, full, optional)
                elif not e.startswith("."):
                    process_nodes(read_config_file(full), sub)
        else:
            process_nodes(read_config_file(f), sub)
