"""mod_authnz_ldap: the ``ldap`` authn provider (search/bind) for AuthBasicProvider and
``Require ldap-user | ldap-group | ldap-dn | ldap-attribute | ldap-filter``, both as
2.2's auth_checker (with AuthzLDAPAuthoritative) and as 2.4 authz providers for
<RequireAll>/<RequireAny>/<RequireNone>.

LDAP work goes through :mod:`mod_ldap` (pooled connections, thread pool, caches); the
URL, the search filter and the Require ldap-attribute pairs are parsed in
:mod:`.authnz_ldap_search`.
Configuration records merge field by field (as 2.4 does; 2.2 had no merge function, so
a section that set one AuthLDAP* directive lost the others). AuthLDAPCompareDNOnServer
defaults to off, as the code of both versions does (the manual's "on" is a doc error).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.access import requires_for
from featherd.core.hooks import DECLINED, MIDDLE, OK
from featherd.core.module import Module
from featherd.errors import ConfigError, DirectiveError
from featherd.modules.aaa import mod_ldap as util
from featherd.modules.aaa.authnz_ldap_search import (
    CHARSETS,
    LdapURL,
    attribute_pairs,
    build_filter,
    derive_codepage,
    parse_ldap_url,
)
from featherd.modules.aaa.common import (
    AUTH_DENIED,
    AUTH_GENERAL_ERROR,
    AUTH_GRANTED,
    AUTH_USER_NOT_FOUND,
    AUTHZ_DENIED,
    AUTHZ_DENIED_NO_USER,
    AUTHZ_GRANTED,
    DEBUG,
    INFO,
    WARN,
    cfg_lines,
    conf_words,
    note_auth_failure,
    require_words,
)

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

GROUPATTR_MAX_ELTS = 10
AUTHN_PREFIX = "AUTHENTICATE_"
REQ_KEY = "authnz_ldap_req"


@dataclass(slots=True)
class AuthnzLdapConfig:
    url: Any = UNSET                    # LdapURL
    deref: Any = UNSET
    binddn: Any = UNSET
    bindpw: Any = UNSET
    bind_authoritative: Any = UNSET
    user_is_dn: Any = UNSET
    remote_user_attribute: Any = UNSET
    compare_dn_on_server: Any = UNSET
    groupattr: Any = UNSET
    group_attrib_is_dn: Any = UNSET
    auth_authoritative: Any = UNSET


@dataclass(slots=True)
class AuthnzLdapServerConfig:
    charset_config: Any = UNSET


authnz_ldap = Module("authnz_ldap_module", "mod_authnz_ldap.c", dir_config=AuthnzLdapConfig,
                     server_config=AuthnzLdapServerConfig,
                     description="Allows an LDAP directory to be used to store the database "
                                 "for HTTP Basic authentication.")


def _v(v: Any, default: Any) -> Any:
    return default if v is UNSET else v


# --- directives ---------------------------------------------------------------------------------
@authnz_ldap.directive(
    "AuthLDAPURL", args=ArgSpec.TAKE12, context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
    syntax="AuthLDAPUrl url [NONE|SSL|TLS|STARTTLS]",
    help="URL to define LDAP connection. This should be an RFC 2255 complaint URL of the "
         "form ldap://host[:port]/basedn[?attrib[?scope[?filter]]]. Host is the name of the "
         "LDAP server. Use a space separated list of hosts to specify redundant servers. "
         "Port is optional, and specifies the port to connect to. basedn specifies the base "
         "DN to start searches from. Attrib specifies what attribute to search for in the "
         "directory. If not provided, it defaults to uid. Scope is the scope of the search, "
         "and can be either sub or one. If not provided, the default is sub. Filter is a "
         "filter to use in the search. If not provided, defaults to (objectClass=*).")
def auth_ldap_url(cmd: CmdParms, conf: AuthnzLdapConfig, url: str, mode: str | None) -> None:
    try:
        u = parse_ldap_url(url)
    except ValueError as e:
        raise DirectiveError(str(e)) from None
    if mode is not None:
        m = util.MODE_NAMES.get(mode.lower())
        if m is None:
            raise DirectiveError("Invalid LDAP connection mode setting: must be one of NONE, "
                                 "SSL, or TLS/STARTTLS")
        u.secure = m
    if url[:5].lower() == "ldaps":
        u.secure = util.SSL_MODE
    conf.url = u


@authnz_ldap.directive("AuthLDAPBindDN", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                       override=Override.AUTHCFG, syntax="AuthLDAPBindDN distinguished-name",
                       help="DN to use to bind to LDAP server. If not provided, will do an "
                            "anonymous bind.")
def bind_dn(cmd: CmdParms, conf: AuthnzLdapConfig, v: str) -> None:
    conf.binddn = v


@authnz_ldap.directive("AuthLDAPBindPassword", args=ArgSpec.TAKE1,
                       context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                       syntax="AuthLDAPBindPassword password",
                       help="Password to use to bind to LDAP server. If not provided, will do "
                            "an anonymous bind.")
def bind_password(cmd: CmdParms, conf: AuthnzLdapConfig, v: str) -> None:
    if v.startswith("exec:"):
        prog = v[5:]
        try:
            out = subprocess.run(shlex.split(prog), capture_output=True, timeout=30,
                                 check=False).stdout
        except (OSError, ValueError, subprocess.SubprocessError):
            out = b""
        line = out.decode("latin-1").split("\n", 1)[0].rstrip("\r")
        if not out:
            raise DirectiveError(f"Unable to get bind password from exec of {prog}")
        v = line
    conf.bindpw = v


@authnz_ldap.directive("AuthLDAPBindAuthoritative", args=ArgSpec.FLAG,
                       context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                       syntax="AuthLDAPBindAuthoritative off|on",
                       help="Set to 'on' to return failures when user-specific bind fails - "
                            "defaults to on.")
def bind_authoritative(cmd: CmdParms, conf: AuthnzLdapConfig, on: bool) -> None:
    conf.bind_authoritative = on


@authnz_ldap.directive("AuthLDAPRemoteUserIsDN", args=ArgSpec.FLAG,
                       context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                       syntax="AuthLDAPRemoteUserIsDN on|off",
                       help="Set to 'on' to set the REMOTE_USER environment variable to be "
                            "the full DN of the remote user. By default, this is set to off, "
                            "meaning that the REMOTE_USER variable will contain whatever value "
                            "the remote user sent.")
def remote_user_is_dn(cmd: CmdParms, conf: AuthnzLdapConfig, on: bool) -> None:
    conf.user_is_dn = on


@authnz_ldap.directive("AuthLDAPRemoteUserAttribute", args=ArgSpec.TAKE1,
                       context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                       syntax="AuthLDAPRemoteUserAttribute uid",
                       help="Override the user supplied username and place the contents of "
                            "this attribute in the REMOTE_USER environment variable.")
def remote_user_attribute(cmd: CmdParms, conf: AuthnzLdapConfig, v: str) -> None:
    conf.remote_user_attribute = v


@authnz_ldap.directive("AuthzLDAPAuthoritative", args=ArgSpec.FLAG,
                       context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                       syntax="AuthzLDAPAuthoritative on|off",
                       help="Set to 'off' to allow access control to be passed along to lower "
                            "modules if the UserID and/or group is not known to this module")
def authz_authoritative(cmd: CmdParms, conf: AuthnzLdapConfig, on: bool) -> None:
    conf.auth_authoritative = on


@authnz_ldap.directive("AuthLDAPCompareDNOnServer", args=ArgSpec.FLAG,
                       context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                       syntax="AuthLDAPCompareDNOnServer on|off",
                       help="Set to 'on' to force auth_ldap to do DN compares (for the "
                            "\"require dn\" directive) using the server, and set it 'off' to "
                            "do the compares locally (at the expense of possible false "
                            "matches). See the documentation for a complete description of "
                            "this option.")
def compare_dn_on_server(cmd: CmdParms, conf: AuthnzLdapConfig, on: bool) -> None:
    conf.compare_dn_on_server = on


@authnz_ldap.directive("AuthLDAPGroupAttribute", args=ArgSpec.ITERATE,
                       context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                       syntax="AuthLDAPGroupAttribute attribute",
                       help="A list of attributes used to define group membership - defaults "
                            "to member and uniquemember")
def group_attribute(cmd: CmdParms, conf: AuthnzLdapConfig, v: str) -> None:
    cur = _v(conf.groupattr, [])
    if len(cur) > GROUPATTR_MAX_ELTS:
        raise DirectiveError("Too many AuthLDAPGroupAttribute directives")
    conf.groupattr = [*cur, v]


@authnz_ldap.directive("AuthLDAPGroupAttributeIsDN", args=ArgSpec.FLAG,
                       context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                       syntax="AuthLDAPGroupAttributeIsDN on|off",
                       help="If set to 'on', auth_ldap uses the DN that is retrieved from the "
                            "server forsubsequent group comparisons. If set to 'off', auth_ldap "
                            "uses the stringprovided by the client directly. Defaults to 'on'.")
def group_attribute_is_dn(cmd: CmdParms, conf: AuthnzLdapConfig, on: bool) -> None:
    conf.group_attrib_is_dn = on


@authnz_ldap.directive("AuthLDAPDereferenceAliases", args=ArgSpec.TAKE1,
                       context=Context.DIR_HTACCESS, override=Override.AUTHCFG,
                       syntax="AuthLDAPDereferenceAliases never|searching|finding|always",
                       help="Determines how aliases are handled during a search. Can bo one of "
                            "thevalues \"never\", \"searching\", \"finding\", or \"always\". "
                            "Defaults to always.")
def dereference_aliases(cmd: CmdParms, conf: AuthnzLdapConfig, v: str) -> None:
    if v == "never" or v.lower() == "off":
        conf.deref = "never"
    elif v in ("searching", "finding"):
        conf.deref = v
    elif v == "always" or v.lower() == "on":
        conf.deref = "always"
    else:
        raise DirectiveError("Unrecognized value for AuthLDAPAliasDereference directive")


@authnz_ldap.directive("AuthLDAPCharsetConfig", args=ArgSpec.TAKE1, context=Context.RSRC,
                       syntax="AuthLDAPCharsetConfig file-path",
                       help="Character set conversion configuration file. If omitted, "
                            "character setconversion is disabled.")
def charset_config(cmd: CmdParms, conf: AuthnzLdapServerConfig, v: str) -> None:
    conf.charset_config = v


# --- charset conversion (AuthLDAPCharsetConfig): the tables convert_user reads ---------------
@authnz_ldap.hook("post_config")
def post_config(tree: Any) -> int:
    CHARSETS.pop(id(tree), None)
    name = tree.main.module_config[authnz_ldap.index].charset_config
    if name is UNSET:
        return OK
    path = tree.server_root_relative(name)
    try:
        lines = cfg_lines(path)
    except OSError:
        raise ConfigError(f"could not open charset conversion config file {path}.") from None
    table: dict[str, str] = {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        words = conf_words(line)
        if len(words) >= 2:
            table[words[0].lower()] = words[1]
    if derive_codepage(table, "utf-8") is None:
        raise ConfigError(f"could not find the UTF-8 charset in the file {path}.")
    CHARSETS[id(tree)] = table
    return OK


# --- authentication ---------------------------------------------------------------------------------
def _pid() -> str:
    return f"[{os.getpid()}] "


def _find(r: Request, sec: AuthnzLdapConfig) -> util.Connection:
    u: LdapURL = sec.url
    return util.connection_find(r, u.host, _v(sec.binddn, None), _v(sec.bindpw, None),
                                util.DEREF[_v(sec.deref, "always")], u.secure)


def set_request_vars(r: Request, sec: AuthnzLdapConfig, vals: list[str | None] | None) -> bool:
    """AUTHENTICATE_<ATTRIBUTE> for each attribute of the URL; True when the
    AuthLDAPRemoteUserAttribute one set r.user."""
    u: LdapURL = sec.url
    done = False
    rua = _v(sec.remote_user_attribute, None)
    if u.attributes and vals:
        for attr, val in zip(u.attributes, vals, strict=False):
            if val is None:
                continue
            r.subprocess_env[AUTHN_PREFIX + attr.upper()] = val
            if rua is not None and rua == attr:
                r.user = val
                done = True
    return done


class LdapAuthnProvider:
    """authn_ldap_check_password."""

    async def check_password(self, r: Request, user: str, password: str) -> int:
        sec: AuthnzLdapConfig = r.per_dir_config[authnz_ldap.index]
        r.ctx[REQ_KEY] = {"dn": None, "user": None, "vals": None}
        if sec.url is UNSET:
            return AUTH_GENERAL_ERROR
        u: LdapURL = sec.url
        ldc = _find(r, sec)
        try:
            r.log_error(DEBUG, f"{_pid()}auth_ldap authenticate: using URL {u.url}")
            filt = build_filter(r, user, None, u)
            result, dn, vals = await util.cache_checkuserid(
                r, ldc, u.url, u.basedn, u.scope, u.attributes, filt, password)
        finally:
            util.connection_close(ldc)
        if result != util.LDAP_SUCCESS:
            if not _v(sec.bind_authoritative, True):
                r.log_error(DEBUG, f"{_pid()}auth_ldap authenticate: user {user} "
                                   f"authentication failed; URI {r.uri} [{ldc.reason}]"
                                   f"[{util.err2string(result)}] (not authoritative)")
                return AUTH_USER_NOT_FOUND
            r.log_error(INFO, f"{_pid()}auth_ldap authenticate: user {user} authentication "
                              f"failed; URI {r.uri} [{ldc.reason}][{util.err2string(result)}]")
            if result == util.LDAP_NO_SUCH_OBJECT:
                return AUTH_USER_NOT_FOUND
            if result in (util.LDAP_INAPPROPRIATE_AUTH, util.LDAP_INVALID_CREDENTIALS,
                          util.LDAP_INSUFFICIENT_ACCESS):
                return AUTH_DENIED
            return AUTH_GENERAL_ERROR
        r.ctx[REQ_KEY] = {"dn": dn, "user": user, "vals": vals}
        if _v(sec.user_is_dn, False):
            r.user = dn
        rua = _v(sec.remote_user_attribute, None)
        if not set_request_vars(r, sec, vals) and rua is not None:
            r.log_error(WARN, f"{_pid()}auth_ldap authenticate: REMOTE_USER was to be set "
                              f"with attribute '{rua}', but this attribute was not requested "
                              "for in the LDAP query for the user. REMOTE_USER will fall back "
                              "to username or DN as appropriate.")
        r.log_error(DEBUG, f"{_pid()}auth_ldap authenticate: accepting {user}")
        return AUTH_GRANTED


authnz_ldap.provider("authn", "ldap", LdapAuthnProvider())


# --- authorisation ----------------------------------------------------------------------------------
class _Fail(Exception):
    """The user's DN is unknown: 2.2 fails the whole authorisation."""


