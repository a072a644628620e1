"""featherd's command line: httpd's flags.

featherd [-D name] [-d directory] [-f file] [-C "directive"] [-c "directive"]
         [-k start|restart|graceful|graceful-stop|stop] [-v] [-V] [-h] [-l] [-L] [-t] [-T]
         [-S] [-M] [-X] [-e level] [-E file]
"""

from __future__ import annotations

import os
import sys
from importlib import resources

from featherd import APACHE_COMPAT_VERSION, __version__
from featherd.errors import ConfigError

USAGE = """Usage: featherd [-D name] [-d directory] [-f file]
                [-C "directive"] [-c "directive"]
                [-k start|restart|graceful|graceful-stop|stop]
                [-v] [-V] [-h] [-l] [-L] [-t] [-T] [-S] [-X]
Options:
  -D name            : define a name for use in <IfDefine name> directives
  -d directory       : specify an alternate initial ServerRoot
  -f file            : specify an alternate ServerConfigFile
  -C "directive"     : process directive before reading config files
  -c "directive"     : process directive after reading config files
  -e level           : show startup errors of level (see LogLevel)
  -E file            : log startup errors to file
  -v                 : show version number
  -V                 : show compile settings
  -h                 : list available command line options (this page)
  -l                 : list compiled in modules
  -L                 : list available configuration directives
  -t -D DUMP_VHOSTS  : show parsed settings (currently only vhost settings)
  -S                 : a synonym for -t -D DUMP_VHOSTS
  -t -D DUMP_MODULES : show all loaded modules
  -M                 : a synonym for -t -D DUMP_MODULES
  -t                 : run syntax check for config files
  -T                 : start without DocumentRoot(s) check
  -X                 : debug mode (only one worker, do not detach)
"""


def data_dir() -> str:
    return str(resources.files("featherd") / "data")


def default_state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    return os.path.join(base, "featherd")


class Args:
    def __init__(self) -> None:
        self.config: str | None = None
        self.server_root: str | None = None
        self.pre: list[str] = []
        self.post: list[str] = []
        self.defines: list[str] = []
        self.action: str | None = None
        self.signal: str | None = None
        self.level: str | None = None
        self.errfile: str | None = None
        self.foreground = False
        self.no_docroot_check = False
        self.one_process = False


def parse_args(argv: list[str]) -> Args:
    a = Args()
    i = 0
    takes = {"-f", "-d", "-C", "-c", "-D", "-e", "-E", "-k"}
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-D") and len(arg) > 2:
            a.defines.append(arg[2:])
            i += 1
            continue
        if arg in takes:
            if i + 1 >= len(argv):
                raise SystemExit(USAGE)
            val = argv[i + 1]
            i += 2
            if arg == "-f":
                a.config = val
            elif arg == "-d":
                a.server_root = val
            elif arg == "-C":
                a.pre.append(val)
            elif arg == "-c":
                a.post.append(val)
            elif arg == "-D":
                a.defines.append(val)
            elif arg == "-e":
                a.level = val
            elif arg == "-E":
                a.errfile = val
            elif arg == "-k":
                a.signal = val
            continue
        if arg in ("-t", "-S", "-M", "-l", "-L", "-v", "-V", "-h", "-T", "-X", "-R"):
            if arg == "-X":
                a.foreground = True
                a.one_process = True
            elif arg == "-T":
                a.no_docroot_check = True
            elif arg == "-S":
                a.action = "t"
                a.defines.append("DUMP_VHOSTS")
                a.defines.append("DUMP_RUN_CFG")
            elif arg == "-M":
                a.action = "t"
                a.defines.append("DUMP_MODULES")
            elif a.action == "t" and arg == "-t":
                pass
            else:
                a.action = arg[1:]
            i += 1
            continue
        raise SystemExit(f"featherd: illegal option -- {arg.lstrip('-')}\n{USAGE}")
    if "FOREGROUND" in a.defines or "NO_DETACH" in a.defines or "ONE_PROCESS" in a.defines:
        a.foreground = True
    return a


def bundled_config(a: Args) -> None:
    """No -f: the bundled configuration, with a per-user ServerRoot for logs."""
    state = default_state_dir()
    os.makedirs(os.path.join(state, "logs"), exist_ok=True)
    os.environ.setdefault("FEATHERD_DATA", data_dir())
    a.config = os.path.join(data_dir(), "httpd.conf")
    if a.server_root is None:
        a.server_root = state


def load(a: Args):  # type: ignore[no-untyped-def]
    from featherd.core.config import load_config
    from featherd.modules import builtin_modules

    cfg = a.config
    root = a.server_root
    if root is None and cfg is not None:
        root = os.path.dirname(os.path.abspath(cfg))
    if cfg is not None and not os.path.isabs(cfg) and root is not None and a.server_root:
        cfg = os.path.join(root, cfg)
    return load_config(cfg, builtin_modules(), server_root=root, defines=set(a.defines),
                       pre=a.pre, post=a.post)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        a = parse_args(argv)
    except SystemExit as e:
        print(e.code, file=sys.stderr)
        return 1
    if a.action == "h":
        print(USAGE, end="")
        return 0
    if a.action == "v":
        print(f"Server version: featherd/{__version__} (Unix)")
        print("Compatible with: Apache/" + ".".join(map(str, APACHE_COMPAT_VERSION)))
        return 0
    if a.action in ("l", "L", "V"):
        from featherd.config import dump
        from featherd.modules import builtin_modules

        mods = builtin_modules()
        if a.action == "l":
            print(dump.compiled_modules(mods), end="")
        elif a.action == "L":
            from featherd.core.config import ServerConfigTree

            t = ServerConfigTree(modules=[], server_root="/", config_file="")
            for m in mods:
                t.add_module(m)
            print(dump.directive_list(t.registry), end="")
        else:
            print(dump.version_info(), end="")
        return 0
    if a.config is None:
        bundled_config(a)
        bundled = True
    else:
        bundled = False
    if a.signal:
        from featherd.support.control import signal_server

        return signal_server(a, load)
    try:
        tree = load(a)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    except OSError as e:
        print(str(e), file=sys.stderr)
        return 1
    for w in tree.warnings:
        print(w, file=sys.stderr)
    if a.action == "t":
        from featherd.config import dump

        out = ""
        if "DUMP_VHOSTS" in a.defines:
            from featherd.core.vhost_dump import dump_vhosts

            out += dump_vhosts(tree)
        if "DUMP_MODULES" in a.defines:
            out += dump.loaded_modules(tree.modules)
        print(out, end="")
        if not a.no_docroot_check:
            pass
        print("Syntax OK", file=sys.stderr)
        return 0
    if bundled:
        print(f"featherd: serving the bundled site on http://127.0.0.1:8080/ ; logs in "
              f"{os.path.join(tree.server_root, 'logs')}", file=sys.stderr)
    from featherd.mpm import run

    return run(tree, a, reload=lambda: load(a))


if __name__ == "__main__":
    raise SystemExit(main())
