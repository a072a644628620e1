"""mod_ldap (util_ldap.c): LDAP connection pooling and result caching for
mod_authnz_ldap, the LDAPTrusted* SSL/TLS settings and the ``ldap-status`` handler.

LDAP calls go through the pure-Python ``ldap3`` library. They block, so each one runs
in a small thread pool (``loop.run_in_executor``) while the worker's event loop goes
on; a pooled connection belongs to one request at a time (uldap_connection_find /
uldap_connection_close). The caches (see :mod:`ldap_cache`) live in each worker's
memory and are only touched from the event loop thread.

Result codes are OpenLDAP's (LDAP_SUCCESS 0, LDAP_COMPARE_TRUE 6, LDAP_SERVER_DOWN -1
...), and ``ldc.reason`` carries util_ldap's wording for the log lines.

Layout: :mod:`.codes` (result codes, modes), :mod:`.config` (the records, the module
object and the directive rows), :mod:`.connection` (the connection pool and per-process
state), :mod:`.operations` (the cached search, bind and compare calls); this file holds
the hooks and the ``ldap-status`` handler.

The API other modules (mod_authnz_ldap) use, as util_ldap.h exports it, is importable
from this package: the ``ldap`` module object, the result codes and modes,
:func:`err2string`, :class:`Connection`, :func:`connection_find`,
:func:`connection_close` and the ``cache_*`` calls.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from featherd.core.hooks import DECLINED, OK
from featherd.filters.buckets import EOS
from featherd.filters.chain import pass_brigade
from featherd.modules.aaa import ldap_cache
from featherd.modules.aaa.mod_ldap.codes import (
    DEREF,
    LDAP_COMPARE_FALSE,
    LDAP_COMPARE_TRUE,
    LDAP_CONNECT_ERROR,
    LDAP_FILTER_ERROR,
    LDAP_INAPPROPRIATE_AUTH,
    LDAP_INSUFFICIENT_ACCESS,
    LDAP_INVALID_CREDENTIALS,
    LDAP_NO_SUCH_ATTRIBUTE,
    LDAP_NO_SUCH_OBJECT,
    LDAP_SERVER_DOWN,
    LDAP_SUCCESS,
    LDAP_TIMEOUT,
    MODE_NAMES,
    NONE,
    SSL_MODE,
    STARTTLS,
    err2string,
    is_server_down,
)
from featherd.modules.aaa.mod_ldap.config import _get, ldap, state
from featherd.modules.aaa.mod_ldap.connection import Connection, connection_close, connection_find
from featherd.modules.aaa.mod_ldap.operations import (
    cache_checkuserid,
    cache_compare,
    cache_comparedn,
    cache_for,
    cache_getuserdn,
)

if TYPE_CHECKING:
    from featherd.core.request import Request


# --- hooks and the status handler ----------------------------------------------------------
@ldap.hook("post_config")
def post_config(tree: Any) -> int:
    st = tree.main.module_config[ldap.index]
    log = tree.main.error_log
    if log is not None and _get(st.cache_bytes, 500000) <= 0:
        log.log(7, "LDAP cache: LDAPSharedCacheSize is zero, disabling shared memory cache")
    return OK


@ldap.handler("ldap-status")
def util_ldap_handler(r: Request) -> int:
    r.allowed_methods.add("GET")
    if r.method not in ("GET", "HEAD"):
        return DECLINED
    r.content_type = "text/html; charset=ISO-8859-1"
    if r.header_only:
        pass_brigade(r, [EOS])
        return OK
    body = ("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n"
            "<html><head><title>LDAP Cache Information</title></head>\n"
            "<body bgcolor='#ffffff'><h1 align=center>LDAP Cache Information</h1>\n")
    st = state(r)
    cache = cache_for(r)
    body += ldap_cache.display(cache, r.uri, r.args)
    if cache is not None and not r.args:
        f = _get(st.cache_file, None)
        body += (f"<p>Cache memory: {cache.budget.used} of {cache.budget.size} bytes used "
                 f"(pid {os.getpid()}{', LDAPSharedCacheFile ' + f if f else ''})</p>\n")
    pass_brigade(r, [body.encode("latin-1", "replace"), EOS])
    return OK


__all__ = [
    "DEREF", "LDAP_COMPARE_FALSE", "LDAP_COMPARE_TRUE", "LDAP_CONNECT_ERROR", "LDAP_FILTER_ERROR",
    "LDAP_INAPPROPRIATE_AUTH", "LDAP_INSUFFICIENT_ACCESS", "LDAP_INVALID_CREDENTIALS",
    "LDAP_NO_SUCH_ATTRIBUTE", "LDAP_NO_SUCH_OBJECT", "LDAP_SERVER_DOWN", "LDAP_SUCCESS",
    "LDAP_TIMEOUT", "MODE_NAMES", "NONE", "SSL_MODE", "STARTTLS", "Connection",
    "cache_checkuserid", "cache_compare", "cache_comparedn", "cache_getuserdn",
    "connection_close", "connection_find", "err2string", "is_server_down", "ldap",
]
