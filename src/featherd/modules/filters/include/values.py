"""mod_include's value helpers: entity decoding (decodehtml), the echo/set encodings,
ap_ht_time, apr_strfsize, the case-insensitive variable table and the include
variables."""

from __future__ import annotations

import base64
import functools
import pwd
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from featherd.modules.generators import cgi_env
from featherd.util.escape import escape_html

if TYPE_CHECKING:
    from featherd.core.request import Request

DEFAULT_TIME_FORMAT = "%A, %d-%b-%Y %H:%M:%S %Z"

_ENTITIES = {
    2: {"lt": "<", "gt": ">"},
    3: {"amp": "&", "ETH": "\xd0", "eth": "\xf0"},
    4: {"quot": '"', "Auml": "\xc4", "Euml": "\xcb", "Iuml": "\xcf", "Ouml": "\xd6",
        "Uuml": "\xdc", "auml": "\xe4", "euml": "\xeb", "iuml": "\xef", "ouml": "\xf6",
        "uuml": "\xfc", "yuml": "\xff"},
    5: {"Acirc": "\xc2", "Aring": "\xc5", "AElig": "\xc6", "Ecirc": "\xca", "Icirc": "\xce",
        "Ocirc": "\xd4", "Ucirc": "\xdb", "THORN": "\xde", "szlig": "\xdf", "acirc": "\xe2",
        "aring": "\xe5", "aelig": "\xe6", "ecirc": "\xea", "icirc": "\xee", "ocirc": "\xf4",
        "ucirc": "\xfb", "thorn": "\xfe"},
    6: {"Agrave": "\xc0", "Aacute": "\xc1", "Atilde": "\xc3", "Ccedil": "\xc7",
        "Egrave": "\xc8", "Eacute": "\xc9", "Igrave": "\xcc", "Iacute": "\xcd",
        "Ntilde": "\xd1", "Ograve": "\xd2", "Oacute": "\xd3", "Otilde": "\xd5",
        "Oslash": "\xd8", "Ugrave": "\xd9", "Uacute": "\xda", "Yacute": "\xdd",
        "agrave": "\xe0", "aacute": "\xe1", "atilde": "\xe3", "ccedil": "\xe7",
        "egrave": "\xe8", "eacute": "\xe9", "igrave": "\xec", "iacute": "\xed",
        "ntilde": "\xf1", "ograve": "\xf2", "oacute": "\xf3", "otilde": "\xf5",
        "oslash": "\xf8", "ugrave": "\xf9", "uacute": "\xfa", "yacute": "\xfd"},
}


def decodehtml(s: str) -> str:
    """mod_include's decodehtml: Latin-1 entities and numeric references; unknown ones
    stay, references to unused characters disappear."""
    if "&" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c != "&":
            out.append(c)
            i += 1
            continue
        semi = s.find(";", i + 1)
        if semi < 0:
            out.append(s[i:])
            break
        body = s[i + 1:semi]
        if body.startswith("#"):
            digits = ""
            for ch in body[1:]:
                if not ch.isdigit():
                    break
                digits += ch
            val = int(digits) if digits else 0
            if len(digits) == len(body) - 1 and not (
                    val <= 8 or 11 <= val <= 31 or 127 <= val <= 160 or val >= 256):
                out.append(chr(val))
            i = semi + 1
            continue
        rep = _ENTITIES.get(len(body), {}).get(body)
        if rep is None:
            out.append("&")
            i += 1
            continue
        out.append(rep)
        i = semi + 1
    return "".join(out)


def _latin1(s: str) -> bytes:
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape")


def escape_urlencoded(s: str) -> str:
    """ap_escape_urlencoded: form encoding (space as '+')."""
    return cgi_env.escape_bytes(s, ".-*_ ").replace(" ", "+")


def _encode(v: str, how: str) -> str:
    if how == "url":
        return cgi_env.escape_uri(v)
    if how == "urlencoded":
        return escape_urlencoded(v)
    if how == "entity":
        return escape_html(v)
    if how == "base64":
        return base64.b64encode(_latin1(v)).decode("latin-1")
    return v


def _decode(v: str, how: str) -> str:
    if how == "url":
        return cgi_env.unescape_url(v)
    if how == "urlencoded":
        return unquote_to_bytes(v.replace("+", " ")).decode("latin-1")
    if how == "entity":
        return decodehtml(v)
    if how == "base64":
        try:
            return base64.b64decode(_latin1(v)).decode("latin-1")
        except ValueError:
            return ""
    return v


def ht_time(t: float, fmt: str, gmt: bool) -> str:
    """ap_ht_time: strftime on local or GMT time (with %Z as GMT, %z as +0000)."""
    return _ht_time(int(t), fmt, gmt)


@functools.lru_cache(maxsize=256)
def _ht_time(t: int, fmt: str, gmt: bool) -> str:
    if gmt:
        out = []
        i = 0
        while i < len(fmt):
            c = fmt[i]
            if c == "%" and i + 1 < len(fmt):
                nx = fmt[i + 1]
                out.append({"Z": "GMT", "z": "+0000"}.get(nx, "%" + nx))
                i += 2
                continue
            out.append(c)
            i += 1
        fmt = "".join(out)
        tm = time.gmtime(t)
    else:
        tm = time.localtime(t)
    try:
        return time.strftime(fmt, tm)
    except (ValueError, UnicodeError):
        return ""


def strfsize(size: int) -> str:
    """apr_strfsize: four columns, K/M/G/T/P/E."""
    if size < 0:
        return "  - "
    if size < 973:
        return f"{size:3d} "
    for o in "KMGTPE":
        remain = size & 1023
        size >>= 10
        if size >= 973:
            continue
        if size < 9 or (size == 9 and remain < 973):
            remain = (remain * 5 + 256) // 512
            if remain >= 10:
                size += 1
                remain = 0
            return f"{size}.{remain}{o}"
        if remain >= 512:
            size += 1
        return f"{size:3d}{o}"
    return "****"


def env_get(env: dict[str, str], name: str) -> str | None:
    """An apr table lookup: names are case-insensitive."""
    v = env.get(name)
    if v is not None:
        return v
    ln = name.lower()
    if ln in map(str.lower, env):              # (the scan in C; a miss is the rule)
        for k, val in env.items():
            if k.lower() == ln:
                return val
    return None


def env_set(env: dict[str, str], name: str, value: str) -> None:
    if name in env:
        env[name] = value
        return
    ln = name.lower()
    if ln in map(str.lower, env):
        for k in env:
            if k.lower() == ln:
                env[k] = value
                return
    env[name] = value


@functools.lru_cache(maxsize=64)
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "<unknown>"


def add_include_vars(r: Request, timefmt: str) -> None:
    e = r.subprocess_env
    now = r.request_time
    mtime = r.finfo.st_mtime if r.finfo is not None else 0.0
    e["DATE_LOCAL"] = ht_time(now, timefmt, False)
    e["DATE_GMT"] = ht_time(now, timefmt, True)
    e["LAST_MODIFIED"] = ht_time(mtime, timefmt, False)
    e["DOCUMENT_URI"] = r.uri
    if r.path_info:
        e["DOCUMENT_PATH_INFO"] = r.path_info
    e["USER_NAME"] = user_name(r.finfo.st_uid) if r.finfo is not None else "<unknown>"
    fn = r.filename or ""
    e["DOCUMENT_NAME"] = fn.rsplit("/", 1)[1] if "/" in fn else r.uri
    if r.args is not None:
        e["QUERY_STRING_UNESCAPED"] = cgi_env.escape_shell_cmd(cgi_env.unescape_url(r.args))
