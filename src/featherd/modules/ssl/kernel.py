"""mod_ssl's request hooks (ssl_engine_kernel.c).

* post_read_request, first part (ssl_hook_ReadReq + upgrade_connection): on a server
  with ``SSLEngine optional``, a plain request with ``Upgrade: TLS/1.0`` gets ``101
  Switching Protocols``, the TLS handshake runs on the connection and the request is
  answered over TLS (RFC 2817); SSLRequireSSL there answers 426 Upgrade Required;
* post_read_request (ssl_hook_ReadReq): plain HTTP on an SSL port gets the 400 page
  with "You're speaking plain HTTP to an SSL-enabled server port"; a Host must be the
  name the client gave by SNI (400; a request without Host is served, as in 2.4, so
  that the FAQ's ``openssl s_client`` + ``GET / HTTP/1.0`` works);
  SSLStrictSNIVHostCheck refuses clients without SNI on name-based SSL vhosts (403);
* access_checker (ssl_hook_Access): SSLRequireSSL, per-directory SSLVerifyClient /
  SSLVerifyDepth / SSLCipherSuite by renegotiation (TLS 1.2) or post-handshake
  authentication (TLS 1.3), SSLUserName, SSLRequire; the ssl-unclean-shutdown and
  ssl-accurate-shutdown variables;
* check_user_id (ssl_hook_UserCheck): SSLOptions +FakeBasicAuth and +StrictRequire;
* auth_checker (ssl_hook_Auth): +StrictRequire again;
* fixups (ssl_hook_Fixup): HTTPS=on, SSL_TLS_SNI, +StdEnvVars, +ExportCertData and
  SSLUserName for CGI and SSI.
"""

from __future__ import annotations

import base64
import ssl
from typing import TYPE_CHECKING, Any

from featherd.config.merge import UNSET
from featherd.core.hooks import DECLINED, FIRST, MIDDLE
from featherd.errors import HTTPError
from featherd.log import DEBUG, ERROR, INFO, WARN
from featherd.modules.ssl.config import Opt, Options
from featherd.modules.ssl.expr import EvalContext, EvalError, evaluate
from featherd.modules.ssl.mod_ssl import ssl_module
from featherd.modules.ssl.vars import (
    FIXUP_VARS,
    peer_extensions,
    ssl_var_lookup,
    sslconn_of,
)

if TYPE_CHECKING:
    from featherd.core.request import Request

NON_SSL_NOTES = ("Reason: You're speaking plain HTTP to an SSL-enabled server port.<br />\n"
                 " Instead use the HTTPS scheme to access this URL, please.<br />\n")
DEFAULT_RENEG_BUFFER_SIZE = 128 * 1024
_NO_OPTIONS = Options()
_STRENGTH = {"none": 0, "optional_no_ca": 1, "optional": 1, "require": 2}


def _opts(dc: Any) -> Options:
    o = dc.options
    return _NO_OPTIONS if o is UNSET else o  # type: ignore[no-any-return]


# --- SSLEngine optional: RFC 2817 Upgrade to TLS -----------------------------------------------
UPGRADE_TOKEN = "TLS/1.0"
UPGRADE_VALUE = "TLS/1.0, HTTP/1.1"
SWITCH_HEAD = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: TLS/1.0, HTTP/1.1\r\n"
               b"Connection: Upgrade\r\n\r\n")


def _any_optional(tree: Any) -> bool:
    """Hooks.prune: the upgrade hook only runs where some server has SSLEngine optional."""
    return any(ssl_module.sconf(s).enabled == "optional" for s in tree.all_servers())


def _has_token(value: str, token: str) -> bool:
    """ap_find_token: ``token`` is one of the comma/space separated words (any case)."""
    token = token.lower()
    return any(w.strip(" \t").lower() == token for w in value.replace(",", " ").split())


