"""RewriteRule and RewriteCond lines: argument splitting, flags and patterns, parsed
once at configuration time (cmd_rewriterule, cmd_rewritecond and their flag parsers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from featherd.errors import DirectiveError
from featherd.http.status import REASONS
from featherd.modules.mappers.rewrite.expand import Template, compile_template
from featherd.util.pcre import PCREError, compile_pcre

#: REWRITE_MAX_ROUNDS: the [N] flag's default limit (2.4.8 added [N=n])
MAX_ROUNDS = 10000

# CondPattern types
REGEX, FILE_EXISTS, FILE_SIZE, FILE_LINK, FILE_DIR, FILE_XBIT, LU_URL, LU_FILE, \
    STR_LT, STR_LE, STR_EQ, STR_GT, STR_GE, INT_LT, INT_LE, INT_EQ, INT_GT, INT_GE = range(18)

_FILE_TESTS = {"f": FILE_EXISTS, "s": FILE_SIZE, "d": FILE_DIR, "x": FILE_XBIT,
               "h": FILE_LINK, "L": FILE_LINK, "l": FILE_LINK, "U": LU_URL, "F": LU_FILE}
_INT_TESTS = {"lt": INT_LT, "le": INT_LE, "gt": INT_GT, "ge": INT_GE, "eq": INT_EQ}
ASYNC_TESTS = frozenset({LU_URL, LU_FILE})
TYPE_NAMES = {REGEX: "regex", FILE_EXISTS: "-f", FILE_SIZE: "-s", FILE_LINK: "-l",
              FILE_DIR: "-d", FILE_XBIT: "-x", LU_URL: "-U", LU_FILE: "-F", STR_LT: "<",
              STR_LE: "<=", STR_EQ: "=", STR_GT: ">", STR_GE: ">=", INT_LT: "-lt",
              INT_LE: "-le", INT_EQ: "-eq", INT_GT: "-gt", INT_GE: "-ge"}


def parseargline(s: str) -> tuple[str | None, str | None, str | None, str | None]:
    """mod_rewrite's own argument splitter: up to three words, each optionally quoted;
    a backslash before a blank keeps the blank (and the backslash) in the word.
    Returns (a1, a2, a3, error)."""
    i = 0
    n = len(s)

    def word() -> tuple[str, bool]:
        nonlocal i
        quote = ""
        if i < n and s[i] in "\"'":
            quote = s[i]
            i += 1
        start = i
        while i < n:
            c = s[i]
            if (c in " \t\r\n\f\v" and not quote) or c == quote:
                break
            if c == "\\" and i + 1 < n and s[i + 1] in " \t\r\n\f\v":
                i += 2
                continue
            i += 1
        w = s[start:i]
        ended = i >= n
        if not ended:
            i += 1   # the delimiter
        return w, ended

    def skip() -> None:
        nonlocal i
        while i < n and s[i] in " \t\r\n\f\v":
            i += 1

    skip()
    a1, ended = word()
    if ended:
        return a1, None, None, "bad argument line: at least two arguments required"
    skip()
    a2, ended = word()
    if ended:
        return a1, a2, None, None
    skip()
    if i >= n:
        return a1, a2, None, None
    a3, _ = word()
    if not a3.startswith("["):
        return a1, a2, a3, ("bad flag delimiters: third argument must begin with '[' but "
                            f"found '{a3[:1]}' - too many arguments or rogue whitespace?")
    if not a3.endswith("]"):
        return a1, a2, a3, ("bad flag delimiters: third argument must end with ']' but "
                            f"found '{a3[-1:]}' - unintended whitespace within the flags "
                            "definition?")
    return a1, a2, a3, None


def parse_flags(text: str) -> list[tuple[str, str]]:
    """cmd_parseflagfield: '[a,b=c]' -> [('a', ''), ('b', 'c')]."""
    body = text[1:-1]
    out = []
    for item in body.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, val = item.partition("=")
        out.append((key, val))
    return out


def _null(s: str | None) -> str:
    return "(null)" if s is None else s


@dataclass(slots=True, eq=False)
class CondEntry:
    """One RewriteCond (rewritecond_entry)."""

    input: Template
    pattern: str                  # the pattern with ! and the operator stripped
    pattern_text: str             # as written (for the log)
    ptype: int = REGEX
    regex: re.Pattern[str] | None = None
    nocase: bool = False
    ornext: bool = False
    novary: bool = False
    notmatch: bool = False
    is_async: bool = False
    filename: str = ""
    line: int = 0

    def describe(self) -> str:
        flags = [f for f, on in (("NC", self.nocase), ("OR", self.ornext),
                                 ("NV", self.novary)) if on]
        tail = f" [{','.join(flags)}]" if flags else ""
        return f"RewriteCond {self.input.text} {self.pattern_text}{tail}"


def parse_cond(raw: str, filename: str = "", line: int = 0,
               warn: Any = None) -> CondEntry:
    a1, a2, a3, err = parseargline(raw)
    if err:
        raise DirectiveError(f"RewriteCond: {err} (TestString={_null(a1)}, "
                             f"CondPattern={_null(a2)}, flags={_null(a3)})")
    assert a1 is not None and a2 is not None
    nocase = ornext = novary = False
    if a3 is not None:
        for key, _val in parse_flags(a3):
            k = key.lower()
            if k in ("nocase", "nc"):
                nocase = True
            elif k in ("ornext", "or"):
                ornext = True
            elif k in ("novary", "nv"):
                novary = True
            else:
                raise DirectiveError(f"RewriteCond: unknown flag '{key}'")
    if a1.lower() == "expr":
        raise DirectiveError("RewriteCond: 'expr' conditions (ap_expr, Apache 2.4) are not "
                             "supported")
    pattern_text = a2
    p = a2
    notmatch = False
    if p.startswith("!"):
        notmatch = True
        p = p[1:]
    ptype = REGEX
    if len(p) >= 2:
        if p[0] == "-":
            if len(p) == 2:
                ptype = _FILE_TESTS.get(p[1], REGEX)
            elif len(p) > 3 and p[1:3] in _INT_TESTS:
                ptype = _INT_TESTS[p[1:3]]
                p = p[3:]
            elif len(p) > 3 and p[1:3] == "ne":
                ptype = INT_EQ
                p = p[3:]
                notmatch = not notmatch
        elif p[0] == ">":
            if p[1] == "=":
                ptype, p = STR_GE, p[2:]
            else:
                ptype, p = STR_GT, p[1:]
        elif p[0] == "<":
            if p[1] == "=":
                ptype, p = STR_LE, p[2:]
            else:
                ptype, p = STR_LT, p[1:]
        elif p[0] == "=":
            ptype, p = STR_EQ, p[1:]
            if p == '""':
                p = ""
    if ptype not in (REGEX, STR_LT, STR_LE, STR_EQ, STR_GT, STR_GE) and nocase:
        if warn is not None:
            warn(f"RewriteCond: NoCase option for non-regex pattern '{p}' is not supported "
                 f"and will be ignored. ({filename}:{line})")
        nocase = False
    regex = None
    if ptype == REGEX:
        try:
            regex = compile_pcre(p, nocase)
        except PCREError:
            raise DirectiveError(f"RewriteCond: cannot compile regular expression '{p}'") \
                from None
    tpl = compile_template(a1)
    return CondEntry(input=tpl, pattern=p, pattern_text=pattern_text, ptype=ptype,
                     regex=regex, nocase=nocase, ornext=ornext, novary=novary,
                     notmatch=notmatch, is_async=tpl.needs_async or ptype in ASYNC_TESTS,
                     filename=filename, line=line)


@dataclass(slots=True, eq=False)
class RuleEntry:
    """One RewriteRule (rewriterule_entry)."""

    pattern: str
    regex: re.Pattern[str]
    output: Template
    output_text: str
    flags_text: str = ""
    conds: list[CondEntry] = field(default_factory=list)
    notmatch: bool = False
    nosub: bool = False           # '-' substitution, or a status-only rule
    status_rule: bool = False     # [F], [G], [R=4xx/5xx]
    redirect: bool = False        # [R]
    forced_status: int = 302
    last: bool = False            # [L]
    end: bool = False             # [END] (2.4)
    chain: bool = False           # [C]
    next_round: bool = False      # [N]
    maxrounds: int = MAX_ROUNDS
    nosubreq: bool = False        # [NS]
    nocase: bool = False          # [NC]
    noescape: bool = False        # [NE]
    proxy: bool = False           # [P]
    passthrough: bool = False     # [PT]
    qsappend: bool = False        # [QSA]
    qsdiscard: bool = False       # [QSD] (2.4)
    qslast: bool = False          # [QSL] (2.4)
    discardpathinfo: bool = False  # [DPI]
    escape_backrefs: bool = False  # [B]
    escapes: str | None = None    # [B=chars]
    noplus: bool = False          # [BNP]
    unsafe_allow3f: bool = False  # [UnsafeAllow3F] (2.4.60, CVE-2024-38474)
    unsafe_prefix_stat: bool = False  # [UnsafePrefixStat] (2.4.60, CVE-2024-38475)
    skip: int = 0                 # [S=n]
    forced_type: Template | None = None     # [T=type]
    forced_handler: Template | None = None  # [H=handler]
    env: list[Template] = field(default_factory=list)      # [E=var:val]
    cookies: list[Template] = field(default_factory=list)  # [CO=...]
    filename: str = ""
    line: int = 0

    def describe(self) -> str:
        p = ("!" if self.notmatch else "") + self.pattern
        tail = f" {self.flags_text}" if self.flags_text else ""
        return f"RewriteRule {p} {self.output_text}{tail}"


def _set_rule_flag(rule: RuleEntry, key: str, val: str) -> None:
    k = key.lower()
    if k in ("b", "backrefescaping"):
        rule.escape_backrefs = True
        if val:
            rule.escapes = val
    elif k in ("bnp", "backrefnoplus"):
        rule.noplus = True
    elif k in ("c", "chain"):
        rule.chain = True
    elif k in ("co", "cookie"):
        rule.cookies.append(compile_template(val))
    elif k in ("dpi", "discardpath", "discardpathinfo"):
        rule.discardpathinfo = True
    elif k in ("e", "env"):
        rule.env.append(compile_template(val))
    elif k == "end":
        rule.end = True
    elif k in ("f", "forbidden"):
        rule.status_rule = rule.nosub = True
        rule.forced_status = 403
    elif k in ("g", "gone"):
        rule.status_rule = rule.nosub = True
        rule.forced_status = 410
    elif k in ("h", "handler"):
        rule.forced_handler = compile_template(val)
    elif k in ("l", "last"):
        rule.last = True
    elif k in ("ne", "noescape"):
        rule.noescape = True
    elif k in ("n", "next"):
        rule.next_round = True
        if val:
            try:
                rule.maxrounds = int(val)
            except ValueError:
                rule.maxrounds = 0
    elif k in ("ns", "nosubreq"):
        rule.nosubreq = True
    elif k in ("nc", "nocase"):
        rule.nocase = True
    elif k in ("p", "proxy"):
        rule.proxy = True
    elif k in ("pt", "passthrough"):
        rule.passthrough = True
    elif k in ("qsa", "qsappend"):
        rule.qsappend = True
    elif k in ("qsd", "qsdiscard"):
        rule.qsdiscard = True
    elif k in ("qsl", "qslast"):
        rule.qslast = True
    elif k in ("r", "redirect"):
        rule.redirect = True
        status = 0
        if val:
            lv = val.lower()
            if lv == "permanent":
                status = 301
            elif lv == "temp":
                status = 302
            elif lv == "seeother":
                status = 303
            elif val[0].isdigit():
                digits = re.match(r"\d+", val)
                status = int(digits.group(0)) if digits else 0
                if status != 500 and status not in REASONS:
                    raise DirectiveError(f"RewriteRule: invalid HTTP response code '{val}' "
                                         "for flag 'R'")
                if not 300 <= status <= 399:
                    rule.status_rule = rule.nosub = True
            rule.forced_status = status
    elif k in ("s", "skip"):
        try:
            rule.skip = int(val)
        except ValueError:
            rule.skip = 0
    elif k in ("t", "type"):
        rule.forced_type = compile_template(val)
    elif k == "unsafeallow3f":
        rule.unsafe_allow3f = True
    elif k == "unsafeprefixstat":
        rule.unsafe_prefix_stat = True
    else:
        raise DirectiveError(f"RewriteRule: unknown flag '{key}'")


def parse_rule(raw: str, conds: list[CondEntry], filename: str = "",
               line: int = 0) -> RuleEntry:
    a1, a2, a3, err = parseargline(raw)
    if err:
        raise DirectiveError(f"RewriteRule: {err} (pattern='{_null(a1)}', substitution="
                             f"'{_null(a2)}', flags='{_null(a3)}')")
    assert a1 is not None and a2 is not None
    rule = RuleEntry(pattern="", regex=re.compile(""), output=compile_template(""),
                     output_text=a2, flags_text=a3 or "", filename=filename, line=line)
    if a3 is not None:
        for key, val in parse_flags(a3):
            _set_rule_flag(rule, key, val)
    pat = a1
    if pat.startswith("!"):
        rule.notmatch = True
        pat = pat[1:]
    try:
        rule.regex = compile_pcre(pat, rule.nocase)
    except PCREError:
        raise DirectiveError(f"RewriteRule: cannot compile regular expression '{pat}'") \
            from None
    rule.pattern = pat
    rule.output = compile_template(a2)
    if a2 == "-":
        rule.nosub = True
    rule.conds = conds
    return rule


__all__ = ["CondEntry", "RuleEntry", "parse_cond", "parse_flags", "parse_rule",
           "parseargline"]
