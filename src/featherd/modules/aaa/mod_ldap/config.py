"""mod_ldap's configuration: the server and directory records, the module object and
the directive rows (LDAPSharedCache*, LDAPCache*, LDAPOpCache*, LDAPConnectionTimeout,
LDAPTrusted*, LDAPVerifyServerCert)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.aaa.mod_ldap.codes import CERT_TYPES, GLOBAL_ONLY_TYPES, MODE_NAMES

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request


@dataclass(slots=True)
class LdapServerConfig:
    cache_bytes: Any = UNSET            # LDAPSharedCacheSize
    cache_file: Any = UNSET
    search_cache_ttl: Any = UNSET
    search_cache_size: Any = UNSET
    compare_cache_ttl: Any = UNSET
    compare_cache_size: Any = UNSET
    global_certs: Any = UNSET           # [(TYPE, path, password)]
    secure: Any = UNSET                 # LDAPTrustedMode
    connection_timeout: Any = UNSET
    verify_svr_cert: Any = UNSET


@dataclass(slots=True)
class LdapDirConfig:
    client_certs: Any = UNSET           # LDAPTrustedClientCert per directory


ldap = Module("ldap_module", "util_ldap.c", server_config=LdapServerConfig,
              dir_config=LdapDirConfig,
              description="LDAP connection pooling and result caching services for use by "
                          "other LDAP modules")


def _get(v: Any, default: Any) -> Any:
    return default if v is UNSET else v


def _root(cmd: CmdParms) -> LdapServerConfig:
    """The main server's record: these settings are GLOBAL_ONLY in Apache."""
    return cmd.tree.main.module_config[ldap.index]  # type: ignore[no-any-return]


def _atol(s: str) -> int:
    """atol(): leading digits (with a sign), 0 when none."""
    s = s.strip()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    n = ""
    for ch in s:
        if not ch.isdigit():
            break
        n += ch
    return sign * int(n) if n else 0


@ldap.directive("LDAPSharedCacheSize", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPSharedCacheSize bytes",
                help="Set the size of the shared memory cache (in bytes). Use 0 to disable "
                     "the shared memory cache. (default: 100000) featherd keeps the cache "
                     "in each worker's own memory; the size is the byte budget of that "
                     "cache (full: entries are purged), and 0 disables LDAP caching as "
                     "Apache 2.2 does.")
def set_cache_bytes(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).cache_bytes = max(0, _atol(v))


@ldap.directive("LDAPSharedCacheFile", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPSharedCacheFile directory-path/filename",
                help="Set the file name for the shared memory cache. featherd's LDAP "
                     "caches are per-worker memory that no file backs: the path is only "
                     "resolved against ServerRoot and shown on the ldap-status page.")
def set_cache_file(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).cache_file = cmd.server_root_relative(v)


@ldap.directive("LDAPCacheEntries", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPCacheEntries number",
                help="Set the maximum number of entries that are possible in the LDAP "
                     "search cache. Use 0 or -1 to disable the search cache (default: 1024)")
def set_cache_entries(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).search_cache_size = max(0, _atol(v))


@ldap.directive("LDAPCacheTTL", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPCacheTTL seconds",
                help="Set the maximum time (in seconds) that an item can be cached in the "
                     "LDAP search cache. Use 0 for no limit. (default 600)")
def set_cache_ttl(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).search_cache_ttl = _atol(v)


@ldap.directive("LDAPOpCacheEntries", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPOpCacheEntries number",
                help="Set the maximum number of entries that are possible in the LDAP "
                     "compare cache. Use 0 or -1 to disable the compare cache "
                     "(default: 1024)")
def set_opcache_entries(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).compare_cache_size = max(0, _atol(v))


@ldap.directive("LDAPOpCacheTTL", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPOpCacheTTL seconds",
                help="Set the maximum time (in seconds) that an item is cached in the LDAP "
                     "operation cache. Use 0 for no limit. (default: 600)")
def set_opcache_ttl(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).compare_cache_ttl = _atol(v)


@ldap.directive("LDAPConnectionTimeout", args=ArgSpec.TAKE1, context=Context.SERVER,
                syntax="LDAPConnectionTimeout seconds",
                help="Specify the LDAP socket connection timeout in seconds (default: 10)")
def set_connection_timeout(cmd: CmdParms, conf: Any, v: str) -> None:
    _root(cmd).connection_timeout = _atol(v)


