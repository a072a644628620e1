"""mod_include's parse cache: a page parsed once is served from its parsed form (the
cache is keyed by the document's bytes), and any change on disk (content, size, mtime,
a new file under the name, a change within the same second) is seen on the next
request."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import requests

CONF = """\
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
<Directory "@ROOT@/htdocs">
    Options Includes
</Directory>
"""
OLD = time.time() - 3600


def _page(tmp_path: Path, name: str, text: str, mtime: float) -> Path:
    p = tmp_path / "htdocs" / name
    p.write_text(text)
    os.utime(p, (mtime, mtime))
    return p


def test_include_cache_sees_every_change(make_server: Any, tmp_path: Path) -> None:
    srv = make_server(CONF, files={"htdocs/inc.html": "INC"}, start=False)
    p = _page(tmp_path, "p.shtml", 'a<!--#set var="v" value="1" --><!--#echo var="v" -->'
                                   '<!--#include virtual="/inc.html" -->z', OLD)
    srv.start()
    url = srv.url("/p.shtml")
    for _ in range(3):                                   # parsed, then from the cache
        assert requests.get(url).text == "a1INCz"
    # same size, same mtime second, another nanosecond: a different version
    _page(tmp_path, "p.shtml", 'b<!--#set var="v" value="2" --><!--#echo var="v" -->'
                               '<!--#include virtual="/inc.html" -->z', OLD + 0.001)
    assert requests.get(url).text == "b2INCz"
    # the same mtime as a cached version but another size
    _page(tmp_path, "p.shtml", 'a<!--#echo var="DOCUMENT_NAME" -->', OLD)
    assert requests.get(url).text == "ap.shtml"
    # a new file under the name (another inode), with the first version's text and mtime
    p.unlink()
    _page(tmp_path, "p.shtml", 'a<!--#set var="v" value="3" --><!--#echo var="v" -->'
                               '<!--#include virtual="/inc.html" -->z', OLD)
    assert requests.get(url).text == "a3INCz"
    # an included file is looked up and read every time
    _page(tmp_path, "inc.html", "NEW", OLD)
    assert requests.get(url).text == "a3NEWz"
    # changed twice within a second, with the same size: each version is seen
    _page(tmp_path, "p.shtml", "x<!--#echo var=\"DOCUMENT_URI\" -->", time.time())
    for _ in range(2):
        assert requests.get(url).text == "x/p.shtml"
    p.write_text("y<!--#echo var=\"DOCUMENT_URI\" -->")
    assert requests.get(url).text == "y/p.shtml"


def test_include_cache_keeps_per_request_state(make_server: Any, tmp_path: Path) -> None:
    """Cached events are shared: conditions, variables and errors are still per request,
    and two start/end tag configurations never share a parse."""
    srv = make_server(CONF, start=False)
    _page(tmp_path, "q.shtml",
          '<!--#if expr="$QUERY_STRING = /^(a+)$/" -->A<!--#echo var="1" -->'
          '<!--#elif expr="$QUERY_STRING = b" -->B<!--#else -->C<!--#endif -->'
          '<!--#bogus -->|<!--#if expr="(" -->', OLD)
    srv.start()
    err = "[an error occurred while processing this directive]"
    for _ in range(2):
        assert requests.get(srv.url("/q.shtml?aa")).text == f"Aaa{err}|{err}"
        assert requests.get(srv.url("/q.shtml?b")).text == f"B{err}|{err}"
        assert requests.get(srv.url("/q.shtml?c")).text == f"C{err}|{err}"
    assert 'unknown directive "bogus"' in srv.error_log()
