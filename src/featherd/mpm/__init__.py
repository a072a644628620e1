"""Process models: the event MPM (master + workers) and the one-process debug mode."""

from __future__ import annotations

from typing import Any


def run(tree: Any, args: Any, reload: Any = None) -> int:
    """-X (or ONE_PROCESS / DEBUG) serves in this process; otherwise master + workers."""
    one = getattr(args, "one_process", False) or "ONE_PROCESS" in args.defines \
        or "DEBUG" in args.defines
    if one or reload is None:
        from featherd.mpm.single import serve

        return serve(tree)
    from featherd.mpm.master import serve_master

    return serve_master(tree, reload)
