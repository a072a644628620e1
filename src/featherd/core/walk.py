"""Apache's directory, file and location walks, with their merged results cached.

Order (manual, "How the sections are merged"): <Directory> (not regex) and .htaccess
together, shortest path first, .htaccess overriding its directory's <Directory>; then
<DirectoryMatch>/<Directory ~>; then <Files>/<FilesMatch>; then <Location>/
<LocationMatch>. Sections of a <VirtualHost> come after the main server's of the same
kind. The merged vector is cached under the sections matched and the .htaccess files'
(path, mtime, size), so an unchanged .htaccess is never parsed twice.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat as stat_mod
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from featherd.config.directives import Context, Override
from featherd.config.merge import UNSET
from featherd.config.parser import CmdParms, process_nodes
from featherd.config.tree import parse_text
from featherd.core.core_module import OPT_ALL, core
from featherd.errors import ConfigError

if TYPE_CHECKING:
    from featherd.core.config import ServerConfigTree
    from featherd.core.request import Request
    from featherd.core.server import Section, ServerRec


@lru_cache(maxsize=4096)
def _fn_regex(pattern: str, pathname: bool) -> re.Pattern[str]:
    """fnmatch with FNM_PATHNAME: '*' and '?' do not cross '/'."""
    if not pathname:
        return re.compile(fnmatch.translate(pattern))
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def fn_match(pattern: str, s: str, pathname: bool = True) -> bool:
    return _fn_regex(pattern, pathname).match(s) is not None


def sort_sections(server: ServerRec) -> None:
    """ap_core_reorder_directories: non-regex by depth (stable), then regex in order."""
    plain = [s for s in server.sec_dir if s.regex is None]
    regex = [s for s in server.sec_dir if s.regex is not None]
    plain.sort(key=lambda s: s.components)
    server.sec_dir = plain + regex


class HtaccessCache:
    """Parsed .htaccess files by path, re-parsed when (mtime, size) change."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, Any, Any], tuple[tuple[int, int], Any]] = {}

    def get(self, tree: ServerConfigTree, server: ServerRec, path: str, st: os.stat_result,
            override: Override, opts: frozenset[str] | None) -> list[Any]:
        key = (path, override, opts)
        ver = (st.st_mtime_ns, st.st_size)
        hit = self.entries.get(key)
        if hit is not None and hit[0] == ver:
            res = hit[1]
            if isinstance(res, ConfigError):
                raise res
            return res  # type: ignore[no-any-return]
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
            nodes = parse_text(text, path)
            confs = tree.new_dir_confs(os.path.dirname(path) + "/")
            cmd = CmdParms(tree=tree, server=server, where=Context.HTACCESS, dir_confs=confs,
                           path=os.path.dirname(path) + "/", override=override,
                           override_opts=opts)
            process_nodes(nodes, cmd)
            res: Any = confs
        except ConfigError as e:
            res = e
        self.entries[key] = (ver, res)
        if isinstance(res, ConfigError):
            raise res
        return res  # type: ignore[no-any-return]


class WalkError(Exception):
    def __init__(self, status: int, log: str | None = None, level: int = 3) -> None:
        self.status = status
        self.log = log
        self.level = level


def _core(confs: list[Any]) -> Any:
    return confs[core.index]


def _override(c: Any) -> tuple[Override, frozenset[str] | None]:
    ov = c.override
    if ov is UNSET:
        ov = Override.ALL   # 2.2 default: AllowOverride All
    oo = c.override_opts
    return ov, (None if oo is UNSET else oo)


def _opts(c: Any) -> frozenset[str]:
    return OPT_ALL if c.opts is UNSET else c.opts


