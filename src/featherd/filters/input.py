"""The input filter chain: what the request body goes through before a handler reads it.

Apache's content input filters (DEFLATE inflating a gzip'd body, XLATEIN, an
ExtFilterDefine ``mode=input`` filter) sit between the HTTP_IN filter (the connection's
:class:`~featherd.core.body.BodyReader`) and ``r.read_body()``. They are added by
``SetInputFilter`` and ``AddInputFilter`` (at insert-filter time, as core_insert_filter
does) or by a module with :func:`add_input_filter`, and kept in ``r.input_filters``
sorted by filter type, the first being the one the handler reads from.

A filter is an object made per request by its factory ``factory(r)`` (registered with
``@mod.input_filter(name, ftype)``) with::

    async def read(self, r, nxt, want) -> bytes

returning the next piece of the body (at most ``want`` bytes when ``want`` > 0) and b""
at its end; ``await nxt(n)`` reads from the filters below it. Reading fails by raising
:class:`featherd.errors.HTTPError` (400 for a body that can't be decoded).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET

if TYPE_CHECKING:
    from featherd.core.request import Request

Reader = Callable[[int], Awaitable[bytes]]


def add_input_filter(r: Request, name: str) -> bool:
    """ap_add_input_filter: add a registered input filter by name (case-insensitive)."""
    entry = r.tree.input_filters.get(name.lower())
    if entry is None:
        return False
    ftype, factory, _ = entry
    low = name.lower()
    for f in r.input_filters:
        if getattr(f, "filter_name", None) == low:
            return True
    f = factory(r)
    f.filter_name = low
    f.ftype = ftype
    r.input_filters.append(f)
    r.input_filters.sort(key=lambda x: x.ftype)
    return True


def remove_input_filter(r: Request, f: Any) -> None:
    r.input_filters = [x for x in r.input_filters if x is not f]


def insert_input_filters(r: Request) -> None:
    """SetInputFilter (core) and AddInputFilter (mod_mime, via r.ctx) filters."""
    from featherd.core.core_module import core

    c = r.per_dir_config[core.index]
    names = list(c.input_filters) if c.input_filters is not UNSET and c.input_filters else []
    names += r.ctx.get("mime_input_filters") or ()
    for n in names:
        if not add_input_filter(r, n):
            r.log_error(3, f"Unknown filter {n} not added")


async def read_filtered(r: Request, want: int) -> bytes:
    """r.read_body through r.input_filters (the first is the outermost)."""
    chain = list(r.input_filters)
    body = r.body

    def at(i: int) -> Reader:
        if i >= len(chain):
            return lambda n: body.read(r, n)
        f = chain[i]
        nxt = at(i + 1)
        return lambda n: f.read(r, nxt, n)

    return await at(0)(want)


__all__ = ["add_input_filter", "insert_input_filters", "read_filtered", "remove_input_filter"]
