"""Fixtures for the apache2 comparison harness (see compat_harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from compat_harness import Pair, apache_available

_why = apache_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _why is None:
        return
    skip = pytest.mark.skip(reason=f"apache2 comparison: {_why}")
    for item in items:
        path = str(item.fspath).replace("\\", "/")
        if "tests/compat/" in path and not path.endswith("test_compat_selfcheck.py"):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def make_pair() -> Iterator[Callable[..., Pair]]:
    """make_pair(body, files, dirs=()) -> a started featherd + apache2 pair, stopped at the
    end of the module."""
    pairs: list[Pair] = []

    def factory(body: str, files: dict[str, str | bytes],
                dirs: tuple[str, ...] = ()) -> Pair:
        p = Pair(body, files, dirs)
        pairs.append(p)
        try:
            p.start()
        except RuntimeError as e:
            pytest.fail(f"could not start the pair: {e}")
        return p

    yield factory
    for p in pairs:
        p.stop()