def location_walk(r: Request) -> list[Any]:
    """The <Location> sections matching r.uri, in order (plain first, then regex)."""
    uri = r.uri
    out = []
    plain: list[Section] = []
    rx: list[Section] = []
    for sec in r.server.sec_url:
        (rx if sec.regex is not None else plain).append(sec)
    for sec in plain:
        p = sec.pattern
        if sec.wildcard:
            if fn_match(p, uri) or fn_match(p.rstrip("/") + "/*", uri):
                out.append(sec)
        elif uri.startswith(p):
            n = len(p)
            if p.endswith("/") or len(uri) == n or uri[n] == "/":
                out.append(sec)
    for sec in rx:
        if sec.regex.search(uri):  # type: ignore[union-attr]
            out.append(sec)
    return out


def _dir_levels(dirpath: str) -> list[str]:
    """'/a/b/' -> ['/', '/a/', '/a/b/']."""
    levels = ["/"]
    cur = "/"
    for part in dirpath.strip("/").split("/"):
        if part:
            cur += part + "/"
            levels.append(cur)
    return levels


#: r.ctx keys: what the directory walk found at r.filename; the .htaccess files seen
WALK_FINFO = "walk_finfo"
HTACCESS_SEEN = "htaccess_seen"
_UNSEEN = object()


def dir_merge(r: Request, dirpath: str, check_path: str | None) -> tuple[list[Any], Any]:
    """Merge <Directory> + .htaccess down to ``dirpath`` (ends with '/'), then regex
    sections. ``check_path`` is the full path whose components get the symlink check,
    each one with the Options in force in its parent directory (as ap_directory_walk
    checks a segment before it descends into it)."""
    server = r.server
    tree = r.tree
    plan = server.cache.get(("plan", dirpath))
    if plan is None:
        plan = _make_plan(tree, server, dirpath)
        server.cache[("plan", dirpath)] = plan
    levels, static_confs, static_key, needs_dynamic, static_opts, candidates = plan
    # what the walk found at r.filename (None: nothing), for mod_rewrite's -f/-d/-s/-x
    # on REQUEST_FILENAME (see walk_finfo)
    r.ctx[WALK_FINFO] = (r.filename, r.finfo)
    if not needs_dynamic:
        if check_path is not None and static_opts is not None:
            _symlink_check(check_path, static_opts)
        return static_confs, static_key
    # .htaccess files along the way. AllowOverride comes from sections only (it is not
    # allowed in .htaccess), so the levels to look at are known: stat the candidates,
    # and merge only when this set of (path, mtime, size) has not been seen before.
    # r->htaccess: what this request's chain (internal redirects, sub-requests) already
    # found is not looked at again, as ap_parse_htaccess searches its per-request cache
    # before it opens a file
    seen = _htaccess_seen(r)
    found: list[Any] = []
    for paths in candidates:
        for hp in paths:
            ent = seen.get(hp, _UNSEEN)
            if ent is _UNSEEN:
                try:
                    st = os.stat(hp)
                except (FileNotFoundError, NotADirectoryError):
                    seen[hp] = None
                    continue
                except PermissionError:
                    raise WalkError(403, f"(13)Permission denied: {hp} pcfg_openfile: "
                                         "unable to check htaccess file, ensure it is "
                                         "readable") from None
                ent = seen[hp] = (hp, st.st_mtime_ns, st.st_size, st.st_ino)
            elif ent is None:
                continue
            found.append(ent)
            break
    fkey = ("dyn", dirpath, tuple(found))
    hit = server.cache.get(fkey)
    if hit is None:
        core_sc = server.module_config[core.index]
        names = core_sc.access_name if core_sc.access_name is not UNSET else [".htaccess"]
        cached, k, level_opts0 = _dir_merge_slow(r, levels, dirpath, names)
        # level_opts: None when every level follows symbolic links (nothing to check)
        hit = (cached, k, None if _follow_all(level_opts0) else level_opts0)
        if len(server.cache) < 100000:
            server.cache[fkey] = hit
    cached, k, level_opts = hit
    if check_path is not None and level_opts is not None:
        _symlink_check(check_path, level_opts)
    return cached, k


