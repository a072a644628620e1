"""The CGI/1.1 environment: RFC 3875 section 4.1 as Apache builds it (util_script.c's
ap_add_common_vars and ap_add_cgi_vars, ap_create_environment).

Shared by mod_cgi (scripts), mod_include (the include variables, ``exec cmd``) and any
module that runs programs. Variables go into ``r.subprocess_env``, whose earlier
entries (SetEnv, SetEnvIf, mod_ssl's HTTPS and SSL_*, REDIRECT_*) come first, as
Apache's table overlap leaves them; :func:`create_environment` turns the table into the
child's environment (bytes, so that header values reach the script unchanged).

Departures from 2.2, taken from 2.4 for safety: request headers whose names hold
characters other than letters, digits and ``-`` are not passed (2.4's http2env: no
``X_Foo`` shadowing ``X-Foo``), and ``Proxy:`` never becomes HTTP_PROXY (httpoxy,
CVE-2016-5387, also in 2.2.32). Authorization and Proxy-Authorization are passed only
with ``CGIPassAuth On`` (2.4.13).
"""

from __future__ import annotations

import functools
import os
import socket
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.core.core_module import core
from featherd.core.handlers import document_root
from featherd.core.http_request import signature
from featherd.core.vhost import server_name, server_port
from featherd.http.status import esc

if TYPE_CHECKING:
    from featherd.core.request import Request

#: httpd's DEFAULT_PATH, when the server has no PATH of its own
DEFAULT_PATH = "/bin:/usr/bin:/usr/ucb:/usr/bsd:/usr/local/bin"
#: the server's own PATH, read once (os.environ decodes on every lookup)
_SERVER_PATH = os.environ.get("PATH") or DEFAULT_PATH
#: ap_escape_shell_cmd's set (gen_test_char.c, T_ESCAPE_SHELL_CMD on Unix)
_SHELL_SPECIAL = frozenset("&;`'\"|*?~<>^()[]{}$\\\n")
#: ap_os_escape_path (ap_escape_uri) leaves these alone
_URI_SAFE = "$-_.+!*'(),:@&=/~"


@functools.lru_cache(maxsize=1024)
def http2env(name: str) -> str | None:
    """``HTTP_`` + the header name upper-cased with ``-`` as ``_``; None for a name
    with any other character (2.4's http2env)."""
    out = ["HTTP_"]
    for ch in name:
        if ch.isascii() and ch.isalnum():
            out.append(ch.upper())
        elif ch == "-":
            out.append("_")
        else:
            return None
    return "".join(out)


def escape_shell_cmd(s: str) -> str:
    """ap_escape_shell_cmd: a backslash before each shell metacharacter."""
    if not any(c in _SHELL_SPECIAL for c in s):
        return s
    return "".join("\\" + c if c in _SHELL_SPECIAL else c for c in s)


def escape_bytes(s: str, safe: str) -> str:
    """%-escape (lower-case hex, as httpd's c2x) every byte that is neither a letter, a
    digit nor in ``safe``."""
    try:
        raw = s.encode("latin-1")
    except UnicodeEncodeError:
        raw = s.encode("utf-8", "surrogateescape")
    out = []
    for b in raw:
        c = chr(b)
        if (c.isascii() and c.isalnum()) or c in safe:
            out.append(c)
        else:
            out.append(f"%{b:02x}")
    return "".join(out)


def escape_uri(path: str) -> str:
    """ap_escape_uri (ap_os_escape_path with partial=1)."""
    return escape_bytes(path, _URI_SAFE)


def unescape_url(s: str) -> str:
    """ap_unescape_url on a copy: %xx decoded (bad escapes stay), '+' kept; a decoded
    NUL ends the string, as in C."""
    if "%" not in s:
        return s
    out = bytearray()
    raw = s.encode("latin-1", "replace")
    i, n = 0, len(raw)
    hexd = b"0123456789abcdefABCDEF"
    while i < n:
        c = raw[i]
        if c == 0x25 and i + 2 < n and raw[i + 1] in hexd and raw[i + 2] in hexd:
            v = int(raw[i + 1:i + 3], 16)
            if v == 0:
                break
            out.append(v)
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("latin-1")


