"""mod_setenvif: SetEnvIf, SetEnvIfNoCase, BrowserMatch, BrowserMatchNoCase (2.2).

``SetEnvIf attribute regex [!]env-variable[=value] ...``. The attribute is one of the
special names (Remote_Host, Remote_Addr, Server_Addr, Request_Method, Request_Protocol,
Request_URI), a request header, a regular expression over header names (when the name
has characters other than letters, digits, ``-`` and ``_``), or else an environment
variable set by an earlier SetEnvIf. A missing value matches as the empty string, so
``^$`` tests for absence. ``!var`` unsets, ``var`` alone sets "1", and in a value
``$1``..``$9`` (and ``&``, the whole match) take what the regex captured.

Directives at server level (outside any <Directory>, <Location>, <Files> and .htaccess)
run in post_read_request, before the vhost's sections are known; the others run in
header_parser with the request's merged per-directory list (parent's entries first).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.config.tree import getword_conf
from featherd.core.hooks import DECLINED, MIDDLE, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

SPECIAL = {"remote_host", "remote_addr", "server_addr", "request_method", "request_protocol",
           "request_uri"}
_SIMPLE_NAME = re.compile(r"^[-A-Za-z0-9_]*$")
_REGEX_CHARS = re.compile(r"[\^.\[$()|*+?{\\]")


@dataclass(slots=True)
class Condition:
    name: str                       # as written
    special: str | None             # lower-cased special name, or None
    name_re: re.Pattern[str] | None  # header-name regex, or None
    regex: re.Pattern[str]
    literal: bool                   # the regex had no metacharacters: values as written
    features: list[tuple[str, str | None]] = field(default_factory=list)  # None: unset


@dataclass(slots=True)
class SetEnvIfConfig:
    conditionals: Any = unset_field("append")


setenvif = Module("setenvif_module", "mod_setenvif.c", dir_config=SetEnvIfConfig,
                  server_config=SetEnvIfConfig,
                  description="Allows the setting of environment variables based on "
                              "characteristics of the request")


def _add(cmd: CmdParms, conf: SetEnvIfConfig, attr: str, rest: str, icase: bool) -> None:
    name = cmd.info.name if cmd.info else "SetEnvIf"
    regex, i, _ = getword_conf(rest, 0)
    if not regex:
        raise DirectiveError(f"Missing regular expression for {name}")
    flags = re.IGNORECASE if icase else 0
    try:
        rx = re.compile(regex, flags)
    except re.error:
        raise DirectiveError(f"{name} regex could not be compiled.") from None
    low = attr.lower()
    special = low if low in SPECIAL else None
    name_re = None
    if special is None and not _SIMPLE_NAME.match(attr):
        try:
            name_re = re.compile(attr, flags)
        except re.error:
            raise DirectiveError(f"{name} header regex could not be compiled.") from None
    cond = Condition(attr, special, name_re, rx, not icase and not _REGEX_CHARS.search(regex))
    features: dict[str, str | None] = {}
    while True:
        word, i, _ = getword_conf(rest, i)
        if not word:
            break
        var, eq, val = word.partition("=")
        if eq and val:
            features[var] = val
        elif var.startswith("!"):
            features[var[1:]] = None
        else:
            features[var] = "1"
    if not features:
        raise DirectiveError(f"Missing envariable expression for {name}")
    cond.features = list(features.items())
    # server-wide entries go to the server record (cmd->path == NULL in Apache)
    target = conf if cmd.path is not None else cmd.server.module_config[setenvif.index]
    cur = target.conditionals
    target.conditionals = [*(cur if cur is not UNSET else []), cond]


_CTX = Context.ALL_DIR


@setenvif.directive("SetEnvIf", args=ArgSpec.RAW_ARGS, context=_CTX, override=Override.FILEINFO,
                    syntax="SetEnvIf attribute regex [!]env-variable[=value] "
                           "[[!]env-variable[=value]] ...",
                    help="A header-name, regex and a list of variables.")
def set_env_if(cmd: CmdParms, conf: SetEnvIfConfig, raw: str) -> None:
    attr, i, _ = getword_conf(raw, 0)
    if not attr:
        raise DirectiveError("Missing header-field name for SetEnvIf")
    _add(cmd, conf, attr, raw[i:], False)


@setenvif.directive("SetEnvIfNoCase", args=ArgSpec.RAW_ARGS, context=_CTX,
                    override=Override.FILEINFO,
                    syntax="SetEnvIfNoCase attribute regex [!]env-variable[=value] "
                           "[[!]env-variable[=value]] ...",
                    help="a header-name, regex and a list of variables.")
def set_env_if_no_case(cmd: CmdParms, conf: SetEnvIfConfig, raw: str) -> None:
    attr, i, _ = getword_conf(raw, 0)
    if not attr:
        raise DirectiveError("Missing header-field name for SetEnvIfNoCase")
    _add(cmd, conf, attr, raw[i:], True)


@setenvif.directive("BrowserMatch", args=ArgSpec.RAW_ARGS, context=_CTX,
                    override=Override.FILEINFO,
                    syntax="BrowserMatch regex [!]env-variable[=value] "
                           "[[!]env-variable[=value]] ...",
                    help="A browser regex and a list of variables.")
def browser_match(cmd: CmdParms, conf: SetEnvIfConfig, raw: str) -> None:
    _add(cmd, conf, "User-Agent", raw, False)


@setenvif.directive("BrowserMatchNoCase", args=ArgSpec.RAW_ARGS, context=_CTX,
                    override=Override.FILEINFO,
                    syntax="BrowserMatchNoCase  regex [!]env-variable[=value] "
                           "[[!]env-variable[=value]] ...",
                    help="A browser regex and a list of variables.")
def browser_match_no_case(cmd: CmdParms, conf: SetEnvIfConfig, raw: str) -> None:
    _add(cmd, conf, "User-Agent", raw, True)


def pregsub(template: str, m: re.Match[str]) -> str:
    """ap_pregsub: ``$0``..``$9`` and ``&`` are the match's groups; ``\\$``/``\\&`` are
    literal."""
    if "$" not in template and "&" not in template:
        return template
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        i += 1
        if c == "&":
            no = 0
        elif c == "$" and i < n and template[i].isdigit():
            no = int(template[i])
            i += 1
        else:
            if c == "\\" and i < n and template[i] in "$&":
                c = template[i]
                i += 1
            out.append(c)
            continue
        if no <= (m.re.groups or 0):
            out.append(m.group(no) or "")
    return "".join(out)


def remote_host(r: Request) -> str:
    """ap_get_remote_host(REMOTE_NAME): the client's name when HostnameLookups allows a
    lookup (or one was made), else its address."""
    conn = r.connection
    name = getattr(conn, "remote_host", None)
    if name:
        return name  # type: ignore[no-any-return]
    from featherd.core.core_module import core

    hl = r.per_dir_config[core.index].hostname_lookups
    if hl is not UNSET and hl in ("on", "double"):
        try:
            name = socket.gethostbyaddr(conn.client_ip)[0].lower()
        except OSError:
            name = None
        if name:
            try:
                conn.remote_host = name
            except AttributeError:
                pass
            return name
    return conn.client_ip  # type: ignore[no-any-return]


def attribute_value(r: Request, c: Condition) -> str | None:
    sp = c.special
    if sp is not None:
        if sp == "remote_addr":
            return r.connection.client_ip  # type: ignore[no-any-return]
        if sp == "server_addr":
            return r.connection.local_ip  # type: ignore[no-any-return]
        if sp == "remote_host":
            return remote_host(r)
        if sp == "request_uri":
            return r.uri
        if sp == "request_method":
            return r.method
        return r.protocol
    if c.name_re is not None:
        val = None
        for k, v in r.headers_in:
            if c.name_re.search(k):
                val = v
        return val
    v = r.headers_in.get(c.name)
    if v is None:
        v = r.subprocess_env.get(c.name)
    return v


def match_headers(r: Request, conds: list[Condition]) -> None:
    env = r.subprocess_env
    for c in conds:
        val = attribute_value(r, c)
        m = c.regex.search(val or "")
        if m is None:
            continue
        for var, value in c.features:
            if value is None:
                env.pop(var, None)
            elif c.literal:
                env[var] = value
            else:
                env[var] = pregsub(value, m)


@setenvif.hook("post_read_request", order=MIDDLE, needs=True)
def setenvif_post_read_request(r: Request) -> int:
    conds = r.server.module_config[setenvif.index].conditionals
    if conds is UNSET or not conds:
        return DECLINED
    match_headers(r, conds)
    return DECLINED


@setenvif.hook("header_parser", order=MIDDLE, needs=True)
def setenvif_header_parser(r: Request) -> int:
    c = r.per_dir_config[setenvif.index]
    conds = c.conditionals if c is not None else UNSET
    if conds is UNSET or not conds:
        return DECLINED
    match_headers(r, conds)
    return OK