def _follow_all(level_opts: list[frozenset[str]]) -> bool:
    return all("FollowSymLinks" in o for o in level_opts)


def walk_finfo(r: Request, path: str) -> tuple[bool, os.stat_result | None]:
    """(True, r.finfo as the directory walk left it) when ``path`` is the filename the
    walk of ``r`` ended with; (False, None) otherwise. A stat result is that of ``path``
    itself; None only says the walk found nothing at the full path it tried."""
    w = r.ctx.get(WALK_FINFO)
    if w is not None and w[0] == path:
        return True, w[1]
    return False, None


def _htaccess_seen(r: Request) -> dict[str, Any]:
    """The .htaccess files (path -> (path, mtime, size, inode), or None when absent)
    this request and the requests it came from have looked at: one dict shared along
    r.prev and r.main, like r->htaccess."""
    ctx = r.ctx
    seen = ctx.get(HTACCESS_SEEN)
    if seen is None:
        q = r.prev if r.prev is not None else r.main
        seen = q.ctx.get(HTACCESS_SEEN) if q is not None else None
        if seen is None:
            seen = {}
        ctx[HTACCESS_SEEN] = seen
    return seen  # type: ignore[no-any-return]


def _dir_merge_slow(r: Request, levels: Any, dirpath: str,
                    names: list[str]) -> tuple[list[Any], Any, list[frozenset[str]]]:
    server = r.server
    tree = r.tree
    htcache: HtaccessCache = tree.extra.setdefault("htaccess_cache", HtaccessCache())
    confs = server.lookup_defaults
    key: list[Any] = []
    level_opts: list[frozenset[str]] = []
    for level, secs in levels:
        for sec in secs:
            confs = tree.merge_dir_confs(confs, sec.confs)
            key.append(sec.uid)
        ov, oo = _override(_core(confs))
        if ov != Override.NONE:
            for name in names:
                hp = level + name
                try:
                    st = os.stat(hp)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except PermissionError:
                    raise WalkError(403, f"(13)Permission denied: {hp} pcfg_openfile: unable "
                                         "to check htaccess file, ensure it is readable") from None
                try:
                    ht = htcache.get(tree, server, hp, st, ov, oo)
                except ConfigError as e:
                    raise WalkError(500, f"{hp}: {e.message}", level=1) from None
                except PermissionError:
                    raise WalkError(403, f"(13)Permission denied: {hp} pcfg_openfile: unable "
                                         "to check htaccess file, ensure it is readable") from None
                confs = tree.merge_dir_confs(confs, ht)
                key.append((hp, st.st_mtime_ns, st.st_size))
                break
        level_opts.append(_opts(_core(confs)))
    for sec in server.cache[("rx", dirpath)]:
        confs = tree.merge_dir_confs(confs, sec.confs)
        key.append(sec.uid)
    # the merged record depends only on what was merged, in order: directories with
    # the same sections and .htaccess files share one (as Apache's walk cache reuses
    # its result), so a sub-request to a sibling directory sees the same config and
    # skips the access checks as ap_sub_req_lookup_uri does
    k = ("dir", tuple(key))
    cached = server.cache.get(k)
    if cached is None:
        cached = confs
        if len(server.cache) < 100000:
            server.cache[k] = confs
    return cached, k, level_opts


