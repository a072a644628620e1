"""Tests for featherd.http.etag (httpd ap_make_etag, RFC 7232 2.3)."""

from __future__ import annotations

import os

import pytest

from featherd.http.etag import (
    ALL_COMPONENTS,
    DEFAULT_COMPONENTS,
    etag_list_matches,
    is_weak,
    is_weak_tag,
    make_etag,
    opaque_tag,
    parse_etag_list,
    strong_compare,
    weak_compare,
)

MTIME_NS = 1_600_000_000_123_456_789  # -> apr_time_t 1600000000123456 us
MTIME_US_HEX = format(1_600_000_000_123_456, "x")


def fake_stat(ino: int = 0x1234, size: int = 42, mtime_ns: int = MTIME_NS) -> os.stat_result:
    # st_mode, st_ino, st_dev, st_nlink, st_uid, st_gid, st_size, atime, mtime, ctime;
    # the *_ns fields can only be given through the dict argument.
    return os.stat_result(
        (0o100644, ino, 1, 1, 0, 0, size, 0, mtime_ns // 10**9, 0),
        {"st_mtime_ns": mtime_ns, "st_atime_ns": 0, "st_ctime_ns": 0},
    )


def test_fake_stat_has_ns() -> None:
    assert fake_stat().st_mtime_ns == MTIME_NS


def test_mtime_size_default_24() -> None:
    """httpd 2.4 default FileETag MTime Size: "size-mtime" in hex, quoted."""
    assert make_etag(fake_stat(), DEFAULT_COMPONENTS) == f'"2a-{MTIME_US_HEX}"'


def test_brief_example_format() -> None:
    """ap_make_etag output for a 42-byte file: "2a-<mtime usec hex>"."""
    st = fake_stat(size=42, mtime_ns=0x5F3C1B2D4E880 * 1000)
    assert make_etag(st, frozenset({"MTime", "Size"})) == '"2a-5f3c1b2d4e880"'


def test_all_components_order_inode_size_mtime() -> None:
    """FileETag All (httpd 2.2 default): inode-size-mtime, that order."""
    expected = f'"1234-2a-{MTIME_US_HEX}"'
    assert make_etag(fake_stat(), ALL_COMPONENTS) == expected
    assert make_etag(fake_stat(), frozenset({"All"})) == expected
    assert make_etag(fake_stat(), frozenset({"Size", "MTime", "INode"})) == expected


@pytest.mark.parametrize(
    ("components", "expected"),
    [
        ({"INode"}, '"1234"'),
        ({"Size"}, '"2a"'),
        ({"MTime"}, f'"{MTIME_US_HEX}"'),
        ({"INode", "Size"}, '"1234-2a"'),
        ({"INode", "MTime"}, f'"1234-{MTIME_US_HEX}"'),
        ({"inode", "SIZE"}, '"1234-2a"'),  # keywords are case-insensitive
    ],
)
def test_single_and_pairs(components: set[str], expected: str) -> None:
    """Each FileETag keyword selects one hex field."""
    assert make_etag(fake_stat(), frozenset(components)) == expected


def test_none_gives_empty() -> None:
    """FileETag None: no ETag header at all (ap_make_etag returns "")."""
    assert make_etag(fake_stat(), frozenset({"None"})) == ""
    assert make_etag(fake_stat(), frozenset({"None", "MTime"})) == ""
    assert make_etag(fake_stat(), frozenset({"None"}), weak=True) == ""


def test_empty_set_means_default() -> None:
    """ETAG_UNSET falls back to httpd's default component set."""
    assert make_etag(fake_stat(), frozenset()) == make_etag(fake_stat(), DEFAULT_COMPONENTS)


def test_weak_prefix() -> None:
    """Weak tags are W/"..." (RFC 7232 2.3)."""
    assert make_etag(fake_stat(), DEFAULT_COMPONENTS, weak=True) == f'W/"2a-{MTIME_US_HEX}"'


def test_zero_and_large_values_hex() -> None:
    """Zero prints as "0"; values are printed as unsigned 64-bit hex."""
    st = fake_stat(ino=0, size=0, mtime_ns=0)
    assert make_etag(st, ALL_COMPONENTS) == '"0-0-0"'
    st = fake_stat(ino=2**64 - 1, size=2**40)
    assert make_etag(st, frozenset({"INode", "Size"})) == '"ffffffffffffffff-10000000000"'


def test_real_file(tmp_path: os.PathLike[str]) -> None:
    """Works with a real os.stat result."""
    p = os.path.join(tmp_path, "f.txt")
    with open(p, "wb") as fh:
        fh.write(b"x" * 300)
    st = os.stat(p)
    want = f'"{st.st_ino:x}-12c-{st.st_mtime_ns // 1000:x}"'
    assert make_etag(st, ALL_COMPONENTS) == want


def test_is_weak_within_one_second() -> None:
    """ap_make_etag: strong only if request_time - mtime > 1s (microseconds)."""
    mtime_ns = 1_000_000_000 * 10**9
    assert is_weak(mtime_ns, 1_000_000_000.5)
    assert is_weak(mtime_ns, 1_000_000_001.0)  # exactly 1s: still weak
    assert not is_weak(mtime_ns, 1_000_000_001.01)
    assert not is_weak(mtime_ns, 1_000_100_000.0)


def test_is_weak_future_mtime() -> None:
    """A modification time after the request is weak too."""
    assert is_weak(2_000_000_000 * 10**9, 1_999_999_990.0)


def test_parse_list_basic() -> None:
    """RFC 7232 3.1/3.2: 1#entity-tag, W/ prefix and quotes kept."""
    assert parse_etag_list('"xyzzy"') == ['"xyzzy"']
    assert parse_etag_list('"xyzzy", "r2d2xxxx", "c3piozzzz"') == [
        '"xyzzy"',
        '"r2d2xxxx"',
        '"c3piozzzz"',
    ]
    assert parse_etag_list('W/"xyzzy",W/"r2d2xxxx" ,  "c"') == ['W/"xyzzy"', 'W/"r2d2xxxx"', '"c"']


def test_parse_list_star() -> None:
    """RFC 7232 3.1: "*" wildcard (httpd checks only the first character)."""
    assert parse_etag_list("*") == "*"
    assert parse_etag_list("  * ") == "*"


def test_parse_list_comma_inside_quotes_and_empty() -> None:
    """etagc includes ','; empty list elements are skipped (RFC 7230 7)."""
    assert parse_etag_list('"a,b", "c"') == ['"a,b"', '"c"']
    assert parse_etag_list(' , "a" ,, ') == ['"a"']
    assert parse_etag_list("") == []
    assert parse_etag_list('""') == ['""']


def test_parse_list_junk_tokens_kept_but_harmless() -> None:
    """Unquoted junk never matches a quoted tag."""
    tags = parse_etag_list('abc, "x"')
    assert tags == ["abc", '"x"']
    assert not etag_list_matches("abc", '"abc"', weak=True)


def test_parse_list_returns_fresh_list() -> None:
    """Cached parsing must not leak a shared mutable list."""
    a = parse_etag_list('"q"')
    assert isinstance(a, list)
    a.append("junk")
    assert parse_etag_list('"q"') == ['"q"']


@pytest.mark.parametrize(
    ("a", "b", "strong", "weak"),
    [
        # RFC 7232 2.3.2 example table
        ('W/"1"', 'W/"1"', False, True),
        ('W/"1"', 'W/"2"', False, False),
        ('W/"1"', '"1"', False, True),
        ('"1"', '"1"', True, True),
        ('"1"', '"2"', False, False),
    ],
)
def test_comparison_table(a: str, b: str, strong: bool, weak: bool) -> None:
    """RFC 7232 2.3.2: strong vs weak comparison examples."""
    assert strong_compare(a, b) is strong
    assert strong_compare(b, a) is strong
    assert weak_compare(a, b) is weak
    assert weak_compare(b, a) is weak


def test_helpers() -> None:
    """is_weak_tag / opaque_tag split the W/ prefix."""
    assert is_weak_tag('W/"x"') and not is_weak_tag('"x"')
    assert opaque_tag('W/"x"') == '"x"' == opaque_tag('"x"')


def test_list_matches_strong() -> None:
    """If-Match uses strong comparison (RFC 7232 3.1)."""
    assert etag_list_matches('"a", "b"', '"b"', weak=False)
    assert not etag_list_matches('W/"b"', '"b"', weak=False)
    assert not etag_list_matches('"b"', 'W/"b"', weak=False)
    assert not etag_list_matches('"a"', None, weak=False)
    assert not etag_list_matches('"a"', "", weak=False)


def test_list_matches_weak() -> None:
    """If-None-Match uses weak comparison (RFC 7232 3.2)."""
    assert etag_list_matches('W/"b"', '"b"', weak=True)
    assert etag_list_matches('"x", "b"', 'W/"b"', weak=True)
    assert not etag_list_matches('"c"', '"b"', weak=True)


def test_list_matches_star() -> None:
    """ "*" matches any current representation, even without an ETag."""
    assert etag_list_matches("*", '"b"', weak=False)
    assert etag_list_matches("*", None, weak=True)
