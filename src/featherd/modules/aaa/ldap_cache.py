"""mod_ldap's caches (util_ldap_cache_mgr.c): a hash-table cache with Apache's
statistics (fetches, hits, inserts, removes, purges), the 3/4 "full mark" purge and a
byte budget standing for LDAPSharedCacheSize; and the ldap-status report.

One main cache maps each LDAP URL to its three caches: searches (filter -> DN, the
password that bound, the attribute values), compares ((dn, attribute, value) -> result)
and DN compares (required DN -> DN). Everything here runs on the worker's event loop
thread, so no lock is needed.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

PRIMES = [11, 19, 37, 73, 109, 163, 251, 367, 557, 823, 1237, 1861, 2777, 4177, 6247,
          9371, 14057, 21089, 31627, 47431, 71143, 106721, 160073, 240101, 360163, 540217,
          810343, 1215497, 1823231, 2734867, 4102283, 6153409, 9230113, 13845163]

NODE_OVERHEAD = 48          # bytes counted per cached node besides its strings
ERROR, WARN = 3, 4


def ctime(t: float) -> str:
    """apr_ctime: 'Sat Sep 01 00:00:00 2001'."""
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))


def _size(v: Any) -> int:
    if v is None:
        return 0
    if isinstance(v, str):
        return len(v) + 1
    if isinstance(v, (list, tuple)):
        return sum(_size(x) for x in v) + 8 * len(v)
    slots = getattr(type(v), "__slots__", None)
    if slots and not isinstance(v, Cache):
        return sum(_size(getattr(v, n)) for n in slots)
    return 8


class Budget:
    """The shared-memory segment's size (LDAPSharedCacheSize) as a byte budget that
    every cache of a worker draws on."""

    def __init__(self, size: int, log: Callable[[int, str], None]) -> None:
        self.size = size
        self.used = 0
        self.log = log

    def alloc(self, n: int) -> bool:
        if self.used + n > self.size:
            return False
        self.used += n
        return True

    def free(self, n: int) -> None:
        self.used = max(0, self.used - n)


class Cache:
    """util_ald_cache_t: ``maxentries`` entries in ``size`` hash chains."""

    def __init__(self, maxentries: int, budget: Budget) -> None:
        self.maxentries = maxentries
        size = max(maxentries // 3, 64)
        self.size = next((p for p in PRIMES if p >= size), PRIMES[-1])
        self.budget = budget
        self.nodes: dict[Any, tuple[float, Any, int]] = {}   # key -> (add_time, payload, bytes)
        self.fullmark = maxentries // 4 * 3
        self.marktime = 0.0
        self.avg_purgetime = 0.0
        self.numpurges = 0
        self.last_purge = 0.0
        self.npurged = 0
        self.fetches = self.hits = self.inserts = self.removes = 0
        self.overhead = self.size * 8 + 200

    @property
    def numentries(self) -> int:
        return len(self.nodes)

    def fetch(self, key: Any) -> Any:
        self.fetches += 1
        hit = self.nodes.get(key)
        if hit is None:
            return None
        self.hits += 1
        return hit[1]

    def purge(self) -> None:
        """util_ald_cache_purge: drop every entry added before the full mark was hit."""
        start = time.time()
        self.last_purge = start
        self.npurged = 0
        self.numpurges += 1
        for k in [k for k, v in self.nodes.items() if v[0] < self.marktime]:
            self.budget.free(self.nodes.pop(k)[2])
            self.npurged += 1
        t = time.time()
        self.avg_purgetime = ((t - start) * 1000 + self.avg_purgetime * (self.numpurges - 1)) \
            / self.numpurges

    def insert(self, key: Any, payload: Any) -> Any:
        if key in self.nodes:
            self.budget.free(self.nodes.pop(key)[2])
        if self.numentries >= self.maxentries:
            self.purge()
            if self.numentries >= self.maxentries:
                self.budget.log(ERROR, "Purge of LDAP cache failed")
                return None
        n = NODE_OVERHEAD + _size(key) + _size(payload)
        if not self.budget.alloc(n):
            self.budget.log(WARN, "LDAPSharedCacheSize is too small. Increase it or reduce "
                                  "LDAPCacheEntries/LDAPOpCacheEntries!")
            if self.numentries < self.fullmark:
                self.marktime = time.time()
            self.purge()
            if not self.budget.alloc(n):
                self.budget.log(ERROR, "Could not allocate memory for LDAP cache entry")
                return None
        self.inserts += 1
        now = time.time()
        self.nodes[key] = (now, payload, n)
        if self.numentries == self.fullmark:
            self.marktime = now
        return payload

    def remove(self, key: Any) -> None:
        self.removes += 1
        hit = self.nodes.pop(key, None)
        if hit is not None:
            self.budget.free(hit[2])

    def chain_len(self) -> float:
        chains: dict[int, int] = {}
        for k in self.nodes:
            h = hash(k) % self.size
            chains[h] = chains.get(h, 0) + 1
        return sum(chains.values()) / len(chains) if chains else 0.0


class SearchNode:
    __slots__ = ("username", "dn", "bindpw", "lastbind", "vals")

    def __init__(self, username: str, dn: str, bindpw: str | None, lastbind: float,
                 vals: list[str | None] | None) -> None:
        self.username, self.dn, self.bindpw = username, dn, bindpw
        self.lastbind, self.vals = lastbind, vals


class CompareNode:
    __slots__ = ("dn", "attrib", "value", "lastcompare", "result")

    def __init__(self, dn: str, attrib: str, value: str, lastcompare: float,
                 result: int) -> None:
        self.dn, self.attrib, self.value = dn, attrib, value
        self.lastcompare, self.result = lastcompare, result


class URLNode:
    __slots__ = ("url", "search_cache", "compare_cache", "dn_compare_cache")

    def __init__(self, url: str, search: Cache | None, compare: Cache | None,
                 dncompare: Cache | None) -> None:
        self.url = url
        self.search_cache = search
        self.compare_cache = compare
        self.dn_compare_cache = dncompare


class CacheState:
    """A worker's LDAP cache: the URL cache and, per URL, the three operation caches."""

    def __init__(self, cache_bytes: int, search_size: int, compare_size: int,
                 log: Callable[[int, str], None]) -> None:
        self.budget = Budget(cache_bytes, log)
        self.search_size = search_size
        self.compare_size = compare_size
        self.url_cache = Cache(50, self.budget)
        self.url_cache.maxentries = 1 << 30      # the URL cache never purges
        self.url_cache.fullmark = 0

    def url_node(self, url: str) -> URLNode | None:
        """util_ald_cache_fetch on the URL cache, util_ald_create_caches when missing."""
        node = self.url_cache.fetch(url)
        if node is not None:
            return node  # type: ignore[no-any-return]

        def mk(n: int) -> Cache | None:
            if n <= 0:          # LDAPCacheEntries / LDAPOpCacheEntries 0: not cached
                return None
            c = Cache(n, self.budget)
            return c if self.budget.alloc(c.overhead) else None

        node = URLNode(url, mk(self.search_size), mk(self.compare_size),
                       mk(self.compare_size))
        return self.url_cache.insert(url, node)  # type: ignore[no-any-return]


