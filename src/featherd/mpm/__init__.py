"""Process models. Until the event MPM's master/worker lands, every mode serves in one
process; ``run`` is the single entry point the command line uses."""

from __future__ import annotations

from typing import Any


def run(tree: Any, args: Any) -> int:
    from featherd.mpm.single import serve

    return serve(tree)
