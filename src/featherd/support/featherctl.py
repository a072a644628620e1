"""featherctl: featherd's control interface (apachectl).

    featherctl start|stop|restart|graceful|graceful-stop [featherd options]
    featherctl configtest [featherd options]
    featherctl status|fullstatus [featherd options]
    featherctl [featherd options]

As apachectl: the five actions run ``featherd -k ACTION`` (through the PidFile), with
the options that follow and those of ``$FEATHERD_ARGUMENTS`` (e.g. ``-f
/etc/featherd/httpd.conf``); ``configtest`` runs ``featherd -t``; anything else is passed
to featherd as it is. ``fullstatus`` prints the server-status page (mod_status) as text,
``status`` the same up to the "requests currently being processed" line. The status URL
is ``$FEATHERCTL_STATUSURL``, or else ``http://<first Listen>/server-status`` of the
configuration. The exit status is featherd's.
"""

from __future__ import annotations

import html.parser
import os
import shlex
import sys
import urllib.error
import urllib.request

ACTIONS = ("start", "stop", "restart", "graceful", "graceful-stop")
USAGE = ("Usage: featherctl start|stop|restart|graceful|graceful-stop|configtest|status|"
         "fullstatus|help\n")


class TextDump(html.parser.HTMLParser):
    """A lynx -dump of a simple page: blocks on their own lines, <pre> kept."""

    BLOCK = {"p", "dt", "dd", "dl", "tr", "h1", "h2", "h3", "hr", "table", "pre", "address",
             "br", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.pre = 0
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("title", "head"):
            self.skip += 1
        if tag == "pre":
            self.pre += 1
        if tag in self.BLOCK:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "head"):
            self.skip = max(0, self.skip - 1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            self.out.append(data)
        else:
            self.out.append(" ".join(data.split()) + (" " if data[-1:].isspace() else ""))

    def text(self) -> str:
        lines = [line.rstrip() for line in "".join(self.out).split("\n")]
        out: list[str] = []
        for line in lines:
            if line.strip() or (out and out[-1].strip()):
                out.append(line.strip() if not line.startswith(" " * 3) else line)
        return "\n".join(out).strip("\n") + "\n"


def featherd_argv(extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "featherd",
            *shlex.split(os.environ.get("FEATHERD_ARGUMENTS", "")), *extra]


def status_url(args: list[str]) -> str:
    url = os.environ.get("FEATHERCTL_STATUSURL")
    if url:
        return url
    try:
        from featherd.cli import load, parse_args, use_bundled_config

        a = parse_args(shlex.split(os.environ.get("FEATHERD_ARGUMENTS", "")) + args)
        if a.config is None:
            use_bundled_config(a)
        tree = load(a)
        if tree.listens:
            ls = tree.listens[0]
            host = ls.host if ls.host not in (None, "", "0.0.0.0", "::", "[::]") else "localhost"
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            scheme = "https" if (ls.proto or "").lower() == "https" else "http"
            return f"{scheme}://{host}:{ls.port}/server-status"
    except Exception:  # noqa: BLE001 - fall back to apachectl's default
        pass
    return "http://localhost:80/server-status"


def get_status(args: list[str], full: bool) -> int:
    url = status_url(args)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            page = r.read().decode("latin-1")
    except (urllib.error.URLError, OSError) as e:
        sys.stderr.write(f"'{url}' failed: {e}\n"
                         "Maybe you need to set FEATHERCTL_STATUSURL or enable mod_status "
                         "(SetHandler server-status) at /server-status\n")
        return 1
    d = TextDump()
    d.feed(page)
    text = d.text()
    if not full:
        kept = []
        for line in text.splitlines():
            kept.append(line)
            if "being processed" in line or line.endswith("process"):
                break
        text = "\n".join(kept) + "\n"
    sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    import subprocess

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("usage", "help", "--help"):
        sys.stderr.write(USAGE)
        return 0 if args else 1
    cmd, rest = args[0], args[1:]
    if cmd in ACTIONS:
        return subprocess.call(featherd_argv(["-k", cmd, *rest]))
    if cmd == "configtest":
        return subprocess.call(featherd_argv(["-t", *rest]))
    if cmd in ("status", "fullstatus"):
        return get_status(rest, cmd == "fullstatus")
    return subprocess.call(featherd_argv(args))


if __name__ == "__main__":
    raise SystemExit(main())