@ssl_module.hook("post_read_request", order=MIDDLE, needs=_any_optional)
def ssl_hook_upgrade(r: Request) -> Any:
    """The first part of 2.2's ssl_hook_ReadReq: with ``SSLEngine optional``, a plain
    request carrying ``Upgrade: TLS/1.0`` gets ``101 Switching Protocols``, the TLS
    handshake runs on the same connection and the request is answered over TLS."""
    t = sslconn_of(r.connection)
    if t is None or not getattr(t, "upgradable", False) or t.sslobj is not None:
        return DECLINED
    if ssl_module.sconf(r.server).enabled != "optional" or r.main is not None:
        return DECLINED
    up = r.headers_in.get("Upgrade")
    if not up or not _has_token(up, UPGRADE_TOKEN):
        return DECLINED
    return upgrade_connection(r, t)       # a coroutine: the caller awaits it


async def upgrade_connection(r: Request, t: Any) -> int:
    """upgrade_connection (ssl_engine_kernel.c): the 101 head, then the handshake."""
    conn = r.connection
    r.log_error(INFO, "upgrading connection to TLS")
    body = r.body
    if body is not None and body.pending:
        # the body travels before the switch: keep it for the handler (as for a
        # renegotiation, up to SSLRenegBufferSize)
        dc = r.per_dir_config[ssl_module.index]
        limit = dc.reneg_buffer_size if dc.reneg_buffer_size is not UNSET else \
            DEFAULT_RENEG_BUFFER_SIZE
        rv = await _buffer_body(r, body, limit)
        if rv:
            r.log_error(ERROR, "could not buffer message body to allow the upgrade to TLS "
                               "to proceed")
            return rv
    srv = t.state.for_server(r.server) if t.state is not None else None
    if srv is None or conn.transport_closed:
        r.log_error(ERROR, "failed to send 101 interim response for connection upgrade")
        return 500
    err = await t.upgrade(srv, r.server, SWITCH_HEAD, float(conn.timeout))
    if err is not None:
        r.log_error(ERROR, f"TLS upgrade handshake failed: not accepted by client!? ({err})")
        conn.aborted = True
        conn.must_close = True
        return 500
    return DECLINED


# --- post_read_request ---------------------------------------------------------------------
@ssl_module.hook("post_read_request", order=MIDDLE, needs=True)
def ssl_hook_read_req(r: Request) -> int:
    t = sslconn_of(r.connection)
    if t is None:
        return DECLINED
    if t.non_ssl_request:
        r.notes["error-notes"] = NON_SSL_NOTES
        t.non_ssl_request = False
        r.connection.must_close = True
        return 400
    if t.sslobj is None:
        return DECLINED
    t.requests += 1
    if t.requests > 1 and _level(r) >= INFO:
        r.log_error(INFO, f"Subsequent (No.{t.requests}) HTTPS request received for child "
                          f"(server {t.srv.vhost_id if t.srv else '?'})")
    sni = t.sni
    if sni:
        # an HTTP/1.0 request without Host is fine (the FAQ's s_client recipe; 2.4)
        host = r.hostname
        if host and host.lower().rstrip(".") != sni:
            r.log_error(ERROR, f"Hostname {sni} provided via SNI and hostname {host} "
                               "provided via HTTP are different")
            return 400
    elif t.group is not None and t.group.name_based:
        strict = (t.srv is not None and t.srv.strict_sni) or \
            ssl_module.sconf(r.server).strict_sni is True
        if strict:
            r.log_error(ERROR, "No hostname was provided via SNI for a name based virtual "
                               "host")
            return 403
    return DECLINED


def _level(r: Request) -> int:
    log = r.server.error_log or r.tree.main.error_log
    return int(log.level) if log is not None else 0


# --- access_checker -----------------------------------------------------------------------------
def _forbidden(r: Request, level: int, reason: str) -> int:
    r.log_error(level, f"access to {r.filename or r.uri} failed, reason: {reason}")
    r.notes["ssl-access-forbidden"] = "1"
    return 403


