"""Walking the node tree: every directive goes through the registry.

Two passes, as httpd makes them:

1. **build** (ap_build_config): the file is read and the directives httpd runs while
   reading (EXEC_ON_READ: Include, IncludeOptional, <IfModule>, <IfDefine>, <IfVersion>,
   Define, UnDefine, LoadModule, ServerRoot) run at once, in file order; ``${VAR}`` is
   expanded. What remains is a tree of ordinary directives. Errors of this pass are
   :class:`BuildError` ("featherd: Syntax error on line N of FILE: msg", nested once per
   Include level).
2. **walk** (ap_walk_config): each remaining directive is checked against its row (arity,
   context, AllowOverride) and its handler called with a :class:`CmdParms`. Errors say
   "Syntax error on line N of FILE:" and the message on the next line.

Context errors follow 2.2's invoke_cmd / ap_check_cmd_context: "X not allowed here",
"X cannot occur within <VirtualHost> section", "<Files> cannot occur within <Location>
section", "X only used in <VirtualHost>", "X cannot occur within <Limit> section".
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Directive, Override
from featherd.config.tree import BuildError, Node, parse_text, substitute
from featherd.errors import ConfigError, DirectiveError

if TYPE_CHECKING:
    from featherd.core.config import ServerConfigTree
    from featherd.core.server import ServerRec

MAX_INCLUDE_DEPTH = 128

#: Directives httpd runs while reading the file (EXEC_ON_READ), by lower-cased name.
EXEC_ON_READ = frozenset({"include", "includeoptional", "ifmodule", "ifdefine", "ifversion",
                          "define", "undefine", "loadmodule", "loadfile", "serverroot",
                          "mutex"})

#: Container name -> the context its contents are in (for the build pass).
_CONTAINER_WHERE = {"virtualhost": Context.VHOST, "directory": Context.DIRECTORY,
                    "directorymatch": Context.DIRECTORY, "location": Context.LOCATION,
                    "locationmatch": Context.LOCATION, "files": Context.FILES,
                    "filesmatch": Context.FILES}

_WHERE_TAG = {Context.DIRECTORY: "Directory", Context.LOCATION: "Location",
              Context.FILES: "Files"}

#: 2.2 accepts these outside <Directory> with a warning (core.c set_override).
_USELESS_OUTSIDE_DIRECTORY = frozenset({"allowoverride"})

INVALID_COMMAND = ("Invalid command '{}', perhaps misspelled or defined by a module not "
                   "included in the server configuration")


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
    section_tag: str | None = None     # the enclosing section's tag ("DirectoryMatch")
    built: bool = False                # the nodes given to walk() went through build
    sink: list[Node] | None = None     # build pass: where walk() puts expanded nodes

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
                     dict(self.extra), self.section_tag, self.built, self.sink)
        for k, v in changes.items():
            setattr(c, k, v)
        return c

    def walk(self, nodes: list[Node]) -> None:
        """Process the nodes of a container: in the build pass (a conditional section or
        an Include) they are expanded in place; otherwise each directive is invoked."""
        if self.sink is not None:
            build_into(nodes, self, self.sink)
        else:
            process_nodes(nodes, self)

    def server_root_relative(self, p: str) -> str:
        return self.tree.server_root_relative(p)

    def warn(self, msg: str) -> None:
        self.tree.warnings.append(msg)


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


def shown_name(row: Directive) -> str:
    """The name as httpd's command table spells it ("<Directory" for a container)."""
    return "<" + row.name if row.container else row.name


def check_context(row: Directive, cmd: CmdParms) -> str | None:
    """2.2's invoke_cmd + ap_check_cmd_context: the error text or None."""
    where = cmd.where
    name = shown_name(row)
    gt = ">" if row.container else ""
    ctx = row.context
    if where is Context.HTACCESS:
        if Context.HTACCESS not in ctx or not (row.override & cmd.override):
            return f"{name} not allowed here"
    elif where is Context.SERVER:
        if Context.SERVER not in ctx:
            if ctx & Context.VHOST and not ctx & Context.DIR:
                return f"{name}{gt} only used in <VirtualHost>"
            return f"{name} not allowed here"
    elif where is Context.VHOST:
        if Context.VHOST not in ctx:
            if Context.SERVER in ctx:
                return f"{name}{gt} cannot occur within <VirtualHost> section"
            return f"{name} not allowed here"
    else:  # inside <Directory>, <Location> or <Files>
        if not ctx & Context.DIR:
            return f"{name} not allowed here"
        if where not in ctx:
            if row.name.lower() in _USELESS_OUTSIDE_DIRECTORY:
                cmd.warn(f"Useless use of {row.name} in line {cmd.line} of {cmd.filename}.")
                return None
            tag = cmd.section_tag or _WHERE_TAG[where]
            return f"{name}{gt} cannot occur within <{tag}> section"
    if cmd.limited is not None and row.not_in_limit:
        return f"{name}{gt} cannot occur within <Limit> section"
    return None