# --- the ldap-status report (util_ald_cache_display) ----------------------------------------
_TH = "<td><font size='-1' face='Arial,Helvetica' color='#ffffff'><b>{}</b></font></td>"
_KV = ("<tr>\n<td bgcolor='#000000'><font size='-1' face='Arial,Helvetica' color='#ffffff'>"
       "<b>{}:</b></font></td><td bgcolor='#ffffff'><font size='-1' face='Arial,Helvetica' "
       "color='#000000'><b>{}</b></font></td></tr>\n")
_RESULTS = {6: "LDAP_COMPARE_TRUE", 5: "LDAP_COMPARE_FALSE", 16: "LDAP_NO_SUCH_ATTRIBUTE"}


def _head(*cols: str) -> str:
    return ("<p>\n<table border='0'>\n<tr bgcolor='#000000'>\n"
            + "".join(_TH.format(c) for c in cols) + "</tr>\n")


def _stats(uri: str, cache: Cache | None, name: str, ident: str | None) -> str:
    if cache is None:
        return ""
    label = f"<a href=\"{uri}?{ident}\">{html.escape(name)}</a>" if ident else html.escape(name)
    full = cache.numentries / cache.maxentries * 100.0 if cache.maxentries else 0.0
    rate = cache.hits / cache.fetches * 100.0 if cache.fetches else 100.0
    out = (f"<tr valign='top'><td nowrap>{label}</td>"
           f"<td align='right' nowrap>{cache.numentries} ({full:.0f}% full)</td>"
           f"<td align='right'>{cache.chain_len():.1f}</td>"
           f"<td align='right'>{cache.hits}/{cache.fetches}</td>"
           f"<td align='right'>{rate:.0f}%</td>"
           f"<td align='right'>{cache.inserts}/{cache.removes}</td>")
    if cache.numpurges:
        out += (f"<td align='right'>{cache.numpurges}</td>\n"
                f"<td align='right' nowrap>{ctime(cache.last_purge)}</td>\n")
    else:
        out += "<td colspan='2' align='center'>(none)</td>\n"
    return out + f"<td align='right'>{cache.avg_purgetime:.2g}ms</td>\n</tr>"