@ssl_module.hook("access_checker", order=MIDDLE, needs=True)
def ssl_hook_access(r: Request) -> Any:
    """An int at once; an awaitable only when a per-directory renegotiation must wait
    for the client (hooks.call_all: the common request makes no coroutine)."""
    dc = r.per_dir_config[ssl_module.index]
    t = sslconn_of(r.connection)
    on = t is not None and t.sslobj is not None
    if dc.require_ssl is True and not on:
        if ssl_module.sconf(r.server).enabled == "optional":
            # this vhost offers the upgrade: tell the client to take it (2.2)
            r.err_headers_out["Upgrade"] = UPGRADE_VALUE
            r.err_headers_out["Connection"] = "Upgrade"
            return 426
        return _forbidden(r, INFO, "SSL connection required")
    if not on:
        return DECLINED
    env = r.subprocess_env
    if "ssl-unclean-shutdown" in env:
        t.shutdown_type = "unclean"
    elif "ssl-accurate-shutdown" in env:
        t.shutdown_type = "accurate"
    if (dc.verify_client is not UNSET or dc.verify_depth is not UNSET
            or dc.cipher_suite is not UNSET) and r.main is None:
        return _access_after_reneg(r, dc, t)
    return _access_rest(r, dc)


async def _access_after_reneg(r: Request, dc: Any, t: Any) -> int:
    rv = await _per_dir_renegotiation(r, dc, t)
    if rv:
        return rv
    return _access_rest(r, dc)


def _access_rest(r: Request, dc: Any) -> int:
    """SSLUserName and SSLRequire (after any renegotiation)."""
    opts = _opts(dc)
    if dc.user_name is not UNSET and not opts.has(Opt.FAKEBASICAUTH):
        val = ssl_var_lookup(r, dc.user_name)
        if val:
            r.user = val
        else:
            r.log_error(WARN, f"Failed to set r->user to '{dc.user_name}'")
    for req in dc.requires or ():
        ctx = EvalContext(lambda n: ssl_var_lookup(r, n), r, peer_extensions(r))
        try:
            ok = evaluate(req, ctx)
        except EvalError as e:
            return _forbidden(r, ERROR, f"Failed to execute SSL requirement expression: {e}")
        if not ok:
            target = r.filename or r.uri
            r.log_error(INFO, f"Access to {target} denied for {r.connection.client_ip} "
                              "(requirement expression not fulfilled)")
            r.log_error(INFO, f"Failed expression: {req.text}")
            return _forbidden(r, ERROR, "SSL requirement expression not fulfilled (see SSL "
                                        "logfile for more details)")
    return DECLINED