def _cert(cmd: CmdParms, type_: str, path: str, password: str | None, glob: bool) -> tuple:
    t = type_.upper()
    if t not in CERT_TYPES:
        if glob:
            raise DirectiveError(
                f"The certificate type {type_} is not recognised. It should be one of "
                "CA_DER, CA_BASE64, CA_CERT7_DB, CA_SECMOD, CERT_DER, CERT_BASE64, "
                "CERT_KEY3_DB, CERT_NICKNAME, KEY_DER, KEY_BASE64")
        raise DirectiveError(f"The certificate type \"{type_}\" is not recognised. It should "
                             "be one of CA_DER, CA_BASE64, CERT_DER, CERT_BASE64, "
                             "CERT_NICKNAME, CERT_PFX, KEY_DER, KEY_BASE64, KEY_PFX")
    if not glob and t in GLOBAL_ONLY_TYPES:
        raise DirectiveError(f"The certificate type \"{type_}\" is only valid within a "
                             "LDAPTrustedGlobalCert directive. Only CA_DER, CA_BASE64, "
                             "CERT_DER, CERT_BASE64, CERT_NICKNAME, CERT_PFX, KEY_DER, "
                             "KEY_BASE64 and KEY_PFX may be used.")
    if t != "CERT_NICKNAME":
        full = cmd.server_root_relative(path)
        if not os.path.exists(full):
            what = "trusted certificate authority" if glob else "client certificate"
            cmd.warn(f"LDAP: Could not open SSL {what} file - {full}")
            raise DirectiveError("Invalid global certificate file path" if glob
                                 else "Invalid client certificate file path")
        path = full
    return (t, path, password)


@ldap.directive("LDAPTrustedGlobalCert", args=ArgSpec.TAKE23, context=Context.SERVER,
                syntax="LDAPTrustedGlobalCert type directory-path/filename [password]",
                help="Takes three args; the file and/or directory containing the trusted "
                     "CA certificates (and global client certs for Netware) used to validate "
                     "the LDAP server.  Second arg is the cert type for the first arg, one of "
                     "CA_DER, CA_BASE64, CA_CERT7_DB, CA_SECMOD, CERT_DER, CERT_BASE64, "
                     "CERT_KEY3_DB, CERT_NICKNAME, KEY_DER, or KEY_BASE64. Third arg is an "
                     "optional passphrase if applicable.")
def set_trusted_global_cert(cmd: CmdParms, conf: Any, type_: str, path: str,
                            password: str | None) -> None:
    st = _root(cmd)
    st.global_certs = [*_get(st.global_certs, []), _cert(cmd, type_, path, password, True)]


@ldap.directive("LDAPTrustedClientCert", args=ArgSpec.TAKE23,
                context=Context.RSRC | Context.DIR_HTACCESS, override=Override.AUTHCFG,
                syntax="LDAPTrustedClientCert type directory-path/filename/nickname "
                       "[password]",
                help="Takes three args; the file and/or directory containing the client "
                     "certificate, or certificate ID used to validate this LDAP client.  "
                     "Second arg is the cert type for the first arg, one of CA_DER, "
                     "CA_BASE64, CA_CERT7_DB, CA_SECMOD, CERT_DER, CERT_BASE64, "
                     "CERT_KEY3_DB, CERT_NICKNAME, KEY_DER, or KEY_BASE64. Third arg is an "
                     "optional passphrase if applicable.")
def set_trusted_client_cert(cmd: CmdParms, conf: Any, type_: str, path: str,
                            password: str | None) -> None:
    conf.client_certs = [*_get(conf.client_certs, []), _cert(cmd, type_, path, password, False)]


@ldap.directive("LDAPTrustedMode", args=ArgSpec.TAKE1, context=Context.RSRC,
                syntax="LDAPTrustedMode type",
                help="Specify the type of security that should be applied to an LDAP "
                     "connection. One of; NONE, SSL or STARTTLS.")
def set_trusted_mode(cmd: CmdParms, conf: LdapServerConfig, mode: str) -> None:
    m = MODE_NAMES.get(mode.lower())
    if m is None:
        raise DirectiveError("Invalid LDAPTrustedMode setting: must be one of NONE, SSL, or "
                             "TLS/STARTTLS")
    conf.secure = m


@ldap.directive("LDAPVerifyServerCert", args=ArgSpec.FLAG, context=Context.SERVER,
                syntax="LDAPVerifyServerCert On|Off",
                help="Set to 'ON' requires that the server certificate be verified before a "
                     "secure LDAP connection can be establish.  Default 'ON'")
def set_verify_srv_cert(cmd: CmdParms, conf: Any, on: bool) -> None:
    _root(cmd).verify_svr_cert = on


def state(r: Request) -> LdapServerConfig:
    return r.tree.main.module_config[ldap.index]  # type: ignore[no-any-return]
