"""Content types with parameters, as mod_mime reads and writes them: analyze_ct (the
type and its ``attribute=value`` parameters, with mod_mime's warnings for a malformed
one) and finish_ct (re-serialised, AddCharset's charset put in), memoised."""

from __future__ import annotations

_TSPECIALS = frozenset('()<>@,;:\\"/[]?=')


def _is_token(c: str) -> bool:
    return "!" <= c <= "~" and c not in _TSPECIALS


def analyze_ct(s: str) -> tuple[str, list[tuple[str, str]]] | str:
    """Split a media type into "type/subtype" and its parameters, as mod_mime's
    analyze_ct does; a string result is the warning Apache logs when it cannot."""
    n = len(s)
    i = 0
    while i < n and s[i].isspace():
        i += 1
    if i >= n:
        return f"mod_mime: analyze_ct: cannot get media type from '{s}'"
    t0 = i
    i += 1
    while i < n and s[i] != "/" and not s[i].isspace() and s[i] != ";":
        i += 1
    if i >= n or s[i] == ";":
        return f"Cannot get media type from '{s}'"
    t1 = i
    while i < n and s[i].isspace():
        i += 1
    if i >= n or s[i] != "/":
        return f"mod_mime: analyze_ct: cannot get media type from '{s}'"
    i += 1
    while i < n and s[i].isspace():
        i += 1
    if i >= n:
        return "Cannot get media subtype."
    s0 = i
    i += 1
    while i < n and not s[i].isspace() and s[i] != ";":
        i += 1
    base = s[t0:t1] + "/" + s[s0:i]
    while i < n and s[i].isspace():
        i += 1
    params: list[tuple[str, str]] = []
    if i >= n:
        return base, params
    i += 1                                     # the ';'
    while i < n and s[i] in " \t\n":
        i += 1
    bad = "Cannot get media parameter."
    if i >= n:
        return bad
    mp = i
    attr: str | None = None
    while i < n:
        c = s[i]
        if attr is None:
            if _is_token(c) or c in " \t\n":
                i += 1
                continue
            if c != "=":
                return bad
            attr = s[mp:i].strip()
            if not attr:
                return bad
            i += 1
            while i < n and s[i] in " \t\n":
                i += 1
            if i >= n:
                return bad
            mp = i
            continue
        if s[i] == '"':
            i += 1
            while True:
                if i >= n:
                    break
                c = s[i]
                if c == "\\" and i + 1 < n and s[i + 1].isascii():
                    i += 2
                elif c == '"':
                    i += 1
                    while i < n and s[i] in " \t\n":
                        i += 1
                    if i < n and s[i] != ";":
                        return bad
                    break
                elif c.isascii() and c not in '"\\\n':
                    i += 1
                else:
                    return bad
        else:
            while i < n and s[i] != ";":
                if not _is_token(s[i]):
                    return bad
                i += 1
        val = s[mp:i].strip()
        if not val:
            return bad
        params.append((attr, val))
        attr = None
        if i >= n:
            break
        i += 1
        mp = i
    return base, params


_CT_CACHE: dict[tuple[str, str | None], tuple[str, str | None]] = {}


def finish_ct(ct: str, charset: str | None) -> tuple[str, str | None]:
    """The content type find_ct ends with: re-serialised, AddCharset's charset replacing
    the first charset parameter or appended. (result, warning-or-None), memoised."""
    key = (ct, charset)
    hit = _CT_CACHE.get(key)
    if hit is not None:
        return hit
    res = analyze_ct(ct)
    if isinstance(res, str):
        out: tuple[str, str | None] = (ct, res)
    else:
        base, params = res
        parts = [base]
        override = False
        for a, v in params:
            if charset and a == "charset":
                if not override:
                    parts.append(f"charset={charset}")
                    override = True
            else:
                parts.append(f"{a}={v}")
        if charset and not override:
            parts.append(f"charset={charset}")
        out = ("; ".join(parts), None)
    if len(_CT_CACHE) < 4096:
        _CT_CACHE[key] = out
    return out
