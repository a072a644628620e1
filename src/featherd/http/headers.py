"""Case-insensitive multi-valued header tables (Apache's apr_table_t)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class Headers:
    """An ordered list of (name, value) with case-insensitive lookups.

    Small tables are the rule, so lookups scan a list; names keep the case they were
    given. ``set`` replaces every value, ``add`` appends, ``merge`` joins with ", ".
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = list(items) if items else []

    def get(self, name: str, default: str | None = None) -> str | None:
        ln = name.lower()
        for k, v in self._items:
            if k.lower() == ln:
                return v
        return default

    def __getitem__(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def get_all(self, name: str) -> list[str]:
        ln = name.lower()
        return [v for k, v in self._items if k.lower() == ln]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        ln = name.lower()
        return any(k.lower() == ln for k, _ in self._items)

    def set(self, name: str, value: str) -> None:
        ln = name.lower()
        items = self._items
        for i, (k, _) in enumerate(items):
            if k.lower() == ln:
                items[i] = (name, value)
                self._items = [it for j, it in enumerate(items)
                               if j <= i or it[0].lower() != ln]
                return
        items.append((name, value))

    __setitem__ = set

    def setdefault(self, name: str, value: str) -> str:
        v = self.get(name)
        if v is None:
            self._items.append((name, value))
            return value
        return v

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def merge(self, name: str, value: str) -> None:
        cur = self.get(name)
        if cur is None:
            self._items.append((name, value))
        else:
            self.set(name, f"{cur}, {value}")

    def unset(self, name: str) -> None:
        ln = name.lower()
        self._items = [it for it in self._items if it[0].lower() != ln]

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
        return Headers(self._items)

    def clear(self) -> None:
        self._items = []

    def extend(self, other: Iterable[tuple[str, str]]) -> None:
        self._items.extend(other)

    def overlay(self, other: Headers) -> None:
        """Values of ``other`` win (apr_table_overlay for response headers)."""
        for k, v in other:
            self.add(k, v)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
