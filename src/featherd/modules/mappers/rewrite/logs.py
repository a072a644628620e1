"""RewriteLog (2.2) files and pipes, ``LogLevel rewrite:traceN`` (2.4), and the
``prg:`` map programs, started with the logs before the workers are forked."""

from __future__ import annotations

from typing import Any

from featherd.core.hooks import OK
from featherd.modules.mappers.rewrite.module import RewriteServerConfig, rewrite

ERROR = 3


class _LogFile:
    def __init__(self, target: str) -> None:
        import subprocess

        self.proc: Any = None
        if target.startswith("|"):
            self.proc = subprocess.Popen(target[1:].strip(), shell=True,
                                         stdin=subprocess.PIPE)
            self.fp: Any = open(self.proc.stdin.fileno(), "w", buffering=1,  # noqa: SIM115
                                closefd=False, encoding="latin-1", errors="replace")
        else:
            self.fp = open(target, "a", buffering=1, encoding="latin-1",  # noqa: SIM115
                           errors="backslashreplace")

    def write(self, line: str) -> None:
        try:
            self.fp.write(line)
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        try:
            self.fp.close()
        except OSError:
            pass
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except Exception:
                self.proc.kill()

@rewrite.hook("post_config")
def post_config(tree: Any) -> int:
    levels = tree.extra.get("module_loglevels") or {}
    for key in ("rewrite", "rewrite_module", "mod_rewrite.c", "mod_rewrite"):
        if key in levels:
            tree.extra["rewrite_module_loglevel"] = levels[key]
            break
    return OK

def _start_programs(tree: Any) -> None:
    """run_rewritemap_programs: the prg: maps of servers with the engine on, started
    once before the workers are forked (they share the pipes)."""
    from featherd.modules.mappers.rewrite.maps import PrgMap

    err = None
    log = tree.main.error_log
    if log is not None and getattr(log, "fp", None) is not None:
        try:
            err = log.fp.fileno()
        except (OSError, ValueError, AttributeError):
            err = None
    main_sc: RewriteServerConfig = tree.main.module_config[rewrite.index]
    lock_file = main_sc.lock_file if main_sc is not None else None
    seen: set[int] = set()
    for s in tree.all_servers():
        sc: RewriteServerConfig = s.module_config[rewrite.index]
        if sc is None or not sc.state:
            continue
        for m in sc.maps.values():
            if isinstance(m, PrgMap) and id(m) not in seen:
                seen.add(id(m))
                m.stderr = err
                m.lock_file = lock_file
                if not m.start(err, lock_file) and log is not None:
                    log.log(ERROR, "mod_rewrite: could not start RewriteMap program "
                                   f"{m.checkfile}")

@rewrite.hook("open_logs")
def open_logs(tree: Any) -> int:
    _start_programs(tree)
    opened: dict[str, _LogFile] = tree.extra.setdefault("rewrite_logs", {})
    for s in tree.all_servers():
        sc: RewriteServerConfig = s.module_config[rewrite.index]
        if sc is None or not sc.log_file:
            continue
        target = sc.log_file if sc.log_file.startswith("|") else \
            tree.server_root_relative(sc.log_file)
        lf = opened.get(target)
        if lf is None:
            try:
                lf = _LogFile(target)
            except OSError as e:
                print(f"mod_rewrite: could not open reliable pipe to RewriteLog filter "
                      f"{target}" if target.startswith("|") else
                      f"({e.errno}){e.strerror}: mod_rewrite: could not open RewriteLog "
                      f"file {target}.", flush=True)
                return 500
            opened[target] = lf
        sc.log_target = lf
    return OK

@rewrite.hook("child_exit")
def child_exit(tree: Any) -> None:
    from featherd.modules.mappers.rewrite.maps import PrgMap

    for s in tree.all_servers():
        sc: RewriteServerConfig = s.module_config[rewrite.index]
        if sc is None:
            continue
        for m in sc.maps.values():
            if isinstance(m, PrgMap):
                m.stop()
    for lf in tree.extra.get("rewrite_logs", {}).values():
        lf.close()


__all__ = ["child_exit", "open_logs", "post_config"]
