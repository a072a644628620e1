"""featherd's command line: httpd 2.2's flags, messages and exit codes.

    featherd [-D name] [-d directory] [-f file] [-C "directive"] [-c "directive"]
             [-k start|restart|graceful|graceful-stop|stop]
             [-v] [-V] [-h] [-l] [-L] [-t] [-T] [-S] [-M] [-X] [-e level] [-E file]

Options are parsed as httpd's apr_getopt does: clustered flags (``-tS``), glued values
(``-DFOO``, ``-f/etc/x.conf``); ``-v -V -l -L -h`` act at once, in the order given;
an unknown option, a missing value, an unknown ``-k`` action or ``-e`` level, or a stray
argument prints the usage on stderr and exits 1 (as does ``-h``).

* ``-t`` reads the configuration and prints ``Syntax OK`` on stderr; ``-S`` (= ``-t -D
  DUMP_VHOSTS``) and ``-M`` (= ``-t -D DUMP_MODULES``) print the vhost map / the loaded
  modules first. Configuration errors exit 1 with httpd's text ("Syntax error on line N
  of FILE:" and the message).
* ``-e level`` shows start-up messages down to that level (``-e debug`` also lists the
  modules LoadModule loaded); ``-E file`` sends everything featherd writes to stderr
  while starting (errors, "Syntax OK") to ``file`` (ServerRoot-relative: -d, else the
  current directory).
* ``-X`` is one process in the foreground (and defines DEBUG, as httpd does);
  ``-DFOREGROUND``/``-DNO_DETACH`` keep the master in the foreground.
* ``-k``: see :mod:`featherd.support.control`. ``featherd`` without ``-k`` serves in the
  foreground; ``-k start`` detaches like httpd.
* Without ``-f`` featherd serves its bundled configuration (``data/httpd.conf``: the "It
  works!" site on ``$FEATHERD_LISTEN``, default 127.0.0.1:8080) with a per-user
  ServerRoot, ``$XDG_STATE_HOME/featherd`` (default ``~/.local/state/featherd``), where
  its logs go.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from typing import IO, Any

from featherd.errors import ConfigError, FeatherdError
from featherd.log import DEBUG, LEVELS, WARN, ctime, parse_level
from featherd.util.getopt import Getopt, GetoptError

NAME = "featherd"
DEFAULT_LISTEN = "127.0.0.1:8080"

_USAGE = [
    f"Usage: {NAME} [-D name] [-d directory] [-f file]",
    f"       {' ' * len(NAME)} [-C \"directive\"] [-c \"directive\"]",
    f"       {' ' * len(NAME)} [-k start|restart|graceful|graceful-stop|stop]",
    f"       {' ' * len(NAME)} [-v] [-V] [-h] [-l] [-L] [-t] [-T] [-S] [-X]",
    "Options:",
    "  -D name            : define a name for use in <IfDefine name> directives",
    "  -d directory       : specify an alternate initial ServerRoot",
    "  -f file            : specify an alternate ServerConfigFile",
    "  -C \"directive\"     : process directive before reading config files",
    "  -c \"directive\"     : process directive after reading config files",
    "  -e level           : show startup errors of level (see LogLevel)",
    "  -E file            : log startup errors to file",
    "  -v                 : show version number",
    "  -V                 : show compile settings",
    "  -h                 : list available command line options (this page)",
    "  -l                 : list compiled in modules",
    "  -L                 : list available configuration directives",
    "  -t -D DUMP_VHOSTS  : show parsed settings (currently only vhost settings)",
    "  -S                 : a synonym for -t -D DUMP_VHOSTS",
    "  -t -D DUMP_MODULES : show all loaded modules ",
    "  -M                 : a synonym for -t -D DUMP_MODULES",
    "  -t                 : run syntax check for config files",
    "  -T                 : start without DocumentRoot(s) check",
    "  -X                 : debug mode (only one worker, do not detach)",
]
USAGE = "\n".join(_USAGE) + "\n"

_WITH_VALUE = set("CcDdEefk")
_FLAGS = set("hlLMStTvVX")
K_ACTIONS = ("start", "stop", "restart", "graceful", "graceful-stop")


class UsageError(Exception):
    """Bad command line: the message (may be empty) is printed before the usage."""


@dataclass
class Args:
    config: str | None = None          # -f
    server_root: str | None = None     # -d
    pre: list[str] = field(default_factory=list)     # -C
    post: list[str] = field(default_factory=list)    # -c
    defines: list[str] = field(default_factory=list)  # -D (and those -S/-M/-X imply)
    info: list[str] = field(default_factory=list)    # v V l L h, in the order given
    test: bool = False                 # -t (-S, -M)
    signal: str | None = None          # -k
    level: int = WARN                  # -e
    errfile: str | None = None         # -E
    foreground: bool = False
    one_process: bool = False          # -X
    no_docroot_check: bool = False     # -T
    bundled: bool = False              # no -f: the bundled configuration


def parse_args(argv: list[str]) -> Args:
    """apr_getopt over httpd's option string; UsageError on anything httpd refuses."""
    a = Args()
    g = Getopt(argv, _WITH_VALUE, _FLAGS)
    try:
        for ch, val in g:
            if val is not None:
                _take(a, ch, val)
            else:
                _flag(a, ch)
    except GetoptError as e:
        raise UsageError(f"{NAME}: {e}") from None
    if g.ind < len(argv):
        raise UsageError("")               # httpd takes no other words
    if any(d in a.defines for d in ("FOREGROUND", "NO_DETACH", "ONE_PROCESS", "DEBUG")):
        a.foreground = True
    if "ONE_PROCESS" in a.defines or "DEBUG" in a.defines:
        a.one_process = True
    return a


