"""mod_mime_magic: content types from the file's first bytes, as in Apache 2.2.

``MimeMagicFile file`` (server config, virtual host; a virtual host without one uses the
main server's) loads a magic file in Apache's subset of file(1)'s format; the bundled
``featherd/data/magic`` is Debian's ``/etc/apache2/magic``. Each line is::

    [>...]offset  [u]type[&mask]  [relation]value  mime-type [encoding]

``>`` marks continuations (tried after a match of the line above them, each level
under the one before), ``>(off.[bsl][+-n])`` an indirect offset; the types are byte,
short, long, string, date and their be/le forms; relations ``=`` (default), ``<``,
``>``, ``&`` (all mask bits set), ``^`` (some clear), ``!`` and ``x`` (anything). The
messages of the matching line and its matching continuations, joined, give the type
and an optional encoding.

It runs only for files to which mod_mime gave no type (after mod_mime), reading the
first 4 KB (a rule needs 64 bytes from its offset, as in Apache, where the value union
is that large). Failing the magic tests: troff, Fortran, the keywords of file(1)'s
"names" table (HTML, C, mail, news... in the first KB) and tar archives. Compressed files
(gzip, compress, pack) are uncompressed and their content typed, the compression
becoming the Content-Encoding; ``MimeMagicDecompression Off`` (2.4.x) turns that off.
A name ending in ``@<digits>`` (a revision suffix) takes the type of the name without it.

Apache's numeric semantics on a 64-bit system are kept (an ``unsigned long`` of 64 bits,
a be/le ``long`` sign-extended from 32 bits), so a rule matches exactly when Debian's
apache2 says it does. Two Apache slips are not copied: its rsl_strdup takes one
character too many (``Content-Type: application/x-tar<TAB>``, and an encoding ending in
a raw newline), and 2.4 leaves ``Content-Encoding: x-gzip`` on a compressed file whose
content it could not type (2.2, and featherd, set the encoding only with a type).

Layout: :mod:`.parser` (the magic file), :mod:`.matcher` (the rules and the text tests
against a file's bytes); this file holds the configuration, the directives and the hooks.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat as stat_mod
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context
from featherd.config.parser import CmdParms
from featherd.core.hooks import DECLINED, MIDDLE, OK
from featherd.core.module import Module
from featherd.modules.metadata.mod_mime_magic.matcher import ascmagic, softmagic
from featherd.modules.metadata.mod_mime_magic.parser import ERROR, MODNAME, Magic, parse_magic

if TYPE_CHECKING:
    from featherd.core.request import Request

MIME_BINARY_UNKNOWN = "application/octet-stream"
MIME_TEXT_UNKNOWN = "text/plain"
DIR_MAGIC_TYPE = "httpd/unix-directory"
HOWMANY = 4096

COMPR = ((b"\037\235", "x-compress", False), (b"\037\213", "x-gzip", True),
         (b"\037\036", "x-gzip", False))


# --- configuration ------------------------------------------------------------------------
@dataclass(slots=True)
class MagicServerConfig:
    magicfile: str | None = None
    decompression: bool | None = None
    rules: list[Magic] | None = field(default=None)


class MimeMagicModule(Module):
    def merge_server_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        return MagicServerConfig(new.magicfile or base.magicfile,
                                 new.decompression if new.decompression is not None
                                 else base.decompression, None)


mime_magic = MimeMagicModule("mime_magic_module", "mod_mime_magic.c",
                             server_config=MagicServerConfig,
                             description="Determines the MIME type of a file by looking "
                                         "at a few bytes of its contents")
mime_magic_module = mime_magic


@mime_magic.directive("MimeMagicFile", args=ArgSpec.TAKE1, context=Context.RSRC,
                      syntax="MimeMagicFile file-path",
                      help="Path to MIME Magic file (in file(1) format)")
def set_magicfile(cmd: CmdParms, conf: MagicServerConfig, path: str) -> None:
    conf.magicfile = path


@mime_magic.directive("MimeMagicDecompression", args=ArgSpec.FLAG, context=Context.RSRC,
                      syntax="MimeMagicDecompression On|Off",
                      help="Enable decompression of compressed files for content type "
                           "detection")
def set_decompression(cmd: CmdParms, conf: MagicServerConfig, on: bool) -> None:
    conf.decompression = on


_RULES_CACHE: dict[tuple[str, int, int], tuple[list[Magic], list[str]]] = {}


def load_magic(path: str) -> tuple[list[Magic], list[str]]:
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    hit = _RULES_CACHE.get(key)
    if hit is None:
        with open(path, encoding="latin-1") as f:
            hit = parse_magic(f.read())
        _RULES_CACHE[key] = hit
    return hit


@mime_magic.hook("post_config")
def magic_init(tree: Any) -> int:
    """Load each server's magic file (a virtual host without one uses the main one's)."""
    main = tree.main
    log = main.error_log
    main_conf: MagicServerConfig = main.module_config[mime_magic.index]
    for s in tree.all_servers():
        conf: MagicServerConfig = s.module_config[mime_magic.index]
        if conf.magicfile is None or (s is not main and conf.magicfile == main_conf.magicfile
                                      and main_conf.rules is not None):
            if s is not main:
                conf.rules = main_conf.rules
            continue
        path = tree.server_root_relative(conf.magicfile)
        try:
            rules, errors = load_magic(path)
        except OSError as e:
            tree.warnings.append(f"({e.errno}){e.strerror}: {MODNAME}: can't read magic "
                                 f"file {path}")
            return OK
        for msg in errors:
            if log is not None:
                log.log(ERROR, msg)
            else:
                tree.warnings.append(msg)
        conf.rules = rules
    return OK


# --- the type checker --------------------------------------------------------------------
async def _uncompress(r: Request, method: int, buf: bytes) -> bytes | None:
    """The first HOWMANY bytes of the decompressed file (gzip in-process, the rest with
    ``gzip -dcq`` as Apache does)."""
    if COMPR[method][0] == b"\037\213":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = bytearray()
        try:
            with open(r.filename or "", "rb") as f:
                while len(out) < HOWMANY:
                    chunk = f.read(16384)
                    if not chunk:
                        break
                    out += d.decompress(chunk, HOWMANY - len(out))
                    while d.unconsumed_tail and len(out) < HOWMANY:
                        out += d.decompress(d.unconsumed_tail, HOWMANY - len(out))
        except (OSError, zlib.error):
            pass
        if out:
            return bytes(out[:HOWMANY])
    gz = shutil.which("gzip")
    if gz is None:
        r.log_error(ERROR, f"{MODNAME}: could not execute `gzip'.")
        return None
    proc = await asyncio.create_subprocess_exec(
        gz, "-dcq", r.filename or "", stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        cwd=os.path.dirname(r.filename or "/") or "/")
    assert proc.stdout is not None
    data = b""
    try:
        data = await asyncio.wait_for(proc.stdout.read(HOWMANY), 30)
    except TimeoutError:
        pass
    finally:
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        await proc.wait()
    if not data:
        r.log_error(ERROR, f"{MODNAME}: read failed from uncompress of {r.filename}")
        return None
    return data


async def tryit(r: Request, conf: MagicServerConfig, buf: bytes, nbytes: int,
                checkz: bool, result: dict[str, Any]) -> list[str] | None:
    if checkz and conf.decompression is not False:
        for i, (sig, enc, _silent) in enumerate(COMPR):
            if nbytes >= len(sig) and buf.startswith(sig):
                new = await _uncompress(r, i, buf)
                if new is None:
                    return []                 # recognised: "typed" as nothing
                inner = await tryit(r, conf, new + b"\0", len(new) + 1, False, result)
                if inner is not None:
                    result["encoding"] = enc
                    return inner
                break                         # not typed: look at the compressed bytes
    rules = conf.rules or []
    found = softmagic(rules, buf, nbytes, r)
    if found is not None:
        return found
    return ascmagic(buf, nbytes)


def rsl_to_type(frags: list[str]) -> tuple[str, str | None] | None:
    """magic_rsl_to_request: "type/subtype [encoding]" from the joined messages."""
    text = "".join(frags)
    state = 0                 # leading space, type, subtype, separator, encoding
    typ: list[str] = []
    enc: list[str] = []
    for c in text:
        if c.isspace():
            if state == 1:
                return None
            if state == 2:
                state = 3
            elif state == 4:
                break
            continue
        if state == 1 and c == "/":
            typ.append(c)
            state = 2
        elif state == 0:
            state = 1
            typ.append(c)
        elif state in (1, 2):
            typ.append(c)
        elif state == 3:
            state = 4
            enc.append(c)
        else:
            enc.append(c)
    if state < 2:
        return None
    t = "".join(typ)
    semi = t.find(";")
    t = t.lower() if semi < 0 else t[:semi].lower() + t[semi:]
    return t, ("".join(enc).lower() if state == 4 else None)


async def revision_suffix(r: Request) -> bool:
    from featherd.core.subrequest import lookup_file

    fn = r.filename or ""
    k = len(fn) - 1
    if k < 0 or not fn[k].isdigit():
        return False
    while k >= 0 and fn[k].isdigit():
        k -= 1
    if k < 0 or fn[k] != "@":
        return False
    sub = await lookup_file(r, fn[:k])
    if not sub.content_type:
        return False
    r.content_type = sub.content_type
    if sub.content_encoding:
        r.content_encoding = sub.content_encoding
    if sub.content_languages:
        r.content_languages = list(sub.content_languages)
    return True


@mime_magic.hook("type_checker", order=MIDDLE + 1, needs=("MimeMagicFile",))
async def magic_find_ct(r: Request) -> int:
    st = r.finfo
    if st is None or not r.filename or r.content_type:
        return DECLINED
    conf: MagicServerConfig = r.server.module_config[mime_magic.index]
    if not conf.rules:
        return DECLINED
    if await revision_suffix(r):
        return OK
    result: dict[str, Any] = {}
    if stat_mod.S_ISDIR(st.st_mode):
        frags: list[str] | None = [DIR_MAGIC_TYPE]
    elif not stat_mod.S_ISREG(st.st_mode):
        frags = [MIME_BINARY_UNKNOWN]
    elif st.st_size == 0:
        frags = [MIME_TEXT_UNKNOWN]
    else:
        try:
            with open(r.filename, "rb") as f:
                data = f.read(HOWMANY)
        except OSError:
            r.log_error(ERROR, f"{MODNAME}: can't read `{r.filename}'")
            return DECLINED
        if not data:
            return DECLINED
        frags = await tryit(r, conf, data + b"\0", len(data) + 1, True, result)
        if frags is None:
            return DECLINED
    res = rsl_to_type(frags)
    if res is None:
        return DECLINED
    r.content_type, enc = res
    if enc is not None:
        r.content_encoding = enc
    elif "encoding" in result:
        r.content_encoding = result["encoding"]
    return OK


__all__ = ["mime_magic", "mime_magic_module", "parse_magic", "softmagic"]
