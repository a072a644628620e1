"""mod_cern_meta: CERN httpd meta files, as in Apache 2.2.

With ``MetaFiles on``, a request for ``dir/file`` reads ``dir/.web/file.meta`` (the
directory from ``MetaDir``, the suffix from ``MetaSuffix``) when it exists: its lines
are header lines, up to a blank line. ``Content-Type`` sets the type, ``Status`` the
status, every other line a response header (replacing one of the same name). A line
without a colon is a 500 ("malformed header in meta file"). The meta file is looked up
as a sub-request first, so <Directory>/<Files> access rules can hide it; a meta file
the server may not read is a 403.

As in Apache, MetaFiles itself is not inherited by a section that sets only MetaDir or
MetaSuffix (its merge takes the section's MetaFiles, default off).
"""

from __future__ import annotations

import stat as stat_mod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.parser import CmdParms
from featherd.core.hooks import DECLINED, MIDDLE, OK
from featherd.core.module import Module
from featherd.http.headers import Headers

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR = 3
DEFAULT_METADIR = ".web"
DEFAULT_METASUFFIX = ".meta"
MAX_STRING_LEN = 8192


@dataclass(slots=True)
class CernMetaConfig:
    metadir: str | None = None
    metasuffix: str | None = None
    metafiles: bool = False


class CernMetaModule(Module):
    def merge_dir_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        return CernMetaConfig(new.metadir if new.metadir is not None else base.metadir,
                              new.metasuffix if new.metasuffix is not None
                              else base.metasuffix,
                              new.metafiles)


cern_meta = CernMetaModule("cern_meta_module", "mod_cern_meta.c",
                           dir_config=CernMetaConfig,
                           description="CERN httpd metafile semantics")
cern_meta_module = cern_meta


@cern_meta.directive("MetaFiles", args=ArgSpec.FLAG, context=Context.ALL_DIR,
                     override=Override.INDEXES, syntax="MetaFiles on|off",
                     help="Limited to 'on' or 'off'")
def set_metafiles(cmd: CmdParms, conf: CernMetaConfig, on: bool) -> None:
    conf.metafiles = on


@cern_meta.directive("MetaDir", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                     override=Override.INDEXES, syntax="MetaDir directory",
                     help="the name of the directory containing meta files")
def set_metadir(cmd: CmdParms, conf: CernMetaConfig, d: str) -> None:
    conf.metadir = d


@cern_meta.directive("MetaSuffix", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                     override=Override.INDEXES, syntax="MetaSuffix suffix",
                     help="the filename suffix for meta files")
def set_metasuffix(cmd: CmdParms, conf: CernMetaConfig, s: str) -> None:
    conf.metasuffix = s


def scan_meta_file(r: Request, data: bytes) -> int:
    """The meta file's header lines into r (OK), or 500 for a line without a colon."""
    from featherd.modules.generators.cgi_script import content_type_tolower

    tmp = Headers()
    pos = 0
    text = data.decode("latin-1")
    while pos < len(text):
        end = text.find("\n", pos, pos + MAX_STRING_LEN - 2)
        if end < 0:
            end = min(len(text), pos + MAX_STRING_LEN - 2)
            line = text[pos:end]
            pos = end
        else:
            line = text[pos:end + 1]
            pos = end + 1
        if line.endswith("\r\n"):
            line = line[:-2]
        elif line.endswith("\n"):
            line = line[:-1]
        if not line:
            return OK
        colon = line.find(":")
        if colon < 0:
            r.log_error(ERROR, f"malformed header in meta file: {r.filename}")
            return 500
        name, value = line[:colon], line[colon + 1:].lstrip(" \t\n\r\v\f")
        lname = name.lower()
        if lname == "content-type":
            r.content_type = content_type_tolower(value.rstrip(" \t\n\r\v\f") or value)
        elif lname == "status":
            digits = ""
            for c in value.lstrip():
                if not c.isdigit() and not (c in "+-" and not digits):
                    break
                digits += c
            try:
                r.status = int(digits)
            except ValueError:
                pass
            r.status_line = value
        else:
            tmp.set(name, value)
    for k, v in tmp:
        r.headers_out.set(k, v)
    return OK


@cern_meta.hook("fixups", order=MIDDLE, needs=True)
async def add_cern_meta_data(r: Request) -> int:
    from featherd.core.subrequest import lookup_file

    d: CernMetaConfig = r.per_dir_config[cern_meta.index]
    if not d.metafiles or r.finfo is None:
        return DECLINED
    if stat_mod.S_ISDIR(r.finfo.st_mode) or r.uri.endswith("/"):
        return DECLINED
    fn = r.filename or ""
    last = fn.rfind("/")
    if last <= fn.find("/"):
        r.log_error(ERROR, f"internal error in mod_cern_meta: {fn}")
        return DECLINED
    metafilename = (fn[:last] + "/" + (d.metadir or DEFAULT_METADIR) + "/" + fn[last + 1:]
                    + (d.metasuffix or DEFAULT_METASUFFIX))
    rr = await lookup_file(r, metafilename)
    if rr.status != 200:
        return DECLINED
    try:
        with open(metafilename, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return DECLINED
    except OSError as e:
        r.log_error(ERROR, f"({e.errno}){e.strerror}: meta file permissions deny server "
                           f"access: {metafilename}")
        return 403
    return scan_meta_file(r, data)


__all__ = ["cern_meta", "cern_meta_module", "scan_meta_file"]
