"""Modules left off the request path at start-up (nothing in httpd.conf uses them) act at
once when a directive of theirs first turns up in an .htaccess file."""

from __future__ import annotations

import requests


def test_htaccess_directives_of_unused_modules_act(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(
        "<Directory @ROOT@/htdocs>\nAllowOverride All\n</Directory>\n",
        files={"htdocs/plain/a.txt": "a\n",
               "htdocs/h/.htaccess": "Header set X-From-Htaccess yes\n"
                                     "SetEnvIf User-Agent probe IS_PROBE=1\n"
                                     "Header set X-Probe %{IS_PROBE}e env=IS_PROBE\n",
               "htdocs/h/b.txt": "b\n",
               "htdocs/s/.htaccess": "CheckSpelling On\n",
               "htdocs/s/document.txt": "doc\n",
               "htdocs/e/.htaccess": "ExpiresActive On\nExpiresDefault \"access plus 1 hour\"\n",
               "htdocs/e/c.txt": "c\n"})
    r = requests.get(srv.url("/plain/a.txt"), timeout=5)
    assert r.status_code == 200 and "X-From-Htaccess" not in r.headers
    r = requests.get(srv.url("/h/b.txt"), headers={"User-Agent": "probe/1"}, timeout=5)
    assert r.headers.get("X-From-Htaccess") == "yes"
    assert r.headers.get("X-Probe") == "1"
    # mod_speling: a misspelling is corrected (301) by the first request that reads it
    r = requests.get(srv.url("/s/documnet.txt"), allow_redirects=False, timeout=5)
    assert r.status_code == 301 and r.headers["Location"].endswith("/s/document.txt")
    r = requests.get(srv.url("/e/c.txt"), timeout=5)
    assert "max-age=3600" in r.headers.get("Cache-Control", "")
