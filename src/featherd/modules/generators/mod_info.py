"""mod_info: the server-info handler (Apache's mod_info.c).

``<Location /server-info> SetHandler server-info </Location>`` shows every module with the
hooks it takes part in, its directives (with their help text) and the lines of the
current configuration that use them, each with its file and line number, inside the
sections that hold them. The query string narrows it down, as in Apache:

* ``?server``: the server settings only; ``?list``: the module list;
* ``?config``: the whole configuration; ``?hooks``: the modules of each hook;
* ``?<module>``: one module (``?mod_dir.c`` or ``?dir_module``).

``AddModuleInfo module-name string`` adds a line (HTML allowed) to a module's entry.
The configuration shown is the one read at start-up (after Include, <IfModule> and
<IfDefine> were resolved), as Apache's ap_conftree.
"""

from __future__ import annotations

import html
import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.dump import server_built
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.filters.buckets import EOS
from featherd.filters.chain import pass_brigade


@dataclass(slots=True)
class InfoConfig:
    more_info: list[tuple[str, str]] = field(default_factory=list)


class InfoModule(Module):
    def merge_server_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        return InfoConfig([*new.more_info, *base.more_info])


info = InfoModule("info_module", "mod_info.c", server_config=InfoConfig,
                  description="Provides a comprehensive overview of the server configuration")


@info.directive("AddModuleInfo", args=ArgSpec.TAKE2, context=Context.RSRC,
                syntax="AddModuleInfo module-name string",
                help="a module name and additional information on that module")
def add_module_info(cmd: Any, conf: InfoConfig, name: str, text: str) -> None:
    conf.more_info.append((name, text))


DOCTYPE_XHTML_1_0T = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
                      '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n')
STARTUP_HOOKS = (("Pre-Config", "pre_config"), ("Post Configuration", "post_config"),
                 ("Open Logs", "open_logs"), ("Child Init", "child_init"))
REQUEST_HOOKS = (("Pre-Connection", "pre_connection"),
                 ("Post-Read Request", "post_read_request"),
                 ("Header Parse", "header_parser"), ("Quick Handler", "quick_handler"),
                 ("Translate Name", "translate_name"), ("Map to Storage", "map_to_storage"),
                 ("Check Access", "access_checker"), ("Verify User ID", "check_user_id"),
                 ("Verify User Access", "auth_checker"), ("Check Type", "type_checker"),
                 ("Fixups", "fixups"), ("Insert Filters", "insert_filter"),
                 ("Content Handlers", "handler"), ("Logging", "log_transaction"))


def esc(s: str) -> str:
    return html.escape(s, quote=True)


def flush_right(n: int, width: int = 4) -> str:
    """put_int_flush_right: the number right-aligned, blanks as &nbsp;."""
    text = str(n) if n > 0 else ""
    return "&nbsp;" * max(0, width - len(text)) + text


class ConfWriter:
    """mod_info_module_cmds: the configuration lines of some directives, with the
    sections around them, file by file."""

    def __init__(self, names: set[str] | None) -> None:
        self.names = names          # lower-case directive names; None: everything
        self.fn: str | None = None
        self.out: list[str] = []

    def indent(self, nest: int, fn: str, line: int) -> None:
        if fn != self.fn:
            self.out.append(f"<dd><tt><strong>In file: {esc(fn)}</strong></tt></dd>\n")
            self.fn = fn
        self.out.append(f"<dd><tt>{flush_right(line)}:&nbsp;" + "&nbsp;&nbsp;" * nest)

    def show_cmd(self, node: Any, nest: int) -> None:
        self.indent(nest, node.filename, node.line)
        self.out.append(f"{esc(node.name)} <i>{esc(node.args)}</i></tt></dd>\n")

    def show_open(self, node: Any, nest: int) -> None:
        self.indent(nest, node.filename, node.line)
        self.out.append(f"&lt;{esc(node.name)} {esc(node.args)}&gt;</tt></dd>\n")

    def show_close(self, node: Any, nest: int) -> None:
        self.indent(nest, node.filename, 0)
        self.out.append(f"&lt;/{esc(node.name)}&gt;</tt></dd>")

    def walk(self, nodes: list[Any], parents: list[Any], shown: int) -> int:
        level = len(parents)
        for node in nodes:
            if node.children is not None:
                inner = self.walk(node.children, [*parents, node], shown)
                if level < inner:
                    shown = level
                    self.show_close(node, level)
            elif self.names is None or node.name.lower() in self.names:
                if shown < level:
                    for i in range(shown, level):
                        self.show_open(parents[i], i)
                    shown = level
                self.show_cmd(node, level)
        return shown


