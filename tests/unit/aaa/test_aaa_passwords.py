"""Password hashes (apr_password_validate) and the pieces mod_authz_host parses."""

from __future__ import annotations

import pytest

from featherd.modules.aaa.common import BadIP, Subnet, in_domain, parse_subnet
from featherd.support import passwords as P

# made by Debian's htpasswd (apache2-utils) for the password "p"
DEBIAN = {
    "apr1": "$apr1$DS3InwVH$Eoeh9VCBFDefLGv8qcssc0",
    "bcrypt": "$2y$05$bi.OBjTPHpiMlya9ieLWv.3FQxyQ8uvwM.KkZw0JWZk/2fe7NDBhe",
    "crypt": "lGHarGBq4ZQS2",
    "sha": "{SHA}UWuXg/ylF+7L0dBk2i0WUxCxl1k=",
}


@pytest.mark.parametrize("kind", sorted(DEBIAN))
def test_debian_hashes_validate(kind: str) -> None:
    assert P.validate("p", DEBIAN[kind])
    assert not P.validate("q", DEBIAN[kind])


def test_apr1_is_reproducible_from_salt() -> None:
    assert P.apr_md5_encode("p", "DS3InwVH") == DEBIAN["apr1"]


def test_plain_text_is_not_accepted_on_unix() -> None:
    assert not P.validate("p", "p")
    assert not P.validate("secret", "secret")


def test_des_crypt_known_vectors() -> None:
    # classic crypt(3) vectors
    assert P.des_crypt("test", "aa") == "aaqPiZY5xR5l."
    assert P.des_crypt("", "..") == "..X8NBuQ4l6uQ"
    # eight significant characters
    assert P.des_crypt("123456789", "p8") == P.des_crypt("12345678", "p8")
    assert P.validate("123456789", "p8scOWdzQJQ5w")


def test_md5_and_sha_crypt_known_vectors() -> None:
    # as glibc crypt(3) computes them
    assert P.sha_crypt("Hello world!", "$5$saltstring") == \
        "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
    assert P.sha_crypt("Hello world!", "$6$saltstring") == (
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFC"
        "oEOfaS35inz1")
    assert P.sha_crypt("Hello world!", "$5$rounds=10000$saltstringsaltstring") == \
        "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"
    assert P.validate("p", P.md5_crypt("p", "abcdefgh", "$1$"))


def test_bcrypt_roundtrip_and_cache() -> None:
    h = P.bcrypt_encode("pw", 4)
    assert h.startswith("$2y$04$") and P.validate("pw", h)
    c = P.VerifiedCache(size=2)
    assert c.check("pw", h) and c.check("pw", h) and not c.check("px", h)
    assert len(c.ok) == 1


def test_unknown_hash_never_matches() -> None:
    assert not P.validate("p", "$9$whatever")
    assert not P.validate("p", "")


@pytest.mark.parametrize("spec,ip,hit", [
    ("10.1", "10.1.200.3", True), ("10.1", "10.2.0.1", False), ("10.1.", "10.1.0.9", True),
    ("10.0.0.0/8", "10.9.9.9", True), ("10.0.0.0/255.255.0.0", "10.0.3.3", True),
    ("10.0.0.0/255.255.0.0", "10.1.3.3", False), ("127.0.0.1", "127.0.0.1", True),
    ("2001:db8::/32", "2001:db8::1", True), ("2001:db8::/32", "2001:db9::1", False),
    ("::1", "::1", True), ("127.0.0.1", "::ffff:127.0.0.1", True), ("::1", "127.0.0.1", False),
])
def test_subnets(spec: str, ip: str, hit: bool) -> None:
    assert parse_subnet(spec).test(ip) is hit


@pytest.mark.parametrize("spec,code", [
    ("example.com", "EINVAL"), ("1.2.3.4.5", "EBADIP"), ("10.0.0.0/33", "EBADMASK"),
    ("10.0.0.0/x", "EBADMASK"), ("300.1", "EBADIP"), ("::ffff:1.2.3.4", "EBADIP"),
])
def test_bad_subnets(spec: str, code: str) -> None:
    with pytest.raises(BadIP) as e:
        parse_subnet(spec)
    assert e.value.code == code
    with pytest.raises(BadIP):
        Subnet("")


def test_in_domain() -> None:
    assert in_domain("example.org", "www.example.org")
    assert in_domain("example.org", "EXAMPLE.org")
    assert not in_domain("example.org", "badexample.org")
    assert in_domain(".org", "x.org")
    assert not in_domain("www.example.org", "example.org")
