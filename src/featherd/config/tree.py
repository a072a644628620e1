"""Lexing httpd.conf: lines into nodes that remember their file and line.

Follows ap_cfg_getline / ap_build_config_sub / ap_getword_conf:

- a line ending in a backslash (directly before the newline, not doubled) continues on
  the next physical line; the backslash goes, the next line is appended as it is, and the
  node carries the line number of the *last* physical line (what httpd reports);
- leading and trailing blanks are stripped; a line whose first non-blank is ``#`` is a
  comment (a comment ending in a backslash swallows the next line, as in httpd);
- ``<Name args>`` opens a container, ``</Name>`` closes it (names compare without case);
- words are split like ap_getword_conf: double or single quotes group, inside quotes a
  backslash escapes the quote or a backslash, outside them ``\\\\`` is one backslash.

Errors found here are :class:`BuildError`: httpd reports them while reading the file
("Syntax error on line N of FILE: message" on one line), before any directive runs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from featherd.errors import ConfigError


class BuildError(ConfigError):
    """An error found while reading a file (httpd's ap_build_config and the directives it
    runs at once: Include, <IfModule>, <IfDefine>, <IfVersion>, Define, LoadModule).
    httpd prints these on one line, prefixed by the program name."""

    def __str__(self) -> str:
        if self.filename is not None and self.line is not None:
            return (f"featherd: Syntax error on line {self.line} of {self.filename}: "
                    f"{self.message}")
        return f"featherd: {self.message}"


@dataclass(slots=True)
class Node:
    """One directive or container. ``args`` is the raw argument string (for a container,
    without the closing ``>``)."""

    name: str
    args: str
    filename: str
    line: int
    children: list[Node] | None = None  # None for a plain directive
    unclosed: bool = False              # "<Name args" without the closing '>'

    @property
    def is_container(self) -> bool:
        return self.children is not None

    def words(self) -> list[str]:
        return split_args(self.args)


def getword_conf(s: str, i: int) -> tuple[str, int, bool]:
    """One word of ``s`` from ``i`` (ap_getword_conf): (word, next index, was quoted)."""
    n = len(s)
    while i < n and s[i] in " \t\r\n\f\v":
        i += 1
    if i >= n:
        return "", n, False
    c = s[i]
    buf: list[str] = []
    if c in "\"'":
        q = c
        i += 1
        while i < n and s[i] != q:
            if s[i] == "\\" and i + 1 < n and s[i + 1] in (q, "\\"):
                i += 1
            buf.append(s[i])
            i += 1
        if i < n:
            i += 1  # the closing quote
        quoted = True
    else:
        while i < n and s[i] not in " \t\r\n\f\v":
            if s[i] == "\\" and i + 1 < n and s[i + 1] == "\\":
                i += 1
            buf.append(s[i])
            i += 1
        quoted = False
    while i < n and s[i] in " \t\r\n\f\v":
        i += 1
    return "".join(buf), i, quoted


def split_args(s: str) -> list[str]:
    """All words of ``s`` (an empty quoted word is kept as "")."""
    out: list[str] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in " \t\r\n\f\v":
            i += 1
        if i >= n:
            return out
        w, i, _ = getword_conf(s, i)
        out.append(w)


def logical_lines(text: str, filename: str = "") -> list[tuple[int, str]]:
    """(line number of the last physical line, logical line) pairs, comments dropped."""
    out: list[tuple[int, str]] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        cur = lines[i].removesuffix("\r")
        i += 1
        while cur.endswith("\\") and not cur.endswith("\\\\") and i < len(lines):
            cur = cur[:-1] + lines[i].removesuffix("\r")
            i += 1
        s = cur.strip(" \t\r\n\f\v")
        if not s or s.startswith("#"):
            continue
        out.append((i, s))
    return out


_VAR_RE = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


def substitute(s: str, defines: dict[str, str] | None = None,
               undefined: list[str] | None = None) -> str:
    """${VAR} from Define (2.4) or the environment (ap_resolve_env). An unknown one stays
    as written and, when ``undefined`` is given, its name is appended there."""
    if "${" not in s:
        return s

    def rep(m: re.Match[str]) -> str:
        name = m.group(1)
        if defines and name in defines:
            return defines[name]
        v = os.environ.get(name)
        if v is None:
            if undefined is not None:
                undefined.append(name)
            return m.group(0)
        return v
    return _VAR_RE.sub(rep, s)


def _close_name(s: str) -> str | None:
    """The name in a closing tag ``</Name>``; None when the '>' is missing or misplaced."""
    body = s[2:]
    if not body.endswith(">"):
        return None
    body = body[:-1]
    if not body or any(c in " \t" for c in body):
        return None
    return body


def parse_text(text: str, filename: str) -> list[Node]:
    """Build the node tree of one file. Containers must close in the same file."""
    root: list[Node] = []
    stack: list[Node] = []
    cur = root
    for lineno, s in logical_lines(text, filename):
        if s.startswith("</"):
            name = _close_name(s)
            if name is None:
                shown = s[2:].split()[0].rstrip(">") if s[2:].split() else ""
                raise BuildError(f"</{shown}> directive missing closing '>'", filename, lineno)
            if not stack:
                raise BuildError(f"</{name}> without matching <{name}> section",
                                 filename, lineno)
            top = stack[-1]
            if top.name.lower() != name.lower():
                raise BuildError(f"Expected </{top.name}> but saw </{name}>",
                                 filename, lineno)
            stack.pop()
            cur = stack[-1].children if stack else root  # type: ignore[assignment]
            continue
        if s.startswith("<") and len(s) > 1 and s[1] not in " \t":
            body = s[1:]
            parts = body.split(None, 1)
            name = parts[0]
            rest = parts[1] if len(parts) > 1 else ""
            unclosed = False
            if name.endswith(">") and not rest:
                name, rest = name[:-1], ""
            else:
                gt = rest.rfind(">")
                if gt < 0:
                    unclosed = True
                else:
                    rest = rest[:gt]
            node = Node(name, rest.strip(), filename, lineno, [], unclosed)
            cur.append(node)
            stack.append(node)
            cur = node.children  # type: ignore[assignment]
            continue
        parts = s.split(None, 1)
        cur.append(Node(parts[0], parts[1] if len(parts) > 1 else "", filename, lineno))
    if stack:
        top = stack[-1]
        raise BuildError(f"<{top.name}> was not closed.", top.filename, top.line)
    return root