def module_config_lines(tree: Any, names: set[str] | None) -> str:
    w = ConfWriter(names)
    w.walk(tree.extra.get("conftree", []), [], 0)
    return "".join(w.out)


def hooks_of(tree: Any, m: Any) -> set[str]:
    return {name for name, hook in tree.hooks.by_name.items() if m.name in hook.modules()}


@info.handler("server-info")
def display_info(r: Any) -> int:
    r.allowed_methods.add("GET")
    if r.method not in ("GET", "HEAD"):
        return DECLINED
    r.content_type = "text/html; charset=ISO-8859-1"
    if r.header_only:
        pass_brigade(r, [EOS])
        return OK
    pass_brigade(r, [page(r).encode("latin-1", "xmlcharrefreplace"), EOS])
    return OK


def page(r: Any) -> str:
    from featherd.core.http_request import signature

    tree = r.tree
    args = r.args
    mods = [m for m in tree.modules if m.name in tree.loaded]
    o = [DOCTYPE_XHTML_1_0T, '<html xmlns="http://www.w3.org/1999/xhtml">\n<head>\n'
         "  <title>Server Information</title>\n</head>\n",
         '<body><h1 style="text-align: center">Apache Server Information</h1>\n']
    low = args.lower() if args else None
    if low == "list":
        o.append("<dl><dt>Server Module List</dt>")
        for m in mods:
            o.append(f"<dd>{esc(m.source)}</dd>")
        o.append("</dl><hr />")
    else:
        if not args:
            o.append('<dl><dt><tt>Subpages:<br /><a href="?config">Configuration Files</a>, '
                     '<a href="?server">Server Settings</a>, <a href="?list">Module List</a>,  '
                     '<a href="?hooks">Active Hooks</a></tt></dt></dl><hr />')
            o.append('<dl><dt><tt>Sections:<br /><a href="#server">Server Settings</a>, '
                     '<a href="#startup_hooks">Startup Hooks</a>, '
                     '<a href="#request_hooks">Request Hooks</a></tt></dt></dl><hr />')
            o.append("<dl><dt><tt>Loaded Modules: <br />")
            o.append(", ".join(f'<a href="#{esc(m.source)}">{esc(m.source)}</a>'
                               for m in mods))
            o.append("</tt></dt></dl><hr />")
        if not args or low == "server":
            o.append(server_settings(r))
        if not args or low == "hooks":
            o.append(active_hooks(r, low == "hooks"))
        if low == "config":
            o.append("<dl><dt><strong>Configuration:</strong>\n")
            o.append(module_config_lines(tree, None))
            o.append("</dl><hr />")
        elif low not in ("server", "hooks"):
            found = False
            for m in mods:
                if args and args not in (m.source, m.name):
                    continue
                found = True
                o.append(module_entry(r, m))
                if args:
                    break
            if not found and args:
                o.append("<p><b>No such module</b></p>\n")
    sig = signature(r)
    o.append(sig)
    o.append("</body></html>\n")
    return "".join(o)


def module_entry(r: Any, m: Any) -> str:
    tree = r.tree
    hooks = hooks_of(tree, m)
    o = [f'<dl><dt><a name="{esc(m.source)}"><strong>Module Name:</strong></a> '
         f'<font size="+1"><tt><a href="?{esc(m.source)}">{esc(m.source)}</a></tt></font>'
         "</dt>\n<dt><strong>Content handlers:</strong> "]
    o.append("<tt> <em>yes</em></tt>" if (m.handlers or "handler" in hooks)
             else "<tt> <em>none</em></tt>")
    o.append("</dt><dt><strong>Configuration Phase Participation:</strong>\n")
    phases = []
    if m.dir_config_cls is not None:
        phases += ["Create Directory Config", "Merge Directory Configs"]
    if m.server_config_cls is not None:
        phases += ["Create Server Config", "Merge Server Configs"]
    o.append(", ".join(f"<tt>{p}</tt>" for p in phases) if phases else "<tt> <em>none</em></tt>")
    o.append("</dt><dt><strong>Request Phase Participation:</strong>\n")
    part = [name for name, key in REQUEST_HOOKS if key in hooks]
    o.append(", ".join(f"<tt>{p}</tt>" for p in part) if part else "<tt> <em>none</em></tt>")
    o.append("</dt>\n")
    if m.directives:
        o.append("<dt><strong>Module Directives:</strong></dt>")
        for d in m.directives:
            name = ("<" + d.name) if d.container else d.name
            o.append(f"<dd><tt>{esc(name)}{'&gt;' if d.container else ''} - <i>"
                     f"{esc(d.help)}</i></tt></dd>\n")
        o.append("<dt><strong>Current Configuration:</strong></dt>\n")
        names = {d.name.lower() for d in m.directives}
        o.append(module_config_lines(tree, names))
    else:
        o.append("<dt><strong>Module Directives:</strong> <tt>none</tt></dt>")
    more = [text for name, text in info.sconf(r.server).more_info if name in (m.source, m.name)]
    if more:
        o.append("<dt><strong>Additional Information:</strong>\n</dt><dd>")
        o.append(more[0])
        o.append("</dd>")
    o.append("</dl><hr />\n")
    return "".join(o)


