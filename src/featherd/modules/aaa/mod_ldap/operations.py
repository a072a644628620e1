"""mod_ldap's cached operations (uldap_cache_checkuserid, _getuserdn, _compare,
_comparedn): each LDAP call runs in the worker's thread pool, its result is remembered
in the worker's caches (:mod:`featherd.modules.aaa.ldap_cache`) for the configured TTLs."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from featherd.modules.aaa.ldap_cache import CacheState, CompareNode, SearchNode
from featherd.modules.aaa.mod_ldap.codes import (
    LDAP_COMPARE_FALSE,
    LDAP_COMPARE_TRUE,
    LDAP_INVALID_CREDENTIALS,
    LDAP_NO_SUCH_ATTRIBUTE,
    LDAP_NO_SUCH_OBJECT,
    LDAP_SERVER_DOWN,
    LDAP_SUCCESS,
    is_server_down,
)
from featherd.modules.aaa.mod_ldap.config import _get, state
from featherd.modules.aaa.mod_ldap.connection import Connection, _proc

if TYPE_CHECKING:
    from featherd.core.request import Request


def cache_for(r: Request) -> CacheState | None:
    """The worker's cache (None when LDAPSharedCacheSize is 0, as in Apache 2.2)."""
    st = state(r)
    size = _get(st.cache_bytes, 500000)
    if size <= 0:
        return None
    p = _proc()
    key = (id(r.tree), size, _get(st.search_cache_size, 1024), _get(st.compare_cache_size, 1024))
    if p.cache is None or p.cache_key != key:
        log = r.tree.main.error_log

        def logger(level: int, msg: str) -> None:
            if log is not None:
                log.log(level, msg)
        p.cache = CacheState(size, key[2], key[3], logger)
        p.cache_key = key
    return p.cache


def _ttls(r: Request) -> tuple[float, float]:
    st = state(r)
    return float(_get(st.search_cache_ttl, 600)), float(_get(st.compare_cache_ttl, 600))


async def _run(fn: Any, *args: Any) -> Any:
    p = _proc()
    if p.executor is None:
        p.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ldap")
    return await asyncio.get_running_loop().run_in_executor(p.executor, fn, *args)


