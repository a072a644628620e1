"""IP subnets as APR parses and tests them (apr_ipsubnet_create / apr_ipsubnet_test):
'10.1.2.3', the legacy partial '10.1', 'net/bits', 'net/mask' and IPv6 forms.

Shared by mod_authz_host (Allow/Deny, Require ip) and ap_expr (-R, -ipmatch); it was
featherd.modules.aaa.common's, which still re-exports BadIP, Subnet and parse_subnet.
"""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = ["BadIP", "Subnet", "parse_subnet"]


class BadIP(ValueError):
    """APR_EINVAL (not an address at all), APR_EBADIP or APR_EBADMASK."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    def text(self) -> str:
        return {"EBADIP": "The specified IP address is invalid.",
                "EBADMASK": "The specified network mask is invalid."}.get(self.code, "")


def _looks_like_ip(s: str) -> bool:
    if not s:
        return False
    if ":" in s:
        return True
    return all(c == "." or c.isdigit() for c in s)


def _parse_network(s: str) -> tuple[int, int]:
    """The legacy partial form: '10.1' -> 10.1.0.0/16 (and '10.1.' too)."""
    if len(s) >= 16:
        raise BadIP("EBADIP")
    sub = mask = 0
    shift = 24
    parts = s.split(".")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    for p in parts:
        if not p or not p.isdigit():
            raise BadIP("EBADIP")
        if shift < 0:
            raise BadIP("EBADIP")
        o = int(p)
        if o > 255:
            raise BadIP("EBADIP")
        sub |= o << shift
        mask |= 0xFF << shift
        shift -= 8
    return sub, mask


class Subnet:
    """One Allow/Deny or Require ip argument."""

    __slots__ = ("family", "sub", "mask", "text")

    def __init__(self, ipstr: str, mask_or_bits: str | None = None) -> None:
        self.text = ipstr if mask_or_bits is None else f"{ipstr}/{mask_or_bits}"
        if not _looks_like_ip(ipstr):
            raise BadIP("EINVAL")
        family = 4
        try:
            a: Any = ipaddress.IPv6Address(ipstr)
            if a.ipv4_mapped is not None:
                raise BadIP("EBADIP")
            family = 6
            sub = int(a)
            mask = (1 << 128) - 1
        except ipaddress.AddressValueError:
            try:
                sub = int(ipaddress.IPv4Address(ipstr))
                mask = 0xFFFFFFFF
            except ipaddress.AddressValueError:
                if mask_or_bits is not None or ":" in ipstr:
                    raise BadIP("EBADIP") from None
                sub, mask = _parse_network(ipstr)
        if mask_or_bits is not None:
            maxbits = 128 if family == 6 else 32
            if mask_or_bits.isdigit() and 0 < int(mask_or_bits) <= maxbits:
                bits = int(mask_or_bits)
                mask = ((1 << bits) - 1) << (maxbits - bits)
            elif family == 4:
                try:
                    mask = int(ipaddress.IPv4Address(mask_or_bits))
                except ipaddress.AddressValueError:
                    raise BadIP("EBADMASK") from None
            else:
                raise BadIP("EBADMASK")
        self.family = family
        self.mask = mask
        self.sub = sub & mask

    def test(self, ip: str) -> bool:
        try:
            a: Any = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if a.version == 6 and a.ipv4_mapped is not None:
            a = a.ipv4_mapped
        if (a.version == 6) != (self.family == 6):
            return False
        return (int(a) & self.mask) == self.sub


def parse_subnet(where: str) -> Subnet:
    """'a.b.c.d', 'a.b', 'net/bits', 'net/mask', IPv6 forms; BadIP when not one."""
    if "/" in where:
        ip, m = where.split("/", 1)
        return Subnet(ip, m)
    return Subnet(where)
