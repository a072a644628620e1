"""mod_autoindex end to end, one directive (or IndexOptions keyword) at a time, against
the Apache 2.2 manual page "mod_autoindex" and mod_autoindex.c's output format."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from featherd_testlib import SRC

_SEQ = itertools.count(1)
T0 = int(time.mktime((2026, 11, 27, 15, 50, 0, 0, 0, -1)))
DOCTYPE = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'


def section(directives: str, options: str = "Options Indexes", path: str = "",
            override: str = "AllowOverride None") -> str:
    return (f'<Directory "@ROOT@/htdocs{path}">\n{options}\n{override}\n'
            f"{directives}\n</Directory>\n")


def start(make_server: Any, directives: str, files: dict[str, str | bytes] | None = None,
          options: str = "Options Indexes", extra: str = "",
          override: str = "AllowOverride None") -> Any:
    """A server listing a fresh directory (``srv.base``: "/d1/", "/d2/", ...) that holds
    ``files``, their mtimes T0, T0+60, ... in the order of their sorted paths. ``@D@``
    in ``extra`` stands for that directory's URL path (without the slash)."""
    name = f"d{next(_SEQ)}"
    files = {f"htdocs/{name}/{k}": v for k, v in (files or {"empty/.keep": ""}).items()}
    srv = make_server(section(directives, options, f"/{name}", override)
                      + extra.replace("@D@", f"/{name}"),
                      files=files)
    srv.base = f"/{name}/"
    d = srv.root / "htdocs" / name
    for i, p in enumerate(sorted(d.rglob("*"))):
        os.utime(p, (T0 + 60 * i, T0 + 60 * i), follow_symlinks=False)
    return srv


def get(srv: Any, rel: str = "", **kw: Any) -> requests.Response:
    """GET the server's directory, or ``rel`` below it ("?C=S", "sub/")."""
    # identity: mod_negotiation respells x-gzip as the client's "gzip" (as Apache does)
    kw.setdefault("headers", {"Accept-Encoding": "identity"})
    return requests.get(srv.url(srv.base + rel), timeout=10, **kw)


def names(body: str) -> list[str]:
    """The entries of a listing in order (not the parent, not the column links)."""
    return [h for h in re.findall(r'<a href="([^"]*)">', body)
            if not h.startswith("?") and not h.startswith("/")]


FILES = {"a.txt": "hi\n", "b.html": "<title>Bee</title>", "c.bin": b"\0" * 1500,
         "sub/x": "x"}


