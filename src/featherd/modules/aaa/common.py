"""What the authentication and authorisation modules share: mod_auth.h's status codes,
the provider registry lookups, ap_note_auth_failure, IP subnets (apr_ipsubnet_*, now in
featherd.util.ipsubnet, re-exported here) and
the double-reverse host lookup (ap_get_remote_host with REMOTE_DOUBLE_REV).

Providers live in the tree's registry under ``("authn", name)`` (objects with
``check_password(r, user, password)`` and optionally ``get_realm_hash(r, user, realm)``,
either may be a coroutine function) and ``("authz", name)`` (2.4 Require providers:
``check(r, args)`` returning an AUTHZ_* status, ``parse(args)`` raising DirectiveError
for a bad line). ``("note_auth_failure", "basic")`` etc. add the challenge header.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import socket
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.config.tree import split_args
from featherd.errors import DirectiveError
from featherd.util.ipsubnet import BadIP, Subnet, parse_subnet  # noqa: F401  (moved there)

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

# authn_status (mod_auth.h)
AUTH_DENIED = 0
AUTH_GRANTED = 1
AUTH_USER_FOUND = 2
AUTH_USER_NOT_FOUND = 3
AUTH_GENERAL_ERROR = 4

# authz_status (2.4 mod_auth.h)
AUTHZ_DENIED = 0
AUTHZ_GRANTED = 1
AUTHZ_NEUTRAL = 2
AUTHZ_GENERAL_ERROR = 3
AUTHZ_DENIED_NO_USER = 4

AUTHN_PROVIDER_NAME_NOTE = "authn_provider_name"
AUTHN_DEFAULT_PROVIDER = "file"
AUTHZ_GROUP_NOTE = "authz_group_note"

ERROR, WARN, NOTICE, INFO, DEBUG = 3, 4, 5, 6, 7


async def maybe_await(v: Any) -> Any:
    return await v if inspect.isawaitable(v) else v


def flag(v: Any, default: bool) -> bool:
    return default if v is UNSET else bool(v)


def method_number(m: str) -> str:
    """Apache gives HEAD the method number of GET (for <Limit> and Require method)."""
    return "GET" if m == "HEAD" else m


def method_applies(spec: tuple[frozenset[str], bool] | None, method: str) -> bool:
    """Does an entry recorded under <Limit>/<LimitExcept> (``spec``) apply to ``method``?"""
    if spec is None:
        return True
    ms, exc = spec
    return (method_number(method) in ms) != exc


def limit_spec(cmd: CmdParms) -> tuple[frozenset[str], bool] | None:
    if cmd.limited is None:
        return None
    return (cmd.limited, cmd.limit_except)


# --- providers -----------------------------------------------------------------------------
def authn_provider_list(cmd: CmdParms, name: str, needs: str, kind: str) -> str:
    """Check an AuthBasicProvider/AuthDigestProvider name at configuration time."""
    prov = cmd.tree.providers.get(("authn", name))
    if prov is None:
        raise DirectiveError(f"Unknown Authn provider: {name}")
    if getattr(prov, needs, None) is None:
        raise DirectiveError(f"The '{name}' Authn provider doesn't support {kind} Authentication")
    return name


def note_auth_failure(r: Request) -> None:
    """ap_note_auth_failure: the challenge of the configured AuthType."""
    from featherd.core.access import auth_type

    t = auth_type(r)
    if t is None:
        r.log_error(ERROR, f"need AuthType to note auth failure: {r.uri}")
        return
    fn = r.tree.providers.get(("note_auth_failure", t.lower()))
    if fn is not None:
        fn(r)


def require_words(line: str) -> tuple[str, str]:
    """'user a b' -> ('user', 'a b') as ap_getword_white splits a Require line."""
    parts = line.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def conf_words(s: str) -> list[str]:
    """ap_getword_conf over a whole string (quotes group words)."""
    return split_args(s)


# --- ap_cfg_getline over a text file ---------------------------------------------------------
def cfg_lines(path: str) -> list[str]:
    """The lines of a password/group file as ap_cfg_getline returns them: leading and
    trailing blanks removed, a backslash at the end joins the next line."""
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("latin-1")
    out: list[str] = []
    cur = ""
    for raw in text.split("\n"):
        line = raw.rstrip("\r").rstrip(" \t")
        if line.endswith("\\"):
            cur += line[:-1]
            continue
        out.append((cur + line).strip(" \t"))
        cur = ""
    if cur:
        out.append(cur.strip(" \t"))
    return out


# --- host names --------------------------------------------------------------------------------
def in_domain(domain: str, what: str) -> bool:
    """mod_authz_host's in_domain: 'example.org' matches 'www.example.org', not
    'badexample.org'."""
    dl, wl = len(domain), len(what)
    if wl - dl < 0:
        return False
    if domain.lower() != what[wl - dl:].lower():
        return False
    if wl == dl:
        return True
    return domain.startswith(".") or what[wl - dl - 1] == "."


def _double_reverse(ip: str) -> str | None:
    try:
        name = socket.gethostbyaddr(ip)[0]
    except (OSError, UnicodeError):
        return None
    try:
        infos = socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return None
    addrs = {i[4][0] for i in infos}
    if ip in addrs or ("::ffff:" + ip) in addrs:
        return name.lower()
    return None


async def remote_host_double(r: Request) -> str | None:
    """ap_get_remote_host(..., REMOTE_DOUBLE_REV): the client's name when its reverse
    and forward lookups agree, else None. Cached on the connection."""
    c = r.connection
    notes = c.notes
    if "double_reverse" in notes:
        return notes["double_reverse"]  # type: ignore[no-any-return]
    loop = asyncio.get_running_loop()
    name = await loop.run_in_executor(None, _double_reverse, c.client_ip)
    notes["double_reverse"] = name
    if name is not None and getattr(c, "remote_host", None) is None:
        c.remote_host = name
    return name


def is_local(r: Request) -> bool:
    """2.4 Require local: loopback, or the client is the server's own address."""
    ip = r.connection.client_ip
    try:
        a: Any = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return bool(a.is_loopback) or ip == r.connection.local_ip