def _take(a: Args, ch: str, val: str) -> None:
    if ch == "f":
        a.config = val
    elif ch == "d":
        a.server_root = val
    elif ch == "C":
        a.pre.append(val)
    elif ch == "c":
        a.post.append(val)
    elif ch == "D":
        a.defines.append(val)
    elif ch == "E":
        a.errfile = val
    elif ch == "e":
        n = parse_level(val)
        if n is None or n >= len(LEVELS):
            raise UsageError("")
        a.level = n
    elif ch == "k":
        # httpd's MPM takes one valid -k; anything else reaches getopt as unknown
        if a.signal is not None or val not in K_ACTIONS:
            raise UsageError(f"{NAME}: illegal option -- k")
        a.signal = val


def _flag(a: Args, ch: str) -> None:
    if ch in "vVlLh":
        a.info.append(ch)
    elif ch == "t":
        a.test = True
    elif ch == "S":
        a.test = True
        a.defines.append("DUMP_VHOSTS")
    elif ch == "M":
        a.test = True
        a.defines.append("DUMP_MODULES")
    elif ch == "T":
        a.no_docroot_check = True
    elif ch == "X":
        a.defines.append("DEBUG")
        a.one_process = True
        a.foreground = True


# --- paths ------------------------------------------------------------------------------
def data_dir() -> str:
    return str(resources.files("featherd") / "data")


def bundled_config_file() -> str:
    return os.path.join(data_dir(), "httpd.conf")


def default_state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                            ".local", "state")
    return os.path.join(base, NAME)


def use_bundled_config(a: Args) -> None:
    """No -f: the bundled configuration, with a per-user ServerRoot for logs and the
    environment it reads (FEATHERD_DATA, FEATHERD_LISTEN) filled in where unset."""
    os.environ.setdefault("FEATHERD_DATA", data_dir())
    os.environ.setdefault("FEATHERD_LISTEN", DEFAULT_LISTEN)
    os.environ.setdefault("FEATHERD_SSL_LISTEN", "127.0.0.1:8443")   # mod_ssl's vhost
    a.config = bundled_config_file()
    a.bundled = True
    if a.server_root is None:
        a.server_root = default_state_dir()
    os.makedirs(os.path.join(a.server_root, "logs"), exist_ok=True)


def load(a: Args) -> Any:
    """Read the configuration the arguments name (also the MPM's reload on restart)."""
    from featherd.core.config import load_config
    from featherd.modules import builtin_modules

    cfg = a.config
    root = a.server_root
    if root is None and cfg is not None:
        root = os.path.dirname(os.path.abspath(cfg))
    if cfg is not None and not os.path.isabs(cfg) and a.server_root:
        cfg = os.path.join(a.server_root, cfg)
    return load_config(cfg, builtin_modules(), server_root=root, defines=set(a.defines),
                       pre=a.pre, post=a.post)


