"""Lexing httpd.conf: lines into nodes that remember their file and line.

Follows ap_cfg_getline/ap_getword_conf: backslash continuation, ``#`` comments at the
start of a line, leading/trailing blanks stripped, containers ``<Name args>`` ...
``</Name>`` with matching checks.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from featherd.errors import ConfigError


@dataclass(slots=True)
class Node:
    """One directive or container. ``args`` is the raw argument string."""

    name: str
    args: str
    filename: str
    line: int
    children: list[Node] | None = None  # None for a plain directive

    @property
    def is_container(self) -> bool:
        return self.children is not None

    def words(self) -> list[str]:
        return split_args(self.args)


def split_args(s: str) -> list[str]:
    """Split like ap_getword_conf: quotes group words; a backslash escapes the quote."""
    out: list[str] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in " \t\r\n":
            i += 1
        if i >= n:
            return out
        c = s[i]
        if c in "\"'":
            q = c
            i += 1
            buf: list[str] = []
            while i < n and s[i] != q:
                if s[i] == "\\" and i + 1 < n and s[i + 1] in (q, "\\"):
                    i += 1
                buf.append(s[i])
                i += 1
            out.append("".join(buf))
            i += 1  # closing quote (or end)
        else:
            j = i
            while j < n and s[j] not in " \t\r\n":
                j += 1
            out.append(s[i:j].replace("\\\\", "\\"))
            i = j


def logical_lines(text: str, filename: str) -> list[tuple[int, str]]:
    """(line number of the first physical line, logical line) pairs, comments dropped."""
    out: list[tuple[int, str]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i + 1
        cur = lines[i].rstrip("\r")
        i += 1
        while cur.rstrip(" \t").endswith("\\") and i < len(lines):
            cur = cur.rstrip(" \t")[:-1] + " " + lines[i].rstrip("\r").lstrip(" \t")
            i += 1
        s = cur.strip()
        if not s or s.startswith("#"):
            continue
        out.append((start, s))
    return out


_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

def substitute(s: str, defines: dict[str, str] | None = None) -> str:
    """${VAR} from Define (2.4) or the environment (ap_resolve_env); unknown ones stay."""
    if "${" not in s:
        return s

    def rep(m: re.Match[str]) -> str:
        name = m.group(1)
        if defines and name in defines:
            return defines[name]
        return os.environ.get(name, m.group(0))
    return _VAR_RE.sub(rep, s)


def parse_text(text: str, filename: str) -> list[Node]:
    """Build the node tree of one file. Containers must close in the same file."""
    root: list[Node] = []
    stack: list[Node] = []
    cur = root
    for lineno, s in logical_lines(text, filename):
        if s.startswith("</"):
            name = s[2:].rstrip(">").strip()
            if not s.endswith(">"):
                raise ConfigError(f"Syntax error in closing tag: {s}", filename, lineno)
            if not stack:
                raise ConfigError(
                    f"</{name}> without matching <{name}> section", filename, lineno)
            top = stack.pop()
            if top.name.lower() != name.lower():
                raise ConfigError(
                    f"Expected </{top.name}> but saw </{name}>", filename, lineno)
            cur = stack[-1].children if stack else root  # type: ignore[assignment]
            continue
        if s.startswith("<") and len(s) > 1:
            body = s[1:]
            if not body.endswith(">"):
                raise ConfigError(f"<{body.split()[0]} directive missing closing '>'",
                                  filename, lineno)
            body = body[:-1].strip()
            parts = body.split(None, 1)
            name = parts[0] if parts else ""
            node = Node(name, parts[1] if len(parts) > 1 else "", filename, lineno, [])
            cur.append(node)
            stack.append(node)
            cur = node.children  # type: ignore[assignment]
            continue
        parts = s.split(None, 1)
        cur.append(Node(parts[0], parts[1] if len(parts) > 1 else "", filename, lineno))
    if stack:
        top = stack[-1]
        raise ConfigError(f"<{top.name}> was not closed.", top.filename, top.line)
    return root
