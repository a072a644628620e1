"""Directive rows: one declaration per directive, from which parsing, ``-L``, the
.htaccess permission checks and the error messages all come.

Mirrors Apache's ``command_rec``: the argument shapes (TAKE1 ... RAW_ARGS), where a
directive may appear (Context, as the manual's "Context:" line) and which AllowOverride
class lets it into .htaccess (Override, the manual's "Override:" line).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.errors import DirectiveError

if TYPE_CHECKING:
    from featherd.core.module import Module


def int_arg(name: str, v: str, lo: int | None = None) -> int:
    """A directive's whole-number argument, with httpd's messages: "<name> argument is
    not a number", and "<name> must be at least <lo>" when ``lo`` is given."""
    try:
        n = int(v)
    except ValueError:
        raise DirectiveError(f"{name} argument is not a number") from None
    if lo is not None and n < lo:
        raise DirectiveError(f"{name} must be at least {lo}")
    return n


class ArgSpec(enum.Enum):
    RAW_ARGS = "raw"
    NO_ARGS = "none"
    TAKE1 = "take1"
    TAKE2 = "take2"
    TAKE3 = "take3"
    TAKE12 = "take12"
    TAKE13 = "take13"
    TAKE23 = "take23"
    TAKE123 = "take123"
    ITERATE = "iterate"
    ITERATE2 = "iterate2"
    FLAG = "flag"
    TAKE_ARGV = "argv"


class Context(enum.Flag):
    """Where a directive may appear (the manual's "Context:")."""

    SERVER = enum.auto()      # server config
    VHOST = enum.auto()       # <VirtualHost>
    DIRECTORY = enum.auto()   # <Directory>, <DirectoryMatch>
    LOCATION = enum.auto()    # <Location>, <LocationMatch>
    FILES = enum.auto()       # <Files>, <FilesMatch>
    HTACCESS = enum.auto()    # .htaccess, subject to Override

    RSRC = SERVER | VHOST
    DIR = DIRECTORY | LOCATION | FILES
    ALL_DIR = SERVER | VHOST | DIRECTORY | LOCATION | FILES | HTACCESS
    DIR_HTACCESS = DIRECTORY | LOCATION | FILES | HTACCESS
    ACCESS = SERVER | VHOST | DIRECTORY | LOCATION | FILES


class Override(enum.Flag):
    """AllowOverride classes (the manual's "Override:")."""

    NONE = 0
    AUTHCFG = enum.auto()
    FILEINFO = enum.auto()
    INDEXES = enum.auto()
    LIMIT = enum.auto()
    OPTIONS = enum.auto()
    ALL = AUTHCFG | FILEINFO | INDEXES | LIMIT | OPTIONS


OVERRIDE_NAMES = {
    "authconfig": Override.AUTHCFG,
    "fileinfo": Override.FILEINFO,
    "indexes": Override.INDEXES,
    "limit": Override.LIMIT,
    "options": Override.OPTIONS,
}

_ARITY_TEXT = {
    ArgSpec.NO_ARGS: "takes no arguments",
    ArgSpec.TAKE1: "takes one argument",
    ArgSpec.TAKE2: "takes two arguments",
    ArgSpec.TAKE3: "takes three arguments",
    ArgSpec.TAKE12: "takes 1-2 arguments",
    ArgSpec.TAKE13: "takes one or three arguments",
    ArgSpec.TAKE23: "takes two or three arguments",
    ArgSpec.TAKE123: "takes one, two or three arguments",
    ArgSpec.ITERATE: "requires at least one argument",
    ArgSpec.ITERATE2: "requires at least two arguments",
}

_ARITY = {
    ArgSpec.NO_ARGS: (0, 0),
    ArgSpec.TAKE1: (1, 1),
    ArgSpec.TAKE2: (2, 2),
    ArgSpec.TAKE3: (3, 3),
    ArgSpec.TAKE12: (1, 2),
    ArgSpec.TAKE23: (2, 3),
    ArgSpec.TAKE123: (1, 3),
}


@dataclass(slots=True)
class Directive:
    """One row of the directive registry."""

    name: str
    func: Callable[..., Any]
    args: ArgSpec
    context: Context
    override: Override
    syntax: str
    help: str
    module: Module | None = None
    conf: str = "dir"          # which record the handler receives: "dir" or "server"
    container: bool = False    # <Name ...> sections: the handler gets the node
    not_in_limit: bool = False
    cmd_data: Any = None

    def context_text(self) -> str:
        """The manual's "Context:" line, for -L and the docs."""
        parts = []
        c = self.context
        if Context.SERVER in c:
            parts.append("server config")
        if Context.VHOST in c:
            parts.append("virtual host")
        if c & Context.DIR:
            parts.append("directory")
        if Context.HTACCESS in c:
            parts.append(".htaccess")
        return ", ".join(parts)

    def override_text(self) -> str:
        if self.override == Override.NONE:
            return ""
        names = {Override.AUTHCFG: "AuthConfig", Override.FILEINFO: "FileInfo",
                 Override.INDEXES: "Indexes", Override.LIMIT: "Limit",
                 Override.OPTIONS: "Options"}
        return " ".join(n for o, n in names.items() if o in self.override)

    def split(self, raw: str) -> list[Any]:
        """Turn the raw argument string into handler arguments, or raise Apache's error
        (invoke_cmd: an empty word, such as "", counts as a missing argument)."""
        from featherd.config.tree import split_args

        spec = self.args
        if spec is ArgSpec.RAW_ARGS:
            return [raw]
        words = split_args(raw)
        tail = f", {self.help}" if self.help else ""
        if spec is ArgSpec.NO_ARGS:
            if raw.strip():
                raise DirectiveError(f"{self.name} takes no arguments")
            return []
        if spec is ArgSpec.FLAG:
            # httpd reads one word and ignores anything after it
            if words and words[0].lower() in ("on", "off"):
                return [words[0].lower() == "on"]
            raise DirectiveError(f"{self.name} must be On or Off")
        if spec is ArgSpec.TAKE_ARGV:
            return [words]
        if spec is ArgSpec.ITERATE:
            if "" in words:
                words = words[:words.index("")]
            if not words:
                raise DirectiveError(f"{self.name} {_ARITY_TEXT[spec]}{tail}")
            return words
        if spec is ArgSpec.ITERATE2:
            if "" in words:
                words = words[:words.index("")]
            if len(words) < 2:
                raise DirectiveError(f"{self.name} {_ARITY_TEXT[spec]}{tail}")
            return words
        if spec is ArgSpec.TAKE13:
            if len(words) not in (1, 3) or "" in words:
                raise DirectiveError(f"{self.name} {_ARITY_TEXT[spec]}{tail}")
            return words + [None] * (3 - len(words))
        lo, hi = _ARITY[spec]
        if not lo <= len(words) <= hi or "" in words[:lo]:
            raise DirectiveError(f"{self.name} {_ARITY_TEXT[spec]}{tail}")
        return words + [None] * (hi - len(words))


@dataclass(slots=True)
class Registry:
    """All directives of the loaded modules, by lower-cased name."""

    rows: dict[str, Directive] = field(default_factory=dict)

    def add(self, d: Directive) -> None:
        key = d.name.lower()
        if key in self.rows:
            raise ValueError(f"directive {d.name} declared twice")
        self.rows[key] = d

    def get(self, name: str) -> Directive | None:
        return self.rows.get(name.lower())

    def sorted(self) -> list[Directive]:
        return sorted(self.rows.values(), key=lambda d: d.name.lower())