def redirect_stderr(a: Args, err: IO[str]) -> int:
    """-E: stderr (fd 2 and sys.stderr) appends to the file from here on."""
    assert a.errfile is not None
    path = a.errfile
    if not os.path.isabs(path):
        path = os.path.join(os.path.abspath(a.server_root or "."), path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        err.write(f"({e.errno}){e.strerror}: {NAME}: could not open error log file "
                  f"{path}.\n")
        return 1
    err.flush()
    os.dup2(fd, 2)
    os.close(fd)
    a.errfile = path
    return 0


def shared_modules(tree: Any) -> set[str]:
    from featherd.modules import builtin_modules

    builtin = {m.name for m in builtin_modules()}
    return {m.name for m in tree.modules if m.name not in builtin}


def startup_messages(tree: Any, a: Args) -> list[str]:
    """The warnings of reading the configuration (shown always, like httpd's
    APLOG_STARTUP ones) and the debug notes ``-e debug`` asks for."""
    out = []
    for w in tree.warnings:
        if a.no_docroot_check and w.startswith("Warning: DocumentRoot ["):
            continue
        out.append(w)
    if a.level >= DEBUG:
        from importlib.metadata import entry_points

        eps = {ep.name: ep.value for ep in entry_points(group="featherd.modules")}
        for name in sorted(shared_modules(tree)):
            out.append(f"[{ctime()}] [debug] mod_so.c: loaded module {name} from "
                       f"{eps.get(name, '?')} (entry point group featherd.modules)")
    return out


def error_log_path(tree: Any) -> str | None:
    fname = tree.main.error_fname or "logs/error_log"
    if fname.startswith("|") or fname.startswith("syslog"):
        return None
    return tree.server_root_relative(fname)


# --- main -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out, err = sys.stdout, sys.stderr
    try:
        a = parse_args(argv)
    except UsageError as e:
        if str(e):
            err.write(f"{e}\n")
        err.write(USAGE)
        return 1
    rv = info_actions(a, out, err)
    if rv is not None:
        return rv
    if a.errfile and redirect_stderr(a, err):
        return 1
    if a.config is None:
        use_bundled_config(a)
    if a.test:
        os.environ["FEATHERD_CONFIG_TEST"] = "1"    # mod_ssl: no keys, no pass phrases
    try:
        tree = load(a)
    except ConfigError as e:
        text = str(e)
        if e.filename is None and not text.startswith(f"{NAME}: "):
            text = f"{NAME}: {text}"
        err.write(text + "\n")
        return 1
    except OSError as e:
        err.write(f"{NAME}: {e}\n")
        return 1
    for msg in startup_messages(tree, a):
        err.write(msg + "\n")
    if a.test:
        return config_test(tree, a, out, err)
    if a.signal:
        from featherd.support import control

        rv = control.signal_server(a.signal, tree, out, err)
        if rv is not None:
            return rv
        if not a.foreground:
            control.detach(control.pidfile_path(tree), a.errfile or error_log_path(tree))
    return serve(tree, a, err)


def info_actions(a: Args, out: IO[str], err: IO[str]) -> int | None:
    """-v -V -l -L -h: the first one given answers, without reading the configuration."""
    if not a.info:
        return None
    from featherd.config import dump
    from featherd.modules import builtin_modules

    what = a.info[0]
    if what == "h":
        err.write(USAGE)
        return 1
    if what == "v":
        out.write(dump.version())
    elif what == "V":
        import featherd.mpm as mpm

        out.write(dump.version_info(getattr(mpm, "MPM_NAME", "event"),
                                    config_file=bundled_config_file(),
                                    httpd_root=default_state_dir()))
    elif what == "l":
        out.write(dump.compiled_modules(builtin_modules()))
    elif what == "L":
        out.write(dump.directive_list(builtin_modules()))
    return 0


def config_test(tree: Any, a: Args, out: IO[str], err: IO[str]) -> int:
    """-t, -S, -M: the dumps asked for, then "Syntax OK"."""
    from featherd.config import dump

    if "DUMP_VHOSTS" in a.defines:
        from featherd.core.vhost_dump import dump_vhosts

        out.write(dump_vhosts(tree))
    if "DUMP_MODULES" in a.defines:
        out.write(dump.loaded_modules(tree.modules, shared_modules(tree)))
    out.flush()
    err.write("Syntax OK\n")
    return 0


def serve(tree: Any, a: Args, err: IO[str]) -> int:
    from featherd.mpm import run

    if a.bundled and not a.signal:
        where = ", ".join(f"{'https' if ls.proto == 'https' else 'http'}://"
                          f"{ls.host or '*'}:{ls.port}/" for ls in tree.listens)
        err.write(f"{NAME}: serving the bundled site on {where} ; logs in "
                  f"{os.path.join(tree.server_root, 'logs')}\n")
        err.flush()
    try:
        return run(tree, a, reload=lambda: load(a))
    except FeatherdError as e:
        err.write(f"{e}\nUnable to open logs\n")
        return 1
    except OSError as e:
        err.write(f"({e.errno}){e.strerror}: {NAME}: {e.filename or ''}\n"
                  "Unable to open logs\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
