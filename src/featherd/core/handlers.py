"""The core's default hooks: translate_name (DocumentRoot), map_to_storage (the
directory walk) and the default handler that serves files, registered REALLY_LAST."""

from __future__ import annotations

import os
import stat as stat_mod
from typing import TYPE_CHECKING

from featherd.config.merge import UNSET
from featherd.core.core_module import core
from featherd.core.hooks import DECLINED, OK, REALLY_LAST
from featherd.core.walk import WalkError, dir_merge, file_walk, final_confs
from featherd.filters.buckets import EOS, FileBucket, MemFileBucket
from featherd.filters.chain import by_type_filters, pass_brigade
from featherd.http import conditional
from featherd.http.dates import http_date
from featherd.http.etag import ALL_COMPONENTS, is_weak, make_etag

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR, INFO = 3, 6


def document_root(r: Request) -> str:
    d = r.server.module_config[core.index].document_root
    if d is UNSET:
        d = r.tree.main.module_config[core.index].document_root
    if d is UNSET:
        d = os.path.join(r.tree.server_root, "htdocs")
    return d  # type: ignore[no-any-return]


@core.hook("translate_name", order=REALLY_LAST)
def core_translate(r: Request) -> int:
    if not r.uri.startswith("/"):
        r.log_error(ERROR, f"Invalid URI in request {r.the_request}")
        return 400
    root = document_root(r)
    r.filename = root.rstrip("/") + r.uri if root != "/" else r.uri
    return OK


@core.hook("map_to_storage", order=REALLY_LAST)
def core_map_to_storage(r: Request) -> int:
    """ap_directory_walk + ap_file_walk (+ the location walk merged last)."""
    fn = r.filename
    if fn is None or not fn.startswith("/"):
        # not a file (proxy and the like): only <Location> applies
        return OK
    st = None
    path_info = ""
    try:
        st = os.stat(fn)
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        pass
    except PermissionError:
        raise WalkError(403, f"(13)Permission denied: access to {r.uri} denied") from None
    except (OSError, ValueError):
        raise WalkError(403, f"access to {r.uri} failed") from None
    if st is None:
        # find the longest existing prefix; the rest is path_info (a trailing slash
        # included: "/file.txt/" is the file with path_info "/", "/missing/" the missing
        # segment with path_info "/", as ap_directory_walk leaves them)
        cur = fn.rstrip("/") or "/"
        rest = "/" if cur != fn else ""
        if rest:
            try:
                pst = os.stat(cur)
            except OSError:
                pst = None
            if pst is not None and not stat_mod.S_ISDIR(pst.st_mode):
                st = pst
                fn = cur
                path_info = rest
        while st is None:
            head, _, tail = cur.rpartition("/")
            rest = "/" + tail + rest
            cur = head or "/"
            try:
                pst = os.stat(cur)
            except (FileNotFoundError, NotADirectoryError):
                if cur == "/":
                    break
                continue
            except PermissionError:
                raise WalkError(403, f"(13)Permission denied: access to {r.uri} denied") from None
            if stat_mod.S_ISDIR(pst.st_mode):
                # the first missing segment stays in filename, the rest is path_info
                seg, _, more = rest[1:].partition("/")
                fn = cur.rstrip("/") + "/" + seg
                path_info = ("/" + more) if more or rest.endswith("/") and rest.count("/") > 1 else ""
            else:
                st = pst
                fn = cur
                path_info = rest
            break
        r.filename = fn
        r.path_info = path_info
    r.finfo = st
    if st is not None and stat_mod.S_ISDIR(st.st_mode):
        dirpath = fn if fn.endswith("/") else fn + "/"
        base = ""
    else:
        dirpath, _, base = fn.rpartition("/")
        dirpath += "/"
    confs, key = dir_merge(r, dirpath, fn if st is not None else None)
    files = file_walk(confs, base) if base else []
    r.per_dir_config = final_confs(r, confs, key, files, list(r.location_sections))
    return OK


def _etag_components(c: object) -> frozenset[str]:
    e = c.etag  # type: ignore[attr-defined]
    return ALL_COMPONENTS if e is UNSET else e


def set_last_modified(r: Request, mtime: float) -> None:
    lm = min(mtime, r.request_time)
    r.mtime = lm
    r.headers_out.set("Last-Modified", http_date(lm))