def _make_plan(tree: ServerConfigTree, server: ServerRec, dirpath: str) -> tuple[Any, ...]:
    levels_paths = _dir_levels(dirpath)
    levels: list[tuple[str, list[Section]]] = []
    confs = server.lookup_defaults
    key: list[Any] = []
    any_override = False
    level_opts: list[frozenset[str]] = []
    ht_levels: list[str] = []   # levels where AllowOverride (decided by sections) allows .htaccess
    for level in levels_paths:
        comps = level.count("/")
        secs = []
        for sec in server.sec_dir:
            if sec.regex is not None or sec.components != comps:
                continue
            if (sec.wildcard and fn_match(sec.pattern, level)) or sec.pattern == level:
                secs.append(sec)
        for sec in secs:
            confs = tree.merge_dir_confs(confs, sec.confs)
            key.append(sec.uid)
        ov, _ = _override(_core(confs))
        if ov != Override.NONE:
            any_override = True
            ht_levels.append(level)
        levels.append((level, secs))
        level_opts.append(_opts(_core(confs)))
    rx = [s for s in server.sec_dir if s.regex is not None and s.regex.search(dirpath)]
    server.cache[("rx", dirpath)] = rx
    for sec in rx:
        confs = tree.merge_dir_confs(confs, sec.confs)
        key.append(sec.uid)
    core_sc = server.module_config[core.index]
    names = core_sc.access_name if core_sc.access_name is not UNSET else [".htaccess"]
    # the .htaccess candidates to look for, level by level (the first that exists wins)
    candidates = tuple(tuple(level + name for name in names) for level in ht_levels)
    k = ("dir", tuple(key))
    confs = server.cache.setdefault(k, confs) if len(server.cache) < 100000 else confs
    return (levels, confs, k, any_override,
            None if _follow_all(level_opts) else level_opts, candidates)


def _symlink_check(path: str, level_opts: list[frozenset[str]]) -> None:
    """Refuse a symbolic link among the components of ``path`` unless the Options of the
    directory holding it allow it (FollowSymLinks, or SymLinksIfOwnerMatch when link and
    target have the same owner). ``level_opts[i]`` are the Options of the directory at
    depth i ('/' is 0)."""
    cur = ""
    depth = 0
    for part in path.strip("/").split("/"):
        if not part:
            continue
        opts = level_opts[min(depth, len(level_opts) - 1)]
        depth += 1
        cur += "/" + part
        if "FollowSymLinks" in opts:
            continue
        try:
            lst = os.lstat(cur)
        except OSError:
            return
        if stat_mod.S_ISLNK(lst.st_mode):
            if "SymLinksIfOwnerMatch" in opts:
                try:
                    tst: os.stat_result | None = os.stat(cur)
                except OSError:
                    tst = None
                if tst is not None and tst.st_uid == lst.st_uid:
                    continue
            raise WalkError(403, "Symbolic link not allowed or link target not accessible: "
                            + cur)


def file_walk(confs: list[Any], basename: str) -> list[Section]:
    secs = _core(confs).sec_file
    if not secs:
        return []
    out = []
    for sec in secs:
        if sec.regex is not None:
            if sec.regex.search(basename):
                out.append(sec)
        elif sec.wildcard:
            if fn_match(sec.pattern, basename, pathname=False):
                out.append(sec)
        elif sec.pattern == basename:
            out.append(sec)
    return out


def final_confs(r: Request, dir_confs: list[Any], dir_key: Any, files: list[Section],
                locs: list[Section]) -> list[Any]:
    if not files and not locs:
        return dir_confs
    server = r.server
    k = ("final", dir_key, tuple(s.uid for s in files), tuple(s.uid for s in locs))
    cached = server.cache.get(k)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    confs = dir_confs
    tree = r.tree
    for s in files:
        confs = tree.merge_dir_confs(confs, s.confs)
    for s in locs:
        confs = tree.merge_dir_confs(confs, s.confs)
    if len(server.cache) < 100000:
        server.cache[k] = confs
    return confs


def location_confs(r: Request, locs: list[Section]) -> list[Any]:
    """Per-dir config before translate_name: server defaults + <Location> sections."""
    if not locs:
        return r.server.lookup_defaults
    server = r.server
    k = ("loc", tuple(s.uid for s in locs))
    cached = server.cache.get(k)
    if cached is None:
        cached = server.lookup_defaults
        for s in locs:
            cached = r.tree.merge_dir_confs(cached, s.confs)
        server.cache[k] = cached
    return cached  # type: ignore[no-any-return]
