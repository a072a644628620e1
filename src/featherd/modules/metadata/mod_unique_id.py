"""mod_unique_id: a unique identifier for each request in ``UNIQUE_ID`` (Apache 2.2's
mod_unique_id.c).

The identifier is 24 characters of Apache's alphabet (``A-Z a-z 0-9 @ -``) encoding 18
bytes in network byte order, as 2.2 builds them: the request time in seconds (32 bits),
the IPv4 address of the server's host name (32), the process id (32), a per-process
counter started at a random value (16) and the connection id (32). An internal redirect
keeps the identifier of the original request (``REDIRECT_UNIQUE_ID``). Loggers read it as
``%{UNIQUE_ID}e``; mod_log_forensic uses it as the forensic id.
"""

from __future__ import annotations

import os
import random
import socket
import struct
from typing import Any

from featherd.core.hooks import DECLINED, MIDDLE, OK, REALLY_FIRST
from featherd.core.module import Module

unique_id = Module("unique_id_module", "mod_unique_id.c",
                   description="Provides an environment variable with a unique identifier "
                               "for each request")

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@-"
_REC = struct.Struct("!IIIHI")       # stamp, in_addr, pid, counter, thread_index
_state = {"addr": 0, "pid": 0, "counter": 0}


def encode(raw: bytes) -> str:
    """uuencoder over 3-byte groups (18 bytes give 24 characters, no padding)."""
    out = []
    for i in range(0, len(raw), 3):
        a, b, c = raw[i], raw[i + 1], raw[i + 2]
        out.append(ALPHABET[a >> 2])
        out.append(ALPHABET[((a & 0x03) << 4) | (b >> 4)])
        out.append(ALPHABET[((b & 0x0F) << 2) | (c >> 6)])
        out.append(ALPHABET[c & 0x3F])
    return "".join(out)


def decode(uid: str) -> tuple[int, str, int, int, int]:
    """The fields of an identifier: (stamp, address, pid, counter, connection id)."""
    bits = [ALPHABET.index(ch) for ch in uid]
    raw = bytearray()
    for i in range(0, len(bits), 4):
        a, b, c, d = bits[i:i + 4]
        raw += bytes([(a << 2) | (b >> 4), ((b & 0x0F) << 4) | (c >> 2), ((c & 0x03) << 6) | d])
    stamp, addr, pid, counter, conn = _REC.unpack(bytes(raw))
    return stamp, socket.inet_ntoa(struct.pack("!I", addr)), pid, counter, conn


def host_address() -> int:
    """unique_id_global_init: the IPv4 address of this host's name (127.0.0.1 if none)."""
    try:
        ip = socket.gethostbyname(socket.gethostname())
    except OSError:
        ip = "127.0.0.1"
    return struct.unpack("!I", socket.inet_aton(ip))[0]


@unique_id.hook("post_config")
def global_init(tree: Any) -> int:
    _state["addr"] = host_address()
    # Built in like every featherd module, but it costs every request something, so it
    # works as in Apache only where the configuration asks for it: LoadModule
    # unique_id_module (mod_log_forensic asks for an id itself when it needs one).
    tree.extra["unique_id_active"] = "unique_id_module" in tree.extra.get("load_module_names", ())
    return OK


@unique_id.hook("child_init")
def child_init(tree: Any, loop: Any = None) -> None:
    """A new process: its pid, and a counter that starts at random."""
    _state["pid"] = os.getpid()
    _state["counter"] = random.randrange(0, 0x10000)


def make_id(r: Any) -> str:
    if _state["pid"] != os.getpid():
        child_init(r.tree)
    c = _state["counter"]
    _state["counter"] = (c + 1) & 0xFFFF
    raw = _REC.pack(int(r.request_time) & 0xFFFFFFFF, _state["addr"], _state["pid"] & 0xFFFFFFFF,
                    c, int(getattr(r.connection, "id", 0)) & 0xFFFFFFFF)
    return encode(raw)


@unique_id.hook("post_read_request", order=MIDDLE, needs=lambda t: t.extra.get("unique_id_active"))
def gen_unique_id_hook(r: Any) -> int:
    if r.tree.extra.get("unique_id_active"):
        gen_unique_id(r)
    return DECLINED


def gen_unique_id(r: Any) -> int:
    env = r.subprocess_env
    if "UNIQUE_ID" not in env:          # mod_log_forensic may have asked first
        prev = env.get("REDIRECT_UNIQUE_ID")
        env["UNIQUE_ID"] = prev if prev else make_id(r)
    return DECLINED


@unique_id.hook("fixups", order=REALLY_FIRST, needs=lambda t: t.extra.get("unique_id_active"))
def keep_after_redirect(r: Any) -> int:
    """An internally redirected request keeps the original's identifier."""
    if not r.tree.extra.get("unique_id_active"):
        return DECLINED
    env = r.subprocess_env
    if "UNIQUE_ID" not in env:
        prev = env.get("REDIRECT_UNIQUE_ID")
        env["UNIQUE_ID"] = prev if prev else make_id(r)
    return DECLINED