# --- the handler -------------------------------------------------------------------------
def test_forbidden_without_options_indexes(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing", FILES, options="Options None")
    r = get(srv)
    assert r.status_code == 403
    assert "Index of" not in r.text
    log = srv.error_log()
    assert f"Directory index forbidden by Options directive: {srv.root}/htdocs{srv.base}" \
        in log


def test_plain_listing_exact(make_server: Any) -> None:
    srv = start(make_server, "", {"a.txt": "hi", "sub/x": "x"})
    r = get(srv)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html;charset=ISO-8859-1"
    t = srv.base[:-1]
    assert r.text == (DOCTYPE + f"<html>\n <head>\n  <title>Index of {t}</title>\n </head>\n"
                      f" <body>\n<h1>Index of {t}</h1>\n<ul>"
                      '<li><a href="/"> Parent Directory</a></li>\n'
                      '<li><a href="a.txt"> a.txt</a></li>\n'
                      '<li><a href="sub/"> sub/</a></li>\n</ul>\n</body></html>\n')
    assert int(r.headers["Content-Length"]) == len(r.content)


def test_fancy_listing_exact(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing\nAddIcon /icons/blank.gif "
                "^^BLANKICON^^\nAddIcon /icons/folder.gif ^^DIRECTORY^^\n"
                "AddIcon /icons/back.gif ..\nDefaultIcon /icons/unknown.gif",
                {"a.txt": "hi", "sub/x": "x"}, extra="ServerSignature On\n")
    when = time.strftime("%d-%b-%Y %H:%M", time.localtime(T0))
    sub_when = time.strftime("%d-%b-%Y %H:%M", time.localtime(T0 + 60))
    port = srv.port
    t = srv.base[:-1]
    assert get(srv).text == (
        DOCTYPE + f"<html>\n <head>\n  <title>Index of {t}</title>\n </head>\n <body>\n"
        f"<h1>Index of {t}</h1>\n"
        '<pre><img src="/icons/blank.gif" alt="Icon "> <a href="?C=N;O=D">Name</a>'
        '                    <a href="?C=M;O=A">Last modified</a>      '
        '<a href="?C=S;O=A">Size</a>  <a href="?C=D;O=A">Description</a><hr>'
        '<img src="/icons/back.gif" alt="[DIR]"> <a href="/">Parent Directory</a>'
        "                             -   \n"
        '<img src="/icons/unknown.gif" alt="[   ]"> <a href="a.txt">a.txt</a>'
        f"                   {when}    2   \n"
        '<img src="/icons/folder.gif" alt="[DIR]"> <a href="sub/">sub/</a>'
        f"                    {sub_when}    -   \n"
        "<hr></pre>\n"
        f"<address>{srv_banner(srv)} Server at 127.0.0.1 Port {port}</address>\n"
        "</body></html>\n")


def srv_banner(srv: Any) -> str:
    r = requests.head(srv.url("/"), timeout=10)
    return r.headers["Server"]


def test_head_and_other_methods(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing", FILES)
    r = requests.head(srv.url(srv.base), timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Type"] == "text/html;charset=ISO-8859-1"
    r = requests.post(srv.url(srv.base), data="x", timeout=10)
    assert "Index of" not in r.text


def test_index_file_wins_over_listing(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing\nDirectoryIndex index.html",
                {"index.html": "the index\n", "a.txt": "a"})
    assert get(srv).text == "the index\n"
    srv2 = start(make_server, "IndexOptions FancyIndexing\nDirectoryIndex missing.html",
                 {"a.txt": "a"})
    assert f"Index of {srv2.base[:-1]}" in get(srv2).text


def test_missing_slash_redirects_then_lists(make_server: Any) -> None:
    srv = start(make_server, "", FILES)
    url = srv.url(srv.base[:-1])
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 301 and r.headers["Location"] == url + "/"
    assert f"Index of {srv.base[:-1]}" in requests.get(url, timeout=10).text


# --- query arguments ------------------------------------------------------------------
SORT_FILES = {"small": "1", "big": "1" * 5000, "middle": "1" * 50, "Upper": "22",
              "dir/x": ""}


def test_sort_queries(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing\n"
                "AddDescription zz small\nAddDescription aa big", SORT_FILES)
    # mtimes follow the names' order: Upper, big, dir, dir/x, middle, small
    assert names(get(srv).text) == ["Upper", "big", "dir/", "middle", "small"]
    assert names(get(srv, "?C=N;O=D").text) == ["small", "middle", "dir/", "big", "Upper"]
    assert names(get(srv, "?C=S;O=A").text) == ["dir/", "small", "Upper", "middle", "big"]
    assert names(get(srv, "?C=S;O=D").text) == ["big", "middle", "Upper", "small", "dir/"]
    assert names(get(srv, "?C=M;O=A").text) == ["Upper", "big", "dir/", "middle", "small"]
    assert names(get(srv, "?C=M;O=D").text) == ["small", "middle", "dir/", "big", "Upper"]
    assert names(get(srv, "?C=D;O=A").text) == ["Upper", "dir/", "middle", "big", "small"]
    assert names(get(srv, "?C=D&O=D").text) == ["small", "big", "middle", "dir/", "Upper"]
    # the current key's header link reverses; the others start ascending
    body = get(srv, "?C=S;O=A").text
    assert '<a href="?C=S;O=D">Size</a>' in body and '<a href="?C=N;O=A">Name</a>' in body
    # a malformed argument stops the parsing: what came before it stays
    assert names(get(srv, "?O=D;C=Q;C=S").text) == \
        ["small", "middle", "dir/", "big", "Upper"]


def test_format_and_version_queries(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing",
                {"f1.10": "", "f1.9": "", "f1.09": ""})
    assert "<pre>" in get(srv).text
    assert names(get(srv).text) == ["f1.09", "f1.10", "f1.9"]
    r = get(srv, "?V=1")
    assert names(r.text) == ["f1.09", "f1.9", "f1.10"]
    assert '<a href="?C=N;O=D;V=1">Name</a>' in r.text
    r = get(srv, "?F=2")
    assert "<table><tr>" in r.text and '<a href="?C=M;O=A;F=2">' in r.text
    r = get(srv, "?F=0")
    assert "<ul>" in r.text and "<pre>" not in r.text
    srv2 = start(make_server, "IndexOptions VersionSort HTMLTable FancyIndexing",
                 {"f1.10": "", "f1.9": ""})
    assert names(get(srv2).text) == ["f1.9", "f1.10"]
    assert names(get(srv2, "?V=0").text) == ["f1.10", "f1.9"]
    assert "<pre>" in get(srv2, "?F=1").text


def test_pattern_query(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing",
                {"a.txt": "", "b.txt": "", "c.html": "", "t.txt/x": ""})
    r = get(srv, "?P=*.txt")
    assert names(r.text) == ["a.txt", "b.txt", "t.txt/"]
    assert '<a href="?C=N;O=D;P=*.txt">Name</a>' in r.text
    assert names(get(srv, "?P=%5bab%5d*").text) == ["a.txt", "b.txt"]
    # a pattern that does not unescape is ignored (requests would re-quote the '%')
    raw = srv.raw(f"GET {srv.base}?P=%zz HTTP/1.0\r\n\r\n".encode()).decode("latin-1")
    assert names(raw) == ["a.txt", "b.txt", "c.html", "t.txt/"]
    assert names(get(srv, "?P=*").text) == ["a.txt", "b.txt", "c.html", "t.txt/"]


def test_ignore_client(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing IgnoreClient", SORT_FILES)
    r = get(srv, "?C=S;O=D;F=0;P=b*")
    assert names(r.text) == ["Upper", "big", "dir/", "middle", "small"]
    assert "<pre>" in r.text and '<a href="?' not in r.text
    assert "Name                    " in r.text


def test_suppress_column_sorting(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing SuppressColumnSorting", SORT_FILES)
    r = get(srv, "?C=S;O=D")
    assert '<a href="?' not in r.text
    assert names(r.text)[0] == "big"          # the query is still honoured


# --- icons, alts, descriptions -------------------------------------------------------------
def test_icons_and_alts(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing\n"
                "AddAlt \"Plain text\" *.txt\n"
                "AddAltByType \"Web page\" text/html\n"
                "AddAltByEncoding \"Squeezed\" x-gzip\n"
                "AddIcon (BIN,/icons/binary.gif) .bin\n"
                "AddIconByType (TXT,/icons/text.gif) text/*\n"
                "AddIconByEncoding (CMP,/icons/compressed.gif) x-gzip\n"
                "AddIcon /icons/folder.gif ^^DIRECTORY^^\n"
                "AddIcon /icons/back.gif ..\n"
                "AddAlt \"Up\" ..\n"
                "DefaultIcon /icons/unknown.gif\nAddEncoding x-gzip .gz",
                {"a.txt": "", "b.html": "", "c.bin": "", "d.tar.gz": "", "e.unknownext": "",
                 "sub/x": ""})
    body = get(srv).text
    assert '<img src="/icons/back.gif" alt="[Up]"> <a href="/">Parent Directory' in body
    assert '<img src="/icons/text.gif" alt="[Plain text]"> <a href="a.txt">' in body
    assert '<img src="/icons/text.gif" alt="[Web page]"> <a href="b.html">' in body
    assert '<img src="/icons/binary.gif" alt="[BIN]"> <a href="c.bin">' in body
    assert '<img src="/icons/compressed.gif" alt="[Squeezed]"> <a href="d.tar.gz">' in body
    assert '<img src="/icons/unknown.gif" alt="[   ]"> <a href="e.unknownext">' in body
    assert '<img src="/icons/folder.gif" alt="[DIR]"> <a href="sub/">' in body
    # the first matching item wins: an icon's own alt text before a later AddAlt
    srv2 = start(make_server, "IndexOptions FancyIndexing\n"
                 "AddIconByType (TXT,/icons/text.gif) text/*\nAddAlt \"Plain text\" *.txt",
                 {"a.txt": ""})
    assert '<img src="/icons/text.gif" alt="[TXT]"> <a href="a.txt">' in get(srv2).text


def test_no_icon_at_all(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing", {"a.txt": ""})
    body = get(srv).text
    assert '<pre>      <a href="?C=N;O=D">Name</a>' in body
    assert '\n      <a href="a.txt">a.txt</a>' in body
    body = get(srv, "?F=2").text
    assert '<tr><th>&nbsp;</th><th><a href="?C=N;O=D;F=2">' in body
    assert '<tr><td valign="top">&nbsp;</td><td><a href="a.txt">' in body


def test_add_description_and_widths(make_server: Any) -> None:
    long = "A description long enough to be cut somewhere"
    srv = start(make_server, "IndexOptions FancyIndexing\n"
                f'AddDescription "{long}" .txt\nAddDescription "Sub" sub\n'
                'AddDescription "The <b>page</b>" b.html',
                {"a.txt": "", "b.html": "", "sub/x": ""})
    body = get(srv).text
    assert long[:22] + ">\n" in body
    assert "  The <b>page</b>\n" in body
    assert "    -   Sub\n" in body
    srv2 = start(make_server, "IndexOptions FancyIndexing DescriptionWidth=*\n"
                 f'AddDescription "{long}" .txt', {"a.txt": ""})
    assert long + "\n" in get(srv2).text
    srv3 = start(make_server, "IndexOptions FancyIndexing DescriptionWidth=15 SuppressSize\n"
                 f'AddDescription "{long}" .txt', {"a.txt": ""})
    assert long[:14] + ">\n" in get(srv3).text
    srv4 = start(make_server, "IndexOptions FancyIndexing SuppressDescription\n"
                 f'AddDescription "{long}" .txt', {"a.txt": ""})
    body = get(srv4).text
    assert "A description" not in body and ">Description<" not in body


def test_scan_html_titles(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing ScanHTMLTitles\n"
                "AddDescription Given given.html",
                {"t.html": "<html><head><title>The\nTitle</title>", "given.html":
                 "<title>Not this</title>", "n.txt": "<title>not html</title>"})
    body = get(srv).text
    assert "  The Title\n" in body
    assert "  Given\n" in body and "Not this" not in body
    assert "not html" not in body


def test_name_width(make_server: Any) -> None:
    name = "a_rather_long_file_name_for_the_column.txt"
    srv = start(make_server, "IndexOptions FancyIndexing", {name: ""})
    assert ">a_rather_long_file_n..&gt;</a> " in get(srv).text
    srv2 = start(make_server, "IndexOptions FancyIndexing NameWidth=*", {name: ""})
    body = get(srv2).text
    assert f">{name}</a> " in body
    assert '<a href="?C=N;O=D">Name</a>' + " " * (len(name) - 4 + 1) + "<a" in body
    srv3 = start(make_server, "IndexOptions FancyIndexing NameWidth=10", {name: ""})
    assert ">a_rathe..&gt;</a> " in get(srv3).text


def test_icon_dimensions_links_and_xhtml(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing IconsAreLinks IconWidth "
                "IconHeight=10 XHTML\nDefaultIcon /icons/unknown.gif", {"a.txt": ""})
    body = get(srv).text
    assert body.startswith('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n')
    assert '<html xmlns="http://www.w3.org/1999/xhtml">' in body
    assert ('<a href="a.txt"><img src="/icons/unknown.gif" alt="[   ]" width="20" '
            'height="10" /></a> <a href="a.txt">a.txt</a>') in body
    assert "<hr />" in body


def test_suppress_options(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing SuppressIcon SuppressLastModified "
                "SuppressSize SuppressRules\nDefaultIcon /icons/unknown.gif", {"a.txt": "abc"})
    body = get(srv).text
    assert "<img" not in body and "<hr" not in body
    assert "Last modified" not in body and ">Size<" not in body
    assert '<a href="a.txt">a.txt</a>                   \n' in body


def test_folders_first_and_ignore_case(make_server: Any) -> None:
    files = {"b": "", "A": "", "c/x": "", "B/x": "", "a": ""}
    srv = start(make_server, "IndexOptions FancyIndexing FoldersFirst", files)
    assert names(get(srv).text) == ["B/", "c/", "A", "a", "b"]
    assert names(get(srv, "?O=D").text) == ["c/", "B/", "b", "a", "A"]
    srv2 = start(make_server, "IndexOptions FancyIndexing IgnoreCase", files)
    assert names(get(srv2).text) == ["A", "a", "b", "B/", "c/"]


def test_index_order_default(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing\nIndexOrderDefault Descending Size",
                SORT_FILES)
    body = get(srv).text
    assert names(body) == ["big", "middle", "Upper", "small", "dir/"]
    assert '<a href="?C=S;O=A">Size</a>' in body
    assert names(get(srv, "?C=N").text) == ["small", "middle", "dir/", "big", "Upper"]


def test_type_and_charset(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing Type=text/x-listing Charset=UTF-8",
                {"a": ""})
    assert get(srv).headers["Content-Type"] == "text/x-listing;charset=UTF-8"
    srv2 = start(make_server, "IndexOptions Charset=", {"a": ""})
    assert get(srv2).headers["Content-Type"] == "text/html"


def test_track_modified(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing TrackModified", {"a": ""})
    os.utime(srv.root / "htdocs" / srv.base.strip("/"), (T0, T0))
    r = get(srv)
    assert r.headers["Last-Modified"] == time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                       time.gmtime(T0))
    assert r.headers["ETag"].startswith('"')
    srv2 = start(make_server, "IndexOptions FancyIndexing", {"a": ""})
    r = get(srv2)
    assert "Last-Modified" not in r.headers and "ETag" not in r.headers


def test_style_sheet_and_head_insert(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing\nIndexStyleSheet /css/list.css\n"
                "IndexHeadInsert \"<meta name=\\\"robots\\\" content=\\\"noindex\\\">\"",
                {"a": ""})
    assert get(srv).text.startswith(
        DOCTYPE + f"<html>\n <head>\n  <title>Index of {srv.base[:-1]}</title>\n"
        '  <link rel="stylesheet" href="/css/list.css" type="text/css">\n'
        '<meta name="robots" content="noindex"> </head>\n <body>\n'
        f"<h1>Index of {srv.base[:-1]}</h1>\n")


# --- header and readme ---------------------------------------------------------------------
def test_header_and_readme_html(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing\nHeaderName HEADER.html\n"
                "ReadmeName README.html", {"HEADER.html": "<p>Hello &amp; welcome</p>\n",
                                           "README.html": "<p>Footer</p>\n", "a": ""},
                extra="ServerSignature On\n")
    body = get(srv).text
    assert body.startswith(DOCTYPE + f"<html>\n <head>\n  <title>Index of {srv.base[:-1]}</title>\n"
                           " </head>\n <body>\n<p>Hello &amp; welcome</p>\n<pre>")
    assert "<h1>" not in body
    assert body.endswith("<hr></pre>\n<p>Footer</p>\n</body></html>\n")
    assert "<address>" not in body
    r = get(srv)
    assert int(r.headers["Content-Length"]) == len(r.content)


def test_header_and_readme_plain_text(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing\nHeaderName HEADER.txt\n"
                "ReadmeName /notes/README.txt", {"HEADER.txt": "a < b & c > d\n", "a": ""})
    (srv.root / "htdocs" / "notes").mkdir()
    (srv.root / "htdocs" / "notes" / "README.txt").write_text("read <me>\n")
    body = get(srv).text
    assert "<body>\n<pre>\na &lt; b &amp; c &gt; d\n</pre>\n<pre>" in body
    assert body.endswith("<hr></pre>\n<pre>\nread &lt;me&gt;\n</pre>\n</body></html>\n")


def test_header_missing_falls_back(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing\nHeaderName NOPE.html\n"
                "ReadmeName NOPE", {"a": ""})
    body = get(srv).text
    assert f"<h1>Index of {srv.base[:-1]}</h1>" in body and body.endswith("</pre>\n</body></html>\n")


def test_header_found_with_query_string(make_server: Any) -> None:
    """emit_head looks the header up as "HEADER.html?<the listing's arguments>"."""
    srv = start(make_server, "IndexOptions FancyIndexing\nHeaderName HEADER.html",
                {"HEADER.html": "<p>hdr</p>\n", "a": ""})
    for q in ("?C=S", "?C=S;O=D&F=2", "?P=a*"):
        body = get(srv, q).text
        assert "<p>hdr</p>\n" in body and "<h1>" not in body


def test_suppress_html_preamble(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing SuppressHTMLPreamble\n"
                "HeaderName HEADER.html\nReadmeName README.html",
                {"HEADER.html": "<html><body>\n", "README.html": "bye</body></html>\n",
                 "a": ""})
    body = get(srv).text
    assert body.startswith("<html><body>\n<pre>")
    assert body.endswith("<hr></pre>\nbye</body></html>\n")
    srv2 = start(make_server, "IndexOptions FancyIndexing SuppressHTMLPreamble\n"
                 "HeaderName HEADER.html", {"a": ""})
    assert get(srv2).text.startswith(DOCTYPE)     # no header file: the usual preamble


# --- what is listed --------------------------------------------------------------------------
def test_index_ignore(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing\nIndexIgnore *.bak .??* README*\n"
                "IndexIgnore ..",
                {"a.bak": "", "b": "", ".hidden": "", "README.txt": "", ".x": ""})
    body = get(srv).text
    assert names(body) == [".x", "b"]
    assert "Parent Directory" not in body


def test_index_ignore_reset_and_inheritance(make_server: Any) -> None:
    srv = start(make_server, "IndexIgnore *.bak",
                {"a.bak": "", "s/b.bak": "", "s/c.tmp": "", "t/d.bak": ""},
                extra=section("IndexIgnoreReset on\nIndexIgnore *.tmp", path="@D@/s")
                + section("IndexIgnore *.tmp", path="@D@/t"))
    assert names(get(srv).text) == ["s/", "t/"]
    assert names(get(srv, "s/").text) == ["b.bak"]
    assert names(get(srv, "t/").text) == []


def test_default_config_ignores_and_protects(make_server: Any) -> None:
    """The bundled httpd.conf's autoindex block and <Files ".ht*">."""
    conf = (SRC / "featherd" / "data" / "httpd.conf").read_text()
    block = conf.split("<IfModule mod_autoindex.c>", 1)[1].split("</IfModule>", 1)[0]
    block = "\n".join(ln for ln in block.splitlines() if "Alias" not in ln)
    files_sec = '<Files ".ht*">\nOrder allow,deny\nDeny from all\n</Files>\n'
    srv = start(make_server, block,
                {".htaccess": "", "HEADER.html": "<p>head</p>", "README.html": "<p>me</p>",
                 "notes~": "", "x.txt": "", "y.gz": ""},
                extra=files_sec + "AddEncoding x-gzip .gz\n")
    body = get(srv).text
    assert names(body) == ["x.txt", "y.gz"]
    assert "<p>head</p>" in body and "<p>me</p>" in body
    assert '<img src="/icons/text.gif" alt="[TXT]"></td><td><a href="x.txt">' in body
    assert '<img src="/icons/compressed.gif" alt="[CMP]"></td><td><a href="y.gz">' in body


def test_forbidden_entries_are_omitted(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing",
                {"public.txt": "", "secret.txt": "", "priv/x": "", ".htpasswd": ""},
                extra=section('<Files "secret.txt">\nOrder allow,deny\nDeny from all\n'
                              "</Files>", path="@D@")
                + '<Directory "@ROOT@/htdocs@D@/priv">\nOrder allow,deny\nDeny from all\n'
                  "</Directory>\n"
                + '<Files ".ht*">\nOrder allow,deny\nDeny from all\n</Files>\n')
    os.symlink("public.txt", srv.root / "htdocs" / srv.base.strip("/") / "link.txt")
    assert names(get(srv).text) == ["public.txt"]
    assert get(srv, "secret.txt").status_code == 403
    srv2 = start(make_server, "IndexOptions FancyIndexing ShowForbidden",
                 {"public.txt": "", "secret.txt": ""},
                 extra='<Files "secret.txt">\nOrder allow,deny\nDeny from all\n</Files>\n')
    assert names(get(srv2).text) == ["public.txt", "secret.txt"]


def test_symlinks_followed_with_follow_symlinks(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing", {"public.txt": "abc"},
                options="Options Indexes FollowSymLinks")
    d = srv.root / "htdocs" / srv.base.strip("/")
    os.symlink("public.txt", d / "link.txt")
    os.symlink("nowhere", d / "dangling")
    assert names(get(srv).text) == ["link.txt", "public.txt"]


def test_special_names_are_escaped(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing",
                {"we<ird&na me.txt": "", "colon:x": "", "r\u00e9sum\u00e9": "", "q?#;%": ""})
    body = get(srv).content.decode("latin-1")
    assert '<a href="we%3cird&amp;na%20me.txt">we&lt;ird&amp;na me.txt</a>' in body
    assert '<a href="./colon:x">colon:x</a>' in body
    assert '<a href="r%c3%a9sum%c3%a9">r\xc3\xa9sum\xc3\xa9</a>' in body
    assert '<a href="q%3f%23%3b%25">q?#;%</a>' in body


# --- configuration ---------------------------------------------------------------------------
def test_htaccess_needs_allowoverride_indexes(make_server: Any) -> None:
    ht = 'IndexOptions +SuppressSize\nAddDescription "from .htaccess" a.txt\n'
    srv = start(make_server, "IndexOptions FancyIndexing\nIndexIgnore .ht*",
                {".htaccess": ht, "a.txt": "abc"}, override="AllowOverride Indexes")
    body = get(srv).text
    assert "  from .htaccess\n" in body and ">Size<" not in body
    srv2 = start(make_server, "IndexOptions FancyIndexing", {".htaccess": ht, "a.txt": "abc"},
                 override="AllowOverride FileInfo")
    r = get(srv2)
    assert r.status_code == 500
    assert "IndexOptions not allowed here" in srv2.error_log()


def test_subdirectory_increments(make_server: Any) -> None:
    srv = start(make_server, "IndexOptions FancyIndexing IconsAreLinks\n"
                "DefaultIcon /icons/u.gif", {"s/a": "x", "n/a": "x"},
                extra=section("IndexOptions +SuppressSize -IconsAreLinks", path="@D@/s")
                + section("IndexOptions None", path="@D@/n"))
    top = get(srv).text
    assert '<a href="s/"><img' in top and ">Size<" in top
    sub = get(srv, "s/").text
    assert '<a href="a"><img' not in sub and '<img src="/icons/u.gif"' in sub
    assert ">Size<" not in sub and "<pre>" in sub
    assert "<ul>" in get(srv, "n/").text


def test_config_errors(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    for line, msg in [
        ("FancyIndexing on", "The FancyIndexing directive is no longer supported. Use "
                             "IndexOptions FancyIndexing."),
        ("IndexOptions Fancy", "Invalid directory indexing option"),
        ("IndexOrderDefault Ascending Colour",
         "Second keyword must be 'Name', 'Date', 'Size', or 'Description'"),
        ("AddIcon /x.gif", "AddIcon requires at least two arguments, an icon URL followed "
                           "by one or more filenames"),
        ("IndexIgnoreReset maybe", "IndexIgnoreReset must be On or Off"),
    ]:
        conf = tmp_path / "t.conf"
        conf.write_text(f"ServerName x\n{line}\n")
        p = subprocess.run([sys.executable, "-m", "featherd", "-t", "-d", str(tmp_path),
                            "-f", str(conf)], capture_output=True, text=True, env=env)
        assert p.returncode != 0
        assert f"Syntax error on line 2 of {conf}:\n{msg}" in p.stderr + p.stdout


def test_large_directory_is_fast(make_server: Any) -> None:
    files: dict[str, str | bytes] = {f"f{i:05d}.txt": "" for i in range(3000)}
    files.update({f"dir{i}/x": "" for i in range(50)})
    srv = start(make_server, "IndexOptions FancyIndexing VersionSort HTMLTable\n"
                "AddIconByType (TXT,/icons/text.gif) text/*", files)
    get(srv)
    t = time.monotonic()
    r = get(srv, "?C=S;O=D")
    elapsed = time.monotonic() - t
    assert r.text.count("<tr><td") == 3051
    assert elapsed < 3.0
