"""The scoreboard's per-request writes (post_read_request: W and, with ExtendedStatus, the
client, vhost, request and start time; log_transaction: the counters, the stop time, then
K or C) read back as mod_status reads them."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from featherd.mpm import directives, scoreboard
from featherd.mpm.scoreboard import REQUEST_LEN, Scoreboard


def board(extended: bool, tail: bool = False) -> tuple[Scoreboard, int]:
    sb = Scoreboard(2, 3)
    row = sb.claim_row(1)
    sb.set_pid(row, 4242)
    sb.attach(row, extended, tail)
    return sb, row


def slot(sb: Scoreboard, row: int, t: int) -> Any:
    return [s for s in sb.slots() if s.proc == row and s.thread == t][0]


def fake_request(off: int, request: str = "GET /x HTTP/1.1", nbytes: int = 10,
                 keepalive: bool = True) -> Any:
    conn = SimpleNamespace(notes={"sb": off}, client_ip="10.1.2.3", keepalive=keepalive)
    r = SimpleNamespace(connection=conn, the_request=request, next=None, bytes_sent=nbytes,
                        server=SimpleNamespace(server_hostname="vh.example"))
    r.final = r
    return r


def test_basic_status_letters_only() -> None:
    sb, row = board(False)
    off = sb.open_slot("10.1.2.3")
    assert slot(sb, row, 0).status == "R"
    sb.request_started(off, "10.1.2.3", "vh", "GET / HTTP/1.1")
    s = slot(sb, row, 0)
    assert (s.status, s.request, s.client, s.access_count) == ("W", "", "", 0)
    sb.request_done(off, 100, True)
    s = slot(sb, row, 0)
    assert (s.status, s.access_count, s.bytes_served) == ("K", 0, 0)
    sb.request_done(off, 100, False)
    assert slot(sb, row, 0).status == "C"
    sb.close_slot(off)
    assert slot(sb, row, 0).status == "_"


def test_extended_fields_and_counters() -> None:
    sb, row = board(True)
    before = time.time()
    off = sb.open_slot("10.1.2.3")
    sb.request_started(off, "10.1.2.3", "vh.example", "GET /a HTTP/1.1")
    s = slot(sb, row, 0)
    assert (s.status, s.client, s.vhost, s.request) == (
        "W", "10.1.2.3", "vh.example", "GET /a HTTP/1.1")
    assert before <= s.start_time == s.last_used <= time.time()
    assert s.stop_time == 0.0
    started = s.start_time
    sb.request_done(off, 100, True)
    s = slot(sb, row, 0)
    assert (s.status, s.conn_count, s.access_count, s.my_access_count) == ("K", 1, 1, 1)
    assert (s.bytes_served, s.my_bytes_served, s.conn_bytes) == (100, 100, 100)
    assert s.start_time == started <= s.stop_time
    sb.request_started(off, "10.1.2.3", "vh.example", "GET /b HTTP/1.1")
    sb.request_done(off, 50, False)
    s = slot(sb, row, 0)
    assert (s.status, s.request, s.access_count, s.bytes_served, s.conn_bytes) == (
        "C", "GET /b HTTP/1.1", 2, 150, 150)
    assert s.start_time >= started and s.stop_time >= s.start_time
    # a new connection on the slot: per-connection counts start again, totals stay
    sb.close_slot(off)
    off2 = sb.open_slot("10.9.9.9")
    assert off2 == off
    s = slot(sb, row, 0)
    assert (s.client, s.request, s.conn_count, s.conn_bytes, s.access_count) == (
        "10.9.9.9", "", 0, 0, 2)


def test_long_request_lines_head_or_tail() -> None:
    long = "GET /" + "x" * 100 + "/end HTTP/1.1"
    sb, row = board(True)
    off = sb.open_slot("c")
    sb.request_started(off, "c", "v", long)
    assert slot(sb, row, 0).request == long[:REQUEST_LEN - 1]
    sb, row = board(True, tail=True)
    off = sb.open_slot("c")
    sb.request_started(off, "c", "v", long)
    assert slot(sb, row, 0).request == long[-(REQUEST_LEN - 1):]


def test_connection_without_slot_counts_in_process_row() -> None:
    sb, row = board(True)
    sb.request_done(-1, 70, True)
    sb.request_done(-1, 30, True)
    p = sb.procs()[row]
    assert (p.pid, p.extra_access, p.extra_bytes) == (4242, 2, 100)


@pytest.fixture()
def saved_board() -> Any:
    saved = scoreboard._BOARD[0]
    yield
    scoreboard._BOARD[0] = saved


@pytest.mark.parametrize("extended", [False, True])
def test_hooks(saved_board: Any, extended: bool) -> None:
    sb, row = board(extended)
    scoreboard._BOARD[0] = sb
    off = sb.open_slot("10.1.2.3")
    r = fake_request(off, nbytes=33)
    assert directives.scoreboard_request(r) == directives.DECLINED
    s = slot(sb, row, 0)
    assert s.status == "W"
    assert s.request == ("GET /x HTTP/1.1" if extended else "")
    assert s.vhost == ("vh.example" if extended else "")
    assert directives.scoreboard_done(r) == directives.DECLINED
    s = slot(sb, row, 0)
    assert (s.status, s.access_count, s.bytes_served) == (
        ("K", 1, 33) if extended else ("K", 0, 0))
    r2 = fake_request(off, keepalive=False)
    directives.scoreboard_done(r2)
    assert slot(sb, row, 0).status == "C"
    # a connection without a slot, and no scoreboard at all: nothing happens
    assert directives.scoreboard_request(fake_request(-1)) == directives.DECLINED
    assert directives.scoreboard_done(fake_request(-1)) == directives.DECLINED
    scoreboard._BOARD[0] = None
    assert directives.scoreboard_request(r) == directives.DECLINED
    assert directives.scoreboard_done(r) == directives.DECLINED
