"""mod_expires end to end (manual: mod_expires): ExpiresActive, ExpiresByType,
ExpiresDefault in both syntaxes, Expires and Cache-Control: max-age, the modification
base for files only, a script's own Expires kept, errors left alone, .htaccess."""

from __future__ import annotations

import os
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests

PY = sys.executable


def start(make_server: Any, tmp_path: Path, conf: str,
          files: dict[str, str] | None = None, scripts: dict[str, str] | None = None) -> Any:
    fs = {"htdocs/a.html": "<p>a</p>\n", "htdocs/b.gif": "GIF89a", "htdocs/c.txt": "c\n",
          "htdocs/d.png": "png"}
    fs.update(files or {})
    srv = make_server('ScriptAlias /cgi-bin/ "@ROOT@/htdocs/cgi-bin/"\n' + conf, files=fs,
                      start=False)
    for rel, text in (scripts or {}).items():
        p = tmp_path / "htdocs" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(0o755)
    return srv.start()


def get(srv: Any, path: str, **kw: Any) -> requests.Response:
    return requests.get(srv.url(path), allow_redirects=False, timeout=10, **kw)


def expires_in(r: requests.Response) -> float:
    """Seconds from the response's Date to its Expires."""
    exp = parsedate_to_datetime(r.headers["Expires"]).timestamp()
    return exp - parsedate_to_datetime(r.headers["Date"]).timestamp()


def test_by_type_and_default_both_syntaxes(make_server: Any, tmp_path: Path) -> None:
    conf = """
ExpiresActive On
ExpiresByType image/gif A2592000
ExpiresByType text/html "access plus 1 month 1 hour"
ExpiresByType image/* "now plus 2 days"
ExpiresDefault "access plus 1 week"
"""
    srv = start(make_server, tmp_path, conf)
    r = get(srv, "/b.gif")
    assert r.headers["Cache-Control"] == "max-age=2592000"
    assert abs(expires_in(r) - 2592000) <= 1
    r = get(srv, "/a.html")
    assert r.headers["Cache-Control"] == f"max-age={30 * 86400 + 3600}"
    assert abs(expires_in(r) - (30 * 86400 + 3600)) <= 1
    assert get(srv, "/d.png").headers["Cache-Control"] == "max-age=172800"   # image/*
    assert get(srv, "/c.txt").headers["Cache-Control"] == "max-age=604800"   # default


def test_active_off_and_merging(make_server: Any, tmp_path: Path) -> None:
    conf = """
ExpiresDefault A60
<Location /a.html>
  ExpiresActive On
</Location>
<Location /c.txt>
  ExpiresActive On
  ExpiresDefault A120
</Location>
<Location /b.gif>
  ExpiresActive Off
</Location>
"""
    srv = start(make_server, tmp_path, conf)
    assert "Expires" not in get(srv, "/d.png").headers              # not active
    assert get(srv, "/a.html").headers["Cache-Control"] == "max-age=60"
    assert get(srv, "/c.txt").headers["Cache-Control"] == "max-age=120"
    assert "Expires" not in get(srv, "/b.gif").headers


def test_modification_base(make_server: Any, tmp_path: Path) -> None:
    script = f"""#!{PY}
print("Content-Type: text/plain")
print()
print("generated")
"""
    conf = """
ExpiresActive On
ExpiresDefault "modification plus 2 hours"
<Location /st>
  SetHandler server-status
</Location>
"""
    srv = start(make_server, tmp_path, conf, scripts={"cgi-bin/gen.py": script})
    p = tmp_path / "htdocs" / "c.txt"
    mtime = time.time() - 3600
    os.utime(p, (mtime, mtime))
    r = get(srv, "/c.txt")
    exp = parsedate_to_datetime(r.headers["Expires"]).timestamp()
    assert abs(exp - (int(mtime) + 7200)) <= 1
    assert 3590 <= int(r.headers["Cache-Control"].split("=")[1]) <= 3600
    old = time.time() - 86400
    os.utime(p, (old, old))
    r = get(srv, "/c.txt")                      # already expired: now, max-age=0
    assert r.headers["Cache-Control"] == "max-age=0"
    assert r.headers["Expires"] == r.headers["Date"]
    r = get(srv, "/st")                         # not a file on disk: nothing
    assert r.status_code == 200 and "Expires" not in r.headers
    r = get(srv, "/cgi-bin/gen.py")             # a script is a file: its mtime counts
    assert r.status_code == 200 and "Expires" in r.headers


def test_existing_headers(make_server: Any, tmp_path: Path) -> None:
    own = f"""#!{PY}
print("Content-Type: text/html")
print("Expires: Thu, 01 Jan 2037 00:00:00 GMT")
print()
print("x")
"""
    conf = """
ExpiresActive On
ExpiresDefault A300
Header set Cache-Control public
"""
    srv = start(make_server, tmp_path, conf, scripts={"cgi-bin/own.py": own})
    r = get(srv, "/cgi-bin/own.py")
    assert r.headers["Expires"] == "Thu, 01 Jan 2037 00:00:00 GMT"
    assert "max-age" not in r.headers.get("Cache-Control", "")
    # Header runs after mod_expires (just before the head goes out): set replaces
    assert get(srv, "/a.html").headers["Cache-Control"] == "public"
    srv2 = start(make_server, tmp_path, "ExpiresActive On\nExpiresDefault A300\n"
                                        "<Location /a.html>\nHeader set Cache-Control "
                                        "private early\n</Location>\n")
    assert get(srv2, "/a.html").headers["Cache-Control"] == "max-age=300"


def test_errors_and_304(make_server: Any, tmp_path: Path) -> None:
    srv = start(make_server, tmp_path, "ExpiresActive On\nExpiresDefault A300\n")
    r = get(srv, "/missing")
    assert r.status_code == 404 and "Expires" not in r.headers
    ok = get(srv, "/a.html")
    r = get(srv, "/a.html", headers={"If-None-Match": ok.headers["ETag"]})
    assert r.status_code == 304


def test_htaccess_indexes_override(make_server: Any, tmp_path: Path) -> None:
    conf = """
<Directory "@ROOT@/htdocs/idx">
  AllowOverride Indexes
</Directory>
<Directory "@ROOT@/htdocs/none">
  AllowOverride FileInfo
</Directory>
"""
    ht = "ExpiresActive On\nExpiresByType text/plain \"access plus 10 minutes\"\n"
    srv = start(make_server, tmp_path, conf,
                files={"htdocs/idx/.htaccess": ht, "htdocs/idx/f.txt": "f\n",
                       "htdocs/none/.htaccess": ht, "htdocs/none/f.txt": "f\n"})
    assert get(srv, "/idx/f.txt").headers["Cache-Control"] == "max-age=600"
    r = get(srv, "/none/f.txt")
    assert r.status_code == 500
    assert "ExpiresActive not allowed here" in srv.error_log()
