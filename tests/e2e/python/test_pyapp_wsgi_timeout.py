"""WSGIRequestTimeout end to end: a stuck WSGI application gets a 504 (or its connection
dropped once the response has begun) with an error-log line, its thread is abandoned and
the worker keeps serving, with fresh threads, even when every pool thread is stuck."""

from __future__ import annotations

import threading
import time

import pytest
import requests

APP = r'''
import time

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stuck":
        time.sleep(4)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"too late"]
    if path == "/stuck-body":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            yield b"first part\n"
            time.sleep(4)
            yield b"never\n"
        return gen()
    if path == "/slowish":
        time.sleep(0.2)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fast " + path.encode()]
'''


@pytest.fixture
def srv(make_server):
    return make_server("""
        WSGIThreads 2
        WSGIRequestTimeout 0.6
        WSGIScriptAlias /app @ROOT@/apps/app.py
        """, files={"apps/app.py": APP})


def test_stuck_application_gets_504_and_worker_stays_healthy(srv):
    t0 = time.monotonic()
    r = requests.get(srv.url("/app/stuck"), timeout=10)
    took = time.monotonic() - t0
    assert r.status_code == 504
    assert took < 3, took
    assert "504 Gateway Time-out" in r.text
    # three more stuck requests at once: more than WSGIThreads, all time out
    codes: list[int] = []

    def one() -> None:
        codes.append(requests.get(srv.url("/app/stuck"), timeout=10).status_code)

    ts = [threading.Thread(target=one) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert codes == [504, 504, 504]
    # every pool thread is stuck, yet fast requests are served by new ones
    for i in range(5):
        r = requests.get(srv.url(f"/app/ok{i}"), timeout=5)
        assert (r.status_code, r.text) == (200, f"fast /ok{i}")
    # under the limit: fine
    assert requests.get(srv.url("/app/slowish"), timeout=5).status_code == 200
    deadline = time.monotonic() + 5
    while srv.error_log().count("its thread is abandoned") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    err = srv.error_log()
    assert err.count("did not complete its response within WSGIRequestTimeout (0.6 "
                     "seconds); its thread is abandoned") == 4
    assert "/apps/app.py' did not complete" in err
    deadline = time.monotonic() + 5
    while srv.access_log().count(" 200 ") < 6 and time.monotonic() < deadline:
        time.sleep(0.1)          # the access log is written in batches
    assert srv.access_log().count('"GET /app/stuck HTTP/1.1" 504') == 4


def test_stuck_after_the_head_drops_the_connection(srv):
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        assert requests.get(srv.url("/app/stuck-body"), timeout=10).content is None
    assert requests.get(srv.url("/app/after"), timeout=5).text == "fast /after"
    assert "WSGIRequestTimeout" in srv.error_log()


def test_zero_means_no_limit(make_server):
    srv = make_server("""
        WSGIRequestTimeout 0
        WSGIScriptAlias /app @ROOT@/apps/app.py
        """, files={"apps/app.py": APP.replace("time.sleep(4)", "time.sleep(1)")})
    r = requests.get(srv.url("/app/stuck"), timeout=10)
    assert (r.status_code, r.text) == (200, "too late")


def test_bad_value_is_a_config_error(make_server):
    with pytest.raises(RuntimeError) as ei:
        make_server("WSGIRequestTimeout soon\n")
    assert "WSGIRequestTimeout must be a number of seconds" in str(ei.value)