async def _ensure_req(r: Request, sec: AuthnzLdapConfig, ldc: util.Connection
                      ) -> dict[str, Any] | None:
    req = r.ctx.get(REQ_KEY)
    if not r.user:
        r.log_error(WARN, f"ldap authorize: Userid is blank, AuthType={r.ap_auth_type}")
    if req is None:
        r.log_error(DEBUG, "ldap authorize: Creating LDAP req structure")
        u: LdapURL = sec.url
        filt = build_filter(r, r.user or "", None, u)
        result, dn, vals = await util.cache_getuserdn(r, ldc, u.url, u.basedn, u.scope,
                                                      u.attributes, filt)
        if result != util.LDAP_SUCCESS:
            r.log_error(DEBUG, f"auth_ldap authorise: User DN not found, {ldc.reason}")
            return None
        req = {"dn": dn, "user": r.user, "vals": vals}
        r.ctx[REQ_KEY] = req
    return req  # type: ignore[no-any-return]


def _need_dn(r: Request, req: dict[str, Any], what: str) -> None:
    if not req.get("dn"):
        r.log_error(DEBUG, f"{_pid()}auth_ldap authorise: {what}: user's DN has not been "
                           "defined; failing authorisation")
        raise _Fail


async def _check(r: Request, sec: AuthnzLdapConfig, ldc: util.Connection,
                 req: dict[str, Any], w: str, t: str) -> bool:
    """One ldap-* requirement; True grants. _Fail when the user's DN is missing."""
    u: LdapURL = sec.url
    p = _pid()
    if w == "ldap-user":
        _need_dn(r, req, "require user")
        for value in [t, *conf_words(t)] if t else []:
            result = await util.cache_compare(r, ldc, u.url, req["dn"], u.attribute, value)
            if result == util.LDAP_COMPARE_TRUE:
                r.log_error(DEBUG, f"{p}auth_ldap authorise: require user: authorisation "
                                   "successful")
                return True
            r.log_error(DEBUG, f"{p}auth_ldap authorise: require user: authorisation failed "
                               f"[{ldc.reason}][{util.err2string(result)}]")
        return False
    if w == "ldap-dn":
        _need_dn(r, req, "require dn")
        result = await util.cache_comparedn(r, ldc, u.url, req["dn"], t,
                                            _v(sec.compare_dn_on_server, False))
        if result == util.LDAP_COMPARE_TRUE:
            r.log_error(DEBUG, f"{p}auth_ldap authorise: require dn: authorisation successful")
            return True
        r.log_error(DEBUG, f"{p}auth_ldap authorise: require dn \"{t}\": LDAP error "
                           f"[{ldc.reason}][{util.err2string(result)}]")
        return False
    if w == "ldap-group":
        is_dn = _v(sec.group_attrib_is_dn, True)
        if is_dn:
            _need_dn(r, req, "require group")
        elif not req.get("user"):
            req["user"] = r.user
        who = req["dn"] if is_dn else req["user"]
        r.log_error(DEBUG, f"{p}auth_ldap authorise: require group: testing for group "
                           f"membership in \"{t}\"")
        for attr in _v(sec.groupattr, None) or ["member", "uniquemember"]:
            r.log_error(DEBUG, f"{p}auth_ldap authorise: require group: testing for {attr}: "
                               f"{who} ({t})")
            result = await util.cache_compare(r, ldc, u.url, t, attr, who or "")
            if result == util.LDAP_COMPARE_TRUE:
                r.log_error(DEBUG, f"{p}auth_ldap authorise: require group: authorisation "
                                   f"successful (attribute {attr}) [{ldc.reason}]"
                                   f"[{util.err2string(result)}]")
                return True
            r.log_error(DEBUG, f"{p}auth_ldap authorise: require group \"{t}\": "
                               f"authorisation failed [{ldc.reason}]"
                               f"[{util.err2string(result)}]")
        return False
    if w == "ldap-attribute":
        _need_dn(r, req, "require ldap-attribute")
        for attr, value in attribute_pairs(t):
            r.log_error(DEBUG, f"{p}auth_ldap authorise: checking attribute {attr} has value "
                               f"{value}")
            result = await util.cache_compare(r, ldc, u.url, req["dn"], attr, value)
            if result == util.LDAP_COMPARE_TRUE:
                r.log_error(DEBUG, f"{p}auth_ldap authorise: require attribute: authorisation "
                                   "successful")
                return True
            r.log_error(DEBUG, f"{p}auth_ldap authorise: require attribute: authorisation "
                               f"failed [{ldc.reason}][{util.err2string(result)}]")
        return False
    if w == "ldap-filter":
        _need_dn(r, req, "require ldap-filter")
        if not t:
            return False
        r.log_error(DEBUG, f"{p}auth_ldap authorise: checking filter {t}")
        filt = build_filter(r, req.get("user") or r.user or "", t, u)
        result, dn, _ = await util.cache_getuserdn(r, ldc, u.url, u.basedn, u.scope,
                                                   u.attributes, filt)
        if result == util.LDAP_SUCCESS:
            r.log_error(DEBUG, f"{p}auth_ldap authorise: checking dn match {dn}")
            result = await util.cache_comparedn(r, ldc, u.url, req["dn"], dn or "",
                                                _v(sec.compare_dn_on_server, False))
        if result == util.LDAP_COMPARE_TRUE:
            r.log_error(DEBUG, f"{p}auth_ldap authorise: require ldap-filter: authorisation "
                               "successful")
            return True
        if result == util.LDAP_FILTER_ERROR:
            r.log_error(DEBUG, f"{p}auth_ldap authorise: require ldap-filter: {filt} "
                               f"authorisation failed [{ldc.reason}]"
                               f"[{util.err2string(result)}]")
        else:
            r.log_error(DEBUG, f"{p}auth_ldap authorise: require ldap-filter: authorisation "
                               f"failed [{ldc.reason}][{util.err2string(result)}]")
        return False
    return False


