"""featherd's directory listings against Debian's apache2 (the oracle), byte for byte.

One apache2 and one featherd serve the same tree; every case is a directory with its own
<Directory> section and the same files. The known 2.2/2.4 differences are normalized on
Apache's side (2.2 is the reference): the HTML 4.01 DOCTYPE (2.2: 3.2), the indented
<table> head and "[PARENTDIR]" alt text of 2.4, and 2.4's ISO dates (we ask for
UseOldDateFormat). With IndexStyleSheet, 2.4's table trades its attributes for CSS
classes; only the <pre> form is compared there. The <address> line (server banner, host, port) is blanked on both.
Skipped when apache2 is not installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests
from featherd_testlib import SRC, Server, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
from compat_harness import (  # noqa: E402
    APACHE,
    apache_available,
    apache_load_modules,
    apache_server,
)

APACHE_MODULES = ("mpm_prefork", "authz_core", "autoindex", "mime", "dir")
pytestmark = pytest.mark.skipif(apache_available(APACHE_MODULES) is not None,
                                reason=f"apache2 comparison: {apache_available(APACHE_MODULES)}")

T0 = 1795000000   # 2026-11-18, a fixed base for modification times
MIME = f"{SRC}/featherd/data/mime.types"


def make_tree(d: Path, extra: dict[str, str | bytes] | None = None) -> None:
    """The files every case lists, with fixed sizes and times."""
    d.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes | int] = {
        "a.txt": "hi\n",
        "b.bin": b"\x01" * 1500,
        "big.dat": 2_000_000,
        "page.html": "<html><head><TITLE>\nMy &amp; Title</title></head></html>\n",
        "other.html": "<html><head><title>Another page with a rather long title indeed"
                      "</title></head></html>\n",
        "this_is_a_very_long_file_name_indeed.txt": "",
        "we<ird&na me.txt": "x" * 10,
        "colon:file": "c",
        "Zeta": "z" * 2000,
        "alpha": "a" * 973,
        "file1.10": "", "file1.9": "", "file1.09": "", "file01": "",
        "archive.tar.gz": b"\x1f\x8b" + b"\0" * 5000,
        "résumé.txt": "r",
        ".hidden": "h",
        "back~": "b",
    }
    files.update(extra or {})
    for i, (name, content) in enumerate(sorted(files.items())):
        p = d / name
        if isinstance(content, int):
            with open(p, "wb") as f:
                f.truncate(content)
        elif isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        os.utime(p, (T0 + i * 3671, T0 + i * 3671))
    for i, sub in enumerate(("sub", "Beta", "zed")):
        (d / sub).mkdir(exist_ok=True)
        (d / sub / "inner.txt").write_text("in")
        os.utime(d / sub, (T0 + 100000 + i * 60, T0 + 100000 + i * 60))
    if not (d / "link.txt").exists():
        os.symlink("a.txt", d / "link.txt")
    os.utime(d, (T0, T0))


# (case directory, directives of its <Directory>, queries, extra files)
CASES: list[tuple[str, str, list[str], dict[str, str | bytes]]] = [
    ("plain", "", ["", "C=N;O=D", "F=1", "F=2", "sub/", "zed/?F=2"], {}),
    ("fancy", "IndexOptions FancyIndexing",
     ["", "C=M;O=A", "C=M;O=D", "C=S;O=A", "C=S;O=D", "C=D;O=A", "C=N;O=D", "F=0", "F=2",
      "V=1", "P=*.txt", "P=a*&C=S", "C=X", "O=D;C=S;F=2;V=1;P=*a*", "P=%2a.txt", "P=%zz",
      "C=S&O=D", "P=", "P=.*", "P=[a-f]*", "F=1;C=M;O=D;P=*.txt;V=0", "C=N;O=A;X=1;C=S"],
     {}),
    ("table", "IndexOptions FancyIndexing HTMLTable",
     ["", "C=S;O=D", "F=1", "F=0"], {}),
    ("tableonly", "IndexOptions HTMLTable", ["", "F=1"], {}),
    ("suppress", "IndexOptions FancyIndexing SuppressIcon SuppressLastModified SuppressSize "
                 "SuppressDescription SuppressRules SuppressColumnSorting",
     ["", "F=2"], {}),
    ("suppress2", "IndexOptions FancyIndexing SuppressIcon SuppressRules\n"
                  "AddDescription \"A description that is quite long indeed, longer than "
                  "the column\" *.txt",
     ["", "F=2"], {}),
    ("xhtml", "IndexOptions FancyIndexing XHTML IconsAreLinks IconWidth IconHeight",
     ["", "F=2", "F=0"], {}),
    ("icondims", "IndexOptions FancyIndexing IconWidth=16 IconHeight=14 HTMLTable",
     [""], {}),
    ("widthstar", "IndexOptions FancyIndexing NameWidth=* DescriptionWidth=*\n"
                  "AddDescription \"A description that is quite long indeed, longer than "
                  "the column\" *.txt",
     ["", "F=2"], {}),
    ("widthn", "IndexOptions FancyIndexing NameWidth=10 DescriptionWidth=15\n"
               "AddDescription \"<b>Bold</b> text &amp; an entity, and more words\" *.bin\n"
               "AddDescription \"Plain words for a text file\" .txt",
     ["", "F=2", "C=D", "C=D;O=D"], {}),
    ("desc", "IndexOptions FancyIndexing\n"
             "AddDescription \"Text file\" .txt\n"
             "AddDescription \"A directory\" sub\n"
             "AddDescription \"Wild one\" Z*\n"
             "AddDescription \"The page\" page.html\n"
             "AddDescription \"Nested\" sub/inner.txt",
     ["", "C=D;O=A", "C=D;O=D", "F=2"], {}),
    ("scan", "IndexOptions FancyIndexing ScanHTMLTitles\n"
             "AddDescription \"Described\" other.html",
     ["", "F=2", "C=D"], {}),
    ("sorting", "IndexOptions FancyIndexing FoldersFirst IgnoreCase VersionSort",
     ["", "O=D", "C=S", "V=0", "C=M;O=D", "F=2", "P=z*"], {}),
    ("versionsort", "IndexOptions FancyIndexing VersionSort",
     ["", "O=D"], {}),
    ("order", "IndexOptions FancyIndexing\nIndexOrderDefault Descending Size",
     ["", "C=N", "O=A"], {}),
    ("order2", "IndexOptions FancyIndexing\nIndexOrderDefault Ascending Date", [""], {}),
    ("ignore", "IndexOptions FancyIndexing\nIndexIgnore *.bin .. sub *~ .??*\n"
               "IndexIgnore colon*", ["", "F=0"], {}),
    ("ignoreclient", "IndexOptions FancyIndexing IgnoreClient", ["", "C=S;O=D", "F=0"], {}),
    ("nosort", "IndexOptions FancyIndexing SuppressColumnSorting", ["", "C=S;O=D"], {}),
    ("hdrhtml", "IndexOptions FancyIndexing\nHeaderName HEADER.html\nReadmeName README.html",
     ["", "C=S"], {"HEADER.html": "<p>Welcome &amp; hello</p>\n",
                   "README.html": "<p>The end</p>\n"}),
    ("hdrtxt", "IndexOptions FancyIndexing\nHeaderName HEADER.txt\nReadmeName README",
     ["", "F=2"], {"HEADER.txt": "Plain <header> & text\n",
                   "README": "Readme: a < b > c & d\n"}),
    ("hdrmissing", "IndexOptions FancyIndexing\nHeaderName NOPE.html\nReadmeName NOPE.txt",
     [""], {}),
    ("preamble", "IndexOptions FancyIndexing SuppressHTMLPreamble\nHeaderName HEADER.html\n"
                 "ReadmeName README.html",
     [""], {"HEADER.html": "<html><head><title>Mine</title></head><body>\n",
            "README.html": "<p>bye</p></body></html>\n"}),
    ("preamble2", "IndexOptions FancyIndexing SuppressHTMLPreamble\nHeaderName HEADER.txt",
     [""], {"HEADER.txt": "text header\n"}),
    ("style", "IndexOptions FancyIndexing\nIndexStyleSheet /css/x.css\n"
              "IndexHeadInsert \"<meta name=\\\"robots\\\" content=\\\"noindex\\\">\"",
     [""], {}),
    ("stylex", "IndexOptions FancyIndexing XHTML\nIndexStyleSheet \"/css/a b.css\"", [""], {}),
    ("typeset", "IndexOptions FancyIndexing Type=text/plain Charset=UTF-8", [""], {}),
    ("alts", "IndexOptions FancyIndexing\n"
             "AddAlt \"Text file\" *.txt\n"
             "AddAltByType \"html doc\" text/html\n"
             "AddIcon (BIN,/icons/binary.gif) .bin\n"
             "AddIconByType (IMG,/icons/image2.gif) image/*\n"
             "AddIconByEncoding (CMP,/icons/compressed.gif) x-gzip\n"
             "AddAltByEncoding \"gzipped\" x-gzip\n"
             "AddIcon /icons/dir.gif **DIRECTORY**\n"
             "AddAlt \"a folder\" ^^DIRECTORY^^\n"
             "AddIcon /icons/up.gif ..\n"
             "AddAlt \"up one\" ..\n"
             "DefaultIcon /icons/generic.gif",
     ["", "F=2"], {"pic.png": b"\x89PNG"}),
    ("incr", "IndexOptions FancyIndexing IconsAreLinks", ["", "sub/"], {}),
    ("lost", "IndexOptions FancyIndexing +SuppressSize", [""], {}),
    ("none", "IndexOptions FancyIndexing", ["none/"], {}),
    ("follow", "Options Indexes FollowSymLinks\nIndexOptions FancyIndexing", [""], {}),
    ("htaccess", "AllowOverride Indexes\nIndexIgnore .ht*",
     [""], {".htaccess": "IndexOptions FancyIndexing +SuppressSize\n"
                         "AddDescription \"from htaccess\" a.txt\n"}),
]

# sub-sections of some cases
SUBSECTIONS = {
    "incr": ("sub", "IndexOptions +SuppressSize -IconsAreLinks +FoldersFirst"),
    "none": ("none", "IndexOptions None"),
}

COMMON_ICONS = """\
AddIconByType (TXT,/icons/text.gif) text/*
AddIcon /icons/back.gif ..
AddIcon /icons/folder.gif ^^DIRECTORY^^
AddIcon /icons/blank.gif ^^BLANKICON^^
DefaultIcon /icons/unknown.gif
"""


def _apache_directives(body: str) -> str:
    """Ask 2.4 for 2.2's dates without changing how the options merge."""
    out = []
    for line in body.splitlines():
        if line.startswith("IndexOptions") and "None" not in line:
            words = line.split()[1:]
            if any(w[:1] not in "+-" for w in words):
                line = "IndexOptions UseOldDateFormat " + " ".join(words)
            else:
                line += " +UseOldDateFormat"
        out.append(line)
    return "\n".join(out)


def _sections(root: Path, apache: bool) -> str:
    parts = []
    for name, body, _q, _x in CASES:
        b = _apache_directives(body) if apache else body
        opts = "" if "Options" in body.split("IndexOptions")[0] else "Options Indexes\n"
        parts.append(f'<Directory "{root}/htdocs/{name}">\n{opts}{b}\n</Directory>\n')
        if name in SUBSECTIONS:
            sub, sbody = SUBSECTIONS[name]
            sb = _apache_directives(sbody) if apache else sbody
            parts.append(f'<Directory "{root}/htdocs/{name}/{sub}">\n{sb}\n</Directory>\n')
    return "".join(parts)


def _apache_body(root: Path) -> str:
    """apache2's configuration after compat_harness.apache_server's Listen, LoadModule,
    Mutex, PidFile and ErrorLog lines."""
    return (f"ServerName test.local\n"
            f"DocumentRoot {root}/htdocs\nServerSignature On\nTypesConfig {MIME}\n"
            "AddEncoding x-gzip .gz\n"
            "<Directory />\nAllowOverride None\n</Directory>\n"
            "IndexOptions +UseOldDateFormat\n"
            f"{COMMON_ICONS}{_sections(root, True)}")


def _featherd_conf(root: Path, port: int) -> str:
    return (f"Listen 127.0.0.1:{port}\nServerName test.local\nDocumentRoot {root}/htdocs\n"
            "ErrorLog logs/error_log\nLogLevel info\nPidFile logs/httpd.pid\n"
            f"ServerSignature On\nTypesConfig {MIME}\nAddEncoding x-gzip .gz\n"
            "<Directory />\nAllowOverride None\n</Directory>\n"
            f"{COMMON_ICONS}{_sections(root, False)}")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("aicmp")
    (root / "logs").mkdir()
    for name, _b, _q, extra in CASES:
        make_tree(root / "htdocs" / name, extra)
    make_tree(root / "htdocs" / "none" / "none")
    apache = apache_server(root / "apache2", APACHE_MODULES, _apache_body(root))
    apache.start()
    port = free_port()
    fd = Server(root, _featherd_conf(root, port), port)
    try:
        fd.start()
    except Exception:
        apache.stop()
        raise
    yield (f"http://127.0.0.1:{apache.port}", fd.url(""))
    fd.stop()
    apache.stop()


_A24_DOCTYPE = ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" '
                '"http://www.w3.org/TR/html4/strict.dtd">\n')
_DOCTYPE_32 = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'


def normalize_apache24(body: str) -> str:
    """Apache 2.4's listing in 2.2's form (see the module docstring)."""
    body = body.replace(_A24_DOCTYPE, _DOCTYPE_32)
    body = body.replace('alt="[PARENTDIR]"', 'alt="[DIR]"')
    body = body.replace("  <table>\n   <tr>", "<table><tr>")
    body = body.replace('<tr><th valign="top">', "<tr><th>")
    body = body.replace("</th></tr>\n   <tr><th colspan=", "</th></tr><tr><th colspan=")
    body = body.replace("   <tr><th colspan=", "<tr><th colspan=")
    # SuppressRules: no break row after the head row, and no newline either in 2.2
    body = re.sub(r"(<table><tr>(?:(?!</tr>)[^\n])*</th></tr>)\n(<tr><td)", r"\1\2", body,
                  count=1)
    body = body.replace('  <h1 id="indextitle">', "<h1>")            # IndexStyleSheet
    return body


def normalize(body: str) -> str:
    return re.sub(r"<address>.*?</address>\n", "<address/>\n", body)


PARAMS = [(name, q) for name, _b, qs, _x in CASES for q in qs]


@pytest.mark.parametrize(("case", "query"), PARAMS,
                         ids=[f"{c}-{q or 'default'}" for c, q in PARAMS])
def test_listing_matches_apache(servers: tuple[str, str], case: str, query: str) -> None:
    a_base, f_base = servers
    path = f"/{case}/"
    sub, sep, rest = query.partition("?")
    if sub.endswith("/"):                     # "sub/" or "sub/?F=2": a subdirectory
        path, query = f"/{case}/{sub}", rest
    url = path + (f"?{query}" if query else "")
    ident = {"Accept-Encoding": "identity"}     # featherd has mod_negotiation built in
    ra = requests.get(a_base + url, headers=ident, timeout=10)
    rf = requests.get(f_base + url, headers=ident, timeout=10)
    assert rf.status_code == ra.status_code == 200
    assert rf.headers["Content-Type"] == ra.headers["Content-Type"]
    expected = normalize(normalize_apache24(ra.content.decode("latin-1")))
    got = normalize(rf.content.decode("latin-1"))
    assert got == expected


def test_head_and_forbidden_match_apache(servers: tuple[str, str]) -> None:
    a_base, f_base = servers
    ra = requests.head(a_base + "/fancy/", timeout=10)
    rf = requests.head(f_base + "/fancy/", timeout=10)
    assert rf.status_code == ra.status_code == 200
    assert rf.content == ra.content == b""
    assert rf.headers["Content-Type"] == ra.headers["Content-Type"]


def test_fancyindexing_directive_is_refused_like_apache(tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text(apache_load_modules(["mpm_prefork", "autoindex"]) + textwrap.dedent("""\
        ServerName test.local
        FancyIndexing on
        """))
    a = subprocess.run([APACHE, "-t", "-f", str(conf)], capture_output=True, text=True)
    fconf = tmp_path / "f.conf"
    fconf.write_text("ServerName test.local\nFancyIndexing on\n")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    f = subprocess.run([sys.executable, "-m", "featherd", "-t", "-d", str(tmp_path), "-f",
                        str(fconf)], capture_output=True, text=True, env=env)
    msg = ("The FancyIndexing directive is no longer supported. Use IndexOptions "
           "FancyIndexing.")
    assert a.returncode != 0 and f.returncode != 0
    assert msg in a.stderr + a.stdout
    assert msg in f.stderr + f.stdout
    assert "Syntax error on line 2 of" in f.stderr + f.stdout
