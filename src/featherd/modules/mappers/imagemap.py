"""mod_imagemap: server-side image maps (handler ``imap-file``), as in Apache 2.2.

A click on an ``<img ismap>`` arrives as ``map.map?x,y``. The map file has one
directive per line (``#`` comments, blank lines, ``\\`` continues a line)::

    base    map|referer|URL          base for relative URLs (``base_uri`` too)
    default URL ["menu text"]        when nothing matches
    rect    URL ["text"] x1,y1 x2,y2
    circle  URL ["text"] cx,cy px,py (centre and a point on the edge)
    poly    URL ["text"] x1,y1 x2,y2 ... (up to 100 vertices)
    point   URL ["text"] x,y         the closest point wins, if no shape matched

rect, circle and poly are tried in file order (the first hit wins), then the closest
point, then the default. A URL is absolute (``http:...``), relative to the base
(``../`` climbs, but not into the server name), ``map``/``menu`` (the map itself),
``referer``, ``nocontent`` (204) or ``error`` (500); anything else is a 302 to it.
``ImapBase``, ``ImapDefault`` (default ``nocontent``) and ``ImapMenu`` (``none``,
``formatted`` (default), ``semiformatted``, ``unformatted``) set the defaults. Without
coordinates (or at 0,0) a menu of the map's URLs is sent instead (unless ImapMenu
none): a heading and ``<pre>`` lines for ``formatted``, the map's comments kept for the
others.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.config.parser import CmdParms
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.filters.buckets import EOS
from featherd.filters.chain import pass_brigade

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR = 3
IMAP_MAGIC_TYPE = "application/x-httpd-imap"
MAXVERTS = 100
DOCTYPE_HTML_3_2 = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'


@dataclass(slots=True)
class ImapConfig:
    imap_menu: Any = UNSET
    imap_default: Any = UNSET
    imap_base: Any = UNSET


imagemap = Module("imagemap_module", "mod_imagemap.c", dir_config=ImapConfig,
                  description="Server-side imagemap processing")
imagemap_module = imagemap


def _slot(name: str, field: str, help_: str, syntax: str) -> None:
    def fn(cmd: CmdParms, conf: ImapConfig, value: str) -> None:
        setattr(conf, field, value)

    fn.__name__ = name.lower()
    imagemap.directive(name, args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                       override=Override.INDEXES, syntax=syntax, help=help_)(fn)


_slot("ImapMenu", "imap_menu", "the type of menu generated: none, formatted, "
      "semiformatted, unformatted", "ImapMenu none|formatted|semiformatted|unformatted")
_slot("ImapDefault", "imap_default", "the action taken if no match: error, nocontent, "
      "referer, menu, URL", "ImapDefault error|nocontent|map|referer|URL")
_slot("ImapBase", "imap_base", "the base for all URL's: map, referer, URL (or start of)",
      "ImapBase map|referer|URL")


# --- geometry --------------------------------------------------------------------------
Point = tuple[float, float]


def point_in_rect(p: Point, c: list[Point]) -> bool:
    (x0, y0), (x1, y1) = c[0], c[1]
    return min(x0, x1) <= p[0] <= max(x0, x1) and min(y0, y1) <= p[1] <= max(y0, y1)


def point_in_circle(p: Point, c: list[Point]) -> bool:
    (cx, cy), (ex, ey) = c[0], c[1]
    return (cy - p[1]) ** 2 + (cx - p[0]) ** 2 <= (cy - ey) ** 2 + (cx - ex) ** 2


def point_in_poly(p: Point, pgon: list[Point]) -> bool:
    x, y = p
    n = len(pgon)
    crossings = 0
    for i in range(n):
        x1, y1 = pgon[i]
        x2, y2 = pgon[(i + 1) % n]
        d = (y - y1) * (x2 - x1) - (x - x1) * (y2 - y1)
        if (y1 >= y) != (y2 >= y):
            crossings += (d >= 0) if y2 - y1 >= 0 else (d <= 0)
        if not d and min(x1, x2) <= x <= max(x1, x2) and min(y1, y2) <= y <= max(y1, y2):
            return True
    return bool(crossings & 1)


_FIELD = re.compile(r"(\S+)\s?(.*)", re.S)
_NUM = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _strtod(s: str, i: int) -> tuple[float, int] | None:
    while i < len(s) and s[i].isspace():
        i += 1
    m = _NUM.match(s, i)
    if not m:
        return None
    return float(m.group(0)), m.end()


def get_coords(args: str | None) -> Point:
    """get_x_coord / get_y_coord: "x,y" from the query string, -1 where missing."""
    if args is None:
        return -1.0, -1.0
    i = 0
    while i < len(args) and not args[i].isdigit() and args[i] != ",":
        i += 1
    xr = _strtod(args, i)
    x = xr[0] if xr else -1.0
    y = -1.0
    comma = args.find(",")
    if comma >= 0:
        j = comma + 1
        while j < len(args) and not args[j].isdigit():
            j += 1
        yr = _strtod(args, j)
        if yr:
            y = yr[0]
    return x, y


def read_vertices(s: str) -> tuple[list[Point], str]:
    """The "x,y x,y ..." list (sscanf "%lf%*[, ]%lf" and Apache's way of skipping what it
    read), and what is left of the line."""
    pts: list[Point] = []
    pos = 0
    while len(pts) < MAXVERTS:
        a = _strtod(s, pos)
        if a is None:
            break
        k = a[1]
        sep = k
        while sep < len(s) and s[sep] in ", ":
            sep += 1
        if sep == k:
            break
        b = _strtod(s, sep)
        if b is None:
            break
        pts.append((a[0], b[0]))
        # now skip what was read, the way Apache does (integers only)
        while pos < len(s) and s[pos].isspace():
            pos += 1
        while pos < len(s) and s[pos].isdigit():
            pos += 1
        pos += 1
        while pos < len(s) and s[pos].isspace():
            pos += 1
        while pos < len(s) and s[pos].isdigit():
            pos += 1
    return pts, s[pos:]


def read_quoted(s: str) -> tuple[str, str | None]:
    """A leading "quoted part": (rest, quoted) or (s, None)."""
    t = s.lstrip()
    if not t.startswith('"'):
        return s, None
    end = t.find('"', 1)
    if end < 0:
        return "", t[1:]
    return t[end + 1:], t[1:end]


# --- URLs --------------------------------------------------------------------------------
def imap_url(r: Request, base: str | None, value: str) -> str | None:
    """A map value made into a URL (None after logging an error)."""
    lv = value.lower()
    if lv in ("map", "menu"):
        return r.construct_url(r.uri)
    if lv in ("nocontent", "error"):
        return value
    if lv == "referer":
        ref = r.headers_in.get("Referer")
        if ref:
            return ref
        value = ""
    i = 0
    while i < len(value) and value[i].isalpha():
        i += 1
    if i < len(value) and value[i] == ":":
        return value                           # absolute URL
    if not base:
        return value if value else r.construct_url("/")
    if "/" not in base and (value.startswith("../") or value == ".."):
        r.log_error(ERROR, f"invalid base directive in map file: {r.uri}")
        return None
    my_base = base
    directory: int | None = None
    j = 0
    while j < len(my_base):
        if my_base[j] == "/" and my_base[j + 1:j + 2] == "/":
            j += 2
            continue
        if my_base[j] == "/":
            if value.startswith("/"):
                my_base = my_base[:j]
            else:
                directory = j
                my_base = my_base[:my_base.rfind("/") + 1]
            break
        j += 1
    while value.startswith("../") or value == "..":
        if directory is not None and len(my_base) > directory:
            d = my_base[directory:]
            slen = len(d)
            clen = slen - 1
            while slen - clen == 1:
                k = d.rfind("/")
                if k >= 0:
                    d = d[:k]
                clen = len(d)
                if clen == 0:
                    break
            my_base = my_base[:directory] + d
            value = value[2:]
        else:
            r.log_error(ERROR, f"invalid directory name in map file: {r.uri}")
            return None
        if value.startswith("/../") or value == "/..":
            value = value[1:]
    return my_base + value if value else my_base


def imap_reply(r: Request, redirect: str) -> int:
    lr = redirect.lower()
    if lr == "error":
        return 500
    if lr == "nocontent":
        return 204
    if redirect:
        r.headers_out.set("Location", redirect)
        return 302
    return 500


# --- the menu ---------------------------------------------------------------------------
class Menu:
    def __init__(self, r: Request, kind: str) -> None:
        self.kind = kind.lower()
        self.out: list[str] = []
        uri = html.escape(r.uri, quote=True)
        self.out.append(f"{DOCTYPE_HTML_3_2}<html><head>\n<title>Menu for {uri}</title>\n"
                        "</head><body>\n")
        if self.kind == "formatted":
            self.out.append(f"<h1>Menu for {uri}</h1>\n<hr />\n\n")

    def blank(self) -> None:
        if self.kind in ("formatted", "unformatted"):
            self.out.append("\n")
        elif self.kind == "semiformatted":
            self.out.append("<br />\n")

    def comment(self, text: str) -> None:
        if self.kind == "formatted":
            self.out.append("\n")
        elif self.kind in ("semiformatted", "unformatted") and text:
            self.out.append(text + "\n")

    def link(self, href: str, text: str, default: bool) -> None:
        from featherd.modules.mappers.rewrite.util import escape_uri

        if href.lower() in ("error", "nocontent"):
            return
        a = f'<a href="{escape_uri(href)}">{html.escape(text, quote=True)}</a>'
        if self.kind in ("formatted", "semiformatted"):
            self.out.append(f"<pre>{'(Default) ' if default else '          '}{a}</pre>\n")
        elif self.kind == "unformatted":
            self.out.append(a)

    def finish(self, r: Request, failed: bool = False) -> int:
        if failed:
            self.out.append("\n\n[an internal server error occured]\n")
        self.out.append("\n\n</body>\n</html>\n")
        r.content_type = "text/html; charset=ISO-8859-1"
        pass_brigade(r, ["".join(self.out).encode("latin-1", "replace"), EOS])
        return OK


def map_lines(text: str) -> list[tuple[int, str]]:
    """ap_cfg_getline: lines with their numbers, backslash continuations joined, leading
    and trailing white space removed."""
    out: list[tuple[int, str]] = []
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    i = 0
    while i < len(raw):
        start = i
        line = raw[i].rstrip("\r")
        while line.endswith("\\") and not line.endswith("\\\\") and i + 1 < len(raw):
            i += 1
            line = line[:-1] + raw[i].rstrip("\r")
        if line.endswith("\\\\"):
            line = line[:-1]
        out.append((start + 1, line.strip()))
        i += 1
    return out


def _conf(r: Request) -> tuple[str, str, str]:
    c: ImapConfig = r.per_dir_config[imagemap.index]
    return (("formatted" if c.imap_menu is UNSET else c.imap_menu),
            ("nocontent" if c.imap_default is UNSET else c.imap_default),
            ("map" if c.imap_base is UNSET else c.imap_base))


@imagemap.handler("imap-file", IMAP_MAGIC_TYPE)
def imap_handler(r: Request) -> int:
    if r.method not in ("GET", "HEAD"):
        return DECLINED
    imap_menu, imap_default, imap_base = _conf(r)
    try:
        with open(r.filename or "", encoding="latin-1") as f:
            text = f.read()
    except OSError:
        return 404
    base = imap_url(r, None, imap_base)
    if base is None:
        return 500
    mapdflt = imap_url(r, None, imap_default)
    if mapdflt is None:
        return 500
    test = get_coords(r.args)
    menu: Menu | None = None
    if test[0] == -1 or test[1] == -1 or test == (0, 0):
        test = (-1.0, -1.0)
        if imap_menu[:2].lower() != "no":
            menu = Menu(r, imap_menu)
    closest: str | None = None
    closest_yet = -1.0
    for lineno, line in map_lines(text):
        if not line:
            if menu:
                menu.blank()
            continue
        if line.startswith("#"):
            if menu:
                menu.comment(line[1:])
            continue
        parts = line.split(None, 1)
        if len(parts) < 2:
            r.log_error(ERROR, f"map file {r.uri}, line {lineno} syntax error: requires at "
                               "least two fields")
            return menu.finish(r, failed=True) if menu else 500
        directive = parts[0]
        m = _FIELD.match(parts[1])
        assert m is not None
        value, rest = m.group(1), m.group(2)
        ld = directive.lower()
        if ld.startswith("base"):                     # base, base_uri
            b = imap_url(r, None, value)
            if b is None:
                return menu.finish(r, failed=True) if menu else 500
            base = b
            continue
        rest, href_text = read_quoted(rest)
        if ld == "default":
            d = imap_url(r, None, value)
            if d is None:
                return menu.finish(r, failed=True) if menu else 500
            mapdflt = d
            if menu:
                redirect = imap_url(r, base, mapdflt)
                if redirect is None:
                    return menu.finish(r, failed=True)
                menu.link(redirect, href_text if href_text is not None else mapdflt, True)
            continue
        pts, rest = read_vertices(rest)
        if menu:
            if href_text is None:
                rest, href_text = read_quoted(rest)
            redirect = imap_url(r, base, value)
            if redirect is None:
                return menu.finish(r, failed=True)
            menu.link(redirect, href_text if href_text is not None else value, False)
            continue
        if test[0] == -1 or not pts:
            continue
        hit = False
        if ld == "poly":
            hit = point_in_poly(test, pts)
        elif ld == "circle":
            hit = len(pts) >= 2 and point_in_circle(test, pts)
        elif ld == "rect":
            hit = len(pts) >= 2 and point_in_rect(test, pts)
        elif ld == "point":
            dist = (test[0] - pts[0][0]) ** 2 + (test[1] - pts[0][1]) ** 2
            if test[0] >= 0 and test[1] >= 0 and (closest_yet < 0 or dist < closest_yet):
                closest_yet = dist
                closest = value
            continue
        if hit:
            redirect = imap_url(r, base, value)
            return 500 if redirect is None else imap_reply(r, redirect)
    if menu:
        return menu.finish(r)
    target = closest if closest is not None else mapdflt
    redirect = imap_url(r, base, target)
    return 500 if redirect is None else imap_reply(r, redirect)


__all__ = ["imagemap", "imagemap_module", "imap_url"]