@authnz_ldap.hook("auth_checker", order=MIDDLE - 1)     # before mod_authz_user
async def authz_ldap_check_user_access(r: Request) -> int:
    sec: AuthnzLdapConfig = r.per_dir_config[authnz_ldap.index]
    if sec.url is UNSET:
        return DECLINED
    lines = [require_words(line) for line in requires_for(r) if isinstance(line, str)]
    if not any(w.startswith("ldap-") for w, _ in lines):
        r.log_error(DEBUG, f"{_pid()}auth_ldap authorise: declining to authorise (no ldap "
                           "requirements)")
        return DECLINED
    authoritative = _v(sec.auth_authoritative, True)
    ldc = _find(r, sec)
    try:
        req = await _ensure_req(r, sec, ldc)
        if req is None:
            return 401 if authoritative else DECLINED
        for w, t in lines:
            try:
                if await _check(r, sec, ldc, req, w, t):
                    return OK
            except _Fail:
                return 401 if authoritative else DECLINED
    finally:
        util.connection_close(ldc)
    if not authoritative:
        r.log_error(DEBUG, f"{_pid()}auth_ldap authorise: declining to authorise (not "
                           "authoritative)")
        return DECLINED
    r.log_error(DEBUG, f"{_pid()}auth_ldap authorise: authorisation denied")
    note_auth_failure(r)
    return 401


class LdapRequireProvider:
    """A 2.4 ``Require ldap-*`` provider (granted / denied / denied, no user)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    async def check(self, r: Request, args: str, parsed: Any) -> int:
        if not r.user:
            return AUTHZ_DENIED_NO_USER
        sec: AuthnzLdapConfig = r.per_dir_config[authnz_ldap.index]
        if sec.url is UNSET:
            return AUTHZ_DENIED
        ldc = _find(r, sec)
        try:
            req = await _ensure_req(r, sec, ldc)
            if req is None:
                return AUTHZ_DENIED
            try:
                ok = await _check(r, sec, ldc, req, self.kind, args.strip())
            except _Fail:
                return AUTHZ_DENIED
        finally:
            util.connection_close(ldc)
        return AUTHZ_GRANTED if ok else AUTHZ_DENIED


for _kind in ("ldap-user", "ldap-group", "ldap-dn", "ldap-attribute", "ldap-filter"):
    authnz_ldap.provider("authz", _kind, LdapRequireProvider(_kind))
