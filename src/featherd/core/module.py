"""The Module protocol: what a featherd module declares.

A module is an instance of :class:`Module` holding its directive rows, hook functions,
filters and providers, and the classes of its per-server and per-directory records::

    mod = Module("dir_module", "mod_dir.c", dir_config=DirConfig)

    @mod.directive("DirectoryIndex", args=ArgSpec.ITERATE, context=Context.ALL_DIR,
                   override=Override.INDEXES, help="a list of file names")
    def directory_index(cmd, conf, url): ...

    @mod.hook("fixups", order=LAST)
    def fixups(r): ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Directive, Override
from featherd.config.merge import merge_records
from featherd.core.hooks import MIDDLE

if TYPE_CHECKING:
    from featherd.core.request import Request


class _Empty:
    __slots__ = ()


class Module:
    """One module: Apache's ``module`` struct, for Python."""

    def __init__(self, name: str, source: str, *, dir_config: type | None = None,
                 server_config: type | None = None, description: str = "") -> None:
        self.name = name                  # as in LoadModule: "dir_module"
        self.source = source              # as in <IfModule>: "mod_dir.c"
        self.description = description
        self.dir_config_cls = dir_config
        self.server_config_cls = server_config
        self.directives: list[Directive] = []
        self.hooks: list[tuple[str, Callable[..., Any], int]] = []
        self.hook_needs: dict[tuple[str, Callable[..., Any]], Any] = {}
        self.output_filters: list[tuple[str, int, Any]] = []
        self.input_filters: list[tuple[str, int, Any]] = []
        self.providers: list[tuple[str, str, Any]] = []
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.index = -1                   # position in the server's module vector

    # -- declarations -----------------------------------------------------------------
    def directive(self, name: str, *, args: ArgSpec = ArgSpec.TAKE1,
                  context: Context = Context.ALL_DIR, override: Override = Override.NONE,
                  syntax: str = "", help: str = "", conf: str | None = None,
                  container: bool = False, not_in_limit: bool = False,
                  cmd_data: Any = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            which = conf
            if which is None:
                which = "dir" if context & (Context.DIR | Context.HTACCESS) else "server"
            self.directives.append(Directive(
                name=name, func=fn, args=args, context=context, override=override,
                syntax=syntax or name, help=help, module=self, conf=which,
                container=container, not_in_limit=not_in_limit, cmd_data=cmd_data))
            return fn
        return deco

    def hook(self, name: str, order: int = MIDDLE, *, needs: Any = None
             ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register ``fn`` on hook ``name``.

        ``needs`` keeps a function off the request path of a configuration that cannot
        make it act (decided once, at start-up, by Hooks.prune): ``True`` means "one of
        this module's own directives", a tuple names directives (any module's), a
        callable ``(tree) -> bool`` decides itself. A directive counts when it appears in
        the configuration, or when the .htaccess files that AllowOverride permits
        somewhere could carry it. Without ``needs`` the function always runs."""
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.hooks.append((name, fn, order))
            if needs is not None:
                self.hook_needs[(name, fn)] = needs
            return fn
        return deco

    def handler(self, *names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a content handler answering requests whose r.handler is one of names."""
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            for n in names:
                self.handlers[n] = fn
            return fn
        return deco

    def output_filter(self, name: str, ftype: int) -> Callable[[Any], Any]:
        """Register an output filter factory (a class taking (r) and called with buckets)."""
        def deco(factory: Any) -> Any:
            self.output_filters.append((name, ftype, factory))
            return factory
        return deco

    def input_filter(self, name: str, ftype: int) -> Callable[[Any], Any]:
        """Register an input filter factory: ``factory(r)`` makes an object whose
        ``async read(r, nxt, want) -> bytes`` reads through ``nxt(want)`` (the filters
        below it, then the connection) and returns b"" at the end of the body."""
        def deco(factory: Any) -> Any:
            self.input_filters.append((name, ftype, factory))
            return factory
        return deco

    def provider(self, group: str, name: str, obj: Any) -> None:
        self.providers.append((group, name, obj))

    # -- records ---------------------------------------------------------------------
    def create_dir_config(self, path: str | None) -> Any:
        return self.dir_config_cls() if self.dir_config_cls else None

    def create_server_config(self) -> Any:
        return self.server_config_cls() if self.server_config_cls else None

    def merge_dir_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        return merge_records(base, new)

    def merge_server_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        return merge_records(base, new)

    # -- lookups at request time ---------------------------------------------------
    def dconf(self, r: Request) -> Any:
        return r.per_dir_config[self.index]

    def sconf(self, server: Any) -> Any:
        return server.module_config[self.index]

    def __repr__(self) -> str:
        return f"<Module {self.name}>"