async def _per_dir_renegotiation(r: Request, dc: Any, t: Any) -> int:
    """The per-directory part of ssl_hook_Access: a new handshake when the directory
    asks more than the connection was made with."""
    level = t.verify_level
    depth = t.verify_depth
    new_level = dc.verify_client if dc.verify_client is not UNSET else level
    new_depth = dc.verify_depth if dc.verify_depth is not UNSET else depth
    reneg = False
    if _STRENGTH[new_level] > _STRENGTH[level] or (
            new_level == "optional" and level == "optional_no_ca"):
        reneg = True
        r.log_error(DEBUG, "Changed client verification type will force renegotiation")
    elif new_depth < depth and new_level != "none":
        reneg = True
        r.log_error(DEBUG, "Reduced client verification depth will force renegotiation")
    if reneg and _opts(dc).has(Opt.OPTRENEGOTIATE) and t.client_cert() and \
            t.verify_status() == "SUCCESS" and len(t.client_chain()) <= new_depth:
        # SSLOptions +OptRenegotiate: the certificate already shown passes the stricter
        # settings (verified, chain short enough): no new handshake
        r.log_error(DEBUG, "Performing quick renegotiation: just re-verifying the peer")
        t.verify_level, t.verify_depth = new_level, new_depth
        reneg = False
    ciphers = None
    if dc.cipher_suite is not UNSET:
        current = (t.sslobj.cipher() or ("",))[0]
        if current not in _cipher_names(dc.cipher_suite):
            ciphers = dc.cipher_suite
            reneg = True
            r.log_error(DEBUG, "Reconfigured cipher suite will force renegotiation")
    if not reneg:
        return 0
    body = r.body
    if body is not None and body.pending and not r.expecting_100:
        limit = dc.reneg_buffer_size if dc.reneg_buffer_size is not UNSET else \
            DEFAULT_RENEG_BUFFER_SIZE
        rv = await _buffer_body(r, body, limit)
        if rv:
            r.log_error(ERROR, "could not buffer message body to allow SSL renegotiation to "
                               "proceed")
            return rv
    r.log_error(INFO, "Requesting connection re-negotiation")
    err = await t.renegotiate(new_level, new_depth, ciphers, float(r.connection.timeout))
    if err is not None:
        r.log_error(ERROR, "Re-negotiation request failed")
        r.log_error(ERROR, f"SSL Library Error: {err}")
        if "connection" in err:
            r.connection.aborted = True
        return 403
    r.log_error(INFO, "Awaiting re-negotiation handshake")
    if new_level == "require":
        if t.verify_error is not None:
            r.log_error(ERROR, "Re-negotiation handshake failed: Client verification failed")
            return 403
        if not t.client_cert():
            r.log_error(ERROR, "Re-negotiation handshake failed: Client certificate missing")
            return 403
    if new_level in ("optional", "optional_no_ca") and t.verify_error is not None:
        r.log_error(ERROR, "Re-negotiation handshake failed: Client verification failed")
        return 403
    if ciphers is not None:
        now = (t.sslobj.cipher() or ("",))[0]
        if now not in _cipher_names(ciphers):
            r.log_error(ERROR, f"SSL cipher suite not renegotiated: access to "
                               f"{r.filename or r.uri} denied using cipher {now}")
            return 403
    return 0


_CIPHER_CACHE: dict[str, frozenset[str]] = {}


def _cipher_names(spec: str) -> frozenset[str]:
    names = _CIPHER_CACHE.get(spec)
    if names is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.set_ciphers(spec)
            names = frozenset(c["name"] for c in ctx.get_ciphers()
                              if c.get("protocol") != "TLSv1.3")
        except ssl.SSLError:
            names = frozenset()
        _CIPHER_CACHE[spec] = names
    return names


async def _buffer_body(r: Request, body: Any, limit: int) -> int:
    """ssl_io_buffer_fill: read the body (up to SSLRenegBufferSize) before the new
    handshake, then hand it back to the reader."""
    if limit <= 0:
        return 413
    chunks: list[bytes] = []
    n = 0
    try:
        while True:
            c = await r.read_body()
            if not c:
                break
            n += len(c)
            if n > limit:
                return 413
            chunks.append(c)
    except HTTPError as e:
        return e.status
    body.rest = b"".join(chunks)
    return 0


# --- check_user_id / auth_checker -------------------------------------------------------------
@ssl_module.hook("check_user_id", order=FIRST)
def ssl_hook_user_check(r: Request) -> int:
    dc = r.per_dir_config[ssl_module.index]
    opts = _opts(dc)
    if opts.has(Opt.STRICTREQUIRE) and r.notes.get("ssl-access-forbidden"):
        return 403
    if r.main is not None or r.prev is not None:
        return DECLINED
    auth = r.headers_in.get("Authorization")
    if auth and auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode("latin-1")
        except ValueError:
            decoded = ""
        user, _, password = decoded.partition(":")
        if user.startswith("/") and password == "password":
            r.log_error(ERROR, f"Encountered FakeBasicAuth spoof: {user}")
            return 403
    if not opts.has(Opt.FAKEBASICAUTH) or r.user:
        return DECLINED
    t = sslconn_of(r.connection)
    if t is None or t.sslobj is None or not t.client_cert():
        return DECLINED
    var = dc.user_name if dc.user_name is not UNSET else "SSL_CLIENT_S_DN"
    name = ssl_var_lookup(r, var)
    if not name:
        return DECLINED
    line = "Basic " + base64.b64encode(f"{name}:password".encode("latin-1")).decode("ascii")
    r.headers_in["Authorization"] = line
    r.log_error(INFO, f'Faking HTTP Basic Auth header: "{line}"')
    return DECLINED