def _values(entry: dict[str, Any], attrs: list[str] | None) -> list[str | None] | None:
    """The attributes' values as util_ldap returns them: several joined with '; '."""
    if not attrs:
        return None
    raw = {k.lower(): v for k, v in (entry.get("raw_attributes") or {}).items()}
    out: list[str | None] = []
    for a in attrs:
        vs = raw.get(a.lower())
        out.append("; ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                             for v in vs) if vs else None)
    return out


def _search_blocking(ldc: Connection, basedn: str, scope: int, filt: str,
                     attrs: list[str] | None, bindpw: str | None, check_pw: bool
                     ) -> tuple[int, str | None, list[str | None] | None]:
    import ldap3

    for _ in range(3):
        rc = ldc.open()
        if rc != LDAP_SUCCESS:
            return rc, None, None
        scope_v = ldap3.LEVEL if scope == 1 else ldap3.SUBTREE
        rc, resp = ldc.call("search", basedn, filt, search_scope=scope_v,
                            dereference_aliases=ldc.deref, attributes=attrs or ["1.1"])
        if is_server_down(rc):
            ldc.reason = "ldap_search_ext_s() for user failed with server down"
            ldc.unbind()
            continue
        if rc != LDAP_SUCCESS:
            ldc.reason = "ldap_search_ext_s() for user failed"
            return rc, None, None
        entries = [e for e in (resp or []) if e.get("type") == "searchResEntry"]
        if len(entries) != 1:
            ldc.reason = "User not found" if not entries else \
                "User is not unique (search found two or more matches)"
            return LDAP_NO_SUCH_OBJECT, None, None
        dn = entries[0]["dn"]
        vals = _values(entries[0], attrs)
        if not check_pw:
            ldc.reason = "Search successful"
            return LDAP_SUCCESS, dn, vals
        if not bindpw:
            ldc.reason = "Empty password not allowed"
            return LDAP_INVALID_CREDENTIALS, dn, None
        ldc.ldap.user, ldc.ldap.password = dn, bindpw
        ldc.ldap.authentication = "SIMPLE"
        rc, _ = ldc.call("bind")
        if is_server_down(rc):
            ldc.reason = ("ldap_simple_bind_s() to check user credentials failed with "
                          "server down")
            ldc.unbind()
            continue
        if rc != LDAP_SUCCESS:
            ldc.reason = "ldap_simple_bind_s() to check user credentials failed"
            ldc.unbind()
            return rc, dn, None
        ldc.bound = False         # bound as the user now: rebind before the next use
        ldc.reason = "Authentication successful"
        return LDAP_SUCCESS, dn, vals
    return LDAP_SERVER_DOWN, None, None


async def cache_checkuserid(r: Request, ldc: Connection, url: str, basedn: str, scope: int,
                            attrs: list[str] | None, filt: str, bindpw: str
                            ) -> tuple[int, str | None, list[str | None] | None]:
    """uldap_cache_checkuserid: search for the user and bind as them (the search/bind
    cache answers a recent success with the same password)."""
    return await _search(r, ldc, url, basedn, scope, attrs, filt, bindpw, True)


async def cache_getuserdn(r: Request, ldc: Connection, url: str, basedn: str, scope: int,
                          attrs: list[str] | None, filt: str
                          ) -> tuple[int, str | None, list[str | None] | None]:
    """uldap_cache_getuserdn: the user's DN (and attributes) without a bind."""
    return await _search(r, ldc, url, basedn, scope, attrs, filt, None, False)


async def _search(r: Request, ldc: Connection, url: str, basedn: str, scope: int,
                  attrs: list[str] | None, filt: str, bindpw: str | None, check_pw: bool
                  ) -> tuple[int, str | None, list[str | None] | None]:
    cache = cache_for(r)
    curl = cache.url_node(url) if cache is not None else None
    ttl = _ttls(r)[0]
    sc = curl.search_cache if curl is not None else None
    if sc is not None:
        node: SearchNode | None = sc.fetch(filt)
        if node is not None:
            if time.time() - node.lastbind > ttl:
                sc.remove(filt)
            elif not check_pw or (node.bindpw and node.bindpw == bindpw):
                ldc.reason = "Authentication successful (cached)" if check_pw else \
                    "Search successful (cached)"
                return LDAP_SUCCESS, node.dn, list(node.vals) if node.vals else \
                    ([None] * len(attrs) if attrs else None)
    rc, dn, vals = await _run(_search_blocking, ldc, basedn, scope, filt, attrs, bindpw,
                              check_pw)
    if rc == LDAP_SUCCESS and sc is not None and dn is not None:
        old: SearchNode | None = sc.nodes[filt][1] if filt in sc.nodes else None
        now = time.time()
        if old is None or old.dn != dn or (check_pw and old.bindpw != bindpw):
            if old is not None:
                sc.remove(filt)
            sc.insert(filt, SearchNode(filt, dn, bindpw if check_pw else None, now, vals))
        elif check_pw or not old.bindpw:
            old.lastbind = now
    return rc, dn, vals


def _compare_blocking(ldc: Connection, dn: str, attrib: str, value: str) -> int:
    for _ in range(3):
        rc = ldc.open()
        if rc != LDAP_SUCCESS:
            return rc
        rc, _ = ldc.call("compare", dn, attrib, value)
        if is_server_down(rc):
            ldc.reason = "ldap_compare_s() failed with server down"
            ldc.unbind()
            continue
        return rc
    return LDAP_SERVER_DOWN


async def cache_compare(r: Request, ldc: Connection, url: str, dn: str, attrib: str,
                        value: str) -> int:
    """uldap_cache_compare: an LDAP compare, remembered for LDAPOpCacheTTL."""
    cache = cache_for(r)
    curl = cache.url_node(url) if cache is not None else None
    cc = curl.compare_cache if curl is not None else None
    key = (dn, attrib, value)
    if cc is not None:
        node: CompareNode | None = cc.fetch(key)
        if node is not None:
            if time.time() - node.lastcompare > _ttls(r)[1]:
                cc.remove(key)
            else:
                ldc.reason = {LDAP_COMPARE_TRUE: "Comparison true (cached)",
                              LDAP_COMPARE_FALSE: "Comparison false (cached)",
                              LDAP_NO_SUCH_ATTRIBUTE: "Comparison no such attribute (cached)"
                              }.get(node.result, "Comparison undefined (cached)")
                return node.result
    start = time.time()
    rc = await _run(_compare_blocking, ldc, dn, attrib, value)
    if rc in (LDAP_COMPARE_TRUE, LDAP_COMPARE_FALSE, LDAP_NO_SUCH_ATTRIBUTE):
        if cc is not None:
            cc.insert(key, CompareNode(dn, attrib, value, start, rc))
        ldc.reason = {LDAP_COMPARE_TRUE: "Comparison true (adding to cache)",
                      LDAP_COMPARE_FALSE: "Comparison false (adding to cache)"}.get(
            rc, "Comparison no such attribute (adding to cache)")
    elif rc != LDAP_SUCCESS and not ldc.reason.startswith("LDAP:"):
        ldc.reason = "Comparison complete"
    return rc  # type: ignore[no-any-return]


def _dn_blocking(ldc: Connection, reqdn: str) -> tuple[int, str | None]:
    import ldap3

    for _ in range(3):
        rc = ldc.open()
        if rc != LDAP_SUCCESS:
            return rc, None
        rc, resp = ldc.call("search", reqdn, "(objectclass=*)", search_scope=ldap3.BASE,
                            attributes=["1.1"], size_limit=1)
        if is_server_down(rc):
            ldc.reason = "DN Comparison ldap_search_ext_s() failed with server down"
            ldc.unbind()
            continue
        if rc != LDAP_SUCCESS:
            ldc.reason = "DN Comparison ldap_search_ext_s() failed"
            return rc, None
        entries = [e for e in (resp or []) if e.get("type") == "searchResEntry"]
        return LDAP_SUCCESS, entries[0]["dn"] if entries else ""
    return LDAP_SERVER_DOWN, None


async def cache_comparedn(r: Request, ldc: Connection, url: str, dn: str, reqdn: str,
                          on_server: bool) -> int:
    """uldap_cache_comparedn: string comparison, or (AuthLDAPCompareDNOnServer) the DN
    the server returns for a base search on the required DN."""
    cache = cache_for(r)
    curl = cache.url_node(url) if cache is not None else None
    if not on_server:
        if dn != reqdn:
            ldc.reason = "DN Comparison FALSE (direct strcmp())"
            return LDAP_COMPARE_FALSE
        ldc.reason = "DN Comparison TRUE (direct strcmp())"
        return LDAP_COMPARE_TRUE
    dc = curl.dn_compare_cache if curl is not None else None
    # Apache keys this cache by the required DN alone and trusts any hit, so one user's
    # success would let every user through: featherd also checks the DN remembered.
    if dc is not None and dc.fetch(reqdn) == dn:
        ldc.reason = "DN Comparison TRUE (cached)"
        return LDAP_COMPARE_TRUE
    rc, searchdn = await _run(_dn_blocking, ldc, reqdn)
    if rc != LDAP_SUCCESS:
        return rc  # type: ignore[no-any-return]
    if searchdn != dn:
        ldc.reason = "DN Comparison FALSE (checked on server)"
        return LDAP_COMPARE_FALSE
    if dc is not None:
        dc.insert(reqdn, dn)
    ldc.reason = "DN Comparison TRUE (checked on server)"
    return LDAP_COMPARE_TRUE
