"""mod_expires: Expires and Cache-Control max-age from configuration (2.2 mod_expires.c).

``ExpiresActive On|Off``, ``ExpiresByType type code`` and ``ExpiresDefault code`` where a
code is ``A<seconds>`` / ``M<seconds>`` or the alternative syntax
``access|now|modification [plus] {<num> <type>}*`` with types years (365 days), months
(30 days), weeks, days, hours, minutes and seconds. Words are matched on their first
letter(s) as Apache's check_code does ("mo" months, "mi" minutes, "n" now...).

A response gets ``Expires`` (base + interval, never before the request time) and
``Cache-Control: max-age=N`` appended to any Cache-Control, unless it already has an
Expires (a CGI's, say; the table holding it is the one written to). The base is the
request time (A) or the file's modification time (M: for files only; a response that is
not a file gets nothing). ExpiresByType wins over ExpiresDefault and matches the type
without its parameters; ``text/*`` covers a whole major type (2.4). Errors and
sub-requests get nothing. The work is done by the MOD_EXPIRES filter, so the type a
handler sets (a CGI's) counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.config.tree import getword_conf
from featherd.core.hooks import MIDDLE
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.filters.chain import FTYPE_CONTENT_SET, add_output_filter
from featherd.http.dates import http_date

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

_TYPES = (("years", 1, 60 * 60 * 24 * 365), ("months", 2, 60 * 60 * 24 * 30),
          ("weeks", 1, 60 * 60 * 24 * 7), ("days", 1, 60 * 60 * 24), ("hours", 1, 60 * 60),
          ("minutes", 2, 60), ("seconds", 1, 1))


def _prefix(word: str, full: str, n: int) -> bool:
    """strncasecmp(word, full, n) == 0."""
    return bool(word) and word[:n].lower() == full[:n]


def check_code(code: str) -> str:
    """check_code: the code as "A<secs>" / "M<secs>", or raise with Apache's reason."""
    if code[:1] in ("A", "M"):
        return code
    word, i, _ = getword_conf(code, 0)
    if _prefix(word, "now", 1) or _prefix(word, "access", 1):
        base = "A"
    elif _prefix(word, "modification", 1):
        base = "M"
    else:
        raise ValueError(f"bad expires code, unrecognised <base> '{word}'")
    word, i, _ = getword_conf(code, i)
    if _prefix(word, "plus", 1):
        word, i, _ = getword_conf(code, i)
    modifier = 0
    while word:
        if not word[0].isdigit():
            raise ValueError(f"bad expires code, numeric value expected <num> '{word}'")
        digits = ""
        for ch in word:
            if not ch.isdigit():
                break
            digits += ch
        num = int(digits)
        word, i, _ = getword_conf(code, i)
        if not word:
            raise ValueError("bad expires code, missing <type>")
        factor = next((f for name, n, f in _TYPES if _prefix(word, name, n)), None)
        if factor is None:
            raise ValueError(f"bad expires code, unrecognised <type>'{word}'")
        modifier += factor * num
        word, i, _ = getword_conf(code, i)
    return f"{base}{modifier}"


def _atoi(s: str) -> int:
    digits = ""
    for i, ch in enumerate(s):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits += ch
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0


@dataclass(slots=True)
class ExpiresConfig:
    active: Any = UNSET
    by_type: Any = unset_field("update")   # {type (lower case): code}
    default: Any = UNSET


expires = Module("expires_module", "mod_expires.c", dir_config=ExpiresConfig,
                 description="Generation of Expires and Cache-Control HTTP headers "
                             "according to user-specified criteria")

_CTX = Context.ALL_DIR
_OVR = Override.INDEXES


@expires.directive("ExpiresActive", args=ArgSpec.FLAG, context=_CTX, override=_OVR,
                   syntax="ExpiresActive On|Off",
                   help="Limited to 'on' or 'off'")
def expires_active(cmd: CmdParms, conf: ExpiresConfig, on: bool) -> None:
    conf.active = on


@expires.directive("ExpiresByType", args=ArgSpec.TAKE2, context=_CTX, override=_OVR,
                   syntax="ExpiresByType MIME-type <code>seconds",
                   help="a MIME type followed by an expiry date code")
def expires_by_type(cmd: CmdParms, conf: ExpiresConfig, mime: str, code: str) -> None:
    try:
        real = check_code(code)
    except ValueError as e:
        raise DirectiveError(f"'ExpiresByType {mime} {code}': {e}") from None
    cur = dict(conf.by_type) if conf.by_type is not UNSET else {}
    cur[mime.lower()] = real
    conf.by_type = cur


@expires.directive("ExpiresDefault", args=ArgSpec.TAKE1, context=_CTX, override=_OVR,
                   syntax="ExpiresDefault <code>seconds",
                   help="expiry date code")
def expires_default(cmd: CmdParms, conf: ExpiresConfig, code: str) -> None:
    try:
        conf.default = check_code(code)
    except ValueError as e:
        raise DirectiveError(f"'ExpiresDefault {code}': {e}") from None


def _code_for(conf: ExpiresConfig, ctype: str | None) -> str | None:
    table = conf.by_type if conf.by_type is not UNSET else {}
    if ctype and table:
        t = ctype.split(";", 1)[0].strip().lower()
        code = table.get(t)
        if code is not None:
            return code  # type: ignore[no-any-return]
        major = t.split("/", 1)[0]
        code = table.get(f"{major}/*")
        if code is not None:
            return code  # type: ignore[no-any-return]
    return conf.default if conf.default is not UNSET else None


def set_expiration_fields(r: Request, code: str, table: Any) -> bool:
    """set_expiration_fields: Expires and Cache-Control: max-age."""
    if code[0] == "M":
        if r.finfo is None:
            return False           # not a file: no modification time to start from
        base = r.finfo.st_mtime_ns // 1000
    elif code[0] == "A":
        base = int(r.request_time * 1_000_000)
    else:
        r.log_error(3, f"internal error: bad expires code: {r.filename}")
        return False
    # in microseconds, as apr_time_t
    now = int(r.request_time * 1_000_000)
    exp = max(base + _atoi(code[1:]) * 1_000_000, now)
    table.merge("Cache-Control", f"max-age={(exp - now) // 1_000_000}")
    table.set("Expires", http_date(exp // 1_000_000))
    return True


@expires.output_filter("MOD_EXPIRES", FTYPE_CONTENT_SET - 2)
class ExpiresFilter:
    """expires_filter: decided when the response starts, on its final type."""

    def __init__(self, r: Request) -> None:
        self.done = False

    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        if self.done:
            return bb
        self.done = True
        if r.status >= 400:
            return bb
        conf: ExpiresConfig = r.per_dir_config[expires.index]
        if r.err_headers_out.get("Expires") is not None:
            return bb
        if r.headers_out.get("Expires") is not None:
            return bb
        code = _code_for(conf, r.content_type)
        if code is not None:
            set_expiration_fields(r, code, r.headers_out)
        return bb


@expires.hook("insert_filter", order=MIDDLE, needs=True)
def insert_filter(r: Request) -> None:
    if r.status >= 400 or r.main is not None:
        return
    conf: ExpiresConfig | None = r.per_dir_config[expires.index]
    if conf is None or conf.active is not True:
        return
    if not conf.by_type and conf.default is UNSET:
        return
    add_output_filter(r, "MOD_EXPIRES")


__all__ = ["ExpiresConfig", "check_code", "expires", "set_expiration_fields"]
