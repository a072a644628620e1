"""mod_filter: smart filters chosen per response (Apache 2.2's mod_filter.c).

* ``FilterDeclare name [RESOURCE|CONTENT_SET|PROTOCOL|CONNECTION|NETWORK]`` declares a
  smart filter (a harness) at that place in the chain (RESOURCE by default).
* ``FilterProvider name provider [req=|resp=|env=]dispatch match`` (2.2) registers an
  output filter (``INCLUDES``, ``DEFLATE``, an ExtFilterDefine'd one...) to run in the
  harness when the dispatch value matches: ``dispatch`` is a response header (a bare
  name, or ``resp=``; ``Content-Type`` is the response's type), ``req=`` a request
  header, ``env=`` an environment variable, or ``handler``. ``match`` is a string
  (case-insensitive, the whole value), ``$sub`` (contains, case-insensitive),
  ``/regex/[i]``, ``=n`` ``<n`` ``<=n`` ``>n`` ``>=n`` (integers), ``*`` (the value is
  set); ``!`` in front negates; a value that is not there matches nothing (but the
  negated forms). As in 2.2, providers are tried from the last declared to the first. The 2.4 form ``FilterProvider name provider expression`` (``expr``
  syntax, e.g. ``"%{CONTENT_TYPE} =~ m#^text/html#"``) is accepted too; those are tried
  in the order declared, after the 2.2 ones.
* ``FilterChain [+=-@!]name ...`` builds the chain: ``+`` (or nothing) appends, ``@``
  prepends, ``-`` removes, ``=`` empties the chain and starts it with the name, ``!``
  empties it. The operations of enclosing sections come first, so an inner ``-name``
  removes what an outer section added (as the manual describes; 2.2's merge lost it).
* ``FilterProtocol name [provider] flags`` with ``change=yes`` (drops Content-Length,
  ETag, Content-MD5), ``change=1:1`` (ETag, Content-MD5), ``byteranges=no`` (no ranges
  before the filter: the Range header is held back and Accept-Ranges dropped),
  ``proxy=no``, ``proxy=transform`` (accepted; no proxy here), ``cache=no`` (drops
  Last-Modified, adds Cache-Control: no-cache).
* ``FilterTrace name level``: 1 logs each brigade's buckets (debug), 2 their data too.

A harness only works on 200 responses; when no provider matches it steps aside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.tree import getword_conf
from featherd.core.hooks import MIDDLE
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.filters.chain import (
    FTYPE_CONNECTION,
    FTYPE_CONTENT_SET,
    FTYPE_NETWORK,
    FTYPE_PROTOCOL,
    FTYPE_RESOURCE,
)
from featherd.modules.filters.streaming import bucket_type

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

ERROR, WARN, DEBUG = 3, 4, 7

PROTO_CHANGE = 0x1
PROTO_CHANGE_LENGTH = 0x2
PROTO_NO_BYTERANGE = 0x4
PROTO_NO_PROXY = 0x8
PROTO_NO_CACHE = 0x10
PROTO_TRANSFORM = 0x20

FTYPES = {"resource": FTYPE_RESOURCE, "content_set": FTYPE_CONTENT_SET,
          "protocol": FTYPE_PROTOCOL, "connection": FTYPE_CONNECTION, "network": FTYPE_NETWORK}


@dataclass(slots=True)
class Provider:
    name: str                          # the output filter (or smart filter) to run
    dispatch: str = "resp"             # handler | req | resp | env | ctype | expr
    value: str = ""
    match_type: str = "string"         # string contains regex eq lt le gt ge defined
    negate: bool = False
    string: str = ""
    number: int = 0
    regex: re.Pattern[str] | None = None
    expr: Any = None
    proto_flags: int = 0


@dataclass(slots=True)
class SmartFilter:
    name: str
    ftype: int = FTYPE_RESOURCE
    providers: list[Provider] = field(default_factory=list)
    proto_flags: int = 0
    debug: int = 0


@dataclass(slots=True)
class FilterConfig:
    live: dict[str, SmartFilter] = field(default_factory=dict)
    # FilterChain operations in configuration order, outer sections first:
    # ("+", name) append, ("@", name) prepend, ("-", name) remove, ("!", None) empty
    chain: list[tuple[str, str | None]] = field(default_factory=list)


def build_chain(ops: list[tuple[str, str | None]]) -> list[str]:
    """The chain the operations leave (an inner section's "-name" removes a filter an
    outer one added, as the manual says; Apache's merge could not)."""
    chain: list[str] = []
    for op, name in ops:
        if op == "!":
            chain = []
        elif op == "@":
            assert name is not None
            chain.insert(0, name)
        elif op == "-":
            chain = [n for n in chain if n.lower() != (name or "").lower()]
        else:
            assert name is not None
            chain.append(name)
    return chain


class FilterModule(Module):
    def merge_dir_config(self, base: Any, new: Any) -> Any:
        """filter_merge: declarations overlay; the chain operations add up."""
        if base is None or new is None:
            return new if base is None else base
        return FilterConfig({**base.live, **new.live}, [*base.chain, *new.chain])


filter_mod = FilterModule("filter_module", "mod_filter.c", dir_config=FilterConfig,
                          description="Context-sensitive smart filter configuration module")

_CTX = Context.ALL_DIR
_OPT = Override.OPTIONS


def _declare(conf: FilterConfig, name: str, place: str | None) -> SmartFilter:
    sf = SmartFilter(name, FTYPES.get(place.lower(), FTYPE_RESOURCE) if place
                     else FTYPE_RESOURCE)
    conf.live[name] = sf
    return sf


@filter_mod.directive("FilterDeclare", args=ArgSpec.TAKE12, context=_CTX, override=_OPT,
                      syntax="FilterDeclare filter-name [type]",
                      help="filter-name [filter-type]")
def filter_declare(cmd: CmdParms, conf: FilterConfig, name: str, place: str | None) -> None:
    _declare(conf, name, place)


def _parse_match(p: Provider, match: str) -> None:
    if match.startswith("!"):
        p.negate = True
        match = match[1:]
    c, rest = match[:1], match[1:]
    if c == "<":
        if rest.startswith("="):
            p.match_type, rest = "le", rest[1:]
        else:
            p.match_type = "lt"
        p.number = _atoi(rest)
    elif c == ">":
        if rest.startswith("="):
            p.match_type, rest = "ge", rest[1:]
        else:
            p.match_type = "gt"
        p.number = _atoi(rest)
    elif c == "=":
        p.match_type = "eq"
        p.number = _atoi(rest)
    elif c == "/":
        end = rest.find("/")
        if end < 0:
            raise DirectiveError("Bad regexp syntax")
        flags = re.IGNORECASE if "i" in rest[end + 1:] else 0
        try:
            p.regex = re.compile(rest[:end], flags)
        except re.error:
            raise DirectiveError("Bad regexp") from None
        p.match_type = "regex"
    elif c == "*":
        p.match_type = "defined"
    elif c == "$":
        p.match_type = "contains"
        p.string = rest.lower()
    else:
        p.match_type = "string"
        p.string = match


def _atoi(s: str) -> int:
    m = re.match(r"\s*[+-]?\d+", s)
    return int(m.group()) if m else 0


@filter_mod.directive("FilterProvider", args=ArgSpec.RAW_ARGS, context=_CTX, override=_OPT,
                      syntax="FilterProvider filter-name provider-name "
                             "[req|resp|env]=dispatch match",
                      help="filter-name provider-name dispatch-criterion dispatch-match")
def filter_provider(cmd: CmdParms, conf: FilterConfig, raw: str) -> None:
    words: list[str] = []
    i = 0
    while True:
        w, i, _ = getword_conf(raw, i)
        if not w:
            break
        words.append(w)
    if len(words) == 3:
        fname, pname, expr_text = words
        condition = match = None
    elif len(words) == 4:
        fname, pname, condition, match = words
        expr_text = None
    else:
        raise DirectiveError("usage: FilterProvider filter provider condition match")
    sf = conf.live.get(fname) or _declare(conf, fname, None)
    if pname.lower() not in cmd.tree.filters and pname not in conf.live:
        raise DirectiveError(f"Unknown filter provider {pname}")
    p = Provider(pname)
    if expr_text is not None:
        from featherd.modules.ssl.expr import ExprError, compile_expr

        try:
            p.expr = compile_expr(expr_text)
        except ExprError as e:
            raise DirectiveError(f"{fname} : Error parsing FilterProvider expression:"
                                 f"{e}") from None
        p.dispatch = "expr"
        sf.providers.append(p)
        return
    assert condition is not None and match is not None
    _parse_match(p, match)
    eq = condition.find("=")
    if eq >= 0:
        value = condition[eq + 1:]
        kind = condition[:eq + 1].lower()
        if kind == "env=":
            p.dispatch = "env"
        elif kind == "req=":
            p.dispatch = "req"
        elif kind == "resp=":
            p.dispatch = "resp"
        else:
            raise DirectiveError("FilterProvider: unrecognized dispatch table")
    else:
        value = condition.lower()
        p.dispatch = "handler" if value == "handler" else "resp"
    if p.dispatch == "resp" and value.lower() == "content-type":
        p.dispatch = "ctype"
    p.value = value
    # 2.2: each new provider goes in front of the ones declared before it (2.4
    # expression providers stay after them, in their order)
    sf.providers.insert(0, p)


@filter_mod.directive("FilterChain", args=ArgSpec.ITERATE, context=_CTX, override=_OPT,
                      syntax="FilterChain [+=-@!]filter-name ...",
                      help="list of filter names with optional [+-=!@]")
def filter_chain(cmd: CmdParms, conf: FilterConfig, arg: str) -> None:
    c = arg[:1]
    if c in "+@-" and c:
        conf.chain.append((c, arg[1:]))
    elif c == "!":
        conf.chain.append(("!", None))
    elif c == "=":
        conf.chain.extend((("!", None), ("+", arg[1:])))
    else:
        conf.chain.append(("+", arg))


@filter_mod.directive("FilterTrace", args=ArgSpec.TAKE2, context=Context.ACCESS,
                      syntax="FilterTrace filter-name level",
                      help="filter-name debug-level")
def filter_trace(cmd: CmdParms, conf: FilterConfig, name: str, level: str) -> None:
    sf = conf.live.get(name)
    if sf is None:
        raise DirectiveError(f"Undeclared smart filter {name}")
    sf.debug = _atoi(level)


@filter_mod.directive("FilterProtocol", args=ArgSpec.TAKE23, context=_CTX, override=_OPT,
                      syntax="FilterProtocol filter-name [provider-name] proto-flags",
                      help="filter-name [provider-name] protocol-args")
def filter_protocol(cmd: CmdParms, conf: FilterConfig, fname: str, pname: str,
                    proto: str | None) -> None:
    sf = conf.live.get(fname)
    if sf is None:
        raise DirectiveError("FilterProtocol: No such filter")
    provider = None
    if proto is None:
        proto, pname = pname, ""
    else:
        provider = next((p for p in sf.providers if p.name.lower() == pname.lower()), None)
        if provider is None:
            raise DirectiveError("FilterProtocol: No such provider for this filter")
    flags = 0
    for arg in re.split(r"[;, \t]+", proto):
        low = arg.lower()
        if low == "change=yes":
            flags |= PROTO_CHANGE | PROTO_CHANGE_LENGTH
        elif low == "change=1:1":
            flags |= PROTO_CHANGE
        elif low == "byteranges=no":
            flags |= PROTO_NO_BYTERANGE
        elif low == "proxy=no":
            flags |= PROTO_NO_PROXY
        elif low == "proxy=transform":
            flags |= PROTO_TRANSFORM
        elif low == "cache=no":
            flags |= PROTO_NO_CACHE
    if provider is not None:
        provider.proto_flags = flags
    else:
        sf.proto_flags = flags


# --- request time ----------------------------------------------------------------------
def _int_of(s: str) -> int:
    return _atoi(s)


def provider_matches(r: Request, p: Provider) -> bool:
    """filter_lookup's test of one provider."""
    if p.dispatch == "expr":
        from featherd.modules.metadata.mod_headers import expr_true

        return expr_true(r, p.expr)
    d = p.dispatch
    if d == "req":
        s = r.headers_in.get(p.value)
    elif d == "resp":
        s = r.headers_out.get(p.value)
    elif d == "env":
        s = r.subprocess_env.get(p.value)
    elif d == "ctype":
        s = r.content_type
    else:
        s = r.handler
    match = True
    if s is None:
        # nothing to match: no test holds (2.2's filter_lookup let a missing value
        # pass every test but "*", which made req=/resp= providers fire on requests
        # without the header)
        match = False
    else:
        t = p.match_type
        if t == "string":
            match = s.lower() == p.string.lower()
        elif t == "contains":
            match = p.string in s.lower()
        elif t == "regex":
            assert p.regex is not None
            match = p.regex.search(s) is not None
        elif t == "eq":
            match = _int_of(s) == p.number
        elif t == "lt":
            match = _int_of(s) < p.number
        elif t == "le":
            match = _int_of(s) <= p.number
        elif t == "gt":
            match = _int_of(s) > p.number
        elif t == "ge":
            match = _int_of(s) >= p.number
    return match != p.negate


def trace(r: Request, fname: str, level: int, bb: list[Any]) -> None:
    if level <= 0:
        return
    from featherd.filters.buckets import FileBucket, bucket_len

    r.log_error(DEBUG, fname)
    for b in bb:
        r.log_error(DEBUG, f"{fname}: type: {bucket_type(b)}, length: {bucket_len(b)}")
        if level >= 2 and isinstance(b, (bytes, bytearray)) and b:
            r.log_error(DEBUG, f"{fname}: data: {bytes(b).decode('latin-1')}")
        elif level >= 2 and isinstance(b, FileBucket):
            r.log_error(DEBUG, f"{fname}: file: {b.path} offset {b.offset}")


class Harness:
    """filter_harness: runs the first matching provider in this place of the chain."""

    def __init__(self, r: Request, sf: SmartFilter) -> None:
        self.sf = sf
        self.passthrough = False
        self.inner: Any = None

    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        sf = self.sf
        if self.passthrough:
            return bb
        if self.inner is not None:
            return self.inner.filter(r, bb)  # type: ignore[no-any-return]
        if r.status != 200:
            self.passthrough = True
            return bb
        trace(r, sf.name, sf.debug, bb)
        p = self._lookup(r)
        if p is None:
            self.passthrough = True
            return bb
        if p.name in _conf_live(r) and p.name.lower() not in r.tree.filters:
            r.log_error(ERROR, "Chaining of FilterProviders not supported")
            self.passthrough = True
            return bb
        ftype, factory, _ = r.tree.filters[p.name.lower()]
        inner = factory(r)
        inner.filter_name = p.name.lower()
        inner.ftype = getattr(self, "ftype", sf.ftype)
        orig = inner.filter
        if sf.debug > 0:

            def traced(rr: Request, b2: list[Any]) -> list[Any]:
                trace(rr, sf.name, sf.debug, b2)
                return orig(rr, b2)  # type: ignore[no-any-return]
            try:
                inner.filter = traced
            except AttributeError:
                pass
        # the provider takes the harness's place (its own pass_down then finds itself)
        chain = r.output_filters
        for i, f in enumerate(chain):
            if f is self:
                chain[i] = inner
                break
        self.inner = inner
        return orig(r, bb)  # type: ignore[no-any-return]   # traced above already

    def _lookup(self, r: Request) -> Provider | None:
        for p in self.sf.providers:
            if not provider_matches(r, p):
                continue
            flags = p.proto_flags
            h = r.headers_out
            if flags & PROTO_CHANGE:
                h.unset("Content-MD5")
                h.unset("ETag")
                if flags & PROTO_CHANGE_LENGTH:
                    h.unset("Content-Length")
            if flags & PROTO_NO_CACHE:
                h.unset("Last-Modified")
                h.add("Cache-Control", "no-cache")
            if flags & PROTO_NO_BYTERANGE:
                h.unset("Accept-Ranges")
            else:
                saved = r.ctx.pop("filter_saved_range", None)
                if saved is not None:
                    r.headers_in.set("Range", saved)
                    if r.method == "GET":
                        r.range_header = saved
            return p
        return None


def _conf_live(r: Request) -> dict[str, SmartFilter]:
    c: FilterConfig | None = r.per_dir_config[filter_mod.index]
    return c.live if c is not None else {}


@filter_mod.hook("insert_filter", order=MIDDLE, needs=True)
def filter_insert(r: Request) -> None:
    c: FilterConfig | None = r.per_dir_config[filter_mod.index]
    if c is None or not c.chain:
        return
    ranges = True
    for name in build_chain(c.chain):
        sf = c.live.get(name)
        if sf is None:
            r.log_error(WARN, f"Unknown filter {name} not added")
            continue
        low = name.lower()
        if any(getattr(f, "filter_name", None) == low for f in r.output_filters):
            continue
        h = Harness(r, sf)
        h.filter_name = low  # type: ignore[attr-defined]
        h.ftype = sf.ftype  # type: ignore[attr-defined]
        r.output_filters.append(h)
        r.output_filters.sort(key=lambda x: x.ftype)
        if ranges and sf.proto_flags & (PROTO_NO_BYTERANGE | PROTO_CHANGE_LENGTH):
            rng = r.headers_in.get("Range")
            if rng is not None:
                r.ctx["filter_saved_range"] = rng
            r.headers_in.unset("Range")
            r.range_header = None
            ranges = False


__all__ = ["FilterConfig", "Harness", "Provider", "SmartFilter", "filter_mod",
           "provider_matches"]
