"""URL helpers of the rewriting engine (mod_rewrite.c's is_absolute_uri,
escape_absolute_uri, splitout_queryargs, reduce_uri, fully_qualify_uri,
subst_prefix_path)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featherd.modules.mappers.rewrite.expand import scheme
from featherd.modules.mappers.rewrite.util import escape_uri

if TYPE_CHECKING:
    from featherd.core.request import Request
    from featherd.modules.mappers.rewrite.engine import RewriteCtx
    from featherd.modules.mappers.rewrite.rules import RuleEntry

ERROR = 3

#: schemes mod_rewrite recognises as absolute URLs: (prefix, supports a query)
_SCHEMES = (
    ("ajp://", True), ("balancer://", True), ("fcgi://", True), ("ftp://", False),
    ("gopher://", False), ("h2://", True), ("h2c://", True), ("http://", True),
    ("https://", True), ("ldap://", False), ("mailto:", True), ("news:", False),
    ("nntp://", False), ("scgi://", True), ("ws://", True), ("wss://", True),
)


#: scheme name -> (what follows it, length of the whole prefix, takes a query)
_SCHEME_MAP = {prefix.split(":", 1)[0]: (prefix[prefix.index(":"):], len(prefix), sqs)
               for prefix, sqs in _SCHEMES}
_NOT_ABSOLUTE = (0, False)


def is_absolute_uri(uri: str) -> tuple[int, bool]:
    """(length of the scheme part incl. '://', whether it takes a query); (0, False)
    for anything else."""
    if not uri or uri[0] == "/" or len(uri) <= 5:
        return _NOT_ABSOLUTE
    i = uri.find(":", 1, 12)
    if i < 0:
        return _NOT_ABSOLUTE
    ent = _SCHEME_MAP.get(uri[:i].lower())
    if ent is None or not uri.startswith(ent[0], i):
        return _NOT_ABSOLUTE
    return ent[1], ent[2]

def escape_absolute_uri(uri: str, skip: int) -> str:
    """Escape the path (and for ldap: the ?-separated parts) of an absolute URL."""
    if not skip or len(uri) < skip:
        return uri
    cp = skip
    if uri[skip - 1] == "/":
        while cp < len(uri) and uri[cp] != "/":
            cp += 1
        if cp >= len(uri) or cp + 1 >= len(uri):
            return uri
        cp += 1
        if uri[:4].lower() == "ldap":
            tokens = uri[cp:].split("?", 4)
            return uri[:cp] + "?".join(escape_uri(t) for t in tokens)
    return uri[:cp] + escape_uri(uri[cp:])

def _bad_query(args: str) -> bool:
    """ap_scan_vchar_obstext: a control character or a blank in the query string."""
    return any(c <= " " or c == "\x7f" for c in args)

def splitout_queryargs(r: Request, rule: RuleEntry, ctx: RewriteCtx) -> bool:
    """Move a '?query' of the substitution into r.args ([QSA], [QSD], [QSL]); False when
    the query string would carry control characters or blanks (CVE-2023-25690)."""
    fn = r.filename or ""
    skip, sqs = is_absolute_uri(fn)
    if skip and not sqs:
        r.args = None
        return True
    if rule.qsdiscard:
        r.args = None
        if ctx.loglevel >= 2:
            ctx.log(2, "discarding query string", perdir=False)
    q = fn.rfind("?") if rule.qslast else fn.find("?")
    if q >= 0:
        old = fn
        r.filename = fn[:q]
        qs = fn[q + 1:]
        if rule.qsappend:
            if qs:
                r.args = f"{qs}&{r.args or ''}"
        else:
            r.args = qs
        if r.args is not None:
            if not r.args:
                r.args = None
            elif r.args.endswith("&"):
                r.args = r.args[:-1]
        if ctx.loglevel >= 3:
            ctx.log(3, f"split uri={old} -> uri={r.filename}, args="
                       f"{r.args if r.args is not None else '<none>'}", perdir=False)
        if r.args is not None and _bad_query(r.args):
            r.log_error(ERROR, "Rewritten query string contains control characters or "
                               "spaces")
            return False
    return True

def _matches_request_vhost(r: Request, host: str, port: int) -> bool:
    """ap_matches_request_vhost: the host (and port) name this server."""
    from featherd.core.vhost import server_port

    s = r.server
    h = host.lower()
    for vh, vp in s.addrs:
        if (vp == 0 or vp == port) and vh.lower() == h:
            return True
    sport = s.port or server_port(r)
    if port != sport:
        return False
    if s.server_hostname and s.server_hostname.lower() == h:
        return True
    if h in s.names:
        return True
    from featherd.core.walk import fn_match

    return any(fn_match(w, h, pathname=False) for w in s.wild_names)

def _default_port(r: Request) -> int:
    return 443 if scheme(r) == "https" else 80

def reduce_uri(r: Request, ctx: RewriteCtx) -> None:
    """Strip ``http[s]://ourhost[:port]`` from an absolute URL naming this server."""
    fn = r.filename or ""
    if fn[:1] == "/":
        return
    sch = scheme(r)
    n = len(sch)
    if len(fn) > n + 3 and fn[:n].lower() == sch and fn[n:n + 3] == "://":
        rest = fn[n + 3:]
        i = 0
        while i < len(rest) and rest[i] not in "/:":
            i += 1
        host = rest[:i]
        if i < len(rest) and rest[i] == ":":
            j = i + 1
            while j < len(rest) and rest[j] != "/":
                j += 1
            digits = ""
            for ch in rest[i + 1:j]:
                if not ch.isdigit():
                    break
                digits += ch
            port = int(digits) if digits else 0
            url = rest[j:] or "/"
        elif i < len(rest):
            port = _default_port(r)
            url = rest[i:]
        else:
            port = _default_port(r)
            url = "/"
        if _matches_request_vhost(r, host, port):
            if ctx.loglevel >= 3:
                ctx.log(3, f"reduce {fn} -> {url}", perdir=False)
            r.filename = url

def fully_qualify_uri(r: Request) -> None:
    if r.method == "CONNECT":
        return
    fn = r.filename or ""
    if not is_absolute_uri(fn)[0]:
        from featherd.core.vhost import server_name, server_port

        host = server_name(r)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        port = server_port(r)
        p = "" if port == _default_port(r) else f":{port}"
        r.filename = f"{scheme(r)}://{host}{p}{'' if fn.startswith('/') else '/'}{fn}"

def subst_prefix_path(r: Request, inp: str, match: str, subst: str,
                      ctx: RewriteCtx | None = None) -> str:
    """Replace the prefix ``match`` of ``inp`` with ``subst`` (RewriteBase)."""
    n = len(match)
    if n and match[-1] == "/":
        n -= 1
    if inp[:n] == match[:n] and len(inp) > n and inp[n] == "/":
        n += 1
        if ctx is not None and ctx.loglevel >= 5:
            ctx.log(5, f"strip matching prefix: {inp} -> {inp[n:]}", perdir=False)
        s = subst if subst.endswith("/") or not subst else subst + "/"
        out = s + inp[n:]
        if ctx is not None and ctx.loglevel >= 4:
            ctx.log(4, f"add subst prefix: {inp[n:]} -> {out}", perdir=False)
        return out
    return inp

def _sanitize(loc: str) -> str:
    # CVE-2016-4975: no CR, LF or NUL from a URI in a response header
    if "\r" in loc or "\n" in loc or "\x00" in loc:
        loc = loc.replace("\r", "%0d").replace("\n", "%0a").replace("\x00", "%00")
    return loc