@ssl_module.hook("auth_checker", order=MIDDLE)
def ssl_hook_auth(r: Request) -> int:
    dc = r.per_dir_config[ssl_module.index]
    if _opts(dc).has(Opt.STRICTREQUIRE) and r.notes.get("ssl-access-forbidden"):
        return 403
    return DECLINED


# --- fixups ----------------------------------------------------------------------------------
# computed once, tested as an int: enum.Flag's & and | are Python-level and slow
_ENV_BITS = (Opt.STDENVVARS | Opt.EXPORTCERTDATA)._value_

@ssl_module.hook("fixups", order=MIDDLE, needs=True)
def ssl_hook_fixup(r: Request) -> int:
    t = sslconn_of(r.connection)
    if t is None or t.sslobj is None:
        return DECLINED
    env = r.subprocess_env
    env["HTTPS"] = "on"
    if t.sni:
        env["SSL_TLS_SNI"] = t.sni
    dc = r.per_dir_config[ssl_module.index]
    opts = _opts(dc)
    if opts.opts._value_ & _ENV_BITS:
        if opts.has(Opt.STDENVVARS):
            for var in FIXUP_VARS:
                val = ssl_var_lookup(r, var)
                if val:
                    env[var] = val
            for who in ("CLIENT", "SERVER"):
                for kind in ("DNS", "Email"):
                    i = 0
                    while True:
                        val = ssl_var_lookup(r, f"SSL_{who}_SAN_{kind}_{i}")
                        if not val:
                            break
                        env[f"SSL_{who}_SAN_{kind}_{i}"] = val
                        i += 1
        if opts.has(Opt.EXPORTCERTDATA):
            env["SSL_SERVER_CERT"] = ssl_var_lookup(r, "SSL_SERVER_CERT")
            env["SSL_CLIENT_CERT"] = ssl_var_lookup(r, "SSL_CLIENT_CERT")
            for i in range(len(t.client_chain())):
                val = ssl_var_lookup(r, f"SSL_CLIENT_CERT_CHAIN_{i}")
                if val:
                    env[f"SSL_CLIENT_CERT_CHAIN_{i}"] = val
    if dc.user_name is not UNSET:
        val = ssl_var_lookup(r, dc.user_name)
        if val:
            r.user = val
    return DECLINED


# --- 2.4's authorization providers: Require ssl, Require ssl-verify-client ----------------
class SSLRequireProvider:
    """``Require ssl``: granted on an SSL connection (unlike SSLRequireSSL it combines
    with other Require lines in <RequireAny>/<RequireAll>)."""

    def check(self, r: Request, args: str, parsed: Any) -> int:
        from featherd.modules.aaa.common import AUTHZ_DENIED, AUTHZ_GRANTED

        t = sslconn_of(r.connection)
        return AUTHZ_GRANTED if t is not None and t.sslobj is not None else AUTHZ_DENIED


class SSLVerifyClientProvider:
    """``Require ssl-verify-client``: granted to a client that showed a certificate
    that verified (useful with SSLVerifyClient optional)."""

    def check(self, r: Request, args: str, parsed: Any) -> int:
        from featherd.modules.aaa.common import AUTHZ_DENIED, AUTHZ_GRANTED

        t = sslconn_of(r.connection)
        if t is not None and t.sslobj is not None and t.verify_status() == "SUCCESS":
            return AUTHZ_GRANTED
        return AUTHZ_DENIED


ssl_module.provider("authz", "ssl", SSLRequireProvider())
ssl_module.provider("authz", "ssl-verify-client", SSLVerifyClientProvider())

__all__ = ["NON_SSL_NOTES", "ssl_hook_access", "ssl_hook_fixup", "ssl_hook_read_req"]