def _expand(node: Node, cmd: CmdParms) -> Node:
    """${VAR} in the arguments, warning once per unknown name (httpd 2.4's AH00111)."""
    if "${" not in node.args:
        return node
    missing: list[str] = []
    args = substitute(node.args, cmd.tree.define_vars, missing)
    for name in missing:
        msg = f"Config variable ${{{name}}} is not defined"
        if msg not in cmd.tree.warnings:
            cmd.warn(msg)
    return Node(node.name, args, node.filename, node.line, node.children, node.unclosed)


def invoke(node: Node, cmd: CmdParms) -> None:
    """Check one directive against its row and run its handler."""
    tree = cmd.tree
    row = tree.registry.get(node.name)
    if row is None or node.is_container != row.container:
        shown = f"<{node.name}" if node.is_container else node.name
        raise ConfigError(INVALID_COMMAND.format(shown), node.filename, node.line)
    if node.unclosed:
        raise ConfigError(f"<{row.name}> directive missing closing '>'",
                          node.filename, node.line)
    if not cmd.built:
        node = _expand(node, cmd)
    c = cmd.child(node=node, info=row)
    used = tree.used_directives
    if row.name not in used:
        used.add(row.name)
        if tree.hooks.pruned:
            # first seen in an .htaccess file: the hooks that need it come back
            tree.hooks.prune(tree)
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
        if row.args is ArgSpec.ITERATE:
            for a in args:
                row.func(c, conf, a)
        elif row.args is ArgSpec.ITERATE2:
            for a in args[1:]:
                row.func(c, conf, args[0], a)
        else:
            row.func(c, conf, *args)
    except ConfigError as e:
        if e.filename is None:
            raise type(e)(e.message, node.filename, node.line) from None
        raise


def build_into(nodes: list[Node], cmd: CmdParms, out: list[Node]) -> None:
    """The build pass over ``nodes``: run EXEC_ON_READ directives, expand ${VAR},
    recurse into the other containers; the resulting nodes are appended to ``out``."""
    for node in nodes:
        node = _expand(node, cmd)
        key = node.name.lower()
        if key in EXEC_ON_READ and cmd.tree.registry.get(key) is not None:
            row = cmd.tree.registry.get(key)
            assert row is not None
            if node.is_container != row.container:
                out.append(node)   # the walk reports "Invalid command"
                continue
            sub = cmd.child(sink=out, built=True)
            try:
                invoke(node, sub)
            except BuildError:
                raise
            except ConfigError as e:
                if e.filename is None:
                    raise BuildError(e.message, node.filename, node.line) from None
                raise BuildError(e.message, e.filename, e.line) from None
            continue
        if node.is_container:
            children: list[Node] = []
            where = _CONTAINER_WHERE.get(key)
            sub = cmd.child(sink=children, built=True)
            if where is not None and cmd.where is not Context.HTACCESS:
                sub.where = where
                sub.section_tag = node.name
            assert node.children is not None
            build_into(node.children, sub, children)
            node = Node(node.name, node.args, node.filename, node.line, children,
                        node.unclosed)
        out.append(node)


def build(nodes: list[Node], cmd: CmdParms) -> list[Node]:
    out: list[Node] = []
    build_into(nodes, cmd.child(built=True), out)
    return out


def process_nodes(nodes: list[Node], cmd: CmdParms) -> None:
    """Build (once) and walk a list of nodes in the context ``cmd`` describes."""
    if not cmd.built:
        nodes = build(nodes, cmd)
        cmd = cmd.child(built=True)
    for node in nodes:
        invoke(node, cmd)


def include(cmd: CmdParms, pattern: str, optional: bool) -> None:
    """Include / IncludeOptional: a file, a directory (its files, sorted, recursively) or
    a wildcard pattern (wildcards in the last component; 2.4's messages)."""
    if cmd.include_depth >= MAX_INCLUDE_DEPTH:
        raise DirectiveError(
            f"Exceeded the maximum include directory nesting level of {MAX_INCLUDE_DEPTH}. "
            "You have probably a recursion somewhere.")
    path = cmd.server_root_relative(pattern)
    files: list[str]
    if glob.has_magic(path):
        d, base = os.path.split(path)
        if glob.has_magic(d):
            files = sorted(glob.glob(path))
        elif not os.path.isdir(d):
            if optional:
                return
            raise DirectiveError(f"Include/IncludeOptional: Could not open directory {d}: "
                                 "No such file or directory")
        else:
            files = sorted(glob.glob(path))
        if not files:
            if optional:
                return
            raise DirectiveError(f"Include/IncludeOptional: No matches for the wildcard "
                                 f"'{base}' in '{d}', failing")
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
            for e in sorted(os.listdir(f)):
                if e.startswith("."):
                    continue
                include(sub, os.path.join(f, e), optional)
            continue
        try:
            sub.walk(read_config_file(f))
        except BuildError as e:
            raise DirectiveError(f"Syntax error on line {e.line} of {e.filename}: "
                                 f"{e.message}") from None