def default_handler(r: Request) -> int:
    """core.c's default_handler: a file, with validators and ranges."""
    r.allowed_methods.update(("GET", "OPTIONS", "POST"))
    if r.body is not None and r.body.check_limit(r):   # 2.2 discards the body first
        return 413
    m = r.method
    if m == "OPTIONS":
        from featherd.core.http_request import make_allow

        r.headers_out.set("Allow", make_allow(r))
        r.content_type = None
        pass_brigade(r, [EOS])
        return OK
    if m not in ("GET", "HEAD", "POST"):
        return 405
    st = r.finfo
    if st is None:
        r.log_error(ERROR, f"File does not exist: {r.filename}")
        return 404
    if stat_mod.S_ISDIR(st.st_mode):
        r.log_error(ERROR, f"Attempt to serve directory: {r.filename}")
        return 404
    c = r.per_dir_config[core.index]
    if r.path_info and c.accept_path_info is not True:
        if not (c.accept_path_info is UNSET and r.used_path_info):
            r.log_error(ERROR, f"File does not exist: {r.filename}{r.path_info}")
            return 404
    # POST to a file is answered with the file, as httpd 2.2 and 2.4 do (checked
    # against Debian's apache2): the request body was discarded above.
    size = st.st_size
    cached: bytes | None = None
    if size <= SMALL_FILE_MAX:
        hit = _small_files.get(r.filename)  # type: ignore[arg-type]
        if hit is not None and hit[0] == (st.st_ino, st.st_dev, size, st.st_mtime_ns,
                                          st.st_ctime_ns):
            cached = hit[1]
    fd = -1
    if cached is None:
        try:
            fd = os.open(r.filename, _O_FLAGS)  # type: ignore[arg-type]
        except OSError:
            return _unreadable(r)
    if r.main is not None and r.no_local_copy:
        # a sub-request's body goes into the including response and its headers are
        # dropped: validators nobody sends or compares are not made (ap_update_mtime's
        # r.mtime is kept)
        r.mtime = min(st.st_mtime, r.request_time)
        rv = 0
    else:
        set_last_modified(r, st.st_mtime)
        comps = _etag_components(c)
        if comps:
            vlv = r.vlist_validator
            et = make_etag(st, comps, is_weak(st.st_mtime_ns, r.request_time)
                           or bool(vlv and vlv[0] == "W"))
            if et and vlv:
                # a negotiated response: the variant's tag merged with the variant
                # list's validator (ap_set_etag)
                et = et[:-1] + ";" + (vlv[3:] if vlv[0] == "W" else vlv[1:])
            if et:
                r.etag = et
                r.headers_out.set("ETag", et)
        r.headers_out.set("Accept-Ranges", "bytes")
        rv = 0 if r.no_local_copy or \
            not r.headers_in.has_any(conditional.CONDITIONAL_FIELDS) else \
            conditional.evaluate(m, r.headers_in.get, r.etag, r.mtime, r.request_time)
    if rv:
        if fd >= 0:
            os.close(fd)
        return rv
    if not r.content_type:
        dt = c.default_type
        r.content_type = "text/plain" if dt is UNSET else dt
    body: bytes | FileBucket | None = None
    if size <= SMALL_FILE_MAX:
        # the in-memory copy goes straight to the network; filters (and FilterTrace)
        # see the FILE bucket Apache's default handler makes, with the bytes in it
        by_type_filters(r)
        if cached is None and not r.header_only:
            cached = _read_small(r.filename, fd, st)  # type: ignore[arg-type]
            if cached is not None:
                os.close(fd)
                fd = -1
        if cached is not None:
            body = cached if not r.output_filters else \
                MemFileBucket(cached, r.filename or "")
    if body is None:
        body = FileBucket(fd, 0, size, r.filename or "")
    pass_brigade(r, [body, EOS])
    return OK


def _unreadable(r: Request) -> int:
    r.log_error(ERROR, f"(13)Permission denied: file permissions deny server access: "
                       f"{r.filename}")
    return 403


# Small files: their bytes, kept while the file's identity and times are unchanged (the
# stat every request makes anyway decides), so that a hit needs no open/read/close.
# Like nginx's open_file_cache or mod_file_cache, without configuration: a file that
# changes (content, permissions: ctime) is read again at once. Per worker, bounded.
SMALL_FILE_MAX = 64 * 1024
SMALL_FILES_BUDGET = 16 * 1024 * 1024
_O_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_small_files: dict[str, tuple[tuple[int, int, int, int, int], bytes]] = {}
_small_bytes = 0


def _read_small(path: str, fd: int, st: os.stat_result) -> bytes | None:
    global _small_bytes
    try:
        data = os.pread(fd, st.st_size, 0)
    except OSError:
        return None
    if len(data) != st.st_size:
        return None                  # changing under us: the file path reports it
    if _small_bytes + len(data) > SMALL_FILES_BUDGET:
        _small_files.clear()
        _small_bytes = 0
    old = _small_files.get(path)
    if old is not None:
        _small_bytes -= len(old[1])
    _small_files[path] = ((st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns,
                           st.st_ctime_ns), data)
    _small_bytes += len(data)
    return data


core.handlers["default-handler"] = default_handler


@core.hook("fixups", order=REALLY_LAST)
def core_fixups(r: Request) -> int:
    """ForceType / SetHandler (2.2 core) and AddDefaultCharset."""
    c = r.per_dir_config[core.index]
    ft = c.force_type
    if ft is not UNSET and ft:
        r.content_type = ft
    h = c.handler
    if h is not UNSET and h:
        r.handler = h
    return OK


__all__ = ["DECLINED", "core_translate", "default_handler"]
