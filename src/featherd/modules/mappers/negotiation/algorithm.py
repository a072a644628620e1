"""The variant selection of mod_negotiation (manual: "Content Negotiation", "The
Negotiation Methods"): qualities per dimension, Apache's server-driven algorithm with its
tie-breaks (and RVSA/1.0 for transparent negotiation), then the response headers
(Vary, Alternates, TCN) and the HTML list of variants for 300 and 406 answers.

Apache's algorithm (is_variant_better), for variants acceptable in every dimension:

1. the product of the Accept quality and the source quality (qs), highest wins;
2. the language quality (Accept-Language, with the "en-US matches en at 0.001" fiddle,
   and 0.0001 for variants without a language when others have one);
3. LanguagePriority order (ForceLanguagePriority Prefer), then Fallback for languages the
   client did not ask for;
4. the highest media-type level the client named, else the lowest level;
5. the charset quality; a variant in a charset other than ISO-8859-1 beats one in it;
6. the encoding quality (no encoding beats gzip when the client sent no Accept-Encoding);
7. the smallest content length; otherwise the first variant (sorted by qs, then name).

With no explicit q= in Accept, "*/*" counts 0.01 and "type/*" 0.02, so that a type the
client named wins over a wildcard match.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.modules.mappers.negotiation.accept import (
    CGI_MAGIC_TYPE,
    INCLUDES_MAGIC_TYPE,
    INCLUDES_MAGIC_TYPE3,
    AcceptRec,
    f32,
    get_entry,
    header_line,
    negotiate_tokens,
)

if TYPE_CHECKING:
    from featherd.core.request import Request

FLP_UNDEF, FLP_NONE, FLP_PREFER, FLP_FALLBACK = 0, 1, 2, 4
FLP_DEFAULT = FLP_PREFER
DISCARD_ALL_ENCODINGS, DISCARD_ALL_BUT_HTML = 1, 2
ALG_CHOICE, ALG_LIST = 1, 2

_PATH_SEGMENT_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789$-_.+!*'(),:@&=~")


def escape_path_segment(s: str) -> str:
    """ap_escape_path_segment: %xx (lower-case hex) for all but the segment-safe bytes."""
    if all(c in _PATH_SEGMENT_SAFE for c in s):
        return s
    out = []
    for c in s:
        if c in _PATH_SEGMENT_SAFE:
            out.append(c)
        else:
            raw = bytes([ord(c)]) if ord(c) < 256 else c.encode("utf-8", "surrogateescape")
            out.extend(f"%{b:02x}" for b in raw)
    return "".join(out)


@dataclass(slots=True, eq=False)
class Variant:
    """var_rec."""

    file_name: str = ""
    sub_req: Any = None
    mime_type: str = ""
    body: int = 0                     # offset of a type map's Body: content
    content_encoding: str | None = None
    content_languages: list[str] | None = None
    content_charset: str = ""
    description: str = ""
    lang_quality: float = 1.0
    encoding_quality: float = 1.0
    charset_quality: float = 1.0
    mime_type_quality: float = 1.0
    source_quality: float = 0.0
    level: float = 0.0
    bytes: int = -1
    lang_index: int = -1
    is_pseudo_html: bool = False
    level_matched: float = 0.0
    mime_stars: int = 0
    definite: bool = True

    def set_mime_fields(self, rec: AcceptRec) -> None:
        self.mime_type = rec.name
        self.source_quality = rec.quality
        self.level = rec.level
        self.content_charset = rec.charset
        self.is_pseudo_html = rec.name in ("text/html", INCLUDES_MAGIC_TYPE,
                                           INCLUDES_MAGIC_TYPE3)

    def set_content_type(self, ct: str) -> None:
        self.set_mime_fields(get_entry(ct)[0])


@dataclass(slots=True)
class Negotiation:
    """negotiation_state."""

    r: Any
    dir_name: str
    force: int = FLP_UNDEF
    priority: tuple[str, ...] = ()
    accepts: list[AcceptRec] | None = None
    accept_encodings: list[AcceptRec] | None = None
    accept_charsets: list[AcceptRec] | None = None
    accept_langs: list[AcceptRec] | None = None
    accept_q: bool = False
    default_lang_quality: float = 1.0
    avail: list[Variant] = field(default_factory=list)
    count_multiviews_variants: int = 0
    is_transparent: bool = False
    dont_fiddle_headers: bool = False
    ua_supports_trans: bool = False
    send_alternates: bool = False
    may_choose: bool = True
    use_rvsa: bool = False


def parse_accept_headers(r: Request, force: int, priority: tuple[str, ...]) -> Negotiation:
    fn = r.filename or ""
    neg = Negotiation(r, fn[:fn.rfind("/") + 1], force, priority)
    h = r.headers_in
    neg.accepts = header_line(h.get("Accept"))
    if neg.accepts:
        neg.accept_q = any(a.quality < 1.0 for a in neg.accepts)
    neg.accept_encodings = header_line(h.get("Accept-Encoding"))
    neg.accept_langs = header_line(h.get("Accept-Language"))
    neg.accept_charsets = header_line(h.get("Accept-Charset"))
    return neg


def parse_negotiate_header(r: Request, neg: Negotiation) -> None:
    neg.ua_supports_trans = neg.send_alternates = neg.use_rvsa = False
    neg.may_choose = True
    neg.dont_fiddle_headers = False
    negotiate = r.headers_in.get("Negotiate")
    if negotiate is None:
        return
    if negotiate == "trans":
        # Lynx 2.7 and 2.8 send "Negotiate: trans" without supporting TCN
        ua = r.headers_in.get("User-Agent")
        if ua and ua.startswith("Lynx"):
            return
    neg.may_choose = False
    for tok in negotiate_tokens(negotiate):
        if tok in ("trans", "vlist", "guess-small", "*") or tok[:1].isdigit():
            neg.ua_supports_trans = True
            neg.send_alternates = True
            if tok == "1.0":
                neg.may_choose = neg.use_rvsa = neg.dont_fiddle_headers = True
            elif tok.startswith("*"):
                neg.may_choose = neg.dont_fiddle_headers = True


def maybe_add_default_accepts(neg: Negotiation, prefer_scripts: bool) -> None:
    if neg.accepts is None:
        neg.accepts = [AcceptRec("*/*")]
    q = 0.0 if neg.use_rvsa else (2.0 if prefer_scripts else f32(0.001))
    neg.accepts.append(AcceptRec(CGI_MAGIC_TYPE, q))


# --- the qualities of a variant ------------------------------------------------------
def mime_match(acc: AcceptRec, v: Variant) -> bool:
    at = acc.name
    vt = v.mime_type
    if not at:
        return False
    if at[0] == "*":
        v.mime_stars = max(v.mime_stars, 1)
        return True
    if at[-1] == "*" and vt[:max(len(at) - 2, 0)] == at[:max(len(at) - 2, 0)]:
        v.mime_stars = max(v.mime_stars, 2)
        return True
    if at == vt or (at == "text/html" and vt in (INCLUDES_MAGIC_TYPE, INCLUDES_MAGIC_TYPE3)):
        if acc.level >= v.level:
            v.level_matched = v.level
            v.mime_stars = 3
            return True
    return False


def level_cmp(v1: Variant, v2: Variant) -> int:
    if v1.is_pseudo_html and not v2.is_pseudo_html:
        return 0
    if not v1.is_pseudo_html and v1.mime_type != v2.mime_type:
        return 0
    if v1.level_matched > v2.level_matched:
        return 1
    if v1.level_matched < v2.level_matched:
        return -1
    if v1.level < v2.level:
        return 1
    if v1.level > v2.level:
        return -1
    return 0


def find_lang_index(priority: tuple[str, ...], lang: str) -> int:
    for i, p in enumerate(priority):
        if lang.startswith(p):
            return i
    return -1


def set_default_lang_quality(neg: Negotiation) -> None:
    if not neg.dont_fiddle_headers and any(v.content_languages for v in neg.avail):
        neg.default_lang_quality = f32(0.0001)
    else:
        neg.default_lang_quality = 1.0


def set_language_quality(neg: Negotiation, v: Variant) -> None:
    force = neg.force or FLP_DEFAULT
    langs = v.content_languages
    if not langs:
        if not neg.dont_fiddle_headers:
            v.lang_quality = neg.default_lang_quality
        return
    if neg.accept_langs is None:
        v.definite = False
    else:
        best: AcceptRec | None = None
        star: AcceptRec | None = None
        fiddle_q = 0.0
        any_match_on_star = False
        for lang in langs:
            bestthistag: AcceptRec | None = None
            longest = 0
            for acc in neg.accept_langs:
                if acc.name == "*":
                    if star is None:
                        star = acc
                    continue
                alen = len(acc.name)
                if len(lang) >= alen and lang.startswith(acc.name) and \
                        (len(lang) == alen or lang[alen] == "-"):
                    if alen > longest:
                        longest = alen
                        bestthistag = acc
                if bestthistag is None and not neg.dont_fiddle_headers:
                    # en-US in Accept-Language matches en and en-GB at 0.001
                    p = acc.name.find("-")
                    if p >= 0 and lang[:p] == acc.name[:p] and len(lang) >= p:
                        fiddle_q = f32(0.001)
            if best is None or (bestthistag is not None and bestthistag.quality > best.quality):
                best = bestthistag
            if bestthistag is None and star is not None:
                any_match_on_star = True
        if any_match_on_star and star is not None and \
                (best is None or star.quality > best.quality):
            best = star
            v.definite = False
        v.lang_quality = best.quality if best is not None else fiddle_q
    if (force & FLP_PREFER and v.lang_index < 0) or (force & FLP_FALLBACK and not v.lang_quality):
        bestidx = -1
        for lang in langs:
            idx = find_lang_index(neg.priority, lang)
            if idx >= 0 and (bestidx == -1 or idx < bestidx):
                bestidx = idx
        if bestidx >= 0:
            if v.lang_quality:
                if force & FLP_PREFER:
                    v.lang_index = bestidx
            elif force & FLP_FALLBACK:
                v.lang_index = bestidx
                v.lang_quality = f32(0.0001)
                v.definite = False


def find_content_length(neg: Negotiation, v: Variant) -> int:
    if v.bytes < 0:
        st = v.sub_req.finfo if v.sub_req is not None else None
        if st is not None:
            v.bytes = st.st_size
        else:
            try:
                v.bytes = os.stat(neg.dir_name + v.file_name).st_size
            except OSError:
                pass
    return v.bytes


def set_accept_quality(neg: Negotiation, v: Variant) -> None:
    q = 0.0
    q_definite = True
    for acc in neg.accepts or ():
        prev = v.mime_stars
        if not mime_match(acc, v) or prev == v.mime_stars:
            continue
        if not neg.dont_fiddle_headers and not neg.accept_q and v.mime_stars == 1:
            q = f32(0.01)
        elif not neg.dont_fiddle_headers and not neg.accept_q and v.mime_stars == 2:
            q = f32(0.02)
        else:
            q = acc.quality
        q_definite = v.mime_stars == 3
    v.mime_type_quality = q
    v.definite = v.definite and q_definite


def set_charset_quality(neg: Negotiation, v: Variant) -> None:
    charset = v.content_charset
    if neg.accept_charsets is None:
        if charset:
            v.definite = False
        return
    if not charset:
        if not (v.mime_type.startswith("text/") or v.mime_type in (INCLUDES_MAGIC_TYPE,
                                                                  INCLUDES_MAGIC_TYPE3)):
            return
        if neg.dont_fiddle_headers:
            return
        charset = "iso-8859-1"      # the default charset of HTTP text types
    star = None
    for acc in neg.accept_charsets:
        if acc.name == charset:
            v.charset_quality = acc.quality
            return
        if acc.name == "*":
            star = acc
    if star is not None:
        v.charset_quality = star.quality
        v.definite = False
        return
    v.charset_quality = 1.0 if charset == "iso-8859-1" else 0.0


def is_identity_encoding(enc: str | None) -> bool:
    return not enc or enc in ("7bit", "8bit", "binary")


def set_encoding_quality(neg: Negotiation, v: Variant) -> None:
    enc = v.content_encoding
    if neg.accept_encodings is None:
        v.encoding_quality = 1.0 if is_identity_encoding(enc) else 0.5
        return
    value_if_not_found = 0.0
    if is_identity_encoding(enc):
        enc = "identity"
        value_if_not_found = f32(0.0001)
    assert enc is not None
    if enc.startswith("x-"):
        enc = enc[2:]
    star = None
    for acc in neg.accept_encodings:
        name = acc.name[2:] if acc.name.startswith("x-") else acc.name
        if name == enc:
            v.encoding_quality = acc.quality
            return
        if name == "*":
            star = acc
    v.encoding_quality = star.quality if star is not None else value_if_not_found


# --- choosing ---------------------------------------------------------------------------
def is_variant_better_rvsa(v: Variant, best: Variant | None, bestq: float) -> float | None:
    """The new best quality when v beats best under RVSA/1.0 (RFC 2296), else None."""
    if v.encoding_quality == 0.0:
        return None
    q = f32(f32(f32(v.mime_type_quality * v.source_quality) * v.charset_quality)
            * v.lang_quality)
    if q <= 0.0:
        return None
    if q > bestq:
        return q
    if q == bestq and best is not None and v.encoding_quality > best.encoding_quality:
        return q
    return None


def is_variant_better(neg: Negotiation, v: Variant, best: Variant | None,
                      bestq: float) -> float | None:
    """Apache's own algorithm: the new best quality when v beats best, else None."""
    if (v.encoding_quality == 0.0 or v.lang_quality == 0.0 or v.source_quality == 0.0
            or v.charset_quality == 0.0 or v.mime_type_quality == 0.0):
        return None
    q = f32(v.mime_type_quality * v.source_quality)
    if q == 0.0 or q < bestq:
        return None
    if q > bestq or best is None:
        return q
    if v.lang_quality < best.lang_quality:
        return None
    if v.lang_quality > best.lang_quality:
        return q
    if best.lang_index != -1 and (v.lang_index == -1 or v.lang_index > best.lang_index):
        return None
    if v.lang_index != -1 and (best.lang_index == -1 or v.lang_index < best.lang_index):
        return q
    lc = level_cmp(v, best)
    if lc == -1:
        return None
    if lc == 1:
        return q
    if v.charset_quality < best.charset_quality:
        return None
    if v.charset_quality > best.charset_quality or (
            v.content_charset and v.content_charset != "iso-8859-1"
            and (not best.content_charset or best.content_charset == "iso-8859-1")):
        return q
    if v.encoding_quality < best.encoding_quality:
        return None
    if v.encoding_quality > best.encoding_quality:
        return q
    if find_content_length(neg, v) >= find_content_length(neg, best):
        return None
    return q