def display(st: CacheState | None, uri: str, args: str | None) -> str:
    """The body of the ldap-status page after its heading."""
    if st is None:
        return ("<tr valign='top'><td nowrap colspan=7>Cache has not been "
                "enabled/initialised.</td></tr>")
    urls: list[URLNode] = [v[1] for v in st.url_cache.nodes.values()]
    if args:
        try:
            parts = dict(p.split("=", 1) for p in args.split("&"))
            kind, ident = parts["cache"][:4], int(parts["id"])
            int(parts["off"])
        except (KeyError, ValueError):
            return ""
        if not 0 <= ident < max(len(urls), 1) or kind not in ("main", "srch", "cmpr", "dncp"):
            return ""
        n = urls[ident] if ident < len(urls) else None
        name = {"m": "Main", "s": "Search", "c": "Compares"}.get(kind[0], "DNCompares")
        url = html.escape(n.url) if n else ""
        out = ("<p>\n<table border='0'>\n" + _KV.format("Cache Name", f"{url} ({name})")
               + "</table>\n</p>\n")
        if kind == "main":
            c = st.url_cache
            out += ("<p>\n<table border='0'>\n" + _KV.format("Size", c.size)
                    + _KV.format("Max Entries", c.maxentries)
                    + _KV.format("# Entries", c.numentries)
                    + _KV.format("Full Mark", c.fullmark)
                    + _KV.format("Full Mark Time", ctime(c.marktime) if c.marktime else "")
                    + "</table>\n</p>\n")
            out += _head("LDAP URL", "Size", "Max Entries", "# Entries", "Full Mark",
                         "Full Mark Time")
            for u in urls:
                sc = u.search_cache
                if sc is None:
                    continue
                out += (f"<tr valign='top'><td nowrap>{html.escape(u.url)}</td>"
                        f"<td nowrap>{sc.size}</td><td nowrap>{sc.maxentries}</td>"
                        f"<td nowrap>{sc.numentries}</td><td nowrap>{sc.fullmark}</td>"
                        f"<td nowrap>{ctime(sc.marktime) if sc.marktime else ''}</td></tr>")
        elif kind == "srch":
            out += _head("LDAP Filter", "User Name", "Last Bind")
            for _, p, _ in (n.search_cache.nodes.values() if n and n.search_cache else []):
                out += (f"<tr valign='top'><td nowrap>{html.escape(p.username)}</td>"
                        f"<td nowrap>{html.escape(p.dn)}</td>"
                        f"<td nowrap>{ctime(p.lastbind)}</td></tr>")
        elif kind == "cmpr":
            out += _head("DN", "Attribute", "Value", "Last Compare", "Result")
            for _, p, _ in (n.compare_cache.nodes.values() if n and n.compare_cache else []):
                out += (f"<tr valign='top'><td nowrap>{html.escape(p.dn)}</td>"
                        f"<td nowrap>{html.escape(p.attrib)}</td>"
                        f"<td nowrap>{html.escape(p.value)}</td>"
                        f"<td nowrap>{ctime(p.lastcompare)}</td>"
                        f"<td nowrap>{_RESULTS.get(p.result, 'Compare undefined')}</td></tr>")
        else:
            out += _head("Require DN", "Actual DN")
            for k, (_, p, _) in (n.dn_compare_cache.nodes.items()
                                 if n and n.dn_compare_cache else []):
                out += (f"<tr valign='top'><td nowrap>{html.escape(k)}</td>"
                        f"<td nowrap>{html.escape(p)}</td></tr>")
        return out + "</table>\n</p>\n"
    two = "<td colspan='2'>" + _TH[4:]
    out = ("<p>\n<table border='0'>\n<tr bgcolor='#000000'>\n" + _TH.format("Cache Name")
           + _TH.format("Entries") + _TH.format("Avg. Chain Len.") + two.format("Hits")
           + _TH.format("Ins/Rem") + two.format("Purges") + _TH.format("Avg Purge Time")
           + "</tr>\n")
    out += _stats(uri, st.url_cache, "LDAP URL Cache", "cache=main&id=0&off=0")
    for i, u in enumerate(urls):
        for cache, label, tag in ((u.search_cache, "Searches", "srch"),
                                  (u.compare_cache, "Compares", "cmpr"),
                                  (u.dn_compare_cache, "DNCompares", "dncp")):
            out += "\n\n" + _stats(uri, cache, f"{u.url} ({label})",
                                   f"cache={tag}&id={i}&off=0")
    return out + "</table>\n</p>\n"
