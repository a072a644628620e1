"""The output filter chain.

Filters are sorted by type (Apache's numbers): RESOURCE (10) and CONTENT_SET (20) run
first (INCLUDES, DEFLATE...), then the PROTOCOL stage (byteranges, Content-Length, the
response head, chunking: :mod:`featherd.filters.protocol`), then the network.

A filter is an object made per request by its factory ``factory(r)`` with a method
``filter(r, bb) -> list`` returning the buckets to pass on (an empty list while it
buffers). It sees EOS in the last brigade.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.core.core_module import core
from featherd.filters.protocol import protocol_stage

if TYPE_CHECKING:
    from featherd.core.request import Request

FTYPE_RESOURCE = 10
FTYPE_CONTENT_SET = 20
FTYPE_PROTOCOL = 30
FTYPE_TRANSCODE = 40
FTYPE_CONNECTION = 50
FTYPE_NETWORK = 60


def add_output_filter(r: Request, name: str) -> bool:
    """ap_add_output_filter: add a registered filter by name (case-insensitive)."""
    entry = r.tree.filters.get(name.lower())
    if entry is None:
        return False
    ftype, factory, _ = entry
    for f in r.output_filters:
        if getattr(f, "filter_name", None) == name.lower():
            return True
    f = factory(r)
    f.filter_name = name.lower()
    f.ftype = ftype
    r.output_filters.append(f)
    r.output_filters.sort(key=lambda x: x.ftype)
    return True


def remove_output_filter(r: Request, name: str) -> None:
    r.output_filters = [f for f in r.output_filters if getattr(f, "filter_name", "") != name.lower()]


def insert_filters(r: Request) -> None:
    """Filters configured by SetOutputFilter (and AddOutputFilter via r.notes)."""
    c = r.per_dir_config[core.index]
    names = c.output_filters
    if names is not UNSET and names:
        for n in names:
            if not add_output_filter(r, n):
                r.log_error(3, f"Unknown filter {n} not added")
    extra = r.ctx.get("mime_filters")
    if extra:
        for n in extra:
            add_output_filter(r, n)
    if r.body is not None and (c.input_filters or r.ctx.get("mime_input_filters")):
        from featherd.filters.input import insert_input_filters

        insert_input_filters(r)


def _by_type(r: Request) -> None:
    c = r.per_dir_config[core.index]
    table = c.ct_output_filters
    if table is UNSET or not table or not r.content_type:
        return
    ct = r.content_type.split(";", 1)[0].strip().lower()
    for n in table.get(ct, ()):
        add_output_filter(r, n)


def by_type_filters(r: Request) -> None:
    """Add the AddOutputFilterByType filters now that the content type is known (done
    once, by the first pass_brigade; a handler may ask earlier to see the chain)."""
    if not r.sent_headers and "by_type_done" not in r.ctx:
        r.ctx["by_type_done"] = True
        _by_type(r)


def pass_brigade(r: Request, bb: list[Any]) -> None:
    """ap_pass_brigade from the handler down to the network."""
    if not r.sent_headers and "by_type_done" not in r.ctx:
        r.ctx["by_type_done"] = True
        _by_type(r)
    for f in r.output_filters:
        bb = f.filter(r, bb)
        if not bb:
            return
    protocol_stage(r, bb)
