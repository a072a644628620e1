"""Field-wise merging of per-module configuration records.

Every config record is a slotted dataclass whose fields default to :data:`UNSET`. The
default merge takes the child's value where it is set and the parent's otherwise. A field
may name another policy in its metadata: ``field(default=UNSET, metadata={"merge": POLICY})``
where POLICY is ``"append"`` (lists/tuples: parent then child), ``"update"`` (dicts: parent
updated by child) or a function ``(parent, child) -> value``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


def unset_field(merge: str | Callable[[Any, Any], Any] | None = None) -> Any:
    """A dataclass field defaulting to UNSET with an optional merge policy."""
    md = {"merge": merge} if merge is not None else {}
    return dataclasses.field(default=UNSET, metadata=md)


_PLANS: dict[type, list[tuple[str, Any]]] = {}


def _plan(cls: type) -> list[tuple[str, Any]]:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = [(f.name, f.metadata.get("merge")) for f in dataclasses.fields(cls)]
        _PLANS[cls] = plan
    return plan


def merge_records(base: Any, new: Any) -> Any:
    """Return a fresh record: ``new`` over ``base`` field by field."""
    cls = type(new)
    out = cls.__new__(cls)
    for name, policy in _plan(cls):
        b = getattr(base, name)
        n = getattr(new, name)
        if policy is None:
            v = b if n is UNSET else n
        elif n is UNSET:
            v = b
        elif b is UNSET:
            v = n
        elif policy == "append":
            v = b + n
        elif policy == "update":
            v = {**b, **n}
        else:
            v = policy(b, n)
        object.__setattr__(out, name, v)
    return out


def value(v: Any, default: Any) -> Any:
    """The value, or ``default`` when UNSET."""
    return default if v is UNSET else v
