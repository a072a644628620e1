"""Case-insensitive multi-valued header tables (Apache's apr_table_t)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from operator import itemgetter

_first = itemgetter(0)


class Headers:
    """An ordered list of (name, value) with case-insensitive lookups.

    Small tables are the rule, so lookups scan a list; names keep the case they were
    given. ``set`` replaces every value, ``add`` appends, ``merge`` joins with ", ".
    A parallel list holds the lower-cased names, so that a lookup is one ``lower()`` and
    one ``list.index`` (C speed) instead of a Python loop.
    """

    __slots__ = ("_items", "_names")

    def __init__(self, items: Iterable[tuple[str, str]] | None = None) -> None:
        if items:
            self._items: list[tuple[str, str]] = list(items)
            self._names: list[str] = list(map(str.lower, map(_first, self._items)))
        else:
            self._items = []
            self._names = []

    def get(self, name: str, default: str | None = None) -> str | None:
        # "in" before index(): a missing field (the common case: Range, If-*, ...) must
        # not cost a raised ValueError
        ln = name.lower()
        names = self._names
        if ln in names:
            return self._items[names.index(ln)][1]
        return default

    def __getitem__(self, name: str) -> str:
        try:
            return self._items[self._names.index(name.lower())][1]
        except ValueError:
            raise KeyError(name) from None

    def get_all(self, name: str) -> list[str]:
        ln = name.lower()
        names = self._names
        n = names.count(ln)
        if n == 0:
            return []
        if n == 1:
            return [self._items[names.index(ln)][1]]
        return [it[1] for it, k in zip(self._items, names, strict=True) if k == ln]

    def has_any(self, lower_names: frozenset[str]) -> bool:
        """Is any of these (lower-case) names present?  One C-level set operation."""
        return not lower_names.isdisjoint(self._names)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name.lower() in self._names

    def set(self, name: str, value: str) -> None:
        ln = name.lower()
        names = self._names
        if ln not in names:
            self._items.append((name, value))
            names.append(ln)
            return
        i = names.index(ln)
        items = self._items
        items[i] = (name, value)
        if names.count(ln) > 1:
            keep = [j for j, k in enumerate(names) if j <= i or k != ln]
            self._items = [items[j] for j in keep]
            self._names = [names[j] for j in keep]

    __setitem__ = set

    def setdefault(self, name: str, value: str) -> str:
        v = self.get(name)
        if v is None:
            self._items.append((name, value))
            self._names.append(name.lower())
            return value
        return v

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))
        self._names.append(name.lower())

    def merge(self, name: str, value: str) -> None:
        cur = self.get(name)
        if cur is None:
            self.add(name, value)
        else:
            self.set(name, f"{cur}, {value}")

    def unset(self, name: str) -> None:
        ln = name.lower()
        names = self._names
        if ln not in names:
            return
        items = self._items
        i = names.index(ln)
        if ln not in names[i + 1:]:
            # the usual one field: new lists (an iteration in progress keeps its own)
            self._items = items[:i] + items[i + 1:]
            self._names = names[:i] + names[i + 1:]
            return
        keep = [j for j, k in enumerate(names) if k != ln]
        self._items = [items[j] for j in keep]
        self._names = [names[j] for j in keep]

    def __delitem__(self, name: str) -> None:
        self.unset(name)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def copy(self) -> Headers:
        h = Headers()
        h._items = list(self._items)
        h._names = list(self._names)
        return h

    def clear(self) -> None:
        self._items = []
        self._names = []

    def extend(self, other: Iterable[tuple[str, str]]) -> None:
        for k, v in other:
            self._items.append((k, v))
            self._names.append(k.lower())

    def overlay(self, other: Headers) -> None:
        """Values of ``other`` win (apr_table_overlay for response headers)."""
        self.extend(other)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
