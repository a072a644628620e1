"""What mod_authnz_ldap's searches are made of: the AuthLDAPURL (apr_ldap_url_parse),
the search filter with the user's name in it (converted to UTF-8 as
AuthLDAPCharsetConfig says) and the attribute/value pairs of ``Require
ldap-attribute``.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING
from urllib.parse import unquote

from featherd.modules.aaa.mod_ldap import SSL_MODE

if TYPE_CHECKING:
    from featherd.core.request import Request

FILTER_LENGTH = 8192            # MAX_STRING_LEN
SCOPE_BASE, SCOPE_ONE, SCOPE_SUB = 0, 1, 2


# --- AuthLDAPURL --------------------------------------------------------------------------------
class LdapURL:
    """apr_ldap_url_desc_t plus what AuthLDAPURL derives from it."""

    __slots__ = ("url", "host", "port", "basedn", "attributes", "attribute", "scope",
                 "filter", "secure", "lud_scope", "lud_filter")

    def __init__(self) -> None:
        self.url = ""
        self.host = "localhost"
        self.port: int | None = None
        self.basedn = ""
        self.attributes: list[str] | None = None
        self.attribute = "uid"
        self.scope = SCOPE_SUB
        self.filter = "objectclass=*"
        self.secure = -1                 # unset: LDAPTrustedMode decides
        self.lud_scope = SCOPE_BASE
        self.lud_filter: str | None = None


def parse_ldap_url(url: str) -> LdapURL:
    """apr_ldap_url_parse, with the error texts of apr_ldap_url.c; ValueError(text)."""
    s = url.strip()
    if s.startswith("<"):
        if not s.endswith(">"):
            raise ValueError('URL is missing trailing ">".')
        s = s[1:-1]
    if s[:4].upper() == "URL:":
        s = s[4:]
    low = s.lower()
    for scheme in ("ldaps://", "ldapi://", "ldap://"):
        if low.startswith(scheme):
            break
    else:
        raise ValueError('URL doesn\'t begin with "ldap[si]://".')
    u = LdapURL()
    u.url = url
    rest = s[len(scheme):]
    hostport, slash, rest = rest.partition("/")
    hosts = []
    for h in hostport.split():
        name, port = h, None
        if h.startswith("["):
            name, _, tail = h[1:].partition("]")
            port = tail[1:] if tail.startswith(":") else None
        elif ":" in h:
            name, _, port = h.partition(":")
        if port is not None:
            port = unquote(port)
            if not port.isdigit():
                raise ValueError("Host port is invalid.")
            if u.port is None:
                u.port = int(port)
        hosts.append(unquote(h))
    if hosts:
        u.host = " ".join(hosts)
    if slash:
        parts = rest.split("?")
        if len(parts) > 5:
            raise ValueError("Invalid URL.")
        parts += [""] * (5 - len(parts))
        u.basedn = unquote(parts[0])
        if parts[1]:
            attrs = [unquote(a) for a in parts[1].split(",")]
            if any(not a for a in attrs):
                raise ValueError("Invalid or missing attributes.")
            u.attributes = attrs
            u.attribute = attrs[0]
        sc = parts[2].lower()
        if sc:
            if sc not in ("base", "one", "sub"):
                raise ValueError("Invalid or missing scope string.")
            u.lud_scope = {"base": SCOPE_BASE, "one": SCOPE_ONE, "sub": SCOPE_SUB}[sc]
        if parts[3]:
            u.lud_filter = unquote(parts[3])
    u.scope = SCOPE_ONE if u.lud_scope == SCOPE_ONE else SCOPE_SUB
    if u.lud_filter:
        f = u.lud_filter
        u.filter = f[1:-1] if f.startswith("(") else f
    if low.startswith("ldaps"):
        u.secure = SSL_MODE
    return u


# --- the search filter ----------------------------------------------------------------------------
#: AuthLDAPCharsetConfig's table per configuration (id(tree) -> {language: charset}), filled
#: by mod_authnz_ldap's post_config
CHARSETS: dict[int, dict[str, str]] = {}


def derive_codepage(table: dict[str, str], language: str) -> str | None:
    return table.get(language) or table.get(language[:2])


def convert_user(r: Request, user: str) -> str:
    """The user name as the LDAP server gets it: the client's bytes, converted to UTF-8
    from the charset its Accept-Language names when AuthLDAPCharsetConfig is set."""
    raw = user.encode("latin-1", "replace")
    table = CHARSETS.get(id(r.tree))
    lang_line = r.headers_in.get("Accept-Language") if table else None
    if table and lang_line:
        lang = lang_line
        for i, ch in enumerate(lang_line):
            if ch in ",;":
                lang = lang_line[:i]
                break
        cs = derive_codepage(table, lang.lower())
        if cs:
            try:
                codecs.lookup(cs)
                return raw.decode(cs)
            except (LookupError, UnicodeDecodeError):
                pass
    return raw.decode("utf-8", "replace")


def build_filter(r: Request, sent_user: str, sent_filter: str | None, url: LdapURL,
                 add_parens: bool = True) -> str:
    """authn_ldap_build_filter: (&(filter)(attribute=user)), the user escaped."""
    user = convert_user(r, sent_user)
    filt = sent_filter if sent_filter is not None else url.filter
    head = f"(&({filt})({url.attribute}=" if add_parens else f"(&{filt}({url.attribute}="
    head = head[:FILTER_LENGTH - 1]
    out = [head]
    n = len(head)
    for ch in user:
        esc = f"\\{ord(ch):02x}" if ch in "*()\\\0" else ch
        if n + len(esc) >= FILTER_LENGTH - 1:
            break
        out.append(esc)
        n += len(esc)
    if n + 2 <= FILTER_LENGTH - 1:
        out.append("))")
    return "".join(out)


# --- Require ldap-attribute -------------------------------------------------------------------------
def attribute_pairs(t: str) -> list[tuple[str, str]]:
    """ap_getword(&t, '=') then ap_getword_conf(&t) until the line is used up."""
    out = []
    while t:
        w, _, t = t.partition("=")
        t = t.lstrip(" \t")
        if t[:1] in ("'", '"'):
            q = t[0]
            end = t.find(q, 1)
            while end > 0 and t[end - 1] == "\\":
                end = t.find(q, end + 1)
            value = t[1:end] if end > 0 else t[1:]
            t = t[end + 1:] if end > 0 else ""
        else:
            parts = t.split(None, 1)
            value = parts[0] if parts else ""
            t = parts[1] if len(parts) > 1 else ""
        t = t.lstrip(" \t")
        out.append((w, value))
    return out