def original_uri(r: Request) -> str:
    """The request-target of the request line (REQUEST_URI), query string included."""
    first = r.the_request
    if not first:
        return r.unparsed_uri or r.uri
    parts = first.split(" ")
    words = [p for p in parts if p]
    if len(words) >= 2:
        return words[1]
    return r.unparsed_uri or r.uri


def find_path_info(uri: str, path_info: str) -> int:
    """ap_find_path_info: where the path info starts in the (decoded) URI, so that
    SCRIPT_NAME is ``uri[:n]`` even when slashes were doubled."""
    lu = len(uri)
    lp = len(path_info)
    while True:
        more = lu != 0
        lu -= 1
        if not more:
            break
        more = lp != 0
        lp -= 1
        if not more or uri[lu] != path_info[lp]:
            break
        if path_info[lp] == "/":
            while lu and uri[lu - 1] == "/":
                lu -= 1
    if lu == -1:
        lu = 0
    n = len(uri)
    while lu < n and uri[lu] != "/":
        lu += 1
    return lu


def remote_host(r: Request) -> str | None:
    """ap_get_remote_host(REMOTE_HOST): the client's name, only with HostnameLookups
    on (or a name already looked up); None otherwise."""
    conn = r.connection
    name = getattr(conn, "remote_host", None)
    if name:
        return name  # type: ignore[no-any-return]
    hl = r.per_dir_config[core.index].hostname_lookups
    if hl is UNSET or hl not in ("on", "double"):
        return None
    try:
        name = socket.gethostbyaddr(conn.client_ip)[0].lower()
    except OSError:
        return None
    try:
        conn.remote_host = name
    except AttributeError:
        pass
    return name


def server_admin(r: Request) -> str:
    return r.server.server_admin or r.tree.main.server_admin or "[no address given]"


def add_common_vars(r: Request, pass_auth: bool = False) -> None:
    """ap_add_common_vars: the request headers as HTTP_*, PATH and the server, client and
    authentication variables. Like Apache's table overlap, they replace entries of the
    same name and keep the position of the existing ones."""
    e: dict[str, str] = {}
    for k, v in r.headers_in:
        lk = k.lower()
        if lk == "content-type":
            _addn(e, "CONTENT_TYPE", v)
        elif lk == "content-length":
            _addn(e, "CONTENT_LENGTH", v)
        elif lk in ("authorization", "proxy-authorization") and not pass_auth:
            continue
        elif lk == "proxy":
            continue                       # httpoxy
        else:
            name = http2env(k)
            if name is not None:
                _addn(e, name, v)
    conn = r.connection
    before, after = _server_vars(r, conn)
    e.update(before)
    host = remote_host(r)
    if host:
        e["REMOTE_HOST"] = host
    e["REMOTE_ADDR"] = conn.client_ip
    e.update(after)
    e["SCRIPT_FILENAME"] = r.filename or ""
    e["REMOTE_PORT"] = str(conn.client_port)
    if r.user:
        e["REMOTE_USER"] = r.user
    else:
        back = r.prev
        while back is not None:
            if back.user:
                e["REDIRECT_REMOTE_USER"] = back.user
                break
            back = back.prev
    if r.ap_auth_type:
        e["AUTH_TYPE"] = r.ap_auth_type
    ident = getattr(conn, "remote_logname", None)
    if ident:
        e["REMOTE_IDENT"] = ident
    if r.prev is not None:
        if r.prev.args:
            e["REDIRECT_QUERY_STRING"] = r.prev.args
        if r.prev.uri:
            e["REDIRECT_URL"] = r.prev.uri
    if getattr(conn, "is_tls", False) and "HTTPS" not in r.subprocess_env:
        e["HTTPS"] = "on"
    overlap(r.subprocess_env, e)


def _server_vars(r: Request, conn: Any) -> tuple[Any, Any]:
    """The variables that depend on the server, the name and port the client used and
    the connection only (those before REMOTE_HOST, those after REMOTE_ADDR): the same
    for every request of a keep-alive connection to the same host, so remembered on the
    connection for the last (server, directory configuration, Host) it was asked for."""
    key = (r.server, r.per_dir_config[core.index], r.hostname, r.parsed_port,
           r.ctx.get("host_port"))
    memo = getattr(conn, "_cgi_server_vars", None)
    if memo is not None:
        k = memo[0]
        if k[0] is key[0] and k[1] is key[1] and k[2] == key[2] and k[3] == key[3] \
                and k[4] == key[4]:
            return memo[1], memo[2]
    sig = signature(r)
    before = (("PATH", _SERVER_PATH),
              ("SERVER_SIGNATURE", sig[5:] if sig.startswith("<hr>\n") else sig),
              ("SERVER_SOFTWARE", getattr(conn, "server_banner", "") or ""),
              ("SERVER_NAME", esc(server_name(r))),
              ("SERVER_ADDR", conn.local_ip),
              ("SERVER_PORT", str(server_port(r))))
    after = (("DOCUMENT_ROOT", document_root(r)), ("SERVER_ADMIN", server_admin(r)))
    try:
        conn._cgi_server_vars = (key, before, after)
    except AttributeError:
        pass
    return before, after


