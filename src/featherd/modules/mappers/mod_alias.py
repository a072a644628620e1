"""mod_alias: Alias, AliasMatch, ScriptAlias, ScriptAliasMatch, Redirect, RedirectMatch,
RedirectPermanent and RedirectTemp, as in Apache 2.2.

Processing order (manual, "Order of Processing"): in one context all redirects are
tried before any alias, and within each kind the first match in configuration order
wins. A <VirtualHost>'s own entries come before the main server's. Server-level
entries are applied in ``translate_name`` (at FIRST, after mod_rewrite); Redirects in
<Directory>, <Location> and .htaccess are applied in ``fixups``, as Apache does.

A URL-path alias ending in ``/`` requires that slash (``Alias /icons/ ...`` does not
map ``/icons``); any run of slashes in the alias matches any run in the request.
Alias targets are ServerRoot-relative; the <Directory> sections of the target apply
(the directory walk runs on the new filename). ScriptAlias also sets the handler to
``cgi-script`` (and the note ``alias-forced-type``, for mod_cgi).

A redirect keeps the request's query string unless the target has its own; a target
that is a URL-path is made absolute with this server's name. 410 (``gone``) and the
other non-3xx statuses take no URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import unset_field
from featherd.config.parser import CmdParms
from featherd.core.hooks import DECLINED, FIRST, MIDDLE, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.mappers.rewrite.util import escape_uri, is_url, pregsub
from featherd.util.pcre import PCREError, compile_pcre

if TYPE_CHECKING:
    import re

    from featherd.core.request import Request

ERROR, DEBUG = 3, 7


def _child_first(base: list[Any], new: list[Any]) -> list[Any]:
    # apr_array_append(p, overrides, base): the more specific context first
    return new + base


@dataclass(slots=True)
class AliasEntry:
    """One Alias/Redirect line (alias_entry)."""

    fake: str
    real: str | None
    regex: re.Pattern[str] | None = None
    handler: str | None = None
    redir_status: int = 0
    directive: str = ""
    filename: str = ""
    line: int = 0

    def describe(self) -> str:
        tail = f" {self.real}" if self.real is not None else ""
        return f"{self.directive} {self.fake}{tail} ({self.filename}:{self.line})"


@dataclass(slots=True)
class AliasServerConfig:
    aliases: Any = unset_field(_child_first)
    redirects: Any = unset_field(_child_first)


@dataclass(slots=True)
class AliasDirConfig:
    redirects: Any = unset_field(_child_first)


alias = Module("alias_module", "mod_alias.c", dir_config=AliasDirConfig,
               server_config=AliasServerConfig,
               description="Provides for mapping different parts of the host filesystem in "
                           "the document tree and for URL redirection")

REDIRECT_NAMES = {"gone": 410, "permanent": 301, "temp": 302, "seeother": 303}


def is_http_redirect(status: int) -> bool:
    """ap_is_HTTP_REDIRECT: 300 to 399."""
    return 300 <= status <= 399


def alias_matches(uri: str, fake: str) -> int:
    """Characters of ``uri`` matched by the URL-path ``fake`` (0: no match). A run of
    slashes in the alias matches any run of at least one slash in the URI."""
    a = u = 0
    na, nu = len(fake), len(uri)
    while a < na:
        if fake[a] == "/":
            if u >= nu or uri[u] != "/":
                return 0
            while a < na and fake[a] == "/":
                a += 1
            while u < nu and uri[u] == "/":
                u += 1
        else:
            if u >= nu or uri[u] != fake[a]:
                return 0
            a += 1
            u += 1
    if fake and fake[-1] != "/" and u < nu and uri[u] != "/":
        return 0
    return u


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return compile_pcre(pattern)
    except PCREError:
        raise DirectiveError("Regular expression could not be compiled.") from None


# --- directives ------------------------------------------------------------------------
def _add_alias(cmd: CmdParms, fake: str, real: str, use_regex: bool,
               handler: str | None) -> None:
    conf: AliasServerConfig = cmd.server.module_config[alias.index]
    entries: list[AliasEntry] = list(conf.aliases or [])
    name = cmd.info.name if cmd.info else "Alias"
    new = AliasEntry(fake=fake, real=real, regex=_compile(fake) if use_regex else None,
                     handler=handler, directive=name, filename=cmd.filename, line=cmd.line)
    if not use_regex:
        # warn about an alias an earlier one hides (Apache 2.2 does the same)
        for p in entries:
            if (p.regex is None and alias_matches(fake, p.fake) > 0) or \
                    (p.regex is not None and p.regex.search(fake)):
                cmd.tree.warnings.append(
                    f"The {name} directive in {cmd.filename} at line {cmd.line} will "
                    f"probably never match because it overlaps an earlier "
                    f"{'Script' if p.handler else ''}Alias{'Match' if p.regex else ''}.")
                break
    entries.append(new)
    conf.aliases = entries


@alias.directive("Alias", args=ArgSpec.TAKE2, context=Context.RSRC,
                 syntax="Alias URL-path file-path|directory-path",
                 help="a fakename and a realname")
def alias_(cmd: CmdParms, conf: Any, fake: str, real: str) -> None:
    _add_alias(cmd, fake, real, False, None)


@alias.directive("ScriptAlias", args=ArgSpec.TAKE2, context=Context.RSRC,
                 syntax="ScriptAlias URL-path file-path|directory-path",
                 help="a fakename and a realname")
def script_alias(cmd: CmdParms, conf: Any, fake: str, real: str) -> None:
    _add_alias(cmd, fake, real, False, "cgi-script")


@alias.directive("AliasMatch", args=ArgSpec.TAKE2, context=Context.RSRC,
                 syntax="AliasMatch regex file-path|directory-path",
                 help="a regular expression and a filename")
def alias_match(cmd: CmdParms, conf: Any, fake: str, real: str) -> None:
    _add_alias(cmd, fake, real, True, None)


@alias.directive("ScriptAliasMatch", args=ArgSpec.TAKE2, context=Context.RSRC,
                 syntax="ScriptAliasMatch regex file-path|directory-path",
                 help="a regular expression and a filename")
def script_alias_match(cmd: CmdParms, conf: Any, fake: str, real: str) -> None:
    _add_alias(cmd, fake, real, True, "cgi-script")


def _add_redirect(cmd: CmdParms, dconf: AliasDirConfig, arg1: str, arg2: str | None,
                  arg3: str | None, use_regex: bool, status: int) -> None:
    f, url = arg2, arg3
    low = arg1.lower()
    if low in REDIRECT_NAMES:
        status = REDIRECT_NAMES[low]
    elif arg1[:1].isdigit():
        digits = ""
        for ch in arg1:
            if not ch.isdigit():
                break
            digits += ch
        status = int(digits)
    else:
        f, url = arg1, arg2   # a third argument is ignored, as in Apache 2.2
    if f is None:
        raise DirectiveError("URL to redirect to is missing")
    regex = _compile(f) if use_regex else None
    if is_http_redirect(status):
        if not url:
            raise DirectiveError("URL to redirect to is missing")
        if not use_regex and not is_url(url) and not url.startswith("/"):
            raise DirectiveError("Redirect to non-URL")
    elif url:
        raise DirectiveError("Redirect URL not valid for this status")
    entry = AliasEntry(fake=f, real=url, regex=regex, redir_status=status,
                       directive=cmd.info.name if cmd.info else "Redirect",
                       filename=cmd.filename, line=cmd.line)
    if cmd.path is None and cmd.where in (Context.SERVER, Context.VHOST):
        sconf: AliasServerConfig = cmd.server.module_config[alias.index]
        sconf.redirects = [*(sconf.redirects or []), entry]
    else:
        dconf.redirects = [*(dconf.redirects or []), entry]


@alias.directive("Redirect", args=ArgSpec.TAKE23, context=Context.ALL_DIR,
                 override=Override.FILEINFO, syntax="Redirect [status] URL-path URL",
                 help="an optional status, then document to be redirected and destination URL")
def redirect(cmd: CmdParms, conf: AliasDirConfig, a1: str, a2: str, a3: str | None) -> None:
    _add_redirect(cmd, conf, a1, a2, a3, False, 302)


@alias.directive("RedirectMatch", args=ArgSpec.TAKE23, context=Context.ALL_DIR,
                 override=Override.FILEINFO, syntax="RedirectMatch [status] regex URL",
                 help="an optional status, then a regular expression and destination URL")
def redirect_match(cmd: CmdParms, conf: AliasDirConfig, a1: str, a2: str,
                   a3: str | None) -> None:
    _add_redirect(cmd, conf, a1, a2, a3, True, 302)


@alias.directive("RedirectTemp", args=ArgSpec.TAKE2, context=Context.ALL_DIR,
                 override=Override.FILEINFO, syntax="RedirectTemp URL-path URL",
                 help="a document to be redirected, then the destination URL")
def redirect_temp(cmd: CmdParms, conf: AliasDirConfig, a1: str, a2: str) -> None:
    _add_redirect(cmd, conf, "temp", a1, a2, False, 302)


@alias.directive("RedirectPermanent", args=ArgSpec.TAKE2, context=Context.ALL_DIR,
                 override=Override.FILEINFO, syntax="RedirectPermanent URL-path URL",
                 help="a document to be redirected, then the destination URL")
def redirect_permanent(cmd: CmdParms, conf: AliasDirConfig, a1: str, a2: str) -> None:
    _add_redirect(cmd, conf, "permanent", a1, a2, False, 301)


# --- request time ----------------------------------------------------------------------
def _escape_target(found: str) -> str:
    """apr_uri_parse + unparse without the query, escaped; query and fragment kept."""
    frag = None
    query = None
    if "#" in found:
        found, frag = found.split("#", 1)
    if "?" in found:
        found, query = found.split("?", 1)
    out = escape_uri(found)
    if query is not None:
        out += "?" + query
    if frag is not None:
        out += "#" + frag
    return out


def try_alias_list(r: Request, entries: list[AliasEntry],
                   is_redir: bool) -> tuple[str, int, AliasEntry] | None:
    uri = r.uri
    for a in entries:
        if a.regex is not None:
            m = a.regex.search(uri)
            if m is None:
                continue
            if a.real is not None:
                found = pregsub(a.real, uri, m)
                if is_redir:
                    found = _escape_target(found)
            else:
                found = ""
        else:
            n = alias_matches(uri, a.fake)
            if n <= 0:
                continue
            rest = uri[n:]
            found = (a.real or "") + (escape_uri(rest) if is_redir else rest)
        if a.handler:
            r.handler = a.handler
            r.notes["alias-forced-type"] = a.handler
        if not is_redir:
            found = r.tree.server_root_relative(found)
        return found, a.redir_status, a
    return None


def _sanitize(loc: str) -> str:
    # CVE-2016-4975: never let CR, LF or NUL from a URI into a response header
    if "\r" in loc or "\n" in loc or "\x00" in loc:
        loc = loc.replace("\r", "%0d").replace("\n", "%0a").replace("\x00", "%00")
    return loc


def _redirect(r: Request, ret: str, status: int) -> int:
    if is_http_redirect(status):
        if ret.startswith("/"):
            orig = ret
            ret = r.construct_url(ret)
            r.log_error(DEBUG, f"incomplete redirection target of '{orig}' for URI "
                               f"'{r.uri}' modified to '{ret}'")
        if not is_url(ret):
            r.log_error(ERROR, f"cannot redirect '{r.uri}' to '{ret}'; target is not a "
                               "valid absoluteURI or abs_path")
            return 500
        if r.args and "?" not in ret:
            ret = f"{ret}?{r.args}"
        r.headers_out.set("Location", _sanitize(ret))
    return status


@alias.hook("translate_name", order=FIRST, needs=True)
def translate_alias_redir(r: Request) -> int:
    uri = r.uri
    if uri and uri[0] != "/":
        return DECLINED
    sc: AliasServerConfig = r.server.module_config[alias.index]
    if sc.redirects:
        hit = try_alias_list(r, sc.redirects, True)
        if hit is not None:
            _trace(r, hit[2], hit[0])
            return _redirect(r, hit[0], hit[1])
    if sc.aliases:
        hit = try_alias_list(r, sc.aliases, False)
        if hit is not None:
            _trace(r, hit[2], hit[0])
            r.filename = hit[0]
            return OK
    return DECLINED


@alias.hook("fixups", order=MIDDLE, needs=True)
def fixup_redir(r: Request) -> int:
    dc: AliasDirConfig = r.per_dir_config[alias.index]
    if dc is None or not dc.redirects:
        return DECLINED
    hit = try_alias_list(r, dc.redirects, True)
    if hit is None:
        return DECLINED
    _trace(r, hit[2], hit[0])
    return _redirect(r, hit[0], hit[1])


def _trace(r: Request, entry: AliasEntry, result: str) -> None:
    """Tell featherd-rewrite's explainer (when it runs) which line matched."""
    tracer = r.connection.notes.get("rewrite_tracer") if r.connection is not None else None
    if tracer is not None:
        tracer(r, "alias", entry=entry, result=result)


__all__ = ["AliasEntry", "alias", "alias_matches", "try_alias_list"]