def discard_by_env(v: Variant, discard: int) -> bool:
    if is_identity_encoding(v.content_encoding) or v.content_encoding == "identity":
        return False
    return discard == DISCARD_ALL_ENCODINGS or (
        discard == DISCARD_ALL_BUT_HTML and not v.mime_type.startswith("text/html"))


def best_match(neg: Negotiation) -> tuple[int, Variant | None]:
    env = neg.r.subprocess_env
    preferred = env.get("prefer-language")
    may_discard = 0
    if "no-gzip" in env:
        may_discard = DISCARD_ALL_ENCODINGS
    elif env.get("gzip-only-text/html") == "1":
        may_discard = DISCARD_ALL_BUT_HTML
    set_default_lang_quality(neg)
    while True:
        best: Variant | None = None
        bestq = 0.0
        for v in neg.avail:
            if may_discard and discard_by_env(v, may_discard):
                continue
            if preferred is not None and preferred not in (v.content_languages or ()):
                continue
            set_accept_quality(neg, v)
            if preferred is not None:
                v.lang_quality = 1.0
                v.definite = True
            else:
                set_language_quality(neg, v)
            set_encoding_quality(neg, v)
            set_charset_quality(neg, v)
            if neg.may_choose:
                if neg.use_rvsa:
                    nq = is_variant_better_rvsa(v, best, bestq)
                else:
                    nq = is_variant_better(neg, v, best, bestq)
                if nq is not None:
                    best = v
                    bestq = nq
        if neg.use_rvsa:
            result = ALG_CHOICE if best is not None and best.definite and bestq > 0 \
                else ALG_LIST
        else:
            result = ALG_CHOICE if bestq > 0 else ALG_LIST
        if preferred is not None and (best is None or result != ALG_CHOICE):
            preferred = None            # nothing in that language: negotiate over all
            continue
        return result, best


