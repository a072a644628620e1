"""mod_auth_digest: HTTP Digest authentication (RFC 2617) as Apache 2.2 does it.

Nonces are Apache's: the request time (8 bytes, base64, 12 characters) followed by the
hex SHA-1 of a per-server secret, that time and the opaque value, so a nonce is checked
without server state. Clients get a record in memory shared by the worker processes
(AuthDigestShmemSize) when something needs it: nonce-count checking
(AuthDigestNcCheck), one-time nonces (AuthDigestNonceLifetime 0) and MD5-sess. The
opaque value is the hex key of that record.

This file holds the configuration, the hooks and the nonce checks; the client records,
the header parser and the digests are in :mod:`.auth_digest_proto`.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.access import auth_name, auth_type
from featherd.core.hooks import DECLINED, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.aaa.auth_digest_proto import (
    NONCE_LEN,
    NONCE_TIME_LEN,
    ClientTable,
    DigestResp,
    ha1_for,
    md5_hex,
    new_digest,
    nonce_hash,
    old_digest,
    parse_digest_header,
    uri_matches,
)
from featherd.modules.aaa.common import (
    AUTH_DENIED,
    AUTH_USER_FOUND,
    AUTH_USER_NOT_FOUND,
    AUTHN_DEFAULT_PROVIDER,
    AUTHN_PROVIDER_NAME_NOTE,
    ERROR,
    INFO,
    authn_provider_list,
    maybe_await,
)

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

NEXTNONCE_DELTA = 30.0
DEF_SHMEM_SIZE = 1000
MIN_SHMEM_SIZE = 136


@dataclass(slots=True)
class DigestConfig:
    providers: Any = UNSET
    qop: Any = UNSET          # list of "auth"; ["none"]; UNSET = default (auth)
    nonce_lifetime: Any = UNSET
    algorithm: Any = UNSET
    uri_list: Any = UNSET
    check_nc: Any = UNSET


@dataclass(slots=True)
class DigestServerConfig:
    shmem_size: Any = UNSET


auth_digest = Module("auth_digest_module", "mod_auth_digest.c", dir_config=DigestConfig,
                     server_config=DigestServerConfig,
                     description="User authentication using MD5 Digest Authentication")

DIR = Context.DIR_HTACCESS
AUTHCFG = Override.AUTHCFG


@auth_digest.directive("AuthDigestProvider", args=ArgSpec.ITERATE, context=DIR,
                       override=AUTHCFG,
                       syntax="AuthDigestProvider provider-name [provider-name] ...",
                       help="specify the auth providers for a directory or location")
def digest_provider(cmd: CmdParms, conf: DigestConfig, name: str) -> None:
    authn_provider_list(cmd, name, "get_realm_hash", "Digest")
    conf.providers = [*(conf.providers or []), name]


@auth_digest.directive("AuthDigestQop", args=ArgSpec.ITERATE, context=DIR, override=AUTHCFG,
                       syntax="AuthDigestQop none|auth|auth-int [auth|auth-int]",
                       help="A list of quality-of-protection options")
def digest_qop(cmd: CmdParms, conf: DigestConfig, op: str) -> None:
    lo = op.lower()
    if lo == "none":
        conf.qop = ["none"]
        return
    if lo == "auth-int":
        raise DirectiveError("AuthDigestQop auth-int is not implemented")
    if lo != "auth":
        raise DirectiveError(f"Unrecognized qop: {op}")
    cur = [] if conf.qop is UNSET or conf.qop == ["none"] else list(conf.qop)
    conf.qop = [*cur, op]


@auth_digest.directive("AuthDigestNonceLifetime", args=ArgSpec.TAKE1, context=DIR,
                       override=AUTHCFG, syntax="AuthDigestNonceLifetime seconds",
                       help="Maximum lifetime of the server nonce (seconds)")
def digest_nonce_lifetime(cmd: CmdParms, conf: DigestConfig, t: str) -> None:
    s = t.strip()
    digits = s[1:] if s[:1] in "+-" else s
    if not digits.isdigit():
        raise DirectiveError(f"Invalid time in AuthDigestNonceLifetime: {t}")
    conf.nonce_lifetime = float(int(s))


@auth_digest.directive("AuthDigestNonceFormat", args=ArgSpec.TAKE1, context=DIR,
                       override=AUTHCFG, syntax="AuthDigestNonceFormat format",
                       help="The format to use when generating the server nonce")
def digest_nonce_format(cmd: CmdParms, conf: DigestConfig, fmt: str) -> None:
    raise DirectiveError("AuthDigestNonceFormat is not implemented (yet)")


@auth_digest.directive("AuthDigestNcCheck", args=ArgSpec.FLAG, context=DIR, override=AUTHCFG,
                       syntax="AuthDigestNcCheck On|Off",
                       help="Whether or not to check the nonce-count sent by the client")
def digest_nc_check(cmd: CmdParms, conf: DigestConfig, on: bool) -> None:
    conf.check_nc = on


@auth_digest.directive("AuthDigestAlgorithm", args=ArgSpec.TAKE1, context=DIR,
                       override=AUTHCFG, syntax="AuthDigestAlgorithm MD5|MD5-sess",
                       help="The algorithm used for the hash calculation")
def digest_algorithm(cmd: CmdParms, conf: DigestConfig, alg: str) -> None:
    la = alg.lower()
    if la == "md5-sess":
        conf.algorithm = "MD5-sess"
    elif la == "md5":
        conf.algorithm = "MD5"
    else:
        raise DirectiveError(f"Invalid algorithm in AuthDigestAlgorithm: {alg}")


@auth_digest.directive("AuthDigestDomain", args=ArgSpec.ITERATE, context=DIR,
                       override=AUTHCFG, syntax="AuthDigestDomain URI [URI] ...",
                       help="A list of URI's which belong to the same protection space as "
                            "the current URI")
def digest_domain(cmd: CmdParms, conf: DigestConfig, uri: str) -> None:
    conf.uri_list = [*(conf.uri_list or []), uri]


@auth_digest.directive("AuthDigestShmemSize", args=ArgSpec.TAKE1, context=Context.SERVER,
                       syntax="AuthDigestShmemSize size",
                       help="The amount of shared memory to allocate for keeping track of "
                            "clients")
def digest_shmem_size(cmd: CmdParms, conf: DigestServerConfig, v: str) -> None:
    s = v.strip()
    i = 0
    if s[:1] in "+-":
        i = 1
    while i < len(s) and s[i].isdigit():
        i += 1
    num = s[:i]
    try:
        size = int(num) if num not in ("", "+", "-") else 0
    except ValueError:
        size = 0
    suffix = s[i:].lstrip()
    if suffix in ("", "b", "B"):
        pass
    elif suffix[:1] in "kK" and len(suffix) == 1:
        size *= 1024
    elif suffix[:1] in "mM" and len(suffix) == 1:
        size *= 1048576
    else:
        raise DirectiveError(f"Invalid size in AuthDigestShmemSize: {v}")
    if size < MIN_SHMEM_SIZE:
        raise DirectiveError(f"size in AuthDigestShmemSize too small: {size} < {MIN_SHMEM_SIZE}")
    conf.shmem_size = size


# --- shared state: the client records (created before the workers fork) --------------------
def _table(r: Request) -> ClientTable:
    t = r.tree.extra.get("digest_clients")
    if t is None:
        t = _make_table(r.tree)
    return t  # type: ignore[no-any-return]


def _make_table(tree: Any) -> ClientTable:
    size = tree.main.module_config[auth_digest.index].shmem_size
    t = ClientTable(DEF_SHMEM_SIZE if size is UNSET else size)
    tree.extra["digest_clients"] = t
    return t


@auth_digest.hook("post_config")
def initialize_module(tree: Any) -> int:
    _make_table(tree)      # before the workers fork, so that they share it
    return OK


# --- the client's header ---------------------------------------------------------------------
@auth_digest.hook("post_read_request", needs=("AuthType",))
def parse_hdr_and_update_nc(r: Request) -> int:
    # nothing to parse without credentials (the hot path of every public request);
    # _resp() parses on demand when a Digest-protected resource needs the record
    if r.headers_in.get("Authorization") is None:
        return DECLINED
    return _parse_hdr(r)


def _parse_hdr(r: Request) -> int:
    resp = DigestResp()
    resp.raw_request_uri = r.unparsed_uri
    resp.method = r.method
    r.ctx["digest_resp"] = resp
    st = parse_digest_header(r.headers_in.get("Authorization"), resp)
    r.ctx["digest_sts"] = st
    if st == "VALID" and resp.opaque_num:
        t = _table(r)
        c = t.get(resp.opaque_num)
        if c is not None:
            c[0] += 1
            t.put(resp.opaque_num, c[0], c[1], c[2])
            resp.client = c
    return DECLINED


# --- nonces ------------------------------------------------------------------------------------
def gen_nonce(r: Request, now: float, opaque: str | None, lifetime: float) -> str:
    t = _table(r)
    if lifetime != 0:
        tv = int(now * 1_000_000)
    else:
        tv = t.next_otn()
    timestr = base64.b64encode(struct.pack("<q", tv)).decode()
    return timestr + nonce_hash(t.secret, timestr, opaque)


def _dconf(r: Request) -> DigestConfig:
    return r.per_dir_config[auth_digest.index]  # type: ignore[no-any-return]


def _lifetime(c: DigestConfig) -> float:
    return 300.0 if c.nonce_lifetime is UNSET else float(c.nonce_lifetime)


def _algorithm(c: DigestConfig) -> str:
    return "MD5" if c.algorithm is UNSET else str(c.algorithm)


def _resp(r: Request) -> DigestResp:
    m = r.initial
    resp = m.ctx.get("digest_resp")
    if resp is None:
        _parse_hdr(m)
        resp = m.ctx["digest_resp"]
    return resp  # type: ignore[no-any-return]


def note_digest_auth_failure(r: Request, resp: DigestResp | None = None, stale: bool = False) -> None:
    conf = _dconf(r)
    resp = resp if resp is not None else _resp(r)
    t = _table(r)
    qop_list = conf.qop
    if qop_list is UNSET or not qop_list:
        qop = ', qop="auth"'
    elif qop_list[0].lower() == "none":
        qop = ""
    else:
        qop = ', qop="' + ",".join(qop_list) + '"'
    lifetime = _lifetime(conf)
    alg = _algorithm(conf)
    check_nc = conf.check_nc is True
    if resp.opaque is None:
        if check_nc or lifetime == 0 or alg == "MD5-sess":
            key = t.gen()
            resp.client = t.get(key)
            resp.opaque_num = key
            opaque = format(key, "x")
        else:
            opaque = ""
    elif resp.client is None:
        key = t.gen()
        resp.client = t.get(key)
        resp.opaque_num = key
        opaque = format(key, "x")
        stale = False
    else:
        opaque = resp.opaque
        resp.client[0] = 0
        t.put(resp.opaque_num, 0, resp.client[1], resp.client[2])
    nonce = gen_nonce(r, r.request_time, opaque or None, lifetime)
    if resp.client is not None and lifetime == 0:
        resp.client[1] = nonce
        t.put(resp.opaque_num, resp.client[0], nonce, resp.client[2])
    opaque_param = f', opaque="{opaque}"' if opaque else ""
    domain = ""
    if conf.uri_list is not UNSET and conf.uri_list:
        domain = ', domain="' + " ".join(conf.uri_list) + '"'
    r.err_headers_out.merge(
        "WWW-Authenticate",
        f'Digest realm="{auth_name(r) or ""}", nonce="{nonce}", algorithm={alg}'
        f'{opaque_param}{domain}{", stale=true" if stale else ""}{qop}')


auth_digest.provider("note_auth_failure", "digest", lambda r: note_digest_auth_failure(r))


def check_nonce(r: Request, resp: DigestResp, conf: DigestConfig) -> int:
    nonce = resp.nonce or ""
    if len(nonce) != NONCE_LEN:
        r.log_error(ERROR, f"Digest: invalid nonce {nonce} received - length is not "
                           f"{NONCE_LEN}")
        note_digest_auth_failure(r, resp, True)
        return 401
    timestr = nonce[:NONCE_TIME_LEN]
    try:
        tv = struct.unpack("<q", base64.b64decode(timestr)[:8].ljust(8, b"\0"))[0]
    except (ValueError, struct.error):
        tv = 0
    t = _table(r)
    want = nonce_hash(t.secret, timestr, resp.opaque)
    resp.nonce_time = tv
    if want != nonce[NONCE_TIME_LEN:]:
        r.log_error(ERROR, f"Digest: invalid nonce {nonce} received - hash is not {want}")
        note_digest_auth_failure(r, resp, True)
        return 401
    lifetime = _lifetime(conf)
    dt = r.request_time - tv / 1_000_000
    if lifetime > 0 and dt < -1:
        r.log_error(ERROR, f"Digest: invalid nonce {nonce} received - user attempted time "
                           "travel")
        note_digest_auth_failure(r, resp, True)
        return 401
    if lifetime > 0:
        if dt > lifetime:
            r.log_error(INFO, f"Digest: user {r.user}: nonce expired ({float(int(dt)):.2f} "
                              f"seconds old - max lifetime {lifetime:.2f}) - sending new nonce")
            note_digest_auth_failure(r, resp, True)
            return 401
    elif lifetime == 0 and resp.client is not None:
        if resp.client[1] != nonce:
            r.log_error(INFO, f"Digest: user {r.user}: one-time-nonce mismatch - sending new "
                              "nonce")
            note_digest_auth_failure(r, resp, True)
            return 401
    return OK


def check_nc(r: Request, resp: DigestResp, conf: DigestConfig) -> bool:
    if conf.check_nc is not True:
        return True
    qop = conf.qop
    if qop is not UNSET and qop and qop[0].lower() == "none":
        if resp.nonce_count is not None:
            r.log_error(ERROR, f"Digest: invalid nc {resp.nonce_count} received - no nonce "
                               "count allowed when qop=none")
            return False
        return True
    snc = resp.nonce_count or ""
    j = 0
    while j < len(snc) and snc[j] in "0123456789abcdefABCDEF":
        j += 1
    if j < len(snc) and not snc[j].isspace():
        r.log_error(ERROR, f"Digest: invalid nc {snc} received - not a number")
        return False
    nc = int(snc[:j], 16) if j else 0
    if resp.client is None:
        return False
    if nc != resp.client[0]:
        r.log_error(ERROR, f"Digest: Warning, possible replay attack: nonce-count check "
                           f"failed: {nc} != {resp.client[0]}")
        return False
    return True


async def get_hash(r: Request, user: str, conf: DigestConfig, realm: str) -> tuple[int, str | None]:
    names = conf.providers if conf.providers is not UNSET else [AUTHN_DEFAULT_PROVIDER]
    result: tuple[int, str | None] = (AUTH_USER_NOT_FOUND, None)
    for name in names:
        prov = r.tree.providers.get(("authn", name))
        if prov is None or getattr(prov, "get_realm_hash", None) is None:
            r.log_error(ERROR, "No Authn provider configured")
            return (4, None)
        r.notes[AUTHN_PROVIDER_NAME_NOTE] = name
        try:
            result = await maybe_await(prov.get_realm_hash(r, user, realm))
        finally:
            r.notes.pop(AUTHN_PROVIDER_NAME_NOTE, None)
        if result[0] != AUTH_USER_NOT_FOUND:
            break
    return result


@auth_digest.hook("check_user_id")
async def authenticate_digest_user(r: Request) -> int:
    t = auth_type(r)
    if t is None or t.lower() != "digest":
        return DECLINED
    realm = auth_name(r)
    if realm is None:
        r.log_error(ERROR, f"Digest: need AuthName: {r.uri}")
        return 500
    resp = _resp(r)
    resp.needed_auth = True
    conf = _dconf(r)
    sts = r.initial.ctx.get("digest_sts", "NO_HEADER")
    if sts != "VALID":
        if sts == "NOT_DIGEST":
            r.log_error(ERROR, f"Digest: client used wrong authentication scheme "
                               f"`{resp.scheme}': {r.uri}")
        elif sts == "INVALID":
            r.log_error(ERROR, "Digest: missing user, realm, nonce, uri, digest, cnonce, or "
                               f"nonce_count in authorization header: {r.uri}")
        note_digest_auth_failure(r, resp, False)
        return 401
    r.user = resp.username
    r.ap_auth_type = "Digest"
    if resp.uri != resp.raw_request_uri and not uri_matches(r, resp):
        r.log_error(ERROR, f"Digest: uri mismatch - <{resp.uri}> does not match request-uri "
                           f"<{resp.raw_request_uri}>")
        return 400
    if resp.opaque is not None and resp.opaque_num == 0:
        r.log_error(ERROR, f"Digest: received invalid opaque - got `{resp.opaque}'")
        note_digest_auth_failure(r, resp, False)
        return 401
    if resp.realm != realm:
        r.log_error(ERROR, f"Digest: realm mismatch - got `{resp.realm}' but expected "
                           f"`{realm}'")
        note_digest_auth_failure(r, resp, False)
        return 401
    if resp.algorithm is not None and resp.algorithm.lower() not in ("md5", "md5-sess"):
        r.log_error(ERROR, f"Digest: unknown algorithm `{resp.algorithm}' received: {r.uri}")
        note_digest_auth_failure(r, resp, False)
        return 401
    st, ha1 = await get_hash(r, resp.username or "", conf, realm)
    if st == AUTH_USER_NOT_FOUND:
        r.log_error(ERROR, f"Digest: user `{r.user}' in realm `{realm}' not found: {r.uri}")
        note_digest_auth_failure(r, resp, False)
        return 401
    if st == AUTH_DENIED:
        r.log_error(ERROR, f"Digest: user `{r.user}' in realm `{realm}' denied by provider: "
                           f"{r.uri}")
        note_digest_auth_failure(r, resp, False)
        return 401
    if st != AUTH_USER_FOUND or ha1 is None:
        return 500
    r.ctx["digest_ha1"] = ha1
    if resp.message_qop is None:
        ok = resp.digest == old_digest(r, resp, ha1)
    else:
        qops = conf.qop
        match = qops is not UNSET and any(q.lower() == resp.message_qop.lower() for q in qops)
        if not match and not ((qops is UNSET or not qops)
                              and resp.message_qop.lower() == "auth"):
            r.log_error(ERROR, f"Digest: invalid qop `{resp.message_qop}' received: {r.uri}")
            note_digest_auth_failure(r, resp, False)
            return 401
        ok = resp.digest == new_digest(r, resp, conf, ha1)
    if not ok:
        r.log_error(ERROR, f"Digest: user {r.user}: password mismatch: {r.uri}")
        note_digest_auth_failure(r, resp, False)
        return 401
    if not check_nc(r, resp, conf):
        note_digest_auth_failure(r, resp, False)
        return 401
    return check_nonce(r, resp, conf)


@auth_digest.hook("fixups", needs=("AuthType",))
def add_auth_info(r: Request) -> int:
    if r.main is not None:
        return OK
    resp: DigestResp | None = r.initial.ctx.get("digest_resp")
    ha1 = r.ctx.get("digest_ha1")
    if resp is None or not resp.needed_auth or ha1 is None:
        return OK
    conf = _dconf(r)
    lifetime = _lifetime(conf)
    nextnonce = ""
    t = _table(r)
    if lifetime > 0:
        if r.request_time - resp.nonce_time / 1_000_000 > lifetime - NEXTNONCE_DELTA:
            nextnonce = f', nextnonce="{gen_nonce(r, r.request_time, resp.opaque, lifetime)}"'
            if resp.client is not None:
                resp.client[0] = 0
                t.put(resp.opaque_num, 0, resp.client[1], resp.client[2])
    elif lifetime == 0 and resp.client is not None:
        nonce = gen_nonce(r, 0, resp.opaque, lifetime)
        nextnonce = f', nextnonce="{nonce}"'
        resp.client[1] = nonce
        t.put(resp.opaque_num, resp.client[0], nonce, resp.client[2])
    qops = conf.qop
    if qops is not UNSET and qops and qops[0].lower() == "none" and resp.message_qop is None:
        ai = nextnonce[2:] if nextnonce else ""
    else:
        ha2 = md5_hex(f":{resp.uri}")
        dig = md5_hex(f"{ha1_for(r, resp, conf, ha1)}:{resp.nonce}:{resp.nonce_count or ''}:"
                   f"{resp.cnonce or ''}:{resp.message_qop or ''}:{ha2}")
        cn = resp.cnonce.replace('"', '\\"') if resp.cnonce is not None else None
        ai = (f'rspauth="{dig}"{nextnonce}'
              + (f', cnonce="{cn}"' if cn is not None else "")
              + (f", nc={resp.nonce_count}" if resp.nonce_count is not None else "")
              + (f", qop={resp.message_qop}" if resp.message_qop is not None else ""))
    if ai:
        r.headers_out.merge("Authentication-Info", ai)
    return OK