def server_settings(r: Any) -> str:
    from featherd.core.vhost import server_name, server_port
    from featherd.mpm.event import worker_count

    tree = r.tree
    s = r.server
    main = tree.main
    timeout = s.timeout if s.timeout is not None else (main.timeout or 300)
    ka = s.keep_alive_timeout if s.keep_alive_timeout is not None else \
        (main.keep_alive_timeout or 5)
    return (
        '<h2><a name="server">Server Settings</a></h2>'
        f'<dl><dt><strong>Server Version:</strong> <font size="+1"><tt>'
        f"{esc(r.connection.server_banner)}</tt></font></dt>\n"
        f'<dt><strong>Server Built:</strong> <font size="+1"><tt>{esc(server_built())}'
        "</tt></font></dt>\n"
        f"<dt><strong>Python Version:</strong> <tt>{esc(platform.python_version())}"
        "</tt></dt>\n"
        f"<dt><strong>Hostname/port:</strong> <tt>{esc(server_name(r))}:{server_port(r)}"
        "</tt></dt>\n"
        f"<dt><strong>Timeouts:</strong> <tt>connection: {int(timeout)} &nbsp;&nbsp; "
        f"keep-alive: {int(ka)}</tt></dt>"
        "<dt><strong>MPM Name:</strong> <tt>event</tt></dt>\n"
        f"<dt><strong>MPM Information:</strong> <tt>Max Daemons: {worker_count(tree)} "
        "Threaded: no Forked: yes</tt></dt>\n"
        f"<dt><strong>Server Architecture:</strong> <tt>{8 * _ptr_size()}-bit</tt></dt>\n"
        f"<dt><strong>Server Root:</strong> <tt>{esc(tree.server_root)}</tt></dt>\n"
        f"<dt><strong>Config File:</strong> <tt>{esc(tree.config_file)}</tt></dt>\n"
        "<dt><strong>Server Built With:</strong>\n<tt style=\"white-space: pre;\">\n"
        f" -D HTTPD_ROOT=\"{esc(tree.server_root)}\"\n"
        f" -D SERVER_CONFIG_FILE=\"{esc(os.path.basename(tree.config_file))}\"\n"
        "</tt></dt>\n</dl><hr />")


def _ptr_size() -> int:
    return 8 if sys.maxsize > 2**32 else 4


def active_hooks(r: Any, as_page: bool) -> str:
    tree = r.tree
    qs = "?" if as_page else "#"
    o = ['<h2><a name="startup_hooks">Startup Hooks</a></h2>\n<dl>']

    def dump(title: str, key: str) -> None:
        o.append(f"<dt><strong>{title}:</strong>\n <br /><tt>\n")
        for order, _seq, _fn, mod in tree.hooks[key].entries:
            src = tree.loaded[mod].source if mod in tree.loaded else mod
            o.append(f'&nbsp;&nbsp; {order:02d} <a href="{qs}{esc(src)}">{esc(src)}</a> '
                     "<br/>")
        o.append("\n  </tt>\n</dt>\n")
    for title, key in STARTUP_HOOKS:
        dump(title, key)
    o.append('</dl>\n<hr />\n<h2><a name="request_hooks">Request Hooks</a></h2>\n<dl>')
    for title, key in REQUEST_HOOKS:
        dump(title, key)
    o.append("</dl>\n<hr />\n")
    return "".join(o)
