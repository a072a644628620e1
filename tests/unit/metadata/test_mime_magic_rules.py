"""mod_mime_magic without sockets: the magic-file parser (offsets, indirection, types,
masks, relations, string escapes), matching with continuations on the bundled Debian
magic file, the text classification (ascmagic), tar detection and the type/encoding
split."""

from __future__ import annotations

import io
import tarfile
from importlib import resources

import pytest

from featherd.modules.metadata.mod_mime_magic import rsl_to_type
from featherd.modules.metadata.mod_mime_magic.matcher import ascmagic, is_tar, softmagic
from featherd.modules.metadata.mod_mime_magic.parser import (
    BELONG,
    BYTE,
    INDIR,
    SHORT,
    STRING,
    UNSIGNED,
    parse_line,
    parse_magic,
    strtol,
)

MAGIC = resources.files("featherd").joinpath("data", "magic").read_text("latin-1")
RULES, ERRORS = parse_magic(MAGIC)


def test_bundled_file_parses() -> None:
    assert ERRORS == [] and len(RULES) > 300


def test_strtol() -> None:
    assert strtol("0x1F rest") == (31, 4)
    assert strtol("017") == (15, 3)
    assert strtol("-12x") == (-12, 3)
    assert strtol("zz") == (0, 0)


def test_parse_line_fields() -> None:
    errors: list[str] = []
    m = parse_line(">>(4.s+2)\tubyte&0x0f\t>3\t\\bsmall %d", 1, errors)
    assert m is not None and not errors
    assert (m.cont_level, m.flag, m.in_type, m.in_offset, m.offset) == (2, INDIR | UNSIGNED,
                                                                       SHORT, 2, 4)
    assert (m.type, m.mask, m.reln, m.value, m.nospflag, m.desc) == \
        (BYTE, 0x0F, ">", 3, True, "small %d")
    m = parse_line("0\tstring\t\\x41\\101\\n\\ B\ttext/x", 2, errors)
    assert m is not None and (m.type, m.svalue, m.desc) == (STRING, b"AA\n B", "text/x")
    m = parse_line("0\tbelong\t0x89504e47\timage/png", 3, errors)
    assert m is not None and (m.type, m.value) == (BELONG, 0x89504E47)
    assert parse_line("0 nosuchtype 1 a/b", 4, errors) is None
    assert "type nosuchtype 1 a/b invalid" in errors[-1]


def _type(data: bytes) -> list[str] | None:
    buf = data + b"\0"
    return softmagic(RULES, buf, len(buf))


def test_softmagic_on_debian_rules() -> None:
    pad = b"\0" * 100
    assert _type(b"GIF89a" + pad) == ["image/gif"]
    assert _type(b"\x89PNG\r\n\x1a\n" + pad) == ["image/png"]
    assert _type(b"%PDF-1.4\n" + pad) == ["application/pdf"]
    assert _type(b"RIFF\x24\0\0\0WAVEfmt " + pad) == ["", "audio/x-wav"]
    # "short" is the host's byte order (little-endian here, as on Debian's amd64 build)
    assert _type(b"\xca\xfe\xba\xbe" + pad) is None
    assert _type(b"\xfe\xca\xbe\xba" + pad) == ["", "application/java"]
    assert _type(b"GIF89a") is None           # a rule needs 64 bytes from its offset
    elf = _type(b"\x7fELF\x02\x01\x01" + pad)
    assert elf is not None and rsl_to_type(elf) == ("application/octet-stream",
                                                    "application/octet-stream")


def test_ascmagic() -> None:
    def asc(b: bytes) -> list[str] | None:
        return ascmagic(b + b"\0", len(b) + 1)
    assert asc(b"<html> <body>x") == ["text/html"]          # whole tokens only
    assert asc(b"<html><body>x") is None
    assert asc(b"#include <stdio.h>\n") == ["text/plain"]
    assert asc(b"Received: from x\n") == ["message/rfc822"]
    assert asc(b"Newsgroups: a.b\n") == ["message/news"]
    assert asc(b".TH FOO 1\n") == ["application/x-troff"]
    assert asc(b"c fortran\n") == ["text/plain"]
    assert asc(b"\x1b[1m The bold") == ["text/plain", " (with escape sequences)"]
    assert asc(b"nothing recognisable") is None


def test_is_tar() -> None:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as t:
        ti = tarfile.TarInfo("a")
        ti.size = 1
        t.addfile(ti, io.BytesIO(b"x"))
    data = bio.getvalue()
    assert is_tar(data, len(data)) == 2                 # "ustar  \0": GNU/old POSIX magic
    broken = bytearray(data)
    broken[0] ^= 1
    assert is_tar(bytes(broken), len(broken)) == 0


@pytest.mark.parametrize("frags,out", [
    (["image/gif"], ("image/gif", None)),
    (["application/x-tar\tposix"], ("application/x-tar", "posix")),
    (["  Text/HTML"], ("text/html", None)),
    (["", "noslash"], None),
    (["no slash here"], None),
])
def test_rsl_to_type(frags: list[str], out: tuple[str, str | None] | None) -> None:
    assert rsl_to_type(frags) == out


def test_short_and_unsigned_relations() -> None:
    errors: list[str] = []
    m = parse_line("0\tshort\t0xcafe\tx/y", 1, errors)
    assert m is not None and m.type == SHORT
    buf = b"\xfe\xca" + b"\0" * 70
    assert softmagic([m], buf, len(buf)) == ["x/y"]      # native (little-endian) short
    m = parse_line("0\tubyte\t>200\tbig/byte", 1, errors)
    assert m is not None
    assert softmagic([m], b"\xf0" + b"\0" * 70, 71) == ["big/byte"]
    m = parse_line("0\tbyte\t>100\tsigned/byte", 1, errors)
    assert m is not None
    assert softmagic([m], b"\xf0" + b"\0" * 70, 71) is None  # -16 is not > 100
