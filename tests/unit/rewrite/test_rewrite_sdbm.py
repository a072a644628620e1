"""SDBM files as APR writes them (apr-util's sdbm.c): our writer against Debian's
httxt2dbm byte for byte, and our reader on its files; featherd-httxt2dbm's command
line."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from featherd.support import httxt2dbm, sdbm
from featherd.support.sdbm import PAIRMAX, SDBM, SDBMError, sdbm_hash

HTTXT2DBM = shutil.which("httxt2dbm") or "/usr/sbin/httxt2dbm"
have_httxt2dbm = pytest.mark.skipif(not Path(HTTXT2DBM).exists(),
                                    reason="Apache's httxt2dbm is not installed")


def _map_text(n: int, seed: int = 7) -> str:
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789/._-é"
    lines = ["# a comment", "", "   indented ignored"]
    for _ in range(n):
        k = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 40)))
        v = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 80)))
        lines.append(f"{k}\t {v} trailing words")
    lines += ["dup first", "dup second", "novalue", "novalue2   "]
    return "\n".join(lines) + "\n"


def test_hash_is_apr_sdbm_hash() -> None:
    assert sdbm_hash(b"") == 0
    assert sdbm_hash(b"a") == 97
    assert sdbm_hash(b"ab") == 97 * 65599 + 98
    # bytes >= 0x80 count as negative (signed char), modulo 2**64
    assert sdbm_hash(b"\xe9") == (0xE9 - 256) % (1 << 64)


def test_roundtrip_with_splits(tmp_path: Path) -> None:
    db = SDBM(str(tmp_path / "t"), "n")
    data = {f"key{i}".encode(): (f"value-{i}-" * (i % 7 + 1)).encode() for i in range(3000)}
    for k, v in data.items():
        db[k] = v
    db.close()
    assert (tmp_path / "t.dir").stat().st_size % 4096 == 0
    assert (tmp_path / "t.pag").stat().st_size % 1024 == 0
    with SDBM(str(tmp_path / "t")) as ro:
        for k, v in data.items():
            assert ro[k] == v
        assert ro.get(b"missing") is None
        assert b"key5" in ro and b"nokey" not in ro
        assert len(ro) == 3000
        assert set(ro.keys()) == set(data)


def test_replace_insert_delete(tmp_path: Path) -> None:
    with SDBM(str(tmp_path / "r"), "c") as db:
        db["k"] = "one"
        db["k"] = "two"
        assert db["k"] == b"two"
        assert db.store("k", "three", sdbm.INSERT) is False
        assert db["k"] == b"two"
        db["other"] = "x"
        del db["k"]
        assert db.get("k") is None and db["other"] == b"x"
        with pytest.raises(KeyError):
            del db["k"]
        with pytest.raises(SDBMError):
            db["big"] = "v" * PAIRMAX
    with SDBM(str(tmp_path / "r")) as ro, pytest.raises(SDBMError):
        ro["k"] = "v"


def test_missing_database(tmp_path: Path) -> None:
    with pytest.raises(SDBMError):
        SDBM(str(tmp_path / "nope"))


@have_httxt2dbm
def test_byte_identical_to_httxt2dbm(tmp_path: Path) -> None:
    src = tmp_path / "map.txt"
    src.write_text(_map_text(4000), encoding="utf-8")
    subprocess.run([HTTXT2DBM, "-f", "SDBM", "-i", str(src), "-o", str(tmp_path / "ap")],
                   check=True, capture_output=True)
    assert httxt2dbm.main(["-i", str(src), "-o", str(tmp_path / "fd")]) == 0
    for ext in (".dir", ".pag"):
        assert (tmp_path / f"fd{ext}").read_bytes() == (tmp_path / f"ap{ext}").read_bytes()


@have_httxt2dbm
def test_reads_httxt2dbm_output(tmp_path: Path) -> None:
    src = tmp_path / "map.txt"
    src.write_text("alpha one\nbeta two\n# c\ndup first\ndup second\nk\u00e9y v\n",
                   encoding="utf-8")
    subprocess.run([HTTXT2DBM, "-i", str(src), "-o", str(tmp_path / "ap"), "-f", "SDBM"],
                   check=True, capture_output=True)
    with SDBM(str(tmp_path / "ap")) as db:
        assert db[b"alpha"] == b"one"
        assert db[b"dup"] == b"second"          # REPLACE: the last line wins
        assert db["k\u00e9y".encode()] == b"v"
        assert db.get(b"#") is None


def test_parse_lines_like_to_dbm() -> None:
    data = b"a 1\n#c x\n  b 2\nc\nd   \ne 5 6 7\n\n"
    assert list(httxt2dbm.parse_lines(data)) == [(b"a", b"1"), (b"e", b"5")]


def test_cli_messages(tmp_path: Path) -> None:
    src = tmp_path / "m.txt"
    src.write_text("k v\n")
    err = io.StringIO()
    import sys

    old = sys.stderr
    sys.stderr = err
    try:
        assert httxt2dbm.main(["-v", "-i", str(src), "-o", str(tmp_path / "o")]) == 0
        assert httxt2dbm.main(["-i", str(src)]) == 1
        assert httxt2dbm.main(["-i", str(tmp_path / "none"), "-o", "x"]) == 1
        assert httxt2dbm.main(["-f", "DB", "-i", str(src), "-o", str(tmp_path / "z")]) == 1
    finally:
        sys.stderr = old
    text = err.getvalue()
    assert "DBM Format: default\nInput File: " in text
    assert "    'k' -> 'v'\nConversion Complete.\n" in text
    assert "Error: No output DBM specified." in text
    assert "Error: Cannot open input file" in text and "No such file or directory" in text
    assert "Cannot open output DBM" in text
    with SDBM(str(tmp_path / "o")) as db:
        assert db[b"k"] == b"v"


def test_stdin_input(tmp_path: Path) -> None:
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "featherd.support.httxt2dbm", "-i", "-", "-o",
         str(tmp_path / "s")], input=b"x y\n", capture_output=True)
    assert proc.returncode == 0, proc.stderr
    with SDBM(str(tmp_path / "s")) as db:
        assert db[b"x"] == b"y"
