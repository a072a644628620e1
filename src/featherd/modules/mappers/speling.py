"""mod_speling: correct misspelled URLs, as in Apache 2.2.

With ``CheckSpelling On``, a GET for a file that does not exist is compared with the
names in its directory, ignoring case, allowing one mistake (tcsh's spelling
correction): a wrong character, a missing one, an extra one, or two neighbours
transposed; failing that, a name with the same part before the first dot
(``index.htm`` for ``index.html``) is a distant candidate. ``CheckCaseOnly On`` keeps
only the case-insensitive matches (the same-basename ones still count, as in 2.2).

One best candidate (not a basename match, not tied with the next): a 301 to it, query
string kept, logged at info ("Fixed spelling: ..."). Several: ``300 Multiple Choices``
with Apache's list ("Available documents:"), the near matches first and the "related
documents" after, and the ``VARIANTS`` variable. A misspelled directory is corrected the
same way, the rest of the path kept (the manual's "file names or directory names"; 2.2's
code needed AcceptPathInfo On for that, 2.4 does it always). Sub-requests and "/" are
left alone. The per-directory record is not
merged: the innermost section that sets either directive decides both, as in 2.2
(no merge function).
"""

from __future__ import annotations

import ctypes
import html
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.parser import CmdParms
from featherd.core.hooks import DECLINED, LAST, OK
from featherd.core.module import Module

if TYPE_CHECKING:
    from featherd.core.request import Request

INFO = 6
SP_IDENTICAL, SP_MISCAPITALIZED, SP_TRANSPOSITION, SP_MISSINGCHAR, SP_EXTRACHAR, \
    SP_SIMPLETYPO, SP_VERYDIFFERENT = range(7)
REASONS = ("identical", "miscapitalized", "transposed characters", "character missing",
           "extra character", "mistyped character", "common basename")


@dataclass(slots=True)
class SpConfig:
    enabled: bool = False
    case_only: bool = False
    given: bool = False            # a directive of this module appears in the section


class SpelingModule(Module):
    def merge_dir_config(self, base: Any, new: Any) -> Any:
        # no merge function in Apache: the closest record that says something is used
        # as a whole (a section holding only other modules' directives says nothing)
        if base is None or new is None:
            return new if base is None else base
        return new if new.given else base


speling = SpelingModule("speling_module", "mod_speling.c", dir_config=SpConfig,
                        description="Attempts to correct mistaken URLs by ignoring "
                                    "capitalization and by allowing up to one misspelling")
speling_module = speling


@speling.directive("CheckSpelling", args=ArgSpec.FLAG, context=Context.ALL_DIR,
                   override=Override.OPTIONS, syntax="CheckSpelling on|off",
                   help="whether or not to fix miscapitalized/misspelled requests")
def check_spelling(cmd: CmdParms, conf: SpConfig, on: bool) -> None:
    conf.enabled = on
    conf.given = True


@speling.directive("CheckCaseOnly", args=ArgSpec.FLAG, context=Context.ALL_DIR,
                   override=Override.OPTIONS, syntax="CheckCaseOnly on|off",
                   help="whether or not to fix only miscapitalized requests")
def check_case_only(cmd: CmdParms, conf: SpConfig, on: bool) -> None:
    conf.case_only = on
    conf.given = True


class _Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.opendir.restype = ctypes.c_void_p
        libc.opendir.argtypes = [ctypes.c_char_p]
        libc.readdir64.restype = ctypes.POINTER(_Dirent)
        libc.readdir64.argtypes = [ctypes.c_void_p]
        libc.closedir.argtypes = [ctypes.c_void_p]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc() if sys.platform.startswith("linux") else None


def read_dir(path: str) -> list[str]:
    """The names in a directory in readdir order, "." and ".." where the file system
    puts them (apr_dir_read returns them too, and they can be candidates)."""
    if _LIBC is not None:
        d = _LIBC.opendir(os.fsencode(path))
        if not d:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        try:
            names = []
            while True:
                ent = _LIBC.readdir64(d)
                if not ent:
                    return names
                names.append(os.fsdecode(ent.contents.d_name))
        finally:
            _LIBC.closedir(d)
    return [".", "..", *os.listdir(path)]