# --- what the response says ----------------------------------------------------------
def _qstr(q: float) -> str:
    s = f"{q:1.3f}"[:5]
    if len(s) >= 5 and s[4] == "0":
        s = s[:4]
        if s[3] == "0":
            s = s[:3]
            if s[2] == "0":
                s = s[:1]
    return s


def set_neg_headers(r: Request, neg: Negotiation, alg_result: int) -> None:
    """Alternates (when sent), Vary (the dimensions in which the variants differ) and
    TCN, into err_headers_out."""
    hdrs = r.err_headers_out
    sample: tuple[str, str, str, str] | None = None
    vary_type = vary_lang = vary_charset = vary_enc = False
    alts: list[str] = []
    for v in neg.avail:
        lang = ",".join(v.content_languages) if v.content_languages else None
        cur = (v.mime_type or "", v.content_charset or "", lang or "", v.content_encoding or "")
        if sample is None:
            sample = cur
        else:
            vary_type = vary_type or sample[0] != cur[0]
            vary_charset = vary_charset or sample[1] != cur[1]
            vary_lang = vary_lang or sample[2] != cur[2]
            vary_enc = vary_enc or sample[3] != cur[3]
        if not neg.send_alternates:
            continue
        parts = ['{"', escape_path_segment(v.file_name), '" ', _qstr(v.source_quality)]
        if v.mime_type:
            parts += [" {type ", v.mime_type, "}"]
        if v.content_charset:
            parts += [" {charset ", v.content_charset, "}"]
        if lang:
            parts += [" {language ", lang, "}"]
        if v.content_encoding:
            parts += [" {encoding ", v.content_encoding, "}"]
        if not (v.sub_req is not None and v.sub_req.handler):
            n = find_content_length(neg, v)
            if n >= 0:
                parts += [" {length ", str(n), "}"]
        parts.append("}")
        alts.append("".join(parts))
    if neg.send_alternates and neg.avail:
        hdrs.merge("Alternates", ", ".join(alts))
    if neg.is_transparent or vary_type or vary_lang or vary_charset or vary_enc:
        dims = [n for on, n in ((neg.is_transparent, "negotiate"), (vary_type, "accept"),
                                (vary_lang, "accept-language"),
                                (vary_charset, "accept-charset"),
                                (vary_enc, "accept-encoding")) if on]
        hdrs.merge("Vary", ", ".join(dims))
    if neg.is_transparent:
        hdrs.set("TCN", "list" if alg_result == ALG_LIST else "choice")


def make_variant_list(neg: Negotiation) -> str:
    """The HTML list of the 300 and 406 pages ("Available variants:")."""
    out = ["Available variants:\n<ul>\n"]
    for v in neg.avail:
        fn = v.file_name or ""
        out += ['<li><a href="', fn, '">', fn, "</a> ", v.description or ""]
        if v.mime_type:
            out += [", type ", v.mime_type]
        if v.content_languages:
            out += [", language ", ",".join(v.content_languages)]
        if v.content_charset:
            out += [", charset ", v.content_charset]
        if v.content_encoding is not None:
            out += [", encoding ", v.content_encoding]
        out.append("</li>\n")
    out.append("</ul>\n")
    return "".join(out)


def store_variant_list(r: Request, neg: Negotiation) -> None:
    target = r if r.main is None else r.main
    target.notes["variant-list"] = make_variant_list(neg)
