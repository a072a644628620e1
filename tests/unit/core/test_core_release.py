"""A finished request leaves no reference cycles behind: its filters let go of it after
the log (release_request) and an SSI #if's evaluated expression tree is unlinked, so
the memory of a filtered response is freed at once, not by the cyclic collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from featherd_testlib import InProcessSite

PAGE = ('<!--#set var="x" value="y" --><!--#if expr="$x = y && $x != z" -->yes'
        '<!--#else -->no<!--#endif --> <!--#include virtual="/inc.html" -->'
        '<!--#flastmod file="p.shtml" -->\n')
CONF = """
<Directory @ROOT@/htdocs>
Options +Includes
</Directory>
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
AddOutputFilterByType DEFLATE text/html
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[InProcessSite]:
    s = InProcessSite(tmp_path, CONF, {"htdocs/p.shtml": PAGE, "htdocs/inc.html": "INC\n"})
    yield s
    s.close()


@pytest.mark.parametrize("extra", ["", "Accept-Encoding: gzip\r\n"])
def test_filtered_responses_leave_no_cycles(site: InProcessSite, extra: str) -> None:
    conn, tr = site.connect()
    req = f"GET /p.shtml HTTP/1.1\r\nHost: test.local\r\n{extra}\r\n".encode()
    site.feed(conn, req)                      # the first: imports, caches
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            site.feed(conn, req, 2)
        assert gc.collect() == 0
    finally:
        gc.enable()
    data = b"".join(tr.out)
    assert data.count(b"HTTP/1.1 200 OK") == 6
    if not extra:
        assert data.count(b"yes INC\n") == 6
    else:
        assert data.count(b"Content-Encoding: gzip") == 6