def _addn(e: dict[str, str], name: str, value: str) -> None:
    # apr_table_addn then a SET overlap: for a repeated header the last value wins
    e.pop(name, None)
    e[name] = value


def overlap(env: dict[str, str], new: dict[str, str]) -> None:
    """apr_table_overlap(..., SET) on a case-insensitive table: a name already present
    (in any case) keeps its place and spelling and takes the new value."""
    if not env:
        env.update(new)
        return
    lower = {k.lower(): k for k in env}
    for k, v in new.items():
        old = lower.get(k.lower())
        if old is None:
            env[k] = v
            lower[k.lower()] = k
        else:
            env[old] = v


def add_cgi_vars(r: Request, path_translated: str | None = None,
                 request_uri: str | None = None) -> None:
    """ap_add_cgi_vars without the PATH_TRANSLATED lookup (a sub-request: see
    :func:`path_translated`). A sub-request ("INCLUDED") has its own URI as SCRIPT_NAME
    and PATH_INFO only when there is one."""
    env = r.subprocess_env
    included = r.main is not None
    env["GATEWAY_INTERFACE"] = "CGI/1.1"
    env["SERVER_PROTOCOL"] = "INCLUDED" if included else r.protocol
    env["REQUEST_METHOD"] = r.method
    env["QUERY_STRING"] = r.args if r.args is not None else ""
    env["REQUEST_URI"] = request_uri if request_uri is not None else original_uri(r)
    if included or not r.path_info:
        env["SCRIPT_NAME"] = r.uri
        if r.path_info:
            env["PATH_INFO"] = r.path_info
    else:
        env["SCRIPT_NAME"] = r.uri[:find_path_info(r.uri, r.path_info)]
        env["PATH_INFO"] = r.path_info
    if path_translated is not None:
        env["PATH_TRANSLATED"] = path_translated


async def path_translated(r: Request) -> str | None:
    """PATH_TRANSLATED: PATH_INFO mapped as if it were a URI (a sub-request lookup of
    the re-escaped path)."""
    if not r.path_info:
        return None
    from featherd.core.subrequest import lookup_uri

    sub = await lookup_uri(r, escape_uri(r.path_info), method="GET")
    if sub.filename:
        return sub.filename + (sub.path_info or "")
    return None


def _env_bytes(s: str) -> bytes:
    try:
        b = s.encode("latin-1")
    except UnicodeEncodeError:
        b = s.encode("utf-8", "surrogateescape")
    nul = b.find(b"\x00")
    return b if nul < 0 else b[:nul]


def create_environment(env: dict[str, Any]) -> dict[bytes, bytes]:
    """ap_create_environment: every name made of letters, digits and ``_`` (others
    become ``_``, a leading digit too); values as bytes, cut at a NUL."""
    out: dict[bytes, bytes] = {}
    for k, v in env.items():
        if v is None:
            continue
        name = "".join(c if (c.isascii() and c.isalnum()) or c == "_" else "_" for c in k)
        if name and name[0].isdigit():
            name = "_" + name[1:]
        if not name:
            continue
        out[_env_bytes(name)] = _env_bytes(str(v))
    return out


def add_ssi_vars(r: Request) -> None:
    """mod_cgi's add_ssi_vars for ``exec cmd``: the document's query string (and its
    unescaped, shell-escaped form); PATH_INFO shell-escaped."""
    env = r.subprocess_env
    if r.path_info:
        env["PATH_INFO"] = escape_shell_cmd(r.path_info)
    if r.args is not None:
        env["QUERY_STRING"] = r.args
        env["QUERY_STRING_UNESCAPED"] = escape_shell_cmd(unescape_url(r.args))