def spdist(s: str, t: str) -> int:
    """How ``s`` (the request) differs from ``t`` (a file name), ignoring case."""
    ls, lt = s.lower(), t.lower()
    if ls == lt:
        return SP_MISCAPITALIZED
    i = 0
    while i < len(ls) and i < len(lt) and ls[i] == lt[i]:
        i += 1
    a, b = ls[i:], lt[i:]
    if a:
        if b:
            if len(a) > 1 and len(b) > 1 and a[0] == b[1] and b[0] == a[1] \
                    and a[2:] == b[2:]:
                return SP_TRANSPOSITION
            if a[1:] == b[1:]:
                return SP_SIMPLETYPO
        if a[1:] == b:
            return SP_EXTRACHAR
    if b and a == b[1:]:
        return SP_MISSINGCHAR
    return SP_VERYDIFFERENT


def candidates(bad: str, names: list[str], case_only: bool) -> list[tuple[str, int]] | None:
    """The candidates for ``bad`` among ``names`` (readdir order), best first; None
    when ``bad`` itself is there (a broken symlink: never redirect to itself)."""
    out: list[tuple[str, int]] = []
    dot = bad.find(".")
    dotloc = len(bad) if dot < 0 else dot
    for name in names:
        if name == bad:
            return None
        if name.lower() == bad.lower():
            out.append((name, SP_MISCAPITALIZED))
            continue
        if not case_only:
            q = spdist(bad, name)
            if q != SP_VERYDIFFERENT:
                out.append((name, q))
                continue
        e = name.find(".")
        entloc = len(name) if e < 0 else e
        if dotloc == entloc and bad[:dotloc].lower() == name[:dotloc].lower():
            out.append((name, SP_VERYDIFFERENT))
    out.sort(key=lambda c: c[1])
    return out


@speling.hook("fixups", order=LAST, needs=True)
def check_speling(r: Request) -> int:
    from featherd.modules.mappers.rewrite.util import escape_uri

    cfg: SpConfig = r.per_dir_config[speling.index]
    if not cfg.enabled or r.method not in ("GET", "HEAD") or r.finfo is not None:
        return DECLINED
    fn = r.filename
    if not fn or not fn.startswith("/") or r.main is not None:
        return DECLINED
    filoc = fn.rfind("/")
    if filoc < 0 or r.uri == "/":
        return DECLINED
    good, bad = fn[:filoc], fn[filoc + 1:]
    postgood = bad + (r.path_info or "")
    if not r.uri.endswith(postgood):
        return DECLINED
    url = r.uri[:len(r.uri) - len(postgood)]
    try:
        names = read_dir(good or "/")
    except OSError:
        return DECLINED
    cands = candidates(bad, names, cfg.case_only)
    if cands is None or not cands:
        return OK
    ref = r.headers_in.get("Referer")
    query = r.args
    best = cands[0]
    if best[1] != SP_VERYDIFFERENT and (len(cands) == 1 or best[1] != cands[1][1]):
        nuri = escape_uri(url + best[0] + (r.path_info or ""))
        if query is not None:
            nuri += "?" + query
        r.headers_out.set("Location", r.construct_url(nuri))
        r.log_error(INFO, f"Fixed spelling: {r.uri} to {nuri} from {ref}" if ref
                    else f"Fixed spelling: {r.uri} to {nuri}")
        return 301
    t = ["The document name you requested (<code>", html.escape(r.uri, quote=True),
         "</code>) could not be found on this server.\nHowever, we found documents with "
         "names similar to the one you requested.<p>Available documents:\n<ul>\n"]
    v: list[str] = []
    for i, (name, q) in enumerate(cands):
        reason = REASONS[q]
        vuri = url + name + (r.path_info or "") + (f"?{query}" if query is not None else "")
        v.append(f'"{escape_uri(vuri)}";"{reason}"')
        t += ['<li><a href="', escape_uri(vuri), '">', html.escape(vuri, quote=True),
              "</a> (", reason, ")\n"]
        if 0 < i < len(cands) - 1 and q != SP_VERYDIFFERENT \
                and cands[i + 1][1] == SP_VERYDIFFERENT:
            t.append("</ul>\nFurthermore, the following related documents were found:\n"
                     "<ul>\n")
    t.append("</ul>\n")
    if ref is not None:
        t += ['Please consider informing the owner of the <a href="', escape_uri(ref),
              '">referring page</a> about the broken link.\n']
    r.notes["variant-list"] = "".join(t)
    cur = r.subprocess_env.get("VARIANTS")
    joined = ",".join(v)
    r.subprocess_env["VARIANTS"] = f"{cur}, {joined}" if cur else joined
    r.log_error(INFO, f"Spelling fix: {r.uri}: {len(cands)} candidates from {ref}" if ref
                else f"Spelling fix: {r.uri}: {len(cands)} candidates")
    return 300


__all__ = ["candidates", "spdist", "speling", "speling_module"]
